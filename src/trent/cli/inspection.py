"""`trent admin explain`, `trent admin audit` and `trent admin grants`: why a request is decided so, what happened,
and which grant created which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trent.api import identity
from trent.cli.admin import admin
from trent.cli.common import print_json


@admin.command("explain")
@click.option("--principal", "principal_arn", required=True, help="ARN of a user, role, account root or role session.")
@click.option("--action", required=True, help="The action, e.g. kms:Decrypt.")
@click.option("--key", "key_ref", help="Key ID or key ARN (omit for IAM-only actions such as kms:ListKeys).")
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--context", "pairs", multiple=True, help="Encryption context pair k=v (repeatable).")
@click.option("--condition", "conditions", multiple=True, help="Any other condition key, key=value (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.pass_obj
def admin_explain(
    store: Any,
    principal_arn: str,
    action: str,
    key_ref: str | None,
    region: str,
    pairs: tuple[str, ...],
    conditions: tuple[str, ...],
    as_json: bool,
) -> None:
    """Explain whether PRINCIPAL may perform ACTION on KEY, which statement or grant decides it, and why each grant
    naming the principal does or does not apply. Exit status 0 when ALLOWED, 1 when DENIED."""
    from trent.api.explain import explain
    from trent.bootstrap import admin_services

    def split(items: tuple[str, ...], option: str) -> dict[str, str]:
        result = {}
        for item in items:
            if "=" not in item:
                raise click.BadParameter(f"{item!r} is not key=value", param_hint=option)
            name, value = item.split("=", 1)
            result[name] = value
        return result

    try:
        explanation = explain(
            admin_services(store),
            principal_arn=principal_arn,
            action=action,
            key_ref=key_ref,
            region=region,
            encryption_context=split(pairs, "--context"),
            conditions=split(conditions, "--condition"),
        )
    except identity.IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    decision = explanation.decision
    if as_json:
        print_json(
            {
                "Allowed": decision.allowed,
                "Reason": decision.reason,
                "Message": decision.message,
                "Matches": [
                    {"Policy": m.policy, "Sid": m.sid, "Index": m.index, "Effect": m.effect} for m in decision.matches
                ],
                "Grants": [
                    {
                        "GrantId": v.grant.grant_id,
                        "Name": v.grant.name,
                        "GranteePrincipal": v.grant.grantee_principal,
                        "Operations": sorted(v.grant.operations),
                        "Applies": v.reason is None,
                        "Reason": v.reason,
                    }
                    for v in explanation.grants
                ],
            }
        )
    else:
        click.echo(decision.explain())
        if explanation.grants:
            click.echo("grants naming the caller:")
            for verdict in explanation.grants:
                name = f' "{verdict.grant.name}"' if verdict.grant.name else ""
                outcome = "applies" if verdict.reason is None else f"does not apply: {verdict.reason}"
                click.echo(f"  - grant {verdict.grant.grant_id}{name}: {outcome}")
    # Scripts read the answer from the exit status too.
    if not decision.allowed:
        raise SystemExit(1)


@admin.command("audit")
@click.option("--since", help="Events at or after this time (ISO 8601, e.g. 2026-11-28T10:00:00Z).")
@click.option("--until", help="Events before this time (ISO 8601).")
@click.option("--key", "key_arn", help="Events about this key ARN.")
@click.option("--principal", "principal_arn", help="Events of this caller ARN.")
@click.option("--event", "event_name", help="Events of this operation, e.g. CreateGrant.")
@click.option("--errors-only", is_flag=True, help="Only calls that failed.")
@click.option("--output", type=click.Path(path_type=Path), help="Write JSON lines to this file instead of stdout.")
@click.pass_obj
def admin_audit(
    store: Any,
    since: str | None,
    until: str | None,
    key_arn: str | None,
    principal_arn: str | None,
    event_name: str | None,
    errors_only: bool,
    output: Path | None,
) -> None:
    """Print the audit trail as JSON lines (one CloudTrail-shaped event per line), in the order written.

    Calls that change something are written at once; the others in batches every 0.25 s, so within a
    fraction of a second a read-only call may be listed after a later change (eventTime orders them)."""
    from datetime import datetime

    def timestamp(value: str | None, option: str) -> float | None:
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None

    filters = {
        "since": timestamp(since, "--since"),
        "until": timestamp(until, "--until"),
        "key_arn": key_arn,
        "principal_arn": principal_arn,
        "event_name": event_name,
        "errors_only": errors_only,
    }
    sink = output.open("w") if output is not None else None
    count = 0
    try:
        after = 0
        while True:
            with store.transaction(write=False) as tx:
                rows = tx.audit.events(after_seq=after, limit=1000, **filters)
            for seq, record in rows:
                after = seq
                count += 1
                if sink is not None:
                    sink.write(record + "\n")
                else:
                    click.echo(record)
            if len(rows) < 1000:
                break
    finally:
        if sink is not None:
            sink.close()
            click.echo(f"wrote {count} events to {output}", err=True)


@admin.command("grants")
@click.option("--tree", "tree_key", required=True, metavar="KEY", help="Key ID or key ARN: show its grants' lineage.")
@click.option("--region", default="us-east-1", show_default=True, help="The key's Region (a key ARN names its own).")
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON: a flat list, with depths and parents.")
@click.pass_obj
def admin_grants(store: Any, tree_key: str, region: str, as_json: bool) -> None:
    """Show which grant created which grant on a key (lineage): a grant a policy created is a root, and a grant
    created through another grant's CreateGrant permission is indented under it. Retired or revoked grants are
    shown, marked, only above grants they created that are still active."""
    from trent.api.lineage import grant_lineage, lineage_entries, walk
    from trent.domain.errors import KMSError
    from trent.domain.grants import GRANT_OPERATIONS
    from trent.domain.ids import key_ref, parse_key_reference

    if tree_key.startswith("arn:") and tree_key.count(":") >= 5:
        region = tree_key.split(":")[3]
    try:
        ref = parse_key_reference(tree_key, region=region, allow_alias=False)
    except KMSError as exc:
        raise click.ClickException(exc.message or exc.code) from None
    key = store.reader.get_key_by_ref(key_ref(ref.name, region))
    if key is None or key.region != region or ref.account not in (None, key.account):
        raise click.ClickException(f"key {tree_key} does not exist in {region}")
    roots = grant_lineage(store, key.ref)
    if as_json:
        print_json({"KeyArn": key.arn, "Grants": lineage_entries(roots)})
        return
    click.echo(key.arn)
    if not roots:
        click.echo("no grants")
    for depth, node in walk(roots):
        grant = node.grant
        line = f"{'  ' * depth}{grant.grant_id}"
        if grant.name is not None:
            line += f' "{grant.name}"'
        line += f" grantee={grant.grantee_principal or grant.grantee_service_principal}"
        line += f" operations={','.join(op for op in GRANT_OPERATIONS if op in grant.operations)}"
        if node.retired:
            line += " (retired or revoked)"
        if node.parent_gone:
            line += f" (created by grant {grant.parent_grant_id}, no longer stored)"
        click.echo(line)

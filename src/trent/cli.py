"""The `trent` command: serve, init, admin, config."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from trent.api import identity
from trent.config import ConfigError, Settings, load_settings
from trent.crypto.rootkey import RootKeyError

log = logging.getLogger("trent")


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _print(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


@click.group()
@click.version_option(package_name="trent")
def main() -> None:
    """Trent: a self-hosted key management service that speaks the AWS KMS API."""


_config_option = click.option("--config", "config", type=click.Path(path_type=Path), help="TOML configuration file.")
_data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Data directory (default ./trent-data)."
)


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 7878).")
@_data_dir_option
@_config_option
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.option("--workers", type=int, help="Worker processes (default 1).")
@click.option("--dev", is_flag=True, default=None, help="Accept any access key without checking signatures.")
@click.option("--log-level", help="debug, info, warning or error.")
@click.option(
    "--grant-propagation-delay",
    type=float,
    help="Seconds before a new grant works without its token, and a retired one stops (default 0).",
)
@click.option("--grant-refresh-interval", type=float, help="Seconds between reads of the grant change feed.")
@click.option(
    "--regions",
    help="Comma-separated regions served; a request signed for another is refused (default: AWS's commercial regions).",
)
def serve(config: Path | None, **flags: Any) -> None:
    """Run the server (initialising the data directory on first use)."""
    import uvicorn

    from trent import logs
    from trent.provision import initialize

    settings = _settings(config, **flags)
    logs.configure(settings.log_level)
    if settings.workers > 1:
        # Every worker writes its metric samples here; /metrics, served by any worker, adds them up.
        metrics_dir = Path(settings.data_dir) / ".metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from trent.edge import protocol
    from trent.edge.app import build_app

    try:
        report = initialize(settings)
    except RootKeyError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    for item in report.created:
        log.info("created %s", item)
    if settings.dev:
        banner = "!" * 78
        log.warning(
            "\n%s\n  DEV MODE: signatures are NOT checked. Any access key is accepted and acts as an account\n"
            "  root. Never expose this server beyond your machine.\n%s",
            banner,
            banner,
        )
    uvicorn_options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # keep Trent's logging configuration (JSON lines or text)
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        # The edge's own limits (edge/protocol.py); worker processes set theirs from TRENT_* in create_app.
        "http": protocol.configure(max_header_bytes=settings.max_header_bytes, header_timeout=settings.header_timeout),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "limit_concurrency": settings.max_connections,
    }
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("trent.edge.app:create_app", factory=True, workers=settings.workers, **uvicorn_options)
    else:
        try:
            app = build_app(settings)
        except RootKeyError as exc:
            raise click.ClickException(f"cannot start: {exc}") from None
        uvicorn.run(app, **uvicorn_options)


@main.command()
@_data_dir_option
@_config_option
@click.option("--account", help="Default account ID (12 digits, default 000000000000).")
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.option("--port", type=int, help="Port written into aws-config's endpoint_url.")
def init(config: Path | None, account: str | None, **flags: Any) -> None:
    """Create the store, root key, default account, administrator and client files."""
    from trent.provision import initialize

    settings = _settings(config, **flags, default_account=account)
    try:
        report = initialize(settings, account)
    except (RootKeyError, identity.IdentityError) as exc:
        raise click.ClickException(str(exc)) from None
    _print({"data_dir": report.data_dir, "created": report.created})


# --- admin -------------------------------------------------------------------------------------------
@main.group()
@_data_dir_option
@_config_option
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.pass_context
def admin(ctx: click.Context, /, config: Path | None, **flags: Any) -> None:
    """Manage identities of a data directory (safe while the server runs)."""
    from trent.bootstrap import build_store

    settings = _settings(config, **flags)
    try:
        store = build_store(settings)
        if not store.check_root_key():
            raise click.ClickException(f"{settings.data_dir} is not initialised; run `trent init` first")
    except RootKeyError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = store
    ctx.call_on_close(store.dispose)


def _run(action: Any) -> None:
    try:
        _print(action())
    except identity.IdentityError as exc:
        raise click.ClickException(str(exc)) from None


@admin.group("account")
def account_group() -> None:
    """Accounts."""


@account_group.command("create")
@click.argument("account_id")
@click.pass_obj
def account_create(store: Any, account_id: str) -> None:
    """Create an account (its root principal comes with it)."""
    _run(lambda: {"account": account_id, "created": identity.create_account(store, account_id)})


@admin.group("user")
def user_group() -> None:
    """IAM users."""


@user_group.command("create")
@click.argument("account")
@click.argument("name")
@click.pass_obj
def user_create(store: Any, account: str, name: str) -> None:
    """Create a user; prints its ARN and a new access key pair."""

    def action() -> dict[str, str]:
        principal, key = identity.create_user(store, account, name)
        return {
            "Arn": principal.arn,
            "UserId": principal.unique_id,
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
        }

    _run(action)


@admin.group("role")
def role_group() -> None:
    """IAM roles."""


@role_group.command("create")
@click.argument("account")
@click.argument("name")
@click.option("--trust-policy", "trust_policy", required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def role_create(store: Any, account: str, name: str, trust_policy: Path) -> None:
    """Create a role whose trust policy says who may assume it."""

    def action() -> dict[str, str]:
        from trent.domain.errors import KMSError

        try:
            principal = identity.create_role(store, account, name, trust_policy.read_text())
        except KMSError as exc:
            raise identity.IdentityError(exc.message or exc.code) from None
        return {"Arn": principal.arn, "RoleId": principal.unique_id}

    _run(action)


@admin.group("access-key")
def access_key_group() -> None:
    """Access keys."""


@access_key_group.command("create")
@click.argument("principal_arn")
@click.pass_obj
def access_key_create(store: Any, principal_arn: str) -> None:
    """Create an access key pair for a user or an account root."""

    def action() -> dict[str, str]:
        key = identity.create_access_key(store, principal_arn)
        return {
            "Arn": key.principal_arn,
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
        }

    _run(action)


@access_key_group.command("delete")
@click.argument("access_key_id")
@click.pass_obj
def access_key_delete(store: Any, access_key_id: str) -> None:
    """Delete an access key (a leaked one, say): refused from the next request on."""

    def action() -> dict[str, str]:
        identity.delete_access_key(store, access_key_id)
        return {"AccessKeyId": access_key_id, "Deleted": "true"}

    _run(action)


@admin.group("policy")
def policy_group() -> None:
    """Identity policies of users and roles."""


@policy_group.command("put")
@click.argument("principal_arn")
@click.argument("policy_name")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def policy_put(store: Any, principal_arn: str, policy_name: str, file: Path) -> None:
    """Attach (or replace) an inline identity policy."""

    def action() -> dict[str, str]:
        identity.put_identity_policy(store, principal_arn, policy_name, file.read_text())
        return {"Arn": principal_arn, "PolicyName": policy_name}

    _run(action)


@policy_group.command("delete")
@click.argument("principal_arn")
@click.argument("policy_name")
@click.pass_obj
def policy_delete(store: Any, principal_arn: str, policy_name: str) -> None:
    """Detach an inline identity policy."""

    def action() -> dict[str, str]:
        identity.delete_identity_policy(store, principal_arn, policy_name)
        return {"Arn": principal_arn, "PolicyName": policy_name, "Deleted": "true"}

    _run(action)


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
    """Explain whether PRINCIPAL may perform ACTION on KEY, and which statement or grant decides it."""
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
        decision = explain(
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
    if as_json:
        _print(
            {
                "Allowed": decision.allowed,
                "Reason": decision.reason,
                "Message": decision.message,
                "Matches": [
                    {"Policy": m.policy, "Sid": m.sid, "Index": m.index, "Effect": m.effect} for m in decision.matches
                ],
            }
        )
    else:
        click.echo(decision.explain())


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


@admin.command("list")
@click.pass_obj
def admin_list(store: Any) -> None:
    """List accounts, principals, their access key IDs and policy names (never secrets)."""
    with store.transaction(write=False) as tx:
        accounts = tx.identities.list_accounts()
        principals = [
            {
                "Arn": p.arn,
                "Type": str(p.type),
                "UniqueId": p.unique_id,
                "AccessKeyIds": tx.identities.access_key_ids(p.arn),
                "Policies": sorted(tx.identities.policies(p.arn)),
            }
            for p in tx.identities.list_principals()
        ]
    _print({"Accounts": accounts, "Principals": principals})


# --- backup and restore ------------------------------------------------------------------------------
def _with_progress(label: str, run: Any) -> None:
    with click.progressbar(length=1, label=label, show_percent=True, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        run(progress)


@main.command("backup")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
def backup_command(data_dir: Path, file: Path) -> None:
    """Back up the SQLite store of DATA_DIR to FILE, consistently, while the server runs."""
    from trent.storage.backup import BackupError, backup

    try:
        _with_progress("backing up", lambda progress: backup(data_dir / "trent.db", file, progress))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {data_dir / 'trent.db'} to {file} (the root key is not in it: keep it apart)", err=True)


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing store.")
def restore_command(file: Path, data_dir: Path, force: bool) -> None:
    """Restore FILE (a `trent backup`) into DATA_DIR. Stop the server first."""
    from trent.bootstrap import load_root_key
    from trent.storage.backup import BackupError, restore

    database = data_dir / "trent.db"
    if database.exists() and not force:
        raise click.ClickException(f"{database} exists; stop the server and add --force to replace it")
    try:
        root_key = load_root_key(_settings(None, data_dir=data_dir), create=False)
        _with_progress("restoring", lambda progress: restore(file, database, root_key, progress))
    except (BackupError, RootKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {file} into {database}", err=True)


# --- config ------------------------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("show")
@_config_option
@_data_dir_option
def config_show(config: Path | None, **flags: Any) -> None:
    """Print the effective configuration (secrets masked)."""
    settings = _settings(config, **flags)
    values = {k: v for k, v in settings.to_env().items()}
    values = {k.removeprefix("TRENT_").lower(): v for k, v in values.items()}
    if "://" in values.get("store", "") and "@" in values["store"]:
        scheme, rest = values["store"].split("://", 1)
        values["store"] = f"{scheme}://***@{rest.split('@', 1)[1]}"
    values["root_key"] = (
        "*** (from TRENT_ROOT_KEY)" if os.environ.get("TRENT_ROOT_KEY") else str(settings.root_key_path)
    )
    _print(values)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

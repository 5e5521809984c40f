"""`trent admin`: the group, and the identities of a data directory (accounts, users, roles, access keys,
identity policies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trent.api import identity
from trent.cli.common import config_option, data_dir_option, main, print_json, settings_from
from trent.crypto.rootkey import RootKeyError


# --- admin -------------------------------------------------------------------------------------------
@main.group()
@data_dir_option
@config_option
@click.option("--store", help="Database URL (default: SQLite in the data directory).")
@click.pass_context
def admin(ctx: click.Context, /, config: Path | None, **flags: Any) -> None:
    """Manage identities of a data directory (safe while the server runs)."""
    from trent.bootstrap import build_store

    settings = settings_from(config, **flags)
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
        print_json(action())
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
    print_json({"Accounts": accounts, "Principals": principals})

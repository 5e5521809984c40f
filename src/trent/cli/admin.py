"""`trent admin`: the group, and the identities of a data directory (accounts, users, roles, access keys,
identity policies)."""

from __future__ import annotations

import json
import time
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
    ctx.meta["trent.settings"] = settings
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
@click.option("--profile", help="Also write the new key as this profile into the data directory's client files.")
@click.pass_context
def user_create(ctx: click.Context, account: str, name: str, profile: str | None) -> None:
    """Create a user; prints its ARN and a new access key pair."""
    store, data_dir = ctx.obj, Path(ctx.meta["trent.settings"].data_dir)

    def action() -> dict[str, str]:
        from trent.provision import add_profile

        principal, key = identity.create_user(store, account, name)
        if profile is not None:
            try:
                add_profile(data_dir, profile, key.access_key_id, key.secret_access_key)
            except ValueError as exc:
                raise identity.IdentityError(f"{principal.arn} was created, but {exc}") from None
        return {
            "Arn": principal.arn,
            "UserId": principal.unique_id,
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
        }

    _run(action)


def _as_root(store: Any, account: str, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run an IAM operation as `account`'s root, in process: the commands below are the IAM API's own handlers,
    with its checks and effects (the change feed tells every running server at once)."""
    from trent.api.context import RequestContext
    from trent.api.iam import IAM_HANDLERS
    from trent.bootstrap import admin_services
    from trent.domain.errors import KMSError

    identity.check_account_id(account)
    ctx = RequestContext(caller=identity.root_caller(account, "trent-admin"), region="us-east-1", request_id="admin")
    try:
        return IAM_HANDLERS[operation](admin_services(store), ctx, request)
    except KMSError as exc:
        raise identity.IdentityError(f"{exc.code}: {exc.message}") from None


@user_group.command("delete")
@click.argument("account")
@click.argument("name")
@click.pass_obj
def user_delete(store: Any, account: str, name: str) -> None:
    """Delete a user (its access keys and policies must be deleted first, as IAM requires)."""
    _run(lambda: _as_root(store, account, "DeleteUser", {"UserName": name}) or {"UserName": name, "Deleted": "true"})


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


@access_key_group.command("list")
@click.argument("account")
@click.argument("user_name")
@click.pass_obj
def access_key_list(store: Any, account: str, user_name: str) -> None:
    """A user's access keys: IDs, status and creation dates (never secrets)."""
    _run(lambda: _as_root(store, account, "ListAccessKeys", {"UserName": user_name}))


@access_key_group.command("deactivate")
@click.argument("account")
@click.argument("user_name")
@click.argument("access_key_id")
@click.pass_obj
def access_key_deactivate(store: Any, account: str, user_name: str, access_key_id: str) -> None:
    """Make an access key Inactive: refused from the next request on, by every running server."""
    request = {"UserName": user_name, "AccessKeyId": access_key_id, "Status": "Inactive"}
    _run(lambda: _as_root(store, account, "UpdateAccessKey", request) or {"AccessKeyId": access_key_id, **request})


@access_key_group.command("activate")
@click.argument("account")
@click.argument("user_name")
@click.argument("access_key_id")
@click.pass_obj
def access_key_activate(store: Any, account: str, user_name: str, access_key_id: str) -> None:
    """Make an Inactive access key Active again."""
    request = {"UserName": user_name, "AccessKeyId": access_key_id, "Status": "Active"}
    _run(lambda: _as_root(store, account, "UpdateAccessKey", request) or request)


@role_group.command("delete")
@click.argument("account")
@click.argument("name")
@click.pass_obj
def role_delete(store: Any, account: str, name: str) -> None:
    """Delete a role (its policies must be deleted first); its sessions end at once."""
    _run(lambda: _as_root(store, account, "DeleteRole", {"RoleName": name}) or {"RoleName": name, "Deleted": "true"})


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


@policy_group.command("list")
@click.argument("principal_arn")
@click.pass_obj
def policy_list(store: Any, principal_arn: str) -> None:
    """The inline identity policies of a user or role, with their documents."""
    with store.transaction(write=False) as tx:
        if tx.identities.get_principal(principal_arn) is None:
            raise click.ClickException(f"{principal_arn} does not exist")
        policies = tx.identities.policies(principal_arn)
    print_json({"Arn": principal_arn, "Policies": {name: json.loads(doc) for name, doc in sorted(policies.items())}})


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


@admin.command("console-login")
@click.argument("principal_arn")
@click.pass_context
def console_login(ctx: click.Context, principal_arn: str) -> None:
    """Print a one-time link that signs PRINCIPAL_ARN in to the web console (within 5 minutes, once)."""
    from trent.api.explain import caller_for
    from trent.console.sessions import Sessions

    store, settings = ctx.obj, ctx.meta["trent.settings"]

    def action() -> dict[str, str]:
        caller = caller_for(store, principal_arn)  # refuses a principal that does not exist
        token = Sessions(store, time.time, settings.console_idle_minutes * 60.0).link(principal_arn, caller)
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        return {"Url": f"http://{host}:{settings.port}/console/login?once={token}", "ValidSeconds": "300"}

    _run(action)

"""CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from trent.api.authorize import authorize_iam, authorize_key, find_key_unauthorized, key_for
from trent.api.common import page
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.domain.errors import (
    AccessDeniedException,
    AlreadyExistsException,
    InvalidAliasNameException,
    LimitExceededException,
    NotFoundException,
    ValidationException,
)
from trent.domain.ids import alias_arn
from trent.domain.keys import Key
from trent.storage.session import StoreConflict

MAX_ALIASES_PER_KEY = 50


def _check_alias_name(name: str) -> None:
    if not name.startswith("alias/"):
        raise ValidationException(
            'Alias must start with the prefix "alias/". Please see '
            "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
        )
    if name.startswith("alias/aws/"):
        raise InvalidAliasNameException("Alias names cannot begin with alias/aws/; that prefix is reserved.")
    if name == "alias/":
        raise InvalidAliasNameException("Alias name alias/ is not valid.")


def _check_target(key: Key, operation: str) -> None:
    key.require_state_for(operation)


def _authorize_alias(services: Services, ctx: RequestContext, action: str, name: str) -> None:
    """Alias operations need permission on the alias itself, from an IAM policy (the alias has no policy)."""
    authorize_iam(services, ctx, action, alias_arn(ctx.region, ctx.caller.account, name))


def create_alias(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["AliasName"]
    _check_alias_name(name)
    account = ctx.caller.account
    _authorize_alias(services, ctx, "kms:CreateAlias", name)
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["TargetKeyId"], action="kms:CreateAlias", for_update=True)
        _check_target(key, "CreateAlias")
        if tx.aliases.get(account, ctx.region, name) is not None:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(ctx.region, account, name)} already exists"
            )
        if tx.aliases.count_for_key(key.ref) >= MAX_ALIASES_PER_KEY:
            raise LimitExceededException(f"The key {key.arn} already has {MAX_ALIASES_PER_KEY} aliases.")
        try:
            tx.aliases.insert(account, ctx.region, name, key.key_id, services.clock())
        except StoreConflict:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(ctx.region, account, name)} already exists"
            ) from None
        record_change(services, tx, ctx)
    return {}


def _alias_type(key: Key) -> str:
    """The "type" an alias may not change (UpdateAlias): symmetric, asymmetric or HMAC, whatever the algorithm
    family or size (an RSA signing key may be replaced by an ECC signing key)."""
    if key.spec.is_symmetric:
        return "symmetric"
    return "asymmetric" if key.spec.is_asymmetric else "HMAC"


def update_alias(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["AliasName"]
    _check_alias_name(name)
    account = ctx.caller.account
    _authorize_alias(services, ctx, "kms:UpdateAlias", name)
    with services.store.transaction() as tx:
        alias = tx.aliases.get(account, ctx.region, name)
        if alias is None:
            raise NotFoundException(f"Alias {alias_arn(ctx.region, account, name)} is not found.")
        new_key = key_for(tx, services, ctx, req["TargetKeyId"], action="kms:UpdateAlias", for_update=True)
        old_key = tx.keys.get(account, ctx.region, alias.key_id)
        if old_key is not None:
            authorize_key(services, ctx, "kms:UpdateAlias", old_key)
        _check_target(new_key, "UpdateAlias")
        if old_key is not None and (_alias_type(old_key), old_key.usage) != (_alias_type(new_key), new_key.usage):
            raise ValidationException(
                f"Alias {name} cannot be changed from a key of type {old_key.spec_name} and usage {old_key.usage} "
                f"to a key of type {new_key.spec_name} and usage {new_key.usage}: "
                "the keys must have the same type and key usage."
            )
        tx.aliases.update(account, ctx.region, name, new_key.key_id, services.clock())
        record_change(services, tx, ctx)
    return {}


def delete_alias(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req["AliasName"]
    _check_alias_name(name)
    account = ctx.caller.account
    _authorize_alias(services, ctx, "kms:DeleteAlias", name)
    with services.store.transaction() as tx:
        alias = tx.aliases.get(account, ctx.region, name)
        if alias is None:
            raise NotFoundException(f"Alias {alias_arn(ctx.region, account, name)} is not found.")
        key = tx.keys.get(account, ctx.region, alias.key_id)
        if key is not None:
            authorize_key(services, ctx, "kms:DeleteAlias", key)
        tx.aliases.delete(account, ctx.region, name)
        record_change(services, tx, ctx)
    return {}


def list_aliases(services: Services, ctx: RequestContext, req: Request) -> Response:
    account = ctx.caller.account
    authorize_iam(services, ctx, "kms:ListAliases", "*")
    with services.store.transaction(write=False) as tx:
        filter_ref = None
        if "KeyId" in req:
            # ListAliases is decided on the account (above); KeyId only filters the caller's own aliases.
            key = find_key_unauthorized(tx, services, ctx, req["KeyId"])
            if key.account != account:
                raise AccessDeniedException(
                    f"User: {ctx.caller.arn} is not authorized to perform: kms:ListAliases on resource: {key.arn} "
                    "because no resource-based policy allows the kms:ListAliases action"
                )
            filter_ref = key.ref
        rows, more = page(
            services,
            "aliases",
            f"{account}:{ctx.region}:{filter_ref or ''}",
            req,
            lambda after, limit: tx.aliases.page(account, ctx.region, filter_ref, after, limit),
            lambda row: row.name,
            default_limit=50,
            max_limit=100,
        )
    aliases = [
        {
            "AliasName": row.name,
            "AliasArn": alias_arn(ctx.region, account, row.name),
            "TargetKeyId": row.key_id,
            "CreationDate": row.created,
            "LastUpdatedDate": row.updated,
        }
        for row in rows
    ]
    return {"Aliases": aliases, **more}

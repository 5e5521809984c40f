"""`trent admin explain`: the authorization decision for a principal, an action and a key, with its reasons."""

from __future__ import annotations

import time

from trent.api.audit import AuditLog
from trent.api.authorize import GrantUse, encryption_context_keys, full_decision
from trent.api.context import RequestContext
from trent.api.grant_view import GrantView
from trent.api.identity import IdentityError
from trent.api.keyring import KeyRing
from trent.crypto.tokens import GrantTokens
from trent.domain.authz import Decision
from trent.domain.errors import KMSError
from trent.domain.identities import Caller, PrincipalType, role_arn
from trent.domain.ids import RefKind, parse_key_reference
from trent.domain.markers import MarkerCodec
from trent.storage.store import Store


def caller_for(store: Store, principal_arn: str) -> Caller:
    """The caller a principal ARN stands for: a user, an account root, or a session of a role."""
    if ":assumed-role/" in principal_arn:
        account = principal_arn.split(":")[4]
        role_name, session = principal_arn.split(":assumed-role/", 1)[1].split("/", 1)
        role = role_arn(account, role_name)
    elif ":role/" in principal_arn:
        account, role, session = principal_arn.split(":")[4], principal_arn, "explain"
    else:
        role = None
    with store.transaction(write=False) as tx:
        principal = tx.get_principal(role or principal_arn)
    if principal is None:
        raise IdentityError(f"{role or principal_arn} does not exist")
    if principal.type is PrincipalType.ROOT:
        return Caller.account_root(principal.account, "explain")
    if principal.type is PrincipalType.USER:
        return Caller(
            principal.account,
            principal.arn,
            PrincipalType.USER,
            principal.unique_id,
            "explain",
            user_name=principal.name,
        )
    return Caller(
        principal.account,
        f"arn:aws:sts::{principal.account}:assumed-role/{principal.name}/{session}",
        PrincipalType.ASSUMED_ROLE,
        f"{principal.unique_id}:{session}",
        "explain",
        role_arn=principal.arn,
    )


def explain(
    store: Store,
    *,
    principal_arn: str,
    action: str,
    key_ref: str | None,
    region: str,
    encryption_context: dict[str, str],
    conditions: dict[str, str],
) -> Decision:
    from trent.api.context import Services

    caller = caller_for(store, principal_arn)
    services = Services(
        store=store,
        markers=MarkerCodec(b"\x00" * 32),
        clock=time.time,
        keyring=KeyRing(store),
        grants=GrantView(store.reader),
        tokens=GrantTokens(store.root_key.derive(b"grant-tokens")),
        audit=AuditLog(store, enabled=False),
    )
    ctx = RequestContext(caller=caller, region=region, request_id="explain")
    key = None
    if key_ref is not None:
        try:
            ref = parse_key_reference(key_ref, region=region, allow_alias=False)
        except KMSError as exc:
            raise IdentityError(exc.message or exc.code) from None
        assert ref.kind is RefKind.KEY
        key = store.reader.get_key(ref.account or caller.account, region, ref.name)
        if key is None:
            raise IdentityError(f"key {key_ref} does not exist in {region}")
    context = {**encryption_context_keys(encryption_context), **conditions} if encryption_context else dict(conditions)
    return full_decision(
        services, ctx, action, key=key, context=context, grants=GrantUse(encryption_context=encryption_context or None)
    )

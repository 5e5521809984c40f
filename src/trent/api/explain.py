"""`trent admin explain`: the authorization decision for a principal, an action and a key, with its reasons."""

from __future__ import annotations

from trent.api.authorize import encryption_context_keys, iam_decision, key_decision
from trent.api.context import RequestContext, Services
from trent.api.identity import IdentityError
from trent.domain.authz import Decision
from trent.domain.errors import KMSError
from trent.domain.identities import Caller, PrincipalType, role_arn
from trent.domain.ids import RefKind, parse_key_reference
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
        principal = tx.identities.get_principal(role or principal_arn)
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
    services: Services,
    *,
    principal_arn: str,
    action: str,
    key_ref: str | None,
    region: str,
    encryption_context: dict[str, str],
    conditions: dict[str, str],
) -> Decision:
    """The decision the server would make for `principal_arn` performing `action` (on the key `key_ref`), with
    the given encryption context and extra condition keys: the same function the server calls."""
    store = services.store
    caller = caller_for(store, principal_arn)
    ctx = RequestContext(caller=caller, region=region, request_id="explain")
    facts = {**encryption_context_keys(encryption_context), **conditions} if encryption_context else dict(conditions)
    if key_ref is None:
        return iam_decision(services, ctx, action, "*", facts=facts)
    try:
        ref = parse_key_reference(key_ref, region=region, allow_alias=False)
    except KMSError as exc:
        raise IdentityError(exc.message or exc.code) from None
    assert ref.kind is RefKind.KEY
    key = store.reader.get_key(ref.account or caller.account, region, ref.name)
    if key is None:
        raise IdentityError(f"key {key_ref} does not exist in {region}")
    return key_decision(services, ctx, action, key, facts=facts, encryption_context=encryption_context or None)

"""`trent admin explain`: the authorization decision for a principal, an action and a key, with its reasons."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from trent.api.authorize import encryption_context_keys, iam_decision, key_decision
from trent.api.context import RequestContext, Services
from trent.api.identity import IdentityError
from trent.domain.authz import Decision
from trent.domain.errors import KMSError
from trent.domain.grants import Grant, grantee_candidates, why_grant_does_not_apply
from trent.domain.identities import Caller, PrincipalType, role_arn
from trent.domain.ids import RefKind, account_root_arn, parse_key_reference
from trent.domain.operations import OPERATIONS, grant_operation
from trent.storage.store import Store

#: Every KMS action a policy can name.
KMS_ACTIONS = frozenset(action for operation in OPERATIONS.values() for action in operation.actions)
#: How far back retired and revoked grants are shown (their tombstones are kept an hour).
_TOMBSTONES_SHOWN_SECONDS = 3600.0


@dataclass(frozen=True)
class GrantVerdict:
    """A grant on the key that names the caller, and the first reason it does not apply (None: it applies)."""

    grant: Grant
    reason: str | None


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    #: Every grant on the key naming the caller (directly, through its role, or through its account root).
    grants: tuple[GrantVerdict, ...] = ()


def normalize_action(action: str) -> str:
    """`Decrypt` is `kms:Decrypt`; an unknown KMS action is refused with the nearest known names."""
    if ":" not in action:
        action = f"kms:{action}"
    if action.lower().startswith("kms:") and action not in KMS_ACTIONS:
        known = {a.lower(): a for a in KMS_ACTIONS}
        if action.lower() in known:
            return known[action.lower()]
        close = difflib.get_close_matches(action, sorted(KMS_ACTIONS), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise IdentityError(f"{action} is not a KMS action{hint}")
    return action


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
) -> Explanation:
    """The decision the server would make for `principal_arn` performing `action` (on the key `key_ref`), with
    the given encryption context and extra condition keys (the same function the server calls), and every grant
    on the key that names the caller with the reason it does or does not apply."""
    store = services.store
    action = normalize_action(action)
    caller = caller_for(store, principal_arn)
    ctx = RequestContext(caller=caller, region=region, request_id="explain")
    facts = {**encryption_context_keys(encryption_context), **conditions} if encryption_context else dict(conditions)
    if key_ref is None:
        return Explanation(iam_decision(services, ctx, action, "*", facts=facts))
    try:
        ref = parse_key_reference(key_ref, region=region, allow_alias=False)
    except KMSError as exc:
        raise IdentityError(exc.message or exc.code) from None
    assert ref.kind is RefKind.KEY
    key = store.reader.get_key(ref.account or caller.account, region, ref.name)
    if key is None:
        raise IdentityError(f"key {key_ref} does not exist in {region}")
    # Every grant that allows is named (the server stops at the first): an account-root grant applies to this caller
    # exactly when the decision names it.
    decision = key_decision(
        services,
        ctx,
        action,
        key,
        facts=facts,
        encryption_context=encryption_context or None,
        every_allowing_grant=True,
    )
    operation = grant_operation(action)
    if operation is None:
        return Explanation(decision)
    now = services.clock()
    verdicts = []
    for grantee in grantee_candidates(caller):
        for _, grant in store.reader.grants_of_grantee(key.ref, grantee, now - _TOMBSTONES_SHOWN_SECONDS):
            reason = why_grant_does_not_apply(
                grant,
                operation,
                encryption_context,
                now=now,
                propagation_delay=services.grants.propagation_delay,
            )
            if reason is None and grantee == account_root_arn(caller.account) and caller.type is not PrincipalType.ROOT:
                applied = any(m.policy == f"grant {grant.grant_id}" for m in decision.matches)
                if not applied:
                    reason = (
                        "it names the account root: it applies to an IAM user or role only where an identity "
                        f"policy of theirs allows {action}"
                    )
            verdicts.append(GrantVerdict(grant, reason))
    return Explanation(decision, tuple(verdicts))

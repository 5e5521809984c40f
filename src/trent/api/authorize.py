"""Authorization of every request: the facts of the request, the policies in play, and the decision.

The decision itself is pure (`trent.domain.authz.decide`); this module gathers what it needs — the
caller, the key policy, the caller's identity policies, the condition keys of the request — and turns a
refusal into `AccessDeniedException`. Parsed policies are cached by document text, so a policy is
compiled once however many requests it decides.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from trent.api.context import RequestContext, Services
from trent.crypto.tokens import InvalidToken
from trent.domain.authz import Decision, decide
from trent.domain.errors import AccessDeniedException, InvalidGrantTokenException, MalformedPolicyDocumentException
from trent.domain.grants import (
    GRANT_OPERATIONS,
    Grant,
    PrincipalMatch,
    grantee_candidates,
    principal_account,
    principal_match,
)
from trent.domain.identities import Caller, Principal, PrincipalType
from trent.domain.keys import Key
from trent.domain.policy import Match, Policy, PolicyError, RequestFacts, evaluate, parse_policy

_PRINCIPAL_TYPE = {
    PrincipalType.ROOT: "Account",
    PrincipalType.USER: "User",
    PrincipalType.ASSUMED_ROLE: "AssumedRole",
    PrincipalType.ROLE: "AssumedRole",
}
#: How long a principal's identity policies are reused before they are read again (admin changes apply after it).
IDENTITY_POLICY_TTL = 2.0


class PolicyCache:
    """Parsed policies by (kind, document text): parsing is the expensive part of a decision."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._parsed: OrderedDict[tuple[str, str, str], Policy] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, document: str, *, name: str, kind: str) -> Policy:
        cache_key = (kind, name, document)
        policy = self._parsed.get(cache_key)
        if policy is None:
            policy = parse_policy(document, name=name, kind=kind)  # type: ignore[arg-type]
            with self._lock:
                self._parsed[cache_key] = policy
                if len(self._parsed) > self._max:
                    self._parsed.popitem(last=False)
        return policy


_policies = PolicyCache()
_log = logging.getLogger("trent.authorize")
#: What an unreadable identity policy counts as (fail closed).
_DENY_EVERYTHING = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
#: Decisions that no condition could change, by (action, resource, key account, caller, policies): see decision_for.
_decisions: dict[tuple[Any, ...], tuple[Policy | None, tuple[Policy, ...], Decision]] = {}
_MAX_DECISIONS = 10_000
_identity_cache: dict[str, tuple[float, tuple[Policy, ...], bool]] = {}
#: Condition keys whose values cost a read of the store: gathered only when a policy in play names them.
_COSTLY_KEYS = ("aws:resourcetag/", "kms:resourcealiases")


def _mentions_costly_keys(document: str) -> bool:
    folded = document.lower()
    return any(name in folded for name in _COSTLY_KEYS)


def trust_policy_of(document: str) -> Policy:
    """A role trust policy: a resource policy whose resource is the role, so its statements name none."""
    try:
        policy = json.loads(document)
    except (ValueError, RecursionError):
        raise PolicyError("The trust policy is not valid JSON.") from None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and "Resource" not in statement and "NotResource" not in statement:
            statement["Resource"] = "*"
    return _policies.get(json.dumps(policy), name="trust policy", kind="resource")


def key_policy_of(document: str) -> Policy:
    return _policies.get(document, name="key policy", kind="resource")


def check_key_policy_document(services: Services, document: str) -> Policy:
    """Parse a key policy the caller submitted: syntax problems, and principals that do not exist in an account
    this server hosts (fact sheet §9), are MalformedPolicyDocumentException."""
    try:
        policy = key_policy_of(document)
    except PolicyError as exc:
        raise MalformedPolicyDocumentException(str(exc)) from None
    for statement in policy.statements:
        named = statement.principals
        if named is not None and not all(hosted_principal_exists(services, arn) for arn in (*named.arns, *named.roles)):
            raise MalformedPolicyDocumentException("Policy contains a statement with one or more invalid principals.")
    return policy


def hosted_principal_exists(services: Services, principal: str) -> bool:
    """Whether `principal` (an IAM ARN) exists, as far as this server can tell: a user or role of an account it
    hosts must exist there (an assumed-role session: its role); principals of other accounts, and federated
    users, cannot be checked and count as existing."""
    reader = services.store.reader
    account = principal_account(principal)
    if not reader.account_exists(account) or ":federated-user/" in principal:
        return True
    if ":assumed-role/" in principal:
        role = principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
        principal = f"arn:aws:iam::{account}:role/{role}"
    return reader.principal_exists(principal)


def identity_policies_of(services: Services, caller: Caller) -> tuple[Policy, ...]:
    """The identity policies attached to the caller (to the role, for an assumed-role session)."""
    return _identity(services, caller)[0]


def _identity(services: Services, caller: Caller) -> tuple[tuple[Policy, ...], bool]:
    """(policies, whether any names a condition key that costs a store read)."""
    if caller.type is PrincipalType.ROOT:
        return (), False
    principal = caller.role_arn if caller.type is PrincipalType.ASSUMED_ROLE else caller.arn
    assert principal is not None
    now = time.monotonic()
    cached = _identity_cache.get(principal)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    documents = services.store.reader.identity_policies(principal)
    parsed = []
    for name, document in documents:
        try:
            parsed.append(_policies.get(document, name=name, kind="identity"))
        except PolicyError as exc:
            # Stored before attach-time validation, or edited in the database. It may have held a Deny, so it
            # may not simply be skipped: the principal is denied everything until the policy is fixed.
            _log.error(
                "identity policy %r of %s cannot be read (%s): denying the principal everything", name, principal, exc
            )
            parsed.append(_policies.get(_DENY_EVERYTHING, name=name, kind="identity"))
    policies = tuple(parsed)
    costly = any(_mentions_costly_keys(document) for _, document in documents)
    if len(_identity_cache) > 10_000:
        _identity_cache.clear()
    _identity_cache[principal] = (now + IDENTITY_POLICY_TTL, policies, costly)
    return policies, costly


def forget_identity_policies() -> None:
    _identity_cache.clear()


@functools.lru_cache(maxsize=4)
def _iso_time(second: int) -> str:
    # Formatting a date costs more than the rest of the facts; it changes once a second.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_facts(
    ctx: RequestContext,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    *,
    now: float,
) -> RequestFacts:
    caller = ctx.caller
    principal_arn = caller.role_arn if caller.type is PrincipalType.ASSUMED_ROLE and caller.role_arn else caller.arn
    condition_context: dict[str, Any] = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": _PRINCIPAL_TYPE[caller.type],
        "aws:userid": caller.user_id,
        "aws:CurrentTime": _iso_time(int(now)),
        "aws:EpochTime": int(now),
        "aws:SecureTransport": False,
        "kms:CallerAccount": caller.account,
    }
    if ctx.source_ip:
        condition_context["aws:SourceIp"] = ctx.source_ip
    if caller.user_name is not None:
        condition_context["aws:username"] = caller.user_name
    condition_context.update(context)
    variables = {
        "aws:userid": caller.user_id,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalType": _PRINCIPAL_TYPE[caller.type],
    }
    if caller.user_name is not None:
        variables["aws:username"] = caller.user_name
    return RequestFacts(
        caller_arn=caller.arn,
        caller_account=caller.account,
        caller_type=_PRINCIPAL_TYPE[caller.type] if caller.type is not PrincipalType.ROOT else "Root",
        role_arn=caller.role_arn,
        service_principal=None,
        action=action,
        resource=resource,
        context=condition_context,
        variables=variables,
    )


def request_alias_context(raw_key_id: str) -> dict[str, Any]:
    """kms:RequestAlias: the alias name the request used for its key, if it used one."""
    if raw_key_id.startswith("alias/"):
        return {"kms:RequestAlias": raw_key_id}
    if raw_key_id.startswith("arn:") and ":alias/" in raw_key_id:
        return {"kms:RequestAlias": raw_key_id[raw_key_id.index(":alias/") + 1 :]}
    return {}


def tag_context(tags: Mapping[str, str]) -> dict[str, Any]:
    facts: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    facts["aws:TagKeys"] = list(tags)
    return facts


def key_context(key: Key) -> dict[str, Any]:
    """Condition keys that describe the key itself."""
    return {"kms:KeySpec": key.spec_name, "kms:KeyUsage": str(key.usage), "kms:KeyOrigin": key.origin}


def encryption_context_keys(context: Mapping[str, str] | None) -> dict[str, Any]:
    pairs = context or {}
    facts: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in pairs.items()}
    facts["kms:EncryptionContextKeys"] = list(pairs)
    return facts


def decision_for(
    services: Services,
    ctx: RequestContext,
    action: str,
    *,
    key: Key | None = None,
    resource: str | None = None,
    context: Mapping[str, Any] | None = None,
    key_policy: str | None = None,
) -> Decision:
    """Decide whether the caller may perform `action` on `key` (or, for IAM-only actions, on `resource`)."""
    identity, identity_costly = _identity(services, ctx.caller)
    policy_document = key_policy if key_policy is not None else (key.policy if key is not None else None)
    parsed_key_policy = key_policy_of(policy_document) if policy_document is not None else None
    resource_arn = key.arn if key is not None else (resource or "*")
    key_account = key.account if key is not None else None
    reusable = (parsed_key_policy is None or parsed_key_policy.decides_without_context(action)) and all(
        policy.decides_without_context(action) for policy in identity
    )
    if reusable:
        # No condition or policy variable is in play: the decision depends on who asks for what only.
        memo_key = (action, resource_arn, key_account, ctx.caller, id(parsed_key_policy), id(identity))
        memo = _decisions.get(memo_key)
        # The memo holds the policies it was decided with, so their ids cannot be reused meanwhile.
        if memo is not None and memo[0] is parsed_key_policy and memo[1] is identity:
            return memo[2]
    condition_context: dict[str, Any] = {}
    if key is not None:
        condition_context.update(key_context(key))
        if identity_costly or (policy_document is not None and _mentions_costly_keys(policy_document)):
            condition_context.update(resource_context(services, key))
    if context:
        condition_context.update(context)
    facts = request_facts(ctx, action, resource_arn, condition_context, now=services.clock())
    decision = decide(facts, key_account=key_account, key_policy=parsed_key_policy, identity_policies=identity)
    if reusable:
        if len(_decisions) >= _MAX_DECISIONS:
            _decisions.clear()
        _decisions[memo_key] = (parsed_key_policy, identity, decision)
    return decision


def resource_context(services: Services, key: Key) -> dict[str, Any]:
    """aws:ResourceTag/* and kms:ResourceAliases: the key's tags and aliases, read from the store."""
    with services.store.transaction(write=False) as tx:
        tags = tx.get_tags(key.key_id)
        aliases = tx.alias_names_for_key(key.key_id)
    facts: dict[str, Any] = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    facts["kms:ResourceAliases"] = aliases
    return facts


class GrantUse(NamedTuple):
    """What grants need to know of a request: its encryption context (for constraints) and its tokens."""

    encryption_context: Mapping[str, str] | None = None
    tokens: Sequence[str] = ()
    #: For CreateGrant through a grant: the check a parent grant must pass to allow this child.
    parent_check: Callable[[Grant], bool] | None = None


def verified_tokens(services: Services, tokens: Sequence[str]) -> list[str]:
    """The grant IDs the tokens name. :raises InvalidGrantTokenException: for any token Trent did not mint."""
    grant_ids = []
    for token in tokens:
        try:
            grant_ids.append(services.tokens.verify(token).grant_id)
        except InvalidToken:
            raise InvalidGrantTokenException("The grant token is not valid.") from None
    return grant_ids


def _identity_allows(services: Services, ctx: RequestContext, action: str, key: Key) -> bool:
    """Does an identity policy of the caller allow `action` on `key` (no explicit deny considered here)?"""
    if ctx.caller.type is PrincipalType.ROOT:
        return True
    facts = request_facts(ctx, action, key.arn, key_context(key), now=services.clock())
    return any(
        evaluate(policy, facts, check_principal=False)[0] for policy in identity_policies_of(services, ctx.caller)
    )


def grants_allowing(
    services: Services, ctx: RequestContext, action: str, key: Key, use: GrantUse, token_grants: Sequence[str]
) -> list[Grant]:
    """Grants on `key` that allow `action` for the caller now: by their tokens, or propagated to this view."""
    operation = action.removeprefix("kms:")
    if operation not in GRANT_OPERATIONS:
        return []
    candidates: dict[str, Grant] = {}
    for grant_id in token_grants:
        grant = services.grants.grant_for_token(grant_id)
        if grant is not None and grant.key_id == key.key_id and grant.deleted_at is None:
            candidates[grant.grant_id] = grant
    for grant in services.grants.usable_grants(key.key_id, grantee_candidates(ctx.caller)):
        candidates.setdefault(grant.grant_id, grant)
    allowing = []
    for grant in candidates.values():
        match = principal_match(grant.grantee_principal, ctx.caller)
        if match == PrincipalMatch.NONE:
            continue
        if not grant.allows(operation, use.encryption_context, None):
            continue
        if use.parent_check is not None and not use.parent_check(grant):
            continue
        if match == PrincipalMatch.ACCOUNT and not _identity_allows(services, ctx, action, key):
            continue
        allowing.append(grant)
    return allowing


def grant_match(grant: Grant) -> Match:
    return Match(policy=f"grant {grant.grant_id}", sid=grant.name, index=0, effect="Allow")


def full_decision(
    services: Services,
    ctx: RequestContext,
    action: str,
    *,
    key: Key | None = None,
    resource: str | None = None,
    context: Mapping[str, Any] | None = None,
    grants: GrantUse | None = None,
) -> Decision:
    """Whether a policy or a grant lets the caller perform `action`, and which.

    Policies are consulted first; grants only when policies do not allow and nothing explicitly denies.
    """
    if key is not None and ctx.audit is not None:
        ctx.audit.add_key(key.arn, key.account)
    token_grants = verified_tokens(services, grants.tokens) if grants is not None and grants.tokens else []
    decision = decision_for(services, ctx, action, key=key, resource=resource, context=context)
    if decision.allowed:
        return decision
    if key is not None and not decision.reason.startswith("explicit-deny"):
        allowing = grants_allowing(services, ctx, action, key, grants or GrantUse(), token_grants)
        if allowing:
            return Decision(
                allowed=True,
                reason="grant",
                matches=tuple(grant_match(g) for g in allowing),
                message=None,
                caller_arn=ctx.caller.arn,
                action=action,
                resource=key.arn,
            )
    return decision


def authorize(
    services: Services,
    ctx: RequestContext,
    action: str,
    *,
    key: Key | None = None,
    resource: str | None = None,
    context: Mapping[str, Any] | None = None,
    grants: GrantUse | None = None,
) -> Decision:
    """Raise AccessDeniedException unless a policy or a grant lets the caller perform `action`."""
    decision = full_decision(services, ctx, action, key=key, resource=resource, context=context, grants=grants)
    if not decision.allowed:
        raise AccessDeniedException(decision.message)
    return decision


def trust_allows(services: Services, ctx: RequestContext, role: Principal, *, external_id: str | None = None) -> bool:
    """May the caller assume `role`? Its trust policy is the resource policy, as AWS evaluates it; the request's
    ExternalId is the condition key sts:ExternalId."""
    if role.trust_policy is None:
        return False
    try:
        trust = trust_policy_of(role.trust_policy)
    except PolicyError:
        return False
    context = {} if external_id is None else {"sts:ExternalId": external_id}
    facts = request_facts(ctx, "sts:AssumeRole", role.arn, context, now=services.clock())
    decision = decide(
        facts, key_account=role.account, key_policy=trust, identity_policies=identity_policies_of(services, ctx.caller)
    )
    return decision.allowed


def would_allow(services: Services, ctx: RequestContext, action: str, key: Key, policy_document: str) -> bool:
    """Would `policy_document`, as the key's policy, let the caller perform `action`? (The lockout check.)"""
    return decision_for(services, ctx, action, key=key, key_policy=policy_document).allowed

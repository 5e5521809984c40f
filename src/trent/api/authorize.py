"""Authorization of every request: gather the facts, the policies and the grants; `trent.domain.authz.evaluate`
decides, and this module turns a refusal into `AccessDeniedException`.

Handlers get a key for an action through `key_for`, which finds it and authorizes the action in one step. The
few places that must find a key before deciding on it — because the decision is on another key first (Decrypt's
`KeyId`, ReEncrypt's destination) or needs what was found — call `find_key_unauthorized` and then
`authorize_key`, and say why; grep for the name to see them all.

The facts of a request are exactly those docs/authorization.md lists: the common ones (`request_facts`), the
key's (`key_context`, plus its tags and aliases when a policy in play names them), the alias the request used,
and the operation's own, which the handler passes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trent.api.caches import mentions_costly_keys
from trent.api.changes import ReadCache
from trent.api.context import RequestContext, Services
from trent.crypto.tokens import InvalidToken
from trent.domain.authz import (
    Decision,
    GrantRequest,
    PolicyRefusal,
    Reason,
    decide_by_grants,
    evaluate,
    evaluate_policies,
)
from trent.domain.errors import (
    AccessDeniedException,
    InvalidGrantTokenException,
    MalformedPolicyDocumentException,
    NotFoundException,
)
from trent.domain.grants import Constraints, Grant, grantee_candidates, principal_account
from trent.domain.identities import Caller, Principal, PrincipalType
from trent.domain.ids import RefKind, alias_arn, key_arn, parse_key_reference
from trent.domain.keys import Key, KeyState
from trent.domain.operations import grant_operation
from trent.domain.policy import Policy, PolicyError, RequestFacts, check_actions_exist, trust_policy_document
from trent.domain.policy_syntax import check_key_policy
from trent.storage.store import Tx

_PRINCIPAL_TYPE = {
    PrincipalType.ROOT: "Account",
    PrincipalType.USER: "User",
    PrincipalType.ASSUMED_ROLE: "AssumedRole",
    PrincipalType.ROLE: "AssumedRole",
}
#: Decisions that grants cannot change, and so may be reused when no condition could change them either.
_REUSABLE_REASONS = frozenset(
    {Reason.KEY_POLICY, Reason.IAM, Reason.EXPLICIT_DENY_RESOURCE, Reason.EXPLICIT_DENY_IDENTITY, Reason.OTHER_ACCOUNT}
)


# --- finding the key ------------------------------------------------------------------------------------------------
def key_for(
    source: Tx | ReadCache,
    services: Services,
    ctx: RequestContext,
    raw: str,
    *,
    action: str,
    facts: Mapping[str, Any] | None = None,
    allow_alias: bool = False,
    for_update: bool = False,
    encryption_context: Mapping[str, str] | None = None,
    tokens: Sequence[str] = (),
    child: tuple[frozenset[str], Constraints | None] | None = None,
) -> Key:
    """Find the key `raw` names and authorize `action` on it (see `authorize_key` for the other arguments).

    `source` is the transaction of a handler that writes (`for_update` reads the row FOR UPDATE), or
    `services.reads` for one that only reads.

    :raises NotFoundException: for malformed identifiers, unknown keys and aliases, deleted keys.
    :raises AccessDeniedException: when the caller may not perform `action` on the key.
    """
    key, _ = key_and_decision_for(
        source,
        services,
        ctx,
        raw,
        action=action,
        facts=facts,
        allow_alias=allow_alias,
        for_update=for_update,
        encryption_context=encryption_context,
        tokens=tokens,
        child=child,
    )
    return key


def key_and_decision_for(
    source: Tx | ReadCache,
    services: Services,
    ctx: RequestContext,
    raw: str,
    *,
    action: str,
    facts: Mapping[str, Any] | None = None,
    allow_alias: bool = False,
    for_update: bool = False,
    encryption_context: Mapping[str, str] | None = None,
    tokens: Sequence[str] = (),
    child: tuple[frozenset[str], Constraints | None] | None = None,
) -> tuple[Key, Decision]:
    """`key_for`, and the decision that allowed the call (for a handler that records what allowed it: CreateGrant
    records the grant it was allowed by, `trent.domain.authz.allowing_grant_id`)."""
    key = find_key_unauthorized(source, services, ctx, raw, allow_alias=allow_alias, for_update=for_update)
    decision = authorize_key(
        services,
        ctx,
        action,
        key,
        facts=facts,
        raw_key_id=raw,
        encryption_context=encryption_context,
        tokens=tokens,
        child=child,
    )
    return key, decision


def find_key_unauthorized(
    source: Tx | ReadCache,
    services: Services,
    ctx: RequestContext,
    raw: str,
    *,
    allow_alias: bool = False,
    for_update: bool = False,
) -> Key:
    """Find the key `raw` names, in the caller's region, WITHOUT authorizing anything: the caller must decide
    on it (or on another key first) before using it or revealing anything about it.

    A bare key ID or alias name names a key of the caller's own account; another account's key needs its ARN.

    :raises NotFoundException: for malformed identifiers, unknown keys and aliases, deleted keys.
    """
    ref = parse_key_reference(raw, region=ctx.region, allow_alias=allow_alias)
    account = ref.account or ctx.caller.account
    if ref.kind is RefKind.ALIAS:
        if isinstance(source, Tx):
            target = source.aliases.target(account, ctx.region, ref.name)
        else:
            target = source.alias_target(account, ctx.region, ref.name)
        if target is None:
            raise NotFoundException(f"Alias {alias_arn(ctx.region, account, ref.name)} is not found.")
        key_id = target
    else:
        key_id = ref.name
    if isinstance(source, Tx):
        key = source.keys.get(account, ctx.region, key_id, for_update=for_update)
    else:
        assert not for_update, "reading for update needs a transaction"
        key = source.get_key(account, ctx.region, key_id)
    if key is None or deletion_due(key, services.clock()):
        raise NotFoundException(f"Key '{key_arn(ctx.region, account, key_id)}' does not exist")
    if ctx.audit is not None:  # the event names the key even when the decision refuses the call
        ctx.audit.add_key(key.arn, key.account)
    return key


def deletion_due(key: Key, now: float) -> bool:
    # The sweeper deletes such keys soon; until it runs they must already look deleted.
    return key.state is KeyState.PENDING_DELETION and key.deletion_date is not None and key.deletion_date <= now


# --- deciding -------------------------------------------------------------------------------------------------------
def authorize_key(
    services: Services,
    ctx: RequestContext,
    action: str,
    key: Key,
    *,
    facts: Mapping[str, Any] | None = None,
    raw_key_id: str | None = None,
    encryption_context: Mapping[str, str] | None = None,
    tokens: Sequence[str] = (),
    child: tuple[frozenset[str], Constraints | None] | None = None,
) -> Decision:
    """Raise AccessDeniedException unless a policy or a grant lets the caller perform `action` on `key`.

    :param facts: the operation's own condition keys (docs/authorization.md); the common facts, the key's and
        kms:RequestAlias (from `raw_key_id`) are added here.
    :param encryption_context: what grant constraints are checked against.
    :param tokens: the request's grant tokens. :raises InvalidGrantTokenException: for one Trent did not mint.
    :param child: for CreateGrant, the operations and constraints of the grant to be created (a grant may only
        allow a narrower one).
    """
    if ctx.audit is not None:  # the event names the key even when the decision refuses the call
        ctx.audit.add_key(key.arn, key.account)
    decision = key_decision(
        services,
        ctx,
        action,
        key,
        facts=facts,
        raw_key_id=raw_key_id,
        encryption_context=encryption_context,
        tokens=tokens,
        child=child,
    )
    if not decision.allowed:
        raise AccessDeniedException(decision.message)
    return decision


def key_decision(
    services: Services,
    ctx: RequestContext,
    action: str,
    key: Key,
    *,
    facts: Mapping[str, Any] | None = None,
    raw_key_id: str | None = None,
    encryption_context: Mapping[str, str] | None = None,
    tokens: Sequence[str] = (),
    child: tuple[frozenset[str], Constraints | None] | None = None,
    every_allowing_grant: bool = False,
) -> Decision:
    """The decision `authorize_key` enforces, without raising (for `trent admin explain`, which asks for
    `every_allowing_grant` to be named: the outcome is the same, the server stops at the first)."""
    token_grants = verified_tokens(services, tokens)
    identity, identity_costly = identity_policies_of(services, ctx.caller)
    key_policy = key_policy_of(services, key.policy)
    arn = key.arn  # built once: the memo's key and the decision keep the same string
    reusable = key_policy.decides_without_context(action) and all(
        policy.decides_without_context(action) for policy in identity
    )
    if reusable:
        # No condition or policy variable is in play: the policies' verdict depends on who asks for what only.
        # The memo holds the policies it was decided with: an entry is used only while both are the very policies
        # in play now (a changed policy is parsed into another object, and the entry is then decided again).
        # A remembered refusal still goes to the grants of this request, which are never remembered here.
        memo_key = (action, arn, ctx.caller)
        memo = services.decisions.get(memo_key)
        if memo is not None and memo[0] is key_policy and memo[1] is identity:
            verdict = memo[2]
            if isinstance(verdict, Decision):
                return verdict
            return _by_grants(
                services, ctx, key, verdict, action, token_grants, encryption_context, child, every_allowing_grant
            )
    context = key_context(key)
    if identity_costly or mentions_costly_keys(key.policy):
        context.update(resource_context(services, key))
    if raw_key_id is not None:
        context.update(request_alias_context(raw_key_id))
    if facts:
        context.update(facts)
    verdict = evaluate_policies(
        request_facts(ctx, action, arn, context, now=services.clock()),
        key_account=key.account,
        key_policy=key_policy,
        identity_policies=identity,
    )
    if reusable and (isinstance(verdict, PolicyRefusal) or verdict.reason in _REUSABLE_REASONS):
        services.decisions.put(memo_key, (key_policy, identity, verdict))
    if isinstance(verdict, Decision):
        return verdict
    return _by_grants(
        services, ctx, key, verdict, action, token_grants, encryption_context, child, every_allowing_grant
    )


def _by_grants(
    services: Services,
    ctx: RequestContext,
    key: Key,
    refusal: PolicyRefusal,
    action: str,
    token_grants: Sequence[str],
    encryption_context: Mapping[str, str] | None,
    child: tuple[frozenset[str], Constraints | None] | None,
    every_allowing: bool,
) -> Decision:
    """The policies refused: the grants on the key that may apply to the caller decide."""
    operation = grant_operation(action)
    if operation is None:
        return decide_by_grants(refusal, (), None)
    request = GrantRequest(
        operation,
        encryption_context,
        child_operations=child[0] if child is not None else None,
        child_constraints=child[1] if child is not None else None,
    )
    candidates = _CandidateGrants(services, ctx.caller, key, token_grants)
    return decide_by_grants(refusal, candidates, request, every_allowing=every_allowing)


class _CandidateGrants(Iterable[Grant]):
    """The grants on the key that may apply to the caller: first those named by the request's tokens, read from
    the store, then those the view holds for the caller. A grant named by a token is taken as the store has it,
    never as the view has it: its retirement counts at once, on every node, even within the propagation delay.
    Looked up only if the decision gets as far as grants, and only as far as it needs: the view is not read when a
    token's grant allows the request."""

    def __init__(self, services: Services, caller: Caller, key: Key, token_grants: Sequence[str]) -> None:
        self._services = services
        self._caller = caller
        self._key = key
        self._token_grants = token_grants

    def __iter__(self) -> Iterator[Grant]:
        view = self._services.grants
        key_ref = self._key.ref
        for grant_id in self._token_grants:
            grant = view.grant_for_token(grant_id)
            if grant is not None and grant.key_ref == key_ref and grant.deleted_at is None:
                yield grant
        for grant in view.usable_grants(key_ref, grantee_candidates(self._caller)):
            if grant.grant_id not in self._token_grants:  # a token's grant counts as the store has it, above
                yield grant


def authorize_iam(
    services: Services, ctx: RequestContext, action: str, resource: str, *, facts: Mapping[str, Any] | None = None
) -> Decision:
    """Raise AccessDeniedException unless the caller's identity policies allow `action` on `resource` (the actions
    that have no key policy: CreateKey, ListKeys, ..., and the alias half of the alias operations)."""
    decision = iam_decision(services, ctx, action, resource, facts=facts)
    if not decision.allowed:
        raise AccessDeniedException(decision.message)
    return decision


def iam_decision(
    services: Services, ctx: RequestContext, action: str, resource: str, *, facts: Mapping[str, Any] | None = None
) -> Decision:
    identity, _ = identity_policies_of(services, ctx.caller)
    return evaluate(
        request_facts(ctx, action, resource, dict(facts or {}), now=services.clock()),
        key_account=None,
        key_policy=None,
        identity_policies=identity,
    )


def authorize_retire(services: Services, ctx: RequestContext, grant: Grant, key: Key | None) -> Decision:
    """Raise AccessDeniedException unless the caller may retire `grant` (docs/authorization.md, RetireGrant)."""
    identity, identity_costly = identity_policies_of(services, ctx.caller)
    context: dict[str, Any] = {}
    if key is not None:
        context = key_context(key)
        if identity_costly:
            context.update(resource_context(services, key))
    decision = evaluate(
        request_facts(ctx, "kms:RetireGrant", grant.key_arn, context, now=services.clock()),
        key_account=grant.key_account,
        key_policy=None,
        identity_policies=identity,
        retiring=grant,
    )
    if not decision.allowed:
        raise AccessDeniedException(decision.message)
    return decision


def lockout_allows(
    services: Services,
    ctx: RequestContext,
    key: Key,
    policy: Policy,
    *,
    resource_facts: Mapping[str, Any] | None = None,
) -> bool:
    """The lockout safety check: would `policy`, as the key's policy, let the caller change it again?

    Decided as a PutKeyPolicy request by the same caller now, with its facts: kms:PolicyName `default`,
    kms:BypassPolicyLockoutSafetyCheck false (docs/authorization.md). `resource_facts` gives the tags and aliases
    of a key not stored yet; otherwise they are read when a policy names them.
    """
    identity, _ = identity_policies_of(services, ctx.caller)
    context = key_context(key)
    # Always the key's tags and aliases: the new policy, not the stored one, decides which facts matter, and a
    # fact left out can make a ForAllValues or Null condition hold that would not hold in a real request.
    context.update(resource_facts if resource_facts is not None else resource_context(services, key))
    context.update({"kms:PolicyName": "default", "kms:BypassPolicyLockoutSafetyCheck": False})
    decision = evaluate(
        request_facts(ctx, "kms:PutKeyPolicy", key.arn, context, now=services.clock()),
        key_account=key.account,
        key_policy=policy,
        identity_policies=identity,
    )
    return decision.allowed


def verified_tokens(services: Services, tokens: Sequence[str]) -> list[str]:
    """The grant IDs the tokens name. :raises InvalidGrantTokenException: for any token Trent did not mint."""
    grant_ids = []
    for token in tokens:
        try:
            grant_ids.append(services.tokens.verify(token).grant_id)
        except InvalidToken:
            raise InvalidGrantTokenException("The grant token is not valid.") from None
    return grant_ids


# --- the facts ------------------------------------------------------------------------------------------------------
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
    """The facts of a request: the common condition keys and policy variables, and the `context` given."""
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
    context: dict[str, Any] = {
        "kms:KeySpec": key.spec_name,
        "kms:KeyUsage": str(key.usage),
        "kms:KeyOrigin": key.origin,
        "kms:MultiRegion": key.multi_region,
    }
    if key.multi_region:
        context["kms:MultiRegionKeyType"] = "PRIMARY" if key.is_primary else "REPLICA"
    return context


def encryption_context_keys(context: Mapping[str, str] | None) -> dict[str, Any]:
    pairs = context or {}
    facts: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in pairs.items()}
    facts["kms:EncryptionContextKeys"] = list(pairs)
    return facts


def resource_context(services: Services, key: Key) -> dict[str, Any]:
    """aws:ResourceTag/* and kms:ResourceAliases: the key's tags and aliases, read from the store."""
    with services.store.transaction(write=False) as tx:
        tags = tx.tags.of_key(key.ref)
        aliases = tx.aliases.names_for_key(key.ref)
    facts: dict[str, Any] = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    facts["kms:ResourceAliases"] = aliases
    return facts


# --- the policies ---------------------------------------------------------------------------------------------------
def key_policy_of(services: Services, document: str) -> Policy:
    return services.policies.get(document, name="key policy", kind="resource")


def identity_policies_of(services: Services, caller: Caller) -> tuple[tuple[Policy, ...], bool]:
    """The identity policies of the caller (of its role, for a session), and whether any names a condition key
    that costs a store read. An account root has none: its own account sets it no limits."""
    if caller.type is PrincipalType.ROOT:
        return (), False
    principal = caller.role_arn if caller.type is PrincipalType.ASSUMED_ROLE else caller.arn
    assert principal is not None
    return services.identities.of(principal)


def trust_policy_of(services: Services, document: str) -> Policy:
    """A role trust policy, parsed as the resource policy of the role. :raises PolicyError:"""
    return services.policies.get(trust_policy_document(document), name="trust policy", kind="resource")


def check_key_policy_document(services: Services, document: str) -> Policy:
    """Check and parse a key policy the caller submitted, once: its size (LimitExceededException), its form and
    syntax, and principals that do not exist in an account this server hosts (docs/authorization.md) are
    MalformedPolicyDocumentException. Call it after the decision: parsing costs, and it tells whether principals
    exist."""
    check_key_policy(document)
    try:
        policy = key_policy_of(services, document)
        check_actions_exist(document)
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
    reads = services.reads
    account = principal_account(principal)
    if not reads.account_exists(account) or ":federated-user/" in principal:
        return True
    if ":assumed-role/" in principal:
        role = principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
        principal = f"arn:aws:iam::{account}:role/{role}"
    return reads.principal_exists(principal)


def trust_allows(services: Services, ctx: RequestContext, role: Principal, *, external_id: str | None = None) -> bool:
    """May the caller assume `role`? Its trust policy is the resource policy, as AWS evaluates it; the request's
    ExternalId is the condition key sts:ExternalId."""
    if role.trust_policy is None:
        return False
    try:
        trust = trust_policy_of(services, role.trust_policy)
    except PolicyError:
        return False
    context = {} if external_id is None else {"sts:ExternalId": external_id}
    identity, _ = identity_policies_of(services, ctx.caller)
    decision = evaluate(
        request_facts(ctx, "sts:AssumeRole", role.arn, context, now=services.clock()),
        key_account=role.account,
        key_policy=trust,
        identity_policies=identity,
    )
    return decision.allowed

"""The KMS authorization decision, in one function: `evaluate`.

Key policy, the caller's identity (IAM) policies and the grants on the key, as docs/authorization.md states them
(and docs/decisions.md D7-D9):

1. An explicit Deny anywhere wins — in the key policy (a Deny naming an account principal covers everyone in that
   account) or in any identity policy of the caller. Grants never override it.
2. Key management (`Authority.OWN_ACCOUNT` in `trent.domain.operations`) stays in the key's account.
3. IAM-only actions (`Authority.IAM`, and any request without a key policy) need the identity permission only:
   an Allow in an identity policy, or the caller being an account root (its own account places no IAM limits).
4. Key actions: in the key's account, a key-policy Allow naming the caller suffices alone; an Allow naming the
   caller's account principal "enables IAM policies", so it suffices together with the identity permission.
   Across accounts, the key policy (naming the caller or its account) and the identity permission must both hold.
5. Otherwise a grant may allow it: see `_grant_allows`.

RetireGrant has rules of its own (`_retire`): the key policy plays no part.

Everything here is pure: the caller gathers the facts, the policies and the candidate grants (`trent.api.authorize`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from trent.domain.grants import Constraints, Grant, may_delegate
from trent.domain.operations import iam_only, own_account_only
from trent.domain.policy import Match, Policy, RequestFacts, account_principal_statements, evaluate_statements
from trent.domain.policy_patterns import spending_limit

_KEY_ARN_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:([0-9]{12}):")
_PRINCIPAL_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):")


class Reason(StrEnum):
    """Why a decision came out as it did."""

    KEY_POLICY = "key-policy"
    IAM = "iam"
    GRANT = "grant"
    RETIRING_PRINCIPAL = "retiring-principal"
    GRANTEE = "grantee"
    ISSUING_ACCOUNT = "issuing-account"
    EXPLICIT_DENY_RESOURCE = "explicit-deny-resource"
    EXPLICIT_DENY_IDENTITY = "explicit-deny-identity"
    OTHER_ACCOUNT = "other-account"
    NO_RESOURCE_POLICY = "no-resource-policy"
    NO_IDENTITY_POLICY = "no-identity-policy"

    @property
    def explicit_deny(self) -> bool:
        return self in (Reason.EXPLICIT_DENY_RESOURCE, Reason.EXPLICIT_DENY_IDENTITY)

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Reason.KEY_POLICY: "the key policy allows the caller",
    Reason.IAM: "an identity-based policy allows the caller (and the key policy, if any, enables IAM policies)",
    Reason.GRANT: "a grant allows the caller",
    Reason.RETIRING_PRINCIPAL: "the caller is the grant's retiring principal",
    Reason.GRANTEE: "the caller is the grantee of a grant that allows RetireGrant",
    Reason.ISSUING_ACCOUNT: "the caller is of the account that created the grant",
    Reason.EXPLICIT_DENY_RESOURCE: "a statement of the key policy explicitly denies the request",
    Reason.EXPLICIT_DENY_IDENTITY: "a statement of an identity-based policy explicitly denies the request",
    Reason.OTHER_ACCOUNT: "only the key's own account may do this",
    Reason.NO_RESOURCE_POLICY: "the key policy neither allows the caller nor enables IAM policies for its account",
    Reason.NO_IDENTITY_POLICY: "no identity-based policy of the caller allows the request",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `evaluate`: allowed or not, why, and the statements or grants responsible."""

    allowed: bool
    reason: Reason
    matches: tuple[Match, ...]  # the statements (or grants) that allowed or denied
    message: str | None  # the AccessDeniedException message when not allowed, worded as AWS words it
    caller_arn: str = ""
    action: str = ""
    resource: str = ""

    def explain(self) -> str:
        """A human-readable account of the decision, one fact per line."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        lines = [f"{verdict}: {self.caller_arn or '?'} -> {self.action or '?'} on {self.resource or '?'}"]
        lines.append(f"reason: {self.reason} ({self.reason.description})")
        if self.matches:
            lines.append("statements:")
            lines.extend(f"  - {match.describe()}" for match in self.matches)
        else:
            lines.append("statements: none")
        if self.message:
            lines.append(f"message: {self.message}")
        return "\n".join(lines)


class GrantRequest(NamedTuple):
    """What the grants on a key are checked against, for one request (a tuple: built on every request that gets
    as far as grants, where a frozen dataclass's __init__ costs ~1 µs)."""

    operation: str  # the grant operation the action needs: "Decrypt", "ReEncryptFrom", ...
    encryption_context: Mapping[str, str] | None = None
    source_arn: str | None = None
    #: CreateGrant through a grant: the operations and constraints of the grant to be created.
    child_operations: frozenset[str] | None = None
    child_constraints: Constraints | None = None


_GRANT_MATCH = "grant "


def grant_match(grant: Grant) -> Match:
    return _grant_match(grant.grant_id, grant.name)


@functools.lru_cache(maxsize=4096)
def _grant_match(grant_id: str, name: str | None) -> Match:
    # A Match is immutable and made of the grant's ID and name only, which never change: built once per grant.
    return Match(policy=f"{_GRANT_MATCH}{grant_id}", sid=name, index=0, effect="Allow")


def allowing_grant_id(decision: Decision) -> str | None:
    """The grant that allowed the request, when a grant did (`Reason.GRANT`); None when a policy allowed it, or
    when it was refused. When several grants would allow it, the decision names the first: one a grant token of
    the request names comes before those the grant view holds (`trent.api.authorize._CandidateGrants`)."""
    if not decision.allowed or decision.reason is not Reason.GRANT:
        return None
    for match in decision.matches:
        if match.policy.startswith(_GRANT_MATCH):
            return match.policy.removeprefix(_GRANT_MATCH)
    return None


# --- the decision -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GrantFacts:
    """What the grant step of a decision may look at: who asks, for which action, on which key. No condition keys:
    a grant's only conditions are its constraints, checked against the `GrantRequest`. Both ways to the grant step
    (`evaluate`, and a remembered `PolicyRefusal`) give it exactly this, so neither can see more than the other."""

    caller_arn: str
    caller_account: str
    caller_type: str
    role_arn: str | None
    action: str
    resource: str

    @classmethod
    def of(cls, facts: RequestFacts) -> GrantFacts:
        return cls(
            facts.caller_arn, facts.caller_account, facts.caller_type, facts.role_arn, facts.action, facts.resource
        )


@dataclass(frozen=True, slots=True)
class PolicyRefusal:
    """The policies' verdict when they neither allow the request nor deny it explicitly: it is refused for `reason`
    unless a grant allows it (`decide_by_grants`)."""

    reason: Reason
    matches: tuple[Match, ...]  # what the refusal lists: the key policy's Allows, or its statements enabling IAM
    identity_allows: bool  # whether an identity policy allows the action (an account-root grantee needs it)
    who: GrantFacts


def evaluate(
    facts: RequestFacts,
    *,
    key_account: str | None,
    key_policy: Policy | None,
    identity_policies: Sequence[Policy],
    grants: Iterable[Grant] = (),
    grant_request: GrantRequest | None = None,
    retiring: Grant | None = None,
) -> Decision:
    """Decide whether the request is allowed (see the module docstring for the rules).

    :param key_account: the account owning the key; None to read it from a key ARN in `facts.resource`.
    :param key_policy: the key's policy; None for requests that concern no key (IAM-only actions).
    :param identity_policies: the caller's identity policies (an account root's own account sets it no limits).
    :param grants: the grants on the key that are usable now (propagated, or named by a token of the request);
        iterated only when the policies neither allow nor deny.
    :param grant_request: what those grants are checked against; without it no grant can allow.
    :param retiring: for kms:RetireGrant, the grant to retire.
    """
    if retiring is not None:
        with spending_limit():
            return _retire(facts, identity_policies, retiring)
    verdict = evaluate_policies(
        facts, key_account=key_account, key_policy=key_policy, identity_policies=identity_policies
    )
    if isinstance(verdict, Decision):
        return verdict
    return decide_by_grants(verdict, grants, grant_request)


def evaluate_policies(
    facts: RequestFacts, *, key_account: str | None, key_policy: Policy | None, identity_policies: Sequence[Policy]
) -> Decision | PolicyRefusal:
    """Rules 1 to 4: the decision of the key policy and the identity policies, or, when they neither allow nor
    deny explicitly, the refusal that stands unless a grant allows the request."""
    with spending_limit():  # one budget for every wildcard match of the decision
        return _policies(facts, key_account, key_policy, identity_policies)


def _policies(
    facts: RequestFacts, key_account: str | None, key_policy: Policy | None, identity_policies: Sequence[Policy]
) -> Decision | PolicyRefusal:
    key_allows: list[Match] = []
    key_denies: list[Match] = []
    if key_policy is not None:
        key_allows, key_denies = evaluate_statements(key_policy, facts, check_principal=True)
    identity_allows, identity_denies = _identity(identity_policies, facts)
    # 1. Explicit denies win; every deny is listed.
    if key_denies:
        return _deny(facts, Reason.EXPLICIT_DENY_RESOURCE, key_denies + identity_denies)
    if identity_denies:
        return _deny(facts, Reason.EXPLICIT_DENY_IDENTITY, identity_denies)
    identity_allowed = facts.caller_type == "Root" or bool(identity_allows)

    # 3. IAM-only actions.
    if key_policy is None or iam_only(facts.action):
        if facts.action == "kms:ListRetirableGrants" and _principal_account(facts.resource) != facts.caller_account:
            return _deny(facts, Reason.OTHER_ACCOUNT)
        if identity_allowed:
            return _allow(facts, Reason.IAM, identity_allows)
        return _deny(facts, Reason.NO_IDENTITY_POLICY)

    # 2. Key management stays in the key's account.
    same_account = facts.caller_account == _key_account(key_account, facts)
    if not same_account and own_account_only(facts.action):
        return _deny(facts, Reason.OTHER_ACCOUNT)

    # 4. The key policy names the caller, or enables IAM for the caller's account.
    enabling = account_principal_statements(key_policy, facts) if not key_allows else []
    if same_account and key_allows:
        return _allow(facts, Reason.KEY_POLICY, key_allows)
    if (key_allows or enabling) and identity_allowed:
        if key_allows:
            return _allow(facts, Reason.KEY_POLICY, key_allows + identity_allows)
        return _allow(facts, Reason.IAM, enabling + identity_allows)
    refusal = Reason.NO_IDENTITY_POLICY if key_allows or enabling else Reason.NO_RESOURCE_POLICY
    return PolicyRefusal(refusal, tuple(key_allows or enabling), bool(identity_allows), GrantFacts.of(facts))


def decide_by_grants(
    refusal: PolicyRefusal,
    grants: Iterable[Grant],
    grant_request: GrantRequest | None,
    *,
    every_allowing: bool = False,
) -> Decision:
    """Rule 5: a grant allows what the policies refused, or the refusal stands. The first grant that allows
    decides and is the one the decision names; `grants` is not iterated further (the grants a request's tokens
    name come first, so a request carrying a token that allows it never reads the caller's other grants). With
    `every_allowing` (explanations), every grant that allows is named, the first first: the outcome is the same."""
    who = refusal.who
    if grant_request is not None:
        allowing = []
        for grant in grants:
            if _grant_allows(grant, who, grant_request, identity_allows=refusal.identity_allows):
                allowing.append(grant_match(grant))
                if not every_allowing:
                    break
        if allowing:
            return _allow(who, Reason.GRANT, allowing)
    return _deny(who, refusal.reason, refusal.matches)


def _identity(policies: Sequence[Policy], facts: RequestFacts) -> tuple[list[Match], list[Match]]:
    allows: list[Match] = []
    denies: list[Match] = []
    for policy in policies:
        policy_allows, policy_denies = evaluate_statements(policy, facts, check_principal=False)
        allows.extend(policy_allows)
        denies.extend(policy_denies)
    return allows, denies


class _Named:
    """How a principal named in a grant stands to the caller."""

    NOT = 0
    DIRECTLY = 1  # the caller itself, the role of a session, or the caller's account when the caller is its root
    BY_ACCOUNT = 2  # the caller's account root, and the caller is an IAM user or role session (docs/decisions.md D8)


def _named(principal: str | None, facts: GrantFacts) -> int:
    if principal is None:
        return _Named.NOT
    if principal == facts.caller_arn or (facts.role_arn is not None and principal == facts.role_arn):
        return _Named.DIRECTLY
    if principal == f"arn:aws:iam::{facts.caller_account}:root":
        return _Named.DIRECTLY if facts.caller_type == "Root" else _Named.BY_ACCOUNT
    return _Named.NOT


def _grant_allows(grant: Grant, facts: GrantFacts, request: GrantRequest, *, identity_allows: bool) -> bool:
    """Whether `grant` lets the caller do the request: it names the caller as grantee (an account-root grantee
    counts for the account's IAM principals only with their identity policies' Allow, evaluated with the same
    facts), allows the operation, its constraints hold, and — for CreateGrant — the new grant is narrower."""
    named = _named(grant.grantee_principal, facts)
    if named == _Named.NOT or (named == _Named.BY_ACCOUNT and not identity_allows):
        return False
    if not grant.allows(request.operation, request.encryption_context, request.source_arn):
        return False
    if request.child_operations is not None:
        return may_delegate(grant, request.child_operations, request.child_constraints)
    return True


def _retire(facts: RequestFacts, identity_policies: Sequence[Policy], grant: Grant) -> Decision:
    """RetireGrant authority (docs/authorization.md, "RetireGrant"): the retiring principal, the grantee when the
    grant allows RetireGrant, or the issuing account; IAM principals of an account named so need kms:RetireGrant in an
    identity policy; an identity-policy Deny blocks; the key policy plays no part."""
    allows, denies = _identity(identity_policies, facts)
    if denies:
        return _deny(facts, Reason.EXPLICIT_DENY_IDENTITY, denies)
    identity_allowed = facts.caller_type == "Root" or bool(allows)
    who = GrantFacts.of(facts)

    def named(principal: str | None) -> bool:
        how = _named(principal, who)
        return how == _Named.DIRECTLY or (how == _Named.BY_ACCOUNT and identity_allowed)

    if named(grant.retiring_principal):
        return _allow(facts, Reason.RETIRING_PRINCIPAL, [grant_match(grant)])
    if "RetireGrant" in grant.operations and named(grant.grantee_principal):
        return _allow(facts, Reason.GRANTEE, [grant_match(grant)])
    if facts.caller_account == grant.issuing_account and identity_allowed:
        return _allow(facts, Reason.ISSUING_ACCOUNT, allows)
    return _deny(facts, Reason.NO_IDENTITY_POLICY)


# --- outcomes -----------------------------------------------------------------------------------------------------
def _denied_message(facts: RequestFacts | GrantFacts, reason: Reason) -> str:
    head = f"User: {facts.caller_arn} is not authorized to perform: {facts.action} on resource: {facts.resource}"
    if reason is Reason.EXPLICIT_DENY_RESOURCE:
        return f"{head} with an explicit deny in a resource-based policy"
    if reason is Reason.EXPLICIT_DENY_IDENTITY:
        return f"{head} with an explicit deny in an identity-based policy"
    if reason is Reason.NO_IDENTITY_POLICY:
        return f"{head} because no identity-based policy allows the {facts.action} action"
    return f"{head} because no resource-based policy allows the {facts.action} action"


def _allow(facts: RequestFacts | GrantFacts, reason: Reason, matches: Sequence[Match]) -> Decision:
    return Decision(True, reason, tuple(matches), None, facts.caller_arn, facts.action, facts.resource)


def _deny(facts: RequestFacts | GrantFacts, reason: Reason, matches: Sequence[Match] = ()) -> Decision:
    message = _denied_message(facts, reason)
    return Decision(False, reason, tuple(matches), message, facts.caller_arn, facts.action, facts.resource)


def _key_account(key_account: str | None, facts: RequestFacts) -> str | None:
    if key_account is not None:
        return key_account
    found = _KEY_ARN_ACCOUNT_RE.match(facts.resource)
    return found.group(1) if found else None  # unknown: treated as another account (both sides must allow)


def _principal_account(arn: str) -> str | None:
    found = _PRINCIPAL_ACCOUNT_RE.match(arn)
    return found.group(1) if found else None

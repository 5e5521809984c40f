"""The KMS authorization decision: key policy + identity (IAM) policies (+ grants, as extra allows).

The algorithm (fact sheet §9):

1. An explicit Deny anywhere wins — in the key policy (a Deny naming an account principal covers everyone in that
   account) or in any identity policy of the caller.
2. The caller's identity permission: an account root is not governed by IAM policies in its own account, so it is
   implicitly allowed; anyone else needs an Allow in one of their identity policies.
3. IAM-only actions (CreateKey, ListKeys, ...) and requests without a key policy need the identity permission only.
4. Key actions need the key policy too. In the key's account, a key policy Allow naming the caller suffices alone;
   an Allow naming the caller's account principal "enables IAM policies", so it suffices together with the identity
   permission. Across accounts, the key policy (naming the caller or its account) and the caller's identity policy
   must both allow.
5. Extra allows (grants) are another way in, after step 1: they never override an explicit deny.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from trent.domain.policy import Match, Policy, RequestFacts, account_principal_statements, evaluate

#: Actions whose permission comes from IAM policies only (there is no key, or no key policy, to consult).
IAM_ONLY_ACTIONS = frozenset(
    {
        "kms:CreateKey",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:GenerateRandom",
        "kms:ListRetirableGrants",
        "kms:CreateCustomKeyStore",
        "kms:DescribeCustomKeyStores",
        "kms:UpdateCustomKeyStore",
        "kms:DeleteCustomKeyStore",
        "kms:ConnectCustomKeyStore",
        "kms:DisconnectCustomKeyStore",
    }
)
_IAM_ONLY_FOLDED = frozenset(action.lower() for action in IAM_ONLY_ACTIONS)
_KEY_ARN_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:([0-9]{12}):")

_REASONS = {
    "key-policy": "the key policy allows the caller",
    "iam": "an identity-based policy allows the caller (and the key policy, if any, enables IAM policies)",
    "grant": "a grant allows the caller",
    "explicit-deny-resource": "a statement of the key policy explicitly denies the request",
    "explicit-deny-identity": "a statement of an identity-based policy explicitly denies the request",
    "no-resource-policy": "the key policy neither allows the caller nor enables IAM policies for the caller's account",
    "no-identity-policy": "no identity-based policy of the caller allows the request",
}


@dataclass(frozen=True)
class Decision:
    """The outcome of `decide`: allowed or not, why, and the statements responsible."""

    allowed: bool
    reason: str  # a key of the reasons above: "key-policy", "iam", "grant", "explicit-deny-resource", ...
    matches: tuple[Match, ...]  # the statements that allowed or denied
    message: str | None  # the AccessDeniedException message when not allowed, worded as AWS words it
    caller_arn: str = ""
    action: str = ""
    resource: str = ""

    def explain(self) -> str:
        """A human-readable account of the decision, one fact per line."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        lines = [f"{verdict}: {self.caller_arn or '?'} -> {self.action or '?'} on {self.resource or '?'}"]
        lines.append(f"reason: {self.reason} ({_REASONS.get(self.reason, self.reason)})")
        if self.matches:
            lines.append("statements:")
            lines.extend(f"  - {match.describe()}" for match in self.matches)
        else:
            lines.append("statements: none")
        if self.message:
            lines.append(f"message: {self.message}")
        return "\n".join(lines)


def _denied_message(facts: RequestFacts, reason: str) -> str:
    head = f"User: {facts.caller_arn} is not authorized to perform: {facts.action} on resource: {facts.resource}"
    if reason == "explicit-deny-resource":
        return f"{head} with an explicit deny in a resource-based policy"
    if reason == "explicit-deny-identity":
        return f"{head} with an explicit deny in an identity-based policy"
    if reason == "no-identity-policy":
        return f"{head} because no identity-based policy allows the {facts.action} action"
    return f"{head} because no resource-based policy allows the {facts.action} action"


def _allow(facts: RequestFacts, reason: str, matches: Sequence[Match]) -> Decision:
    return Decision(True, reason, tuple(matches), None, facts.caller_arn, facts.action, facts.resource)


def _deny(facts: RequestFacts, reason: str, matches: Sequence[Match] = ()) -> Decision:
    message = _denied_message(facts, reason)
    return Decision(False, reason, tuple(matches), message, facts.caller_arn, facts.action, facts.resource)


def _key_account(key_account: str | None, facts: RequestFacts) -> str | None:
    if key_account is not None:
        return key_account
    found = _KEY_ARN_ACCOUNT_RE.match(facts.resource)
    return found.group(1) if found else None  # unknown: treated as another account (both sides must allow)


def decide(
    facts: RequestFacts,
    *,
    key_account: str | None,
    key_policy: Policy | None,
    identity_policies: Sequence[Policy],
    extra_allows: Sequence[Match] = (),
) -> Decision:
    """Decide whether the request is allowed (see the module docstring for the algorithm).

    :param key_account: the account owning the key; None to read it from a key ARN in `facts.resource`.
    :param key_policy: the key's policy; None for requests that concern no key (or an IAM-only action).
    :param identity_policies: the caller's identity policies (an account root has none that bind it).
    :param extra_allows: further permissions, such as grants that allow this request. They make the decision
        "allowed" (reason "grant") when the policies do not, but never override an explicit deny.
    """
    # 1. Explicit denies win. Every policy is evaluated so the decision can list all denying statements.
    key_allows: list[Match] = []
    key_denies: list[Match] = []
    if key_policy is not None:
        key_allows, key_denies = evaluate(key_policy, facts, check_principal=True)
    identity_allows: list[Match] = []
    identity_denies: list[Match] = []
    for policy in identity_policies:
        allows, denies = evaluate(policy, facts, check_principal=False)
        identity_allows.extend(allows)
        identity_denies.extend(denies)
    if key_denies:
        return _deny(facts, "explicit-deny-resource", key_denies + identity_denies)
    if identity_denies:
        return _deny(facts, "explicit-deny-identity", identity_denies)

    # 2. The identity side. The root user's own account places no IAM limits on it.
    identity_allowed = facts.caller_type == "Root" or bool(identity_allows)

    def otherwise(reason: str, matches: Sequence[Match] = ()) -> Decision:
        return _allow(facts, "grant", extra_allows) if extra_allows else _deny(facts, reason, matches)

    # 3. IAM-only actions.
    if key_policy is None or facts.action.lower() in _IAM_ONLY_FOLDED:
        if identity_allowed:
            return _allow(facts, "iam", identity_allows)
        return otherwise("no-identity-policy")

    # 4. Key actions: the key policy names the caller (direct), or enables IAM for the caller's account.
    enabling = account_principal_statements(key_policy, facts) if not key_allows else []
    if facts.caller_account == _key_account(key_account, facts):
        if key_allows:
            return _allow(facts, "key-policy", key_allows)
        if enabling and identity_allowed:
            return _allow(facts, "iam", enabling + identity_allows)
        return otherwise("no-identity-policy" if enabling else "no-resource-policy", enabling)
    if not key_allows and not enabling:
        return otherwise("no-resource-policy")
    if not identity_allowed:
        return otherwise("no-identity-policy", key_allows or enabling)
    if key_allows:
        return _allow(facts, "key-policy", key_allows + identity_allows)
    return _allow(facts, "iam", enabling + identity_allows)

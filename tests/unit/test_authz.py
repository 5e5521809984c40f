"""The KMS authorization decision: key policy, identity policies, explicit denies, IAM-only actions, grants."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trent.domain.authz import (
    Decision,
    GrantRequest,
    PolicyRefusal,
    decide_by_grants,
    evaluate,
    evaluate_policies,
    grant_match,
)
from trent.domain.grants import Grant
from trent.domain.operations import OPERATIONS, Authority
from trent.domain.policy import Match, Policy, RequestFacts, evaluate_statements, parse_policy

ACCT = "111122223333"
OTHER = "444455556666"
ROOT = f"arn:aws:iam::{ACCT}:root"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
ROLE = f"arn:aws:iam::{ACCT}:role/deployer"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/deployer/build-42"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
EVE = f"arn:aws:iam::{OTHER}:user/eve"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

DEFAULT_KEY_POLICY = (
    '{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}'
)

CALLERS: dict[str, dict[str, Any]] = {
    "alice": {"caller_arn": ALICE, "caller_account": ACCT, "caller_type": "IAMUser", "role_arn": None},
    "root": {"caller_arn": ROOT, "caller_account": ACCT, "caller_type": "Root", "role_arn": None},
    "session": {"caller_arn": SESSION, "caller_account": ACCT, "caller_type": "AssumedRole", "role_arn": ROLE},
    "eve": {"caller_arn": EVE, "caller_account": OTHER, "caller_type": "IAMUser", "role_arn": None},
    "other-root": {"caller_arn": OTHER_ROOT, "caller_account": OTHER, "caller_type": "Root", "role_arn": None},
}


def facts(who: str = "alice", action: str = "kms:Decrypt", resource: str = KEY_ARN, **context: Any) -> RequestFacts:
    return RequestFacts(
        **CALLERS[who],
        service_principal=None,
        action=action,
        resource=resource,
        context=context,
        variables={},
    )


def key_policy(*statements: dict[str, Any]) -> Policy:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return parse_policy(document, name="key policy", kind="resource")


def iam(*statements: dict[str, Any], name: str = "alice-kms") -> Policy:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return parse_policy(document, name=name, kind="identity")


DEFAULT = parse_policy(DEFAULT_KEY_POLICY, name="key policy", kind="resource")
IAM_DECRYPT = iam({"Sid": "UseKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})
IAM_ALL = iam({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})


def decrypt_grant(grantee: str) -> Grant:
    """A grant of Decrypt on the key to `grantee`."""
    return Grant(
        grant_id="0123",
        key_id=KEY_ARN.rsplit("/", 1)[1],
        key_account=ACCT,
        key_region="us-east-1",
        operations=frozenset({"Decrypt"}),
        issuing_account=ACCT,
        creation_date=0.0,
        grantee_principal=grantee,
    )


def decide(
    request: RequestFacts,
    *,
    key_account: str | None,
    key_policy: Policy | None,
    identity_policies: Any,
    grants: tuple[Grant, ...] = (),
) -> Decision:
    return evaluate(
        request,
        key_account=key_account,
        key_policy=key_policy,
        identity_policies=identity_policies,
        grants=grants,
        grant_request=GrantRequest("Decrypt"),
    )


def run(
    request: RequestFacts,
    key: Policy | None = DEFAULT,
    identities: tuple[Policy, ...] = (),
    key_account: str | None = ACCT,
    grants: tuple[Grant, ...] = (),
) -> Decision:
    return decide(request, key_account=key_account, key_policy=key, identity_policies=identities, grants=grants)


def denied_message(request: RequestFacts, tail: str) -> str:
    return f"User: {request.caller_arn} is not authorized to perform: {request.action} on resource: {KEY_ARN} {tail}"


# --- the default key policy ----------------------------------------------------------------------------------------
def test_default_policy_and_iam_allow_lets_a_user_in() -> None:
    decision = run(facts(), identities=(IAM_DECRYPT,))
    assert decision.allowed and decision.reason == "iam" and decision.message is None
    assert decision.matches == (
        Match("key policy", "Enable IAM User Permissions", 0, "Allow"),
        Match("alice-kms", "UseKey", 0, "Allow"),
    )


def test_default_policy_without_iam_allow_refuses_a_user() -> None:
    request = facts()
    decision = run(request)
    assert not decision.allowed and decision.reason == "no-identity-policy"
    assert decision.message == denied_message(request, "because no identity-based policy allows the kms:Decrypt action")


def test_iam_allow_for_another_action_or_key_does_not_count() -> None:
    assert run(facts(action="kms:Encrypt"), identities=(IAM_DECRYPT,)).reason == "no-identity-policy"
    other_key = iam({"Effect": "Allow", "Action": "kms:*", "Resource": f"arn:aws:kms:us-east-1:{ACCT}:key/other"})
    assert not run(facts(), identities=(other_key,)).allowed


def test_root_is_allowed_by_the_default_policy() -> None:
    decision = run(facts("root", action="kms:PutKeyPolicy"))
    assert decision.allowed and decision.reason == "key-policy"


def test_root_needs_the_key_policy() -> None:
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*"})
    request = facts("root")
    decision = run(request, policy)
    assert decision.reason == "no-resource-policy"
    assert decision.message == denied_message(request, "because no resource-based policy allows the kms:Decrypt action")


def test_key_policy_without_account_principal_ignores_iam() -> None:
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"})
    decision = run(facts(), policy, (IAM_ALL,))
    assert not decision.allowed and decision.reason == "no-resource-policy"


# --- principals named in the key policy ----------------------------------------------------------------------------
def test_key_policy_naming_a_role_allows_its_sessions_without_iam() -> None:
    policy = key_policy(
        {"Sid": "Deployer", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    decision = run(facts("session"), policy)
    assert decision.allowed and decision.reason == "key-policy"
    assert decision.matches == (Match("key policy", "Deployer", 0, "Allow"),)
    assert not run(facts("session", action="kms:Encrypt"), policy).allowed


def test_key_policy_naming_the_user_needs_no_iam() -> None:
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*"})
    assert run(facts(), policy).reason == "key-policy"


def test_star_principal_with_caller_account_condition() -> None:
    policy = key_policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": ACCT}},
        }
    )
    assert run(facts(**{"kms:CallerAccount": ACCT}), policy).allowed
    assert not run(facts(**{"kms:CallerAccount": OTHER}), policy).allowed


# --- cross-account -------------------------------------------------------------------------------------------------
CROSS = key_policy(
    {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    },
    {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
    },
)
EVE_IAM = iam({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}, name="eve-kms")


def test_cross_account_needs_both_sides() -> None:
    decision = run(facts("eve"), CROSS, (EVE_IAM,))
    assert decision.allowed and decision.reason == "iam"
    assert [m.sid for m in decision.matches] == ["Partner", None]


def test_cross_account_without_identity_policy() -> None:
    request = facts("eve")
    decision = run(request, CROSS)
    assert decision.reason == "no-identity-policy"
    assert decision.message == denied_message(request, "because no identity-based policy allows the kms:Decrypt action")


def test_cross_account_without_key_policy_side() -> None:
    request = facts("eve")
    decision = run(request, DEFAULT, (EVE_IAM,))
    assert decision.reason == "no-resource-policy"
    assert decision.message == denied_message(request, "because no resource-based policy allows the kms:Decrypt action")


def test_cross_account_user_named_directly_still_needs_iam() -> None:
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": EVE}, "Action": "kms:*", "Resource": "*"})
    assert run(facts("eve"), policy).reason == "no-identity-policy"
    decision = run(facts("eve"), policy, (EVE_IAM,))
    assert decision.allowed and decision.reason == "key-policy"


def test_cross_account_root() -> None:
    decision = run(facts("other-root"), CROSS)
    assert decision.allowed and decision.reason == "key-policy"
    assert not run(facts("other-root"), DEFAULT).allowed


def test_key_account_is_read_from_the_key_arn_when_not_given() -> None:
    assert run(facts(), identities=(IAM_DECRYPT,), key_account=None).allowed
    # An unknown key account counts as another account: both sides must allow.
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*"})
    assert run(facts(resource="*"), policy, key_account=None).reason == "no-identity-policy"


# --- explicit denies -----------------------------------------------------------------------------------------------
DENY_DECRYPT = {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}


def test_explicit_deny_in_the_key_policy() -> None:
    policy = key_policy(json.loads(DEFAULT_KEY_POLICY)["Statement"][0], DENY_DECRYPT)
    request = facts("root")
    decision = run(request, policy, (IAM_ALL,))
    assert not decision.allowed and decision.reason == "explicit-deny-resource"
    assert decision.matches == (Match("key policy", "NoDecrypt", 1, "Deny"),)
    assert decision.message == denied_message(request, "with an explicit deny in a resource-based policy")


def test_key_policy_deny_naming_the_account_covers_its_users() -> None:
    policy = key_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": ACCT}, "Action": "kms:Decrypt", "Resource": "*"},
    )
    assert run(facts(), policy, (IAM_ALL,)).reason == "explicit-deny-resource"
    assert run(facts("session"), policy).reason == "explicit-deny-resource"
    assert run(facts("eve"), policy, (EVE_IAM,)).allowed


def test_explicit_deny_in_an_identity_policy() -> None:
    request = facts()
    no = iam({"Sid": "Never", "Effect": "Deny", "Action": "kms:*", "Resource": "*"}, name="guardrail")
    decision = run(request, DEFAULT, (IAM_ALL, no))
    assert decision.reason == "explicit-deny-identity"
    assert decision.matches == (Match("guardrail", "Never", 0, "Deny"),)
    assert decision.message == denied_message(request, "with an explicit deny in an identity-based policy")


def test_deny_overrides_grants() -> None:
    policy = key_policy(DENY_DECRYPT)
    assert run(facts(), policy, grants=(decrypt_grant(ALICE),)).reason == "explicit-deny-resource"


# --- IAM-only actions ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action", sorted(f"kms:{name}" for name, op in OPERATIONS.items() if op.authority is Authority.IAM)
)
def test_iam_only_actions_need_only_an_identity_policy(action: str) -> None:
    # ListRetirableGrants is decided on the retiring principal, which must be of the caller's account.
    resource = f"arn:aws:iam::{ACCT}:user/admin" if action == "kms:ListRetirableGrants" else "*"
    request = facts(action=action, resource=resource)
    assert run(request, None, (IAM_ALL,)).reason == "iam"
    decision = run(request, None)
    assert decision.reason == "no-identity-policy"
    assert decision.message == (
        f"User: {ALICE} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    assert run(facts("root", action=action, resource=resource), None).allowed


def test_retirable_grants_of_another_accounts_principal_are_not_listed() -> None:
    request = facts(action="kms:ListRetirableGrants", resource=f"arn:aws:iam::{OTHER}:user/admin")
    assert run(request, None, (IAM_ALL,)).reason == "other-account"
    assert run(facts("root", action="kms:ListRetirableGrants", resource="*"), None).reason == "other-account"


def test_iam_only_action_ignores_a_key_policy_that_does_not_name_the_caller() -> None:
    policy = key_policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"})
    assert run(facts(action="kms:createkey", resource="*"), policy, (IAM_ALL,)).reason == "iam"


def test_request_without_key_policy_is_decided_by_iam() -> None:
    alias = f"arn:aws:kms:us-east-1:{ACCT}:alias/app"
    policy = iam({"Effect": "Allow", "Action": "kms:CreateAlias", "Resource": f"arn:aws:kms:*:{ACCT}:alias/*"})
    assert run(facts(action="kms:CreateAlias", resource=alias), None, (policy,)).allowed
    assert not run(facts(action="kms:CreateAlias", resource=alias), None, (IAM_DECRYPT,)).allowed


# --- grants ---------------------------------------------------------------------------------------------------------
def test_grants_admit_when_policies_do_not() -> None:
    grant = decrypt_grant(EVE)
    decision = run(facts("eve"), DEFAULT, grants=(grant,))
    assert decision.allowed and decision.reason == "grant" and decision.matches == (grant_match(grant),)
    alices = decrypt_grant(ALICE)
    assert run(facts(), DEFAULT, (IAM_DECRYPT,), grants=(alices,)).reason == "iam"  # the policy path comes first
    assert not run(facts("eve"), DEFAULT, grants=(alices,)).allowed  # another grantee's grant


def test_the_first_grant_that_allows_decides_and_the_rest_are_not_read() -> None:
    # The grants a request's tokens name come first (api/authorize.py): when one allows, the caller's other grants
    # are not even looked up. The decision names that grant.
    encrypt_only = dataclasses.replace(decrypt_grant(EVE), grant_id="e0", operations=frozenset({"Encrypt"}))
    first, second = (
        dataclasses.replace(decrypt_grant(EVE), grant_id="d1"),
        dataclasses.replace(decrypt_grant(EVE), grant_id="d2"),
    )
    read: list[str] = []

    def candidates(*grants: Grant) -> Any:
        for grant in grants:
            read.append(grant.grant_id)
            yield grant

    decision = evaluate(
        facts("eve"),
        key_account=ACCT,
        key_policy=DEFAULT,
        identity_policies=(),
        grants=candidates(encrypt_only, first, second),
        grant_request=GrantRequest("Decrypt"),
    )
    assert decision.allowed and decision.matches == (grant_match(first),)
    assert read == ["e0", "d1"]
    # A refusal has looked at every grant.
    read.clear()
    refused = evaluate(
        facts("eve"),
        key_account=ACCT,
        key_policy=DEFAULT,
        identity_policies=(),
        grants=candidates(encrypt_only, dataclasses.replace(first, grantee_principal=ALICE)),
        grant_request=GrantRequest("Decrypt"),
    )
    assert not refused.allowed and read == ["e0", "d1"]
    # An explanation asks for every grant that allows: the same outcome, each named, the first first.
    read.clear()
    verdict = evaluate_policies(facts("eve"), key_account=ACCT, key_policy=DEFAULT, identity_policies=())
    assert isinstance(verdict, PolicyRefusal)
    every = decide_by_grants(
        verdict, candidates(encrypt_only, first, second), GrantRequest("Decrypt"), every_allowing=True
    )
    assert every.allowed and every.matches == (grant_match(first), grant_match(second))
    assert read == ["e0", "d1", "d2"]


def test_explain_lists_decision_reason_statements_and_message() -> None:
    text = run(facts()).explain()
    assert text.splitlines()[0] == f"DENIED: {ALICE} -> kms:Decrypt on {KEY_ARN}"
    assert "reason: no-identity-policy" in text
    assert 'key policy: Sid "Enable IAM User Permissions" (Allow)' in text
    assert "message: User: " in text
    allowed = run(facts(), identities=(iam({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),)).explain()
    assert allowed.startswith("ALLOWED") and "alice-kms: statement #1 (Allow)" in allowed


# --- properties ----------------------------------------------------------------------------------------------------
ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:*", "kms:De*", "*", "kms:CreateKey"]
PRINCIPALS = ["*", ACCT, ROOT, ALICE, ROLE, SESSION, OTHER, EVE]
RESOURCES = [
    "*",
    KEY_ARN,
    f"arn:aws:kms:*:{ACCT}:key/*",
    f"arn:aws:kms:*:{OTHER}:key/*",
    "arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
    "arn:aws:kms:*:${kms:CallerAccount}:key/*",
]
CONDITIONS: list[dict[str, Any] | None] = [
    None,
    {"StringEquals": {"kms:CallerAccount": ACCT}},
    {"StringEquals": {"kms:EncryptionContext:Dept": "finance"}},
    {"Null": {"kms:EncryptionContext:Dept": "true"}},
    {"StringNotEqualsIgnoreCase": {"kms:EncryptionContext:Dept": "HR"}},
]
CONTEXTS = [
    {},
    {"kms:CallerAccount": ACCT},
    {"kms:encryptioncontext:dept": "finance"},
    {"KMS:EncryptionContext:DEPT": "hr"},
]


@st.composite
def statements(draw: st.DrawFn, *, resource: bool, effect: str | None = None) -> dict[str, Any]:
    chosen = effect or draw(st.sampled_from(["Allow", "Deny"]))
    statement: dict[str, Any] = {"Effect": chosen, "Resource": draw(st.sampled_from(RESOURCES))}
    statement["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(st.sampled_from(ACTIONS))
    if resource:
        principals = draw(st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=2))
        not_principal = chosen == "Deny" and "*" not in principals and draw(st.integers(0, 4)) == 0
        statement["NotPrincipal" if not_principal else "Principal"] = {"AWS": principals}
    condition = draw(st.sampled_from(CONDITIONS))
    if condition is not None:
        statement["Condition"] = condition
    return statement


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RequestFacts, list[dict[str, Any]] | None, list[list[dict[str, Any]]]]:
    request = facts(draw(st.sampled_from(sorted(CALLERS))), draw(st.sampled_from(["kms:Decrypt", "kms:CreateKey"])))
    context = draw(st.sampled_from(CONTEXTS))
    request = dataclasses.replace(request, context=context)
    key = draw(st.none() | st.lists(statements(resource=True), min_size=1, max_size=4))
    identities = draw(st.lists(st.lists(statements(resource=False), min_size=1, max_size=3), max_size=3))
    return request, key, identities


def decide_docs(
    request: RequestFacts, key: list[dict[str, Any]] | None, identities: list[list[dict[str, Any]]]
) -> Decision:
    return decide(
        request,
        key_account=ACCT,
        key_policy=key_policy(*key) if key is not None else None,
        identity_policies=[iam(*policy, name=f"policy{i}") for i, policy in enumerate(identities)],
    )


def with_added(
    key: list[dict[str, Any]] | None, identities: list[list[dict[str, Any]]], where: int, statement: dict[str, Any]
) -> tuple[list[dict[str, Any]] | None, list[list[dict[str, Any]]]]:
    """Add a statement: where == -1 → key policy (if any); where >= len(identities) → a new identity policy."""
    if where == -1 and key is not None:
        return [*key, statement], identities
    plain = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
    if where < 0 or where >= len(identities):
        return key, [*identities, [plain]]
    return key, [[*p, plain] if i == where else p for i, p in enumerate(identities)]


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_a_policy_that_decides_without_context_gives_one_answer_in_every_context(scenario: Any) -> None:
    """What lets Trent reuse a decision: when no policy in play has a Condition or a variable for the action,
    the request's condition keys cannot change the outcome."""
    request, key, identities = scenario
    policies = [key_policy(*key)] if key is not None else []
    policies += [iam(*policy, name=f"policy{i}") for i, policy in enumerate(identities)]
    if not all(policy.decides_without_context(request.action) for policy in policies):
        return
    outcomes = {
        (d.allowed, d.reason, d.matches)
        for d in (decide_docs(dataclasses.replace(request, context=context), key, identities) for context in CONTEXTS)
    }
    assert len(outcomes) == 1


def test_conditions_and_variables_make_a_policy_depend_on_context() -> None:
    plain = key_policy({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"})
    assert plain.decides_without_context("kms:Decrypt")
    conditional = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:Decrypt", "Resource": "*"},
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    assert conditional.decides_without_context("kms:Decrypt")  # the condition concerns Encrypt only
    assert not conditional.decides_without_context("kms:Encrypt")
    variable = iam({"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:*:*:key/${aws:username}"})
    assert not variable.decides_without_context("kms:Decrypt")


@PROPERTY
@given(scenarios(), statements(resource=True, effect="Allow"), st.integers(-1, 3))
def test_adding_an_allow_never_denies(scenario: Any, extra: dict[str, Any], where: int) -> None:
    request, key, identities = scenario
    before = decide_docs(request, key, identities)
    after = decide_docs(request, *with_added(key, identities, where, extra))
    assert not before.allowed or after.allowed


@PROPERTY
@given(scenarios(), statements(resource=True, effect="Deny"), st.integers(-1, 3))
def test_adding_a_deny_never_allows(scenario: Any, extra: dict[str, Any], where: int) -> None:
    request, key, identities = scenario
    before = decide_docs(request, key, identities)
    after = decide_docs(request, *with_added(key, identities, where, extra))
    assert before.allowed or not after.allowed


@PROPERTY
@given(scenarios(), statements(resource=True, effect="Deny"), st.booleans())
def test_a_matching_explicit_deny_always_denies(scenario: Any, deny: dict[str, Any], in_key_policy: bool) -> None:
    request, key, identities = scenario
    grant = decrypt_grant(request.caller_arn)
    if in_key_policy:
        key = [*(key or []), deny]
        matches = bool(evaluate_statements(key_policy(deny), request, check_principal=True)[1])
    else:
        plain = {k: v for k, v in deny.items() if k not in ("Principal", "NotPrincipal")}
        identities = [*identities, [plain]]
        matches = bool(evaluate_statements(iam(plain), request, check_principal=False)[1])
    decision = decide(
        request,
        key_account=ACCT,
        key_policy=key_policy(*key) if key is not None else None,
        identity_policies=[iam(*policy, name=f"policy{i}") for i, policy in enumerate(identities)],
        grants=(grant,),
    )
    if matches:
        assert not decision.allowed and decision.reason.startswith("explicit-deny")


def test_a_star_deny_always_denies_even_root() -> None:
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    for who in CALLERS:
        assert not run(facts(who), key_policy(deny_all), (IAM_ALL,)).allowed


# --- speed ---------------------------------------------------------------------------------------------------------
def _big_key_policy() -> Policy:
    statements: list[dict[str, Any]] = [json.loads(DEFAULT_KEY_POLICY)["Statement"][0]]
    for i in range(29):
        statements.append(
            {
                "Sid": f"Statement{i}",
                "Effect": "Deny" if i % 7 == 0 else "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCT}:role/app-{i}", f"arn:aws:iam::{OTHER}:user/u{i}"]},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {f"kms:EncryptionContext:app{i}": "${aws:username}", "kms:CallerAccount": ACCT},
                    "Bool": {"aws:SecureTransport": "true"},
                },
            }
        )
    return key_policy(*statements)


def _identity_policies() -> list[Policy]:
    policies = []
    for i in range(10):
        policies.append(
            iam(
                {"Effect": "Allow", "Action": ["kms:Describe*", "kms:List*"], "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:*:{ACCT}:key/*",
                    "Condition": {"StringLike": {"kms:EncryptionContext:Dept": ["fin*", "${aws:PrincipalTag/team}"]}},
                },
                {
                    "Effect": "Deny",
                    "NotAction": "kms:*",
                    "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
                },
                name=f"policy-{i}",
            )
        )
    return policies


def test_decide_is_fast_for_30_key_statements_and_10_identity_policies() -> None:
    key, identities = _big_key_policy(), _identity_policies()
    request = RequestFacts(
        caller_arn=ALICE,
        caller_account=ACCT,
        caller_type="IAMUser",
        role_arn=None,
        service_principal=None,
        action="kms:Decrypt",
        resource=KEY_ARN,
        context={
            "kms:EncryptionContext:Dept": "finance",
            "kms:CallerAccount": ACCT,
            "aws:SecureTransport": True,
            "aws:SourceIp": "203.0.113.9",
        },
        variables={"aws:username": "alice", "aws:PrincipalTag/team": "blue"},
    )
    assert len(key.statements) == 30 and sum(len(p.statements) for p in identities) == 30
    decision = decide(request, key_account=ACCT, key_policy=key, identity_policies=identities)
    assert decision.allowed and decision.reason == "iam"
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        # Fresh facts each round: per-request caches (folded context keys) are part of the cost.
        fresh = dataclasses.replace(request)
        decide(fresh, key_account=ACCT, key_policy=key, identity_policies=identities)
    per_call = (time.perf_counter() - started) / rounds
    print(f"\ndecide(): {per_call * 1e6:.1f} µs per call (30 key policy statements + 10 identity policies)")
    assert per_call < 0.002

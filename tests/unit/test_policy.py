"""The policy language: parsing (every refusal), statement matching, principals, conditions, variables."""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trent.domain.policy import (
    Match,
    Policy,
    PolicyError,
    RequestFacts,
    account_principal_statements,
    evaluate_statements,
    parse_policy,
    principal_matches,
)
from trent.domain.policy_patterns import MatchTooCostly, PatternSet, glob, parse_template

ACCT = "111122223333"
OTHER = "444455556666"
ROOT = f"arn:aws:iam::{ACCT}:root"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
ROLE = f"arn:aws:iam::{ACCT}:role/ops/deployer"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/deployer/build-42"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

OVERLY_PERMISSIVE = (
    "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued "
    "condition key matches requests without the specified encryption context or with an unspecified encryption "
    "context. To fix, remove ForAllValues."
)


def facts(
    *,
    caller: str = ALICE,
    account: str = ACCT,
    caller_type: str = "IAMUser",
    role_arn: str | None = None,
    service: str | None = None,
    action: str = "kms:Decrypt",
    resource: str = KEY_ARN,
    context: dict[str, Any] | None = None,
    variables: dict[str, str] | None = None,
) -> RequestFacts:
    return RequestFacts(
        caller_arn=caller,
        caller_account=account,
        caller_type=caller_type,
        role_arn=role_arn,
        service_principal=service,
        action=action,
        resource=resource,
        context=context or {},
        variables=variables or {},
    )


ROOT_FACTS: dict[str, Any] = {"caller": ROOT, "caller_type": "Root"}
SESSION_FACTS: dict[str, Any] = {"caller": SESSION, "caller_type": "AssumedRole", "role_arn": ROLE}


def doc(*statements: Any, version: str | None = "2012-10-17", **top: Any) -> str:
    body: dict[str, Any] = {"Statement": list(statements), **top}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


def identity(*statements: dict[str, Any], version: str | None = "2012-10-17") -> Policy:
    return parse_policy(doc(*statements, version=version), name="alice-policy", kind="identity")


def key_policy(*statements: dict[str, Any], version: str | None = "2012-10-17") -> Policy:
    return parse_policy(doc(*statements, version=version), name="key policy", kind="resource")


def allow(**members: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "kms:*", "Resource": "*", **members}


def deny(**members: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": "kms:*", "Resource": "*", **members}


def allows(policy: Policy, request: RequestFacts) -> bool:
    return bool(evaluate_statements(policy, request, check_principal=policy.name == "key policy")[0])


def condition_holds(condition: dict[str, Any], context: dict[str, Any] | None = None, **kw: Any) -> bool:
    version = kw.pop("version", "2012-10-17")
    policy = identity(allow(Condition=condition), version=version)
    return allows(policy, facts(context=context, **kw))


def refusal(document: str, kind: str = "resource") -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, name="p", kind=kind)  # type: ignore[arg-type]
    return str(caught.value)


# --- Version -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "expected"), [("2012-10-17", "2012-10-17"), ("2008-10-17", "2008-10-17")])
def test_accepted_versions(version: str, expected: str) -> None:
    assert identity(allow(), version=version).version == expected


def test_absent_version_means_2008() -> None:
    assert identity(allow(), version=None).version == "2008-10-17"


@pytest.mark.parametrize("version", ["2013-01-01", "2012-10-18", 20121017, None])
def test_other_versions_are_refused(version: Any) -> None:
    message = refusal(json.dumps({"Version": version, "Statement": allow()}), "identity")
    assert "Version" in message and "2012-10-17" in message


def test_single_statement_object_and_id() -> None:
    policy = parse_policy(
        json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": allow(Principal="*", Sid="One")}),
        name="key policy",
        kind="resource",
    )
    assert policy.id == "key-default-1"
    assert [(s.sid, s.effect, s.index) for s in policy.statements] == [("One", "Allow", 0)]


# --- refusals ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "kind", "fragment"),
    [
        ("{not json", "resource", "not valid JSON"),
        ('{"Statement": [], "Statement": []}', "resource", 'member "Statement" twice'),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": NaN}]}', "resource", "NaN"),
        ("[]", "resource", "must be a JSON object"),
        ('"policy"', "resource", "must be a JSON object"),
        ('{"Version": "2012-10-17"}', "resource", "needs a Statement"),
        ('{"Version": "2012-10-17", "Statement": []}', "resource", "needs a Statement"),
        ('{"Version": "2012-10-17", "Statement": "x"}', "resource", "needs a Statement"),
        (doc(allow(Principal="*"), Extra=1), "resource", 'unknown member "Extra"'),
        (doc(allow(Principal="*"), Id=7), "resource", "Id must be a string"),
        (doc(allow(Principal="*"), ["not an object"]), "resource", "Statement 2: must be a JSON object"),
        (doc(allow(Principal="*", Actions="kms:*")), "resource", 'Statement 1: unknown member "Actions"'),
        (doc(allow(Principal="*", Sid=3)), "resource", "Statement 1: Sid must be a string"),
        (doc({"Principal": "*", "Action": "kms:*", "Resource": "*"}), "resource", "Effect must be"),
        (doc(allow(Principal="*", Effect="allow")), "resource", 'Effect must be "Allow" or "Deny" (it is "allow")'),
        (doc(allow(Principal="*", NotAction="kms:Encrypt")), "resource", "both Action and NotAction"),
        (doc(allow(Principal="*", NotResource="arn:aws:kms:*")), "resource", "both Resource and NotResource"),
        (doc(allow(Principal="*", NotPrincipal={"AWS": ALICE})), "resource", "both Principal and NotPrincipal"),
        (doc({"Effect": "Allow", "Resource": "*"}), "identity", "needs Action or NotAction"),
        (doc({"Effect": "Allow", "Action": "kms:*"}), "identity", "needs Resource or NotResource"),
        (doc(allow()), "resource", "needs Principal or NotPrincipal"),
        (doc(allow(Principal="*")), "identity", "Principal is not allowed in an identity-based policy"),
        (doc(deny(NotPrincipal={"AWS": ALICE})), "identity", "NotPrincipal is not allowed"),
        (doc(allow(NotPrincipal={"AWS": ALICE})), "resource", "NotPrincipal can only be used with Effect Deny"),
        (doc(allow(Principal={"AWS": "arn:aws:iam::*:root"})), "resource", "has a wildcard"),
        (doc(allow(Principal={"AWS": f"arn:aws:iam::{ACCT}:user/*"})), "resource", "has a wildcard"),
        (doc(allow(Principal={"AWS": "alice"})), "resource", "not a valid AWS principal"),
        (doc(allow(Principal={"AWS": f"arn:aws:iam::{ACCT}:group/devs"})), "resource", "not a valid AWS principal"),
        (doc(allow(Principal={"AWS": "arn:aws:iam::1234:root"})), "resource", "not a valid AWS principal"),
        (doc(allow(Principal={"AWS": []})), "resource", "Principal.AWS must not be an empty list"),
        (doc(allow(Principal={"AWS": [5]})), "resource", "Principal.AWS must be a string or a list of strings"),
        (doc(allow(Principal={})), "resource", 'Principal must be "*" or an object'),
        (doc(allow(Principal="alice")), "resource", 'Principal must be "*" or an object'),
        (doc(allow(Principal={"Federated": "cognito"})), "resource", 'type "Federated" is not supported'),
        (doc(allow(Action=7)), "identity", "Action must be a string or a list of strings"),
        (doc(allow(Action=[])), "identity", "Action must not be an empty list"),
        (doc(allow(Action="Decrypt")), "identity", 'Action "Decrypt" is not an action'),
        (
            doc({"Effect": "Deny", "NotAction": "kms:", "Resource": "*"}),
            "identity",
            'NotAction "kms:" is not an action',
        ),
        (doc(allow(Resource="key/abc")), "identity", 'Resource "key/abc" must be "*" or an ARN'),
        (doc(allow(Condition=[])), "identity", "Condition must be a JSON object"),
        (doc(allow(Condition={"StringEqualz": {"k": "v"}})), "identity", 'operator "StringEqualz" is not supported'),
        (doc(allow(Condition={"ForSomeValues:StringEquals": {"k": "v"}})), "identity", "is not supported"),
        (doc(allow(Condition={"NullIfExists": {"k": "true"}})), "identity", '"NullIfExists" is not supported'),
        (doc(allow(Condition={"ForAllValues:Null": {"k": "true"}})), "identity", "is not supported"),
        (doc(allow(Condition={"StringEquals": "v"})), "identity", "must map condition keys to values"),
        (doc(allow(Condition={"StringEquals": {"": "v"}})), "identity", "empty condition key"),
        (doc(allow(Condition={"StringEquals": {"k": None}})), "identity", "must be strings, numbers or booleans"),
        (doc(allow(Condition={"StringEquals": {"k": {"a": 1}}})), "identity", "must be strings, numbers or"),
        (doc(allow(Condition={"StringEquals": {"k": []}})), "identity", "empty value list"),
        (doc(allow(Condition={"NumericLessThan": {"k": "ten"}})), "identity", "NumericLessThan needs numbers"),
        (doc(allow(Condition={"NumericEquals": {"k": "1_000"}})), "identity", "needs numbers"),
        (doc(allow(Condition={"NumericEquals": {"k": True}})), "identity", "needs numbers"),
        (doc(allow(Condition={"DateLessThan": {"k": "yesterday"}})), "identity", "DateLessThan needs ISO 8601"),
        (doc(allow(Condition={"Bool": {"k": "yes"}})), "identity", 'Bool needs "true" or "false"'),
        (doc(allow(Condition={"Null": {"k": "maybe"}})), "identity", 'Null needs "true" or "false"'),
        (doc(allow(Condition={"IpAddress": {"k": "10.0.0.0/33"}})), "identity", "IpAddress needs IP addresses"),
        (doc(allow(Sid="Allow use")), "identity", "Statement IDs (SID) must be alpha-numeric"),
        (doc(allow(Sid="A"), allow(Sid="A")), "identity", 'Statement 2 (Sid "A"): Statement IDs (SID) in a single'),
    ],
)
def test_refusals(document: str, kind: str, fragment: str) -> None:
    assert fragment in refusal(document, kind)


def test_refusal_messages_name_the_statement_by_sid_or_number() -> None:
    named = refusal(doc(allow(Principal="*"), allow(Principal="*", Sid="Use", Effect="Maybe")))
    assert named.startswith('Statement 2 (Sid "Use"): Effect')
    anonymous = refusal(doc(allow(Principal="*"), allow(Principal="*", Condition={"Bool": {"k": 1}})))
    assert anonymous.startswith("Statement 2: Bool needs")


@pytest.mark.parametrize(
    "key", ["kms:EncryptionContext:Dept", "kms:encryptioncontext:dept", "KMS:ENCRYPTIONCONTEXT:X", "aws:RequestTag/env"]
)
@pytest.mark.parametrize("operator", ["ForAllValues:StringEquals", "ForAllValues:StringLikeIfExists"])
def test_forallvalues_with_single_valued_key_is_overly_permissive(key: str, operator: str) -> None:
    for kind in ("resource", "identity"):
        statement = allow(Condition={operator: {key: "finance"}})
        if kind == "resource":
            statement["Principal"] = "*"
        assert refusal(doc(statement), kind) == OVERLY_PERMISSIVE


def test_set_operators_on_multi_valued_or_with_foranyvalue_are_accepted() -> None:
    identity(allow(Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a"]}}))
    identity(allow(Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContext:Dept": "a"}}))
    identity(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}))


def test_key_policy_statement_without_action_or_resource_is_accepted_but_inert() -> None:
    policy = key_policy(
        {"Effect": "Allow", "Principal": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:*"},
    )
    assert [s.effective for s in policy.statements] == [False, False]
    assert evaluate_statements(policy, facts(), check_principal=True) == ([], [])


def test_key_policy_sid_may_hold_spaces_and_repeat() -> None:
    key_policy(
        allow(Principal="*", Sid="Enable IAM User Permissions"), allow(Principal="*", Sid="Enable IAM User Permissions")
    )


# --- Action and Resource -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:*", "kms:Decrypt", True),
        ("*", "sts:AssumeRole", True),
        ("kms:Decrypt", "KMS:decrypt", True),
        ("KMS:DE*", "kms:Decrypt", True),
        ("kms:De*", "kms:Encrypt", False),
        ("kms:*crypt", "kms:ReEncrypt", True),
        ("kms:?ecrypt", "kms:Decrypt", True),
        ("kms:?ecrypt", "kms:Decrypt2", False),
        ("kms:Generate*Key*", "kms:GenerateDataKeyWithoutPlaintext", True),
        ("kms:Decrypt", "kms:DecryptX", False),
        ("s3:*", "kms:Decrypt", False),
    ],
)
def test_action_wildcards_are_case_insensitive(pattern: str, action: str, expected: bool) -> None:
    assert allows(identity(allow(Action=pattern)), facts(action=action)) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", True),
        (KEY_ARN, True),
        (KEY_ARN.replace("key/", "KEY/"), False),  # resources are case-sensitive
        ("arn:aws:kms:*", True),  # a * spans ":" and "/"
        (f"arn:aws:kms:us-east-1:{ACCT}:*", True),
        (f"arn:aws:kms:*:{ACCT}:key/*", True),
        (f"arn:aws:kms:*:{OTHER}:key/*", False),
        ("arn:aws:kms:us-east-?:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        (f"arn:aws:kms:us-east-1:{ACCT}:alias/*", False),
    ],
)
def test_resource_wildcards_are_case_sensitive(pattern: str, expected: bool) -> None:
    assert allows(identity(allow(Resource=pattern)), facts()) is expected


def test_lists_of_actions_and_resources_match_any() -> None:
    policy = identity(allow(Action=["kms:Encrypt", "kms:Decrypt"], Resource=["arn:aws:kms:*:1:key/x", KEY_ARN]))
    assert allows(policy, facts())
    assert not allows(policy, facts(action="kms:Sign"))


def test_action_memo_keeps_actions_apart() -> None:
    policy = identity(allow(Action="kms:Decrypt"), {"Effect": "Deny", "NotAction": "kms:Decrypt", "Resource": "*"})
    for _ in range(2):  # the second round is served from the per-policy memo
        assert evaluate_statements(policy, facts(action="kms:Decrypt"), check_principal=False) == (
            [Match("alice-policy", None, 0, "Allow")],
            [],
        )
        assert evaluate_statements(policy, facts(action="kms:Encrypt"), check_principal=False) == (
            [],
            [Match("alice-policy", None, 1, "Deny")],
        )


def test_not_action_and_not_resource_invert() -> None:
    policy = identity({"Effect": "Deny", "NotAction": ["kms:Decrypt", "kms:Describe*"], "Resource": "*"})
    assert evaluate_statements(policy, facts(action="kms:Encrypt"), check_principal=False)[1]
    assert not evaluate_statements(policy, facts(action="kms:Decrypt"), check_principal=False)[1]
    assert not evaluate_statements(policy, facts(action="kms:describekey"), check_principal=False)[1]
    policy = identity({"Effect": "Allow", "Action": "kms:*", "NotResource": f"arn:aws:kms:*:{ACCT}:key/*"})
    assert not allows(policy, facts())
    assert allows(policy, facts(resource=f"arn:aws:kms:us-east-1:{OTHER}:key/x"))


def test_matches_report_policy_sid_index_and_effect() -> None:
    policy = identity(allow(Sid="First", Action="s3:*"), allow(Sid="Second"), deny(Action="kms:Decrypt"))
    assert evaluate_statements(policy, facts(), check_principal=False) == (
        [Match("alice-policy", "Second", 1, "Allow")],
        [Match("alice-policy", None, 2, "Deny")],
    )
    assert Match("p", None, 2, "Deny").describe() == "p: statement #3 (Deny)"


# --- principals ----------------------------------------------------------------------------------------------------
def principal_allows(principal: Any, **request: Any) -> bool:
    return allows(key_policy(allow(Principal=principal)), facts(**request))


def test_star_principals_match_everyone() -> None:
    for principal in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        assert principal_allows(principal)
        assert principal_allows(principal, caller=f"arn:aws:iam::{OTHER}:user/eve", account=OTHER)


@pytest.mark.parametrize("principal", [ACCT, ROOT])
def test_account_principal_in_an_allow_names_only_the_root(principal: str) -> None:
    assert principal_allows({"AWS": principal}, **ROOT_FACTS)
    assert not principal_allows({"AWS": principal})
    assert not principal_allows({"AWS": principal}, **SESSION_FACTS)
    assert not principal_allows({"AWS": principal}, caller=f"arn:aws:iam::{OTHER}:root", account=OTHER)


@pytest.mark.parametrize("principal", [ACCT, ROOT])
def test_account_principal_in_a_deny_names_everyone_in_the_account(principal: str) -> None:
    policy = key_policy(deny(Principal={"AWS": principal}))
    for request in (facts(), facts(**ROOT_FACTS), facts(**SESSION_FACTS)):
        assert evaluate_statements(policy, request, check_principal=True)[1]
    other = facts(caller=f"arn:aws:iam::{OTHER}:user/eve", account=OTHER)
    assert not evaluate_statements(policy, other, check_principal=True)[1]


def test_user_and_session_principals_match_exactly() -> None:
    assert principal_allows({"AWS": ALICE})
    assert not principal_allows({"AWS": BOB})
    assert principal_allows({"AWS": SESSION}, **SESSION_FACTS)
    other_session = {**SESSION_FACTS, "caller": f"arn:aws:sts::{ACCT}:assumed-role/deployer/other"}
    assert not principal_allows({"AWS": SESSION}, **other_session)


def test_role_principal_matches_its_sessions() -> None:
    assert principal_allows({"AWS": ROLE}, **SESSION_FACTS)
    assert principal_allows({"AWS": [BOB, ROLE]}, **SESSION_FACTS)
    assert not principal_allows({"AWS": f"arn:aws:iam::{ACCT}:role/other"}, **SESSION_FACTS)
    assert not principal_allows({"AWS": ROLE})


def test_service_principal_matches_only_that_service() -> None:
    assert not principal_allows({"Service": "ec2.amazonaws.com"})
    assert principal_allows({"Service": ["ec2.amazonaws.com"]}, service="ec2.amazonaws.com")
    assert not principal_allows({"Service": "ec2.amazonaws.com"}, service="s3.amazonaws.com")


def test_federated_user_principal_is_accepted() -> None:
    federated = f"arn:aws:sts::{ACCT}:federated-user/carol"
    assert principal_allows({"AWS": federated}, caller=federated)


def test_check_principal_false_ignores_principal() -> None:
    policy = key_policy(allow(Principal={"AWS": BOB}))
    assert not evaluate_statements(policy, facts(), check_principal=True)[0]
    assert evaluate_statements(policy, facts(), check_principal=False)[0]


def not_principal_denies(listed: list[str], **request: Any) -> bool:
    policy = key_policy(deny(NotPrincipal={"AWS": listed}))
    return bool(evaluate_statements(policy, facts(**request), check_principal=True)[1])


def test_not_principal_exempts_a_user_only_together_with_its_account() -> None:
    assert not not_principal_denies([ALICE, ROOT])
    assert not not_principal_denies([ALICE, ACCT])
    assert not_principal_denies([ALICE])  # AWS checks the account first: it is not exempt
    assert not_principal_denies([BOB, ROOT])
    assert not not_principal_denies([ROOT], **ROOT_FACTS)
    assert not_principal_denies([ALICE], **ROOT_FACTS)


def test_not_principal_exempts_a_session_through_its_role_or_session_arn() -> None:
    assert not not_principal_denies([ROLE, ROOT], **SESSION_FACTS)
    assert not not_principal_denies([SESSION, ROOT], **SESSION_FACTS)
    assert not_principal_denies([ROLE], **SESSION_FACTS)
    assert not_principal_denies([ROOT], **SESSION_FACTS)


def test_principal_matches_without_principal_element() -> None:
    statement = identity(allow()).statements[0]
    assert principal_matches(statement, facts())


def test_account_principal_statements_enable_iam_for_that_account() -> None:
    policy = key_policy(
        allow(Sid="Enable", Principal={"AWS": ROOT}),
        allow(Sid="ById", Principal={"AWS": [OTHER, ACCT]}, Action="kms:Decrypt"),
        allow(Sid="Everyone", Principal="*"),
        allow(Sid="Alice", Principal={"AWS": ALICE}),
        allow(Sid="Conditional", Principal={"AWS": ACCT}, Condition={"Bool": {"aws:SecureTransport": "true"}}),
        deny(Sid="Denied", Principal={"AWS": ACCT}),
    )
    assert [m.sid for m in account_principal_statements(policy, facts())] == ["Enable", "ById"]
    secure = facts(action="kms:Encrypt", context={"aws:SecureTransport": True})
    assert [m.sid for m in account_principal_statements(policy, secure)] == ["Enable", "Conditional"]
    assert [m.sid for m in account_principal_statements(policy, facts(), effect="Deny")] == ["Denied"]
    eve = facts(caller=f"arn:aws:iam::{OTHER}:user/eve", account=OTHER)
    assert [m.sid for m in account_principal_statements(policy, eve)] == ["ById"]


# --- conditions ----------------------------------------------------------------------------------------------------
EC = "kms:EncryptionContext:Dept"


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        # strings
        ({"StringEquals": {EC: "finance"}}, {EC: "finance"}, True),
        ({"StringEquals": {EC: "finance"}}, {EC: "Finance"}, False),
        ({"StringEquals": {EC: ["hr", "finance"]}}, {EC: "finance"}, True),
        ({"StringEquals": {EC: "finance"}}, {}, False),
        ({"StringEquals": {"kms:EncryptionContext:dept": "finance"}}, {"KMS:ENCRYPTIONCONTEXT:DEPT": "finance"}, True),
        ({"StringEquals": {"KMS:encryptionContext:DEPT": "finance"}}, {"kms:encryptioncontext:dept": "finance"}, True),
        ({"StringEquals": {"kms:EncryptionContext:Dept": "finance"}}, {"kms:EncryptionContext:Team": "finance"}, False),
        ({"StringEquals": {"n": 5}}, {"n": "5"}, True),
        ({"StringEquals": {"b": "true"}}, {"b": True}, True),
        ({"StringEquals": {"b": True}}, {"b": "true"}, True),
        ({"StringNotEquals": {EC: ["hr", "finance"]}}, {EC: "legal"}, True),
        ({"StringNotEquals": {EC: ["hr", "finance"]}}, {EC: "hr"}, False),
        ({"StringNotEquals": {EC: "hr"}}, {}, True),
        ({"StringEqualsIgnoreCase": {EC: "FINANCE"}}, {EC: "finance"}, True),
        ({"StringEqualsIgnoreCase": {EC: "FINANCE"}}, {EC: "hr"}, False),
        ({"StringNotEqualsIgnoreCase": {EC: "FINANCE"}}, {EC: "Finance"}, False),
        ({"StringNotEqualsIgnoreCase": {EC: "FINANCE"}}, {}, True),
        ({"StringLike": {EC: "fin*"}}, {EC: "finance"}, True),
        ({"StringLike": {EC: "f?n*"}}, {EC: "fun"}, True),
        ({"StringLike": {EC: "fin*"}}, {EC: "Finance"}, False),
        ({"StringLike": {EC: ["hr", "*nce"]}}, {EC: "finance"}, True),
        ({"StringLike": {EC: "fin*"}}, {}, False),
        ({"StringNotLike": {EC: "fin*"}}, {EC: "legal"}, True),
        ({"StringNotLike": {EC: "fin*"}}, {EC: "finance"}, False),
        ({"StringNotLike": {EC: "fin*"}}, {}, True),
        ({"StringEqualsIfExists": {EC: "finance"}}, {}, True),
        ({"StringEqualsIfExists": {EC: "finance"}}, {EC: "hr"}, False),
        ({"StringNotLikeIfExists": {EC: "fin*"}}, {EC: "finance"}, False),
        # numbers
        ({"NumericEquals": {"n": "10"}}, {"n": 10}, True),
        ({"NumericEquals": {"n": 10}}, {"n": "10.0"}, True),
        ({"NumericEquals": {"n": "10"}}, {"n": "ten"}, False),
        ({"NumericEquals": {"n": "10"}}, {"n": True}, False),
        ({"NumericEquals": {"n": "10"}}, {}, False),
        ({"NumericNotEquals": {"n": ["10", "20"]}}, {"n": 15}, True),
        ({"NumericNotEquals": {"n": ["10", "20"]}}, {"n": 20}, False),
        ({"NumericNotEquals": {"n": "10"}}, {}, True),
        ({"NumericLessThan": {"n": "10"}}, {"n": 9.5}, True),
        ({"NumericLessThan": {"n": "10"}}, {"n": 10}, False),
        ({"NumericLessThanEquals": {"n": "10"}}, {"n": 10}, True),
        ({"NumericGreaterThan": {"n": "-1.5e1"}}, {"n": -14}, True),
        ({"NumericGreaterThan": {"n": "10"}}, {"n": 10}, False),
        ({"NumericGreaterThanEquals": {"n": "10"}}, {"n": "10"}, True),
        ({"NumericGreaterThanEquals": {"n": "10"}}, {}, False),
        ({"NumericLessThanIfExists": {"n": "10"}}, {}, True),
        ({"NumericLessThanIfExists": {"n": "10"}}, {"n": 11}, False),
        # dates
        ({"DateGreaterThan": {"d": "2026-01-01T00:00:00Z"}}, {"d": "2026-06-01T00:00:00Z"}, True),
        ({"DateGreaterThan": {"d": "2026-01-01T00:00:00Z"}}, {"d": "2025-06-01T00:00:00Z"}, False),
        ({"DateLessThan": {"d": "2026-01-01T00:00:00Z"}}, {"d": 1767225599}, True),
        ({"DateLessThan": {"d": "2026-01-01T00:00:00Z"}}, {"d": "1767225600"}, False),
        ({"DateEquals": {"d": 1767225600}}, {"d": "2026-01-01T00:00:00Z"}, True),
        ({"DateEquals": {"d": "2026-01-01T01:00:00+01:00"}}, {"d": "2026-01-01T00:00:00"}, True),
        ({"DateEquals": {"d": "2026-01-01"}}, {"d": "2026-01-01T00:00:00Z"}, True),
        ({"DateNotEquals": {"d": "2026-01-01T00:00:00Z"}}, {"d": "2026-01-02T00:00:00Z"}, True),
        ({"DateNotEquals": {"d": "2026-01-01T00:00:00Z"}}, {}, True),
        ({"DateLessThanEquals": {"d": "2026-01-01T00:00:00Z"}}, {"d": "2026-01-01T00:00:00Z"}, True),
        ({"DateGreaterThanEquals": {"d": "2026-01-01T00:00:00Z"}}, {"d": "not a date"}, False),
        ({"DateGreaterThanEquals": {"d": "2026-01-01T00:00:00Z"}}, {}, False),
        ({"DateLessThanIfExists": {"d": "2026-01-01T00:00:00Z"}}, {}, True),
        # booleans
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": False}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "yes"}, False),
        ({"BoolIfExists": {"aws:SecureTransport": "true"}}, {}, True),
        ({"BoolIfExists": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, False),
        # IP addresses
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
        ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"]}}, {"aws:SourceIp": "11.0.0.1"}, False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"}, True),
        ({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"}, True),
        ({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "10.0.0.1"}, False),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "not-an-ip"}, False),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, False),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "11.0.0.1"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.0.0.1"}, False),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, True),
        ({"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}, {}, True),
        # ARNs
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/*"}}, {"aws:PrincipalArn": ROLE}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/al?ce"}}, {"aws:PrincipalArn": ALICE}, True),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}, {"aws:PrincipalArn": ALICE}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}, {"aws:PrincipalArn": ROLE}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:IAM::*:user/*"}}, {"aws:PrincipalArn": ALICE}, False),
        # a part's wildcard cannot span ":" ...
        ({"ArnLike": {"s": "arn:aws:kms:*:111122223333:key/*"}}, {"s": "arn:aws:kms:eu:x:111122223333:key/k"}, False),
        # ... except in the resource part, which may contain ":"
        ({"ArnLike": {"s": "arn:aws:logs:*:1:log-group:*"}}, {"s": "arn:aws:logs:eu:1:log-group:g:stream"}, True),
        ({"ArnLike": {"s": "*"}}, {"s": KEY_ARN}, True),
        ({"ArnLike": {"s": "arn:aws:kms:*:*:key/*"}}, {"s": "not:an:arn"}, False),
        ({"ArnLike": {"s": "arn:aws:kms:*:*:key/*"}}, {"s": 5}, False),
        ({"ArnNotLike": {"s": "arn:aws:kms:*:*:key/*"}}, {"s": KEY_ARN}, False),
        ({"ArnNotLike": {"s": "arn:aws:kms:*:*:alias/*"}}, {"s": KEY_ARN}, True),
        ({"ArnNotEquals": {"s": KEY_ARN}}, {}, True),
        ({"ArnLike": {"s": KEY_ARN}}, {}, False),
        ({"ArnLikeIfExists": {"s": KEY_ARN}}, {}, True),
        # Null
        ({"Null": {EC: "true"}}, {}, True),
        ({"Null": {EC: "true"}}, {EC: "x"}, False),
        ({"Null": {EC: "false"}}, {EC: "x"}, True),
        ({"Null": {EC: False}}, {}, False),
        ({"Null": {"kms:EncryptionContextKeys": "true"}}, {"kms:EncryptionContextKeys": []}, True),
        ({"Null": {EC: ["true", "false"]}}, {}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, context) is expected


KEYS = "kms:EncryptionContextKeys"


@pytest.mark.parametrize(
    ("condition", "request_values", "expected"),
    [
        # plain operators on a multi-valued key: any request value
        ({"StringEquals": {KEYS: "dept"}}, ["team", "dept"], True),
        ({"StringEquals": {KEYS: "dept"}}, ["team"], False),
        ({"StringNotEquals": {KEYS: "dept"}}, ["team", "dept"], False),
        ({"StringNotEquals": {KEYS: "dept"}}, ["team"], True),
        ({"StringEquals": {KEYS: "dept"}}, [], False),
        # ForAnyValue: at least one request value matches
        ({"ForAnyValue:StringEquals": {KEYS: ["dept", "team"]}}, ["team", "other"], True),
        ({"ForAnyValue:StringEquals": {KEYS: ["dept", "team"]}}, ["other"], False),
        ({"ForAnyValue:StringEquals": {KEYS: ["dept"]}}, None, False),
        ({"ForAnyValue:StringEquals": {KEYS: ["dept"]}}, [], False),
        ({"ForAnyValue:StringNotEquals": {KEYS: ["dept"]}}, ["dept", "other"], True),
        ({"ForAnyValue:StringNotEquals": {KEYS: ["dept"]}}, ["dept"], False),
        ({"ForAnyValue:StringLike": {KEYS: ["de*"]}}, ["x", "dept"], True),
        ({"ForAnyValue:StringEqualsIfExists": {KEYS: ["dept"]}}, None, True),
        ({"ForAnyValue:StringEquals": {"single": ["a"]}}, "a", True),
        # ForAllValues: every request value matches (vacuously true for none)
        ({"ForAllValues:StringEquals": {KEYS: ["dept", "team"]}}, ["team", "dept"], True),
        ({"ForAllValues:StringEquals": {KEYS: ["dept", "team"]}}, ["team", "other"], False),
        ({"ForAllValues:StringEquals": {KEYS: ["dept"]}}, None, True),
        ({"ForAllValues:StringEquals": {KEYS: ["dept"]}}, [], True),
        ({"ForAllValues:StringNotEquals": {KEYS: ["dept"]}}, ["team", "other"], True),
        ({"ForAllValues:StringNotEquals": {KEYS: ["dept"]}}, ["team", "dept"], False),
        ({"ForAllValues:StringEqualsIgnoreCase": {KEYS: ["DEPT"]}}, ["dept", "Dept"], True),
        ({"ForAllValues:NumericLessThan": {"sizes": "10"}}, ["1", "9"], True),
        ({"ForAllValues:NumericLessThan": {"sizes": "10"}}, ["1", "10"], False),
    ],
)
def test_multi_valued_keys_and_set_operators(condition: dict[str, Any], request_values: Any, expected: bool) -> None:
    key = next(iter(next(iter(condition.values()))))
    context = {} if request_values is None else {key: request_values}
    assert condition_holds(condition, context) is expected


def test_keys_in_a_block_and_blocks_are_anded() -> None:
    condition = {
        "StringEquals": {"kms:CallerAccount": ACCT, EC: "finance"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    good = {"kms:CallerAccount": ACCT, EC: "finance", "aws:SecureTransport": True}
    assert condition_holds(condition, good)
    for missing in good:
        assert not condition_holds(condition, {k: v for k, v in good.items() if k != missing})


# --- policy variables ----------------------------------------------------------------------------------------------
USER_VARS = {"aws:username": "alice", "aws:PrincipalAccount": ACCT, "aws:PrincipalTag/team": "blue"}


def test_variables_in_resources() -> None:
    policy = identity(allow(Resource="arn:aws:kms:*:${aws:PrincipalAccount}:key/*"))
    assert allows(policy, facts(variables=USER_VARS))
    assert not allows(policy, facts(variables={"aws:PrincipalAccount": OTHER}))
    assert not allows(policy, facts())  # no value: the resource never matches


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {EC: "${aws:username}"}}, {EC: "alice"}, True),
        ({"StringEquals": {EC: "${aws:username}"}}, {EC: "bob"}, False),
        ({"StringEquals": {EC: "${AWS:UserName}"}}, {EC: "alice"}, True),  # variable names are case-insensitive
        ({"StringEquals": {EC: "${aws:PrincipalTag/team}-data"}}, {EC: "blue-data"}, True),
        ({"StringEqualsIgnoreCase": {EC: "${aws:username}"}}, {EC: "ALICE"}, True),
        ({"StringLike": {EC: "${aws:username}-*"}}, {EC: "alice-2026"}, True),
        ({"StringLike": {EC: "${aws:username}-*"}}, {EC: "bob-2026"}, False),
        ({"StringNotEquals": {EC: "${aws:username}"}}, {EC: "alice"}, False),
        ({"StringEquals": {EC: "${aws:userid}"}}, {EC: "alice"}, False),  # no value: never matches
        ({"StringNotEquals": {EC: "${aws:userid}"}}, {EC: "alice"}, True),
        ({"StringEquals": {EC: "${aws:userid, 'nobody'}"}}, {EC: "nobody"}, True),  # default value
        ({"StringLike": {EC: "${*}"}}, {EC: "*"}, True),  # escapes are literal characters
        ({"StringLike": {EC: "${*}"}}, {EC: "anything"}, False),
        ({"StringLike": {EC: "a${?}"}}, {EC: "a?"}, True),
        ({"StringLike": {EC: "a${?}"}}, {EC: "ab"}, False),
        ({"StringEquals": {EC: "cost${$}"}}, {EC: "cost$"}, True),
        ({"StringEquals": {EC: "${not closed"}}, {EC: "${not closed"}, True),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}},
            {"aws:SourceArn": KEY_ARN},
            True,
        ),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:kms:*:${aws:userid}:key/*"}}, {"aws:SourceArn": KEY_ARN}, False),
        ({"StringEquals": {EC: "${kms:CallerAccount}"}}, {EC: ACCT, "kms:CallerAccount": ACCT}, True),  # from context
    ],
)
def test_variables_in_conditions(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, context, variables=USER_VARS) is expected


def test_variable_values_are_literal_not_wildcards() -> None:
    condition = {"StringLike": {EC: "${aws:username}"}}
    assert condition_holds(condition, {EC: "a*"}, variables={"aws:username": "a*"})
    assert not condition_holds(condition, {EC: "abc"}, variables={"aws:username": "a*"})


def test_rendered_variable_patterns_are_not_shared_between_callers() -> None:
    # One compiled policy serves many callers; each must see its own variable values, also past the render memo.
    policy = identity(allow(Condition={"StringLike": {EC: "${aws:username}/*"}}))
    for i in range(300):
        assert allows(policy, facts(context={EC: f"user{i}/x"}, variables={"aws:username": f"user{i}"}))
        assert not allows(policy, facts(context={EC: f"user{i}/x"}, variables={"aws:username": f"user{i + 1}"}))


def test_version_2008_has_no_variables() -> None:
    condition = {"StringEquals": {EC: "${aws:username}"}}
    assert not condition_holds(condition, {EC: "alice"}, variables=USER_VARS, version="2008-10-17")
    assert condition_holds(condition, {EC: "${aws:username}"}, variables=USER_VARS, version="2008-10-17")


# --- wildcard properties -------------------------------------------------------------------------------------------
def reference_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@settings(max_examples=400, deadline=None)
@given(st.text("ab*?:/", max_size=10), st.text("ab:/", max_size=12))
def test_wildcards_agree_with_reference_translation(pattern: str, value: str) -> None:
    expected = re.fullmatch(reference_regex(pattern), value, re.DOTALL) is not None
    assert PatternSet([parse_template(pattern, variables=False)]).matches(value) is expected
    assert glob(pattern).matches(value) is expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("aB*?", max_size=6), min_size=1, max_size=4), st.text("abAB", max_size=8))
def test_pattern_sets_match_any_pattern_case_folded(patterns: list[str], value: str) -> None:
    expected = any(re.fullmatch(reference_regex(p.lower()), value.lower(), re.DOTALL) for p in patterns)
    pattern_set = PatternSet([parse_template(p, variables=False) for p in patterns], ignore_case=True)
    assert pattern_set.matches(value) is expected


@settings(max_examples=400, deadline=None)
@given(st.text("ab*?", max_size=14), st.text("ab", max_size=40))
def test_wildcards_agree_with_the_reference_on_longer_values(pattern: str, value: str) -> None:
    expected = re.fullmatch(reference_regex(pattern), value, re.DOTALL) is not None
    assert glob(pattern).matches(value) is expected


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("*a*a*a*a*a*a*a*a*a*a*b", "a" * 5000),  # exponential for a naive backtracking translation
        ("*" + "a" * 31_000 + "b", "a" * 1_000_000),  # O(n x m) for `.*` + literal: 28 s measured
        ("*" + "a" * 20 + "?" + "a" * 20 + "b*", "a" * 200_000),  # a `?` piece searched by its longest run
    ],
)
def test_hostile_wildcards_cost_little_or_are_refused(pattern: str, value: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(MatchTooCostly):  # the evaluator then answers safely; what matters is that it stops
        assert not glob(pattern).matches(value)
    assert time.perf_counter() - started < 0.5


# --- conditions never raise ----------------------------------------------------------------------------------------
ALL_OPERATORS = {
    "StringEquals": "v",
    "StringNotEquals": "v",
    "StringEqualsIgnoreCase": "v",
    "StringNotEqualsIgnoreCase": "v",
    "StringLike": "v*",
    "StringNotLike": "v*",
    "NumericEquals": "1",
    "NumericNotEquals": "1",
    "NumericLessThan": "1",
    "NumericLessThanEquals": "1",
    "NumericGreaterThan": "1",
    "NumericGreaterThanEquals": "1",
    "DateEquals": "2026-01-01T00:00:00Z",
    "DateNotEquals": "2026-01-01T00:00:00Z",
    "DateLessThan": "2026-01-01T00:00:00Z",
    "DateLessThanEquals": "2026-01-01T00:00:00Z",
    "DateGreaterThan": "2026-01-01T00:00:00Z",
    "DateGreaterThanEquals": "2026-01-01T00:00:00Z",
    "Bool": "true",
    "IpAddress": "10.0.0.0/8",
    "NotIpAddress": "10.0.0.0/8",
    "ArnEquals": "arn:aws:kms:*:*:key/*",
    "ArnNotEquals": "arn:aws:kms:*:*:key/*",
    "ArnLike": "arn:aws:kms:*:*:key/${aws:username}",
    "ArnNotLike": "arn:aws:kms:*:*:key/*",
}


def _all_operator_policy() -> Policy:
    statements = []
    for base, value in ALL_OPERATORS.items():
        for prefix in ("", "ForAllValues:", "ForAnyValue:"):
            for suffix in ("", "IfExists"):
                statements.append(allow(Condition={f"{prefix}{base}{suffix}": {"k": value}}))
    statements.append(allow(Condition={"Null": {"k": "true"}}))
    return identity(*statements)


EVERY_OPERATOR = _all_operator_policy()
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(["1", "1e999", "nan", "10.0.0.1", "::1", "2026-01-01T00:00:00Z", "true", KEY_ARN, "v", "v1"]),
    st.binary(max_size=4),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner))


@settings(max_examples=300, deadline=None)
@given(values, st.one_of(st.none(), st.text(max_size=5)))
def test_condition_evaluation_never_raises(value: Any, username: str | None) -> None:
    request = facts(context={"K": value}, variables={"aws:username": username} if username is not None else {})
    allowed, denied = evaluate_statements(EVERY_OPERATOR, request, check_principal=False)
    assert not denied
    assert len(allowed) <= len(EVERY_OPERATOR.statements)


def test_every_operator_variant_parses() -> None:
    assert len(EVERY_OPERATOR.statements) == len(ALL_OPERATORS) * 6 + 1


# --- condition keys whose names differ only in case (docs/authorization.md) -------------------------------------
def denies(policy: Policy, request: RequestFacts) -> bool:
    return bool(evaluate_statements(policy, request, check_principal=False)[1])


COLLIDING = {"kms:EncryptionContext:stage": "prod", "kms:EncryptionContext:STAGE": "dev"}


@pytest.mark.parametrize("order", [list(COLLIDING), list(reversed(COLLIDING))])
def test_colliding_names_keep_every_value_a_deny_takes_any_an_allow_needs_all(order: list[str]) -> None:
    request = facts(context={name: COLLIDING[name] for name in order})
    prod = {"StringEquals": {"kms:EncryptionContext:Stage": "prod"}}
    assert denies(identity(deny(Condition=prod)), request)
    assert not allows(identity(allow(Condition=prod)), request)
    either = {"StringEquals": {"kms:EncryptionContext:stage": ["prod", "dev"]}}
    assert allows(identity(allow(Condition=either)), request)
    assert allows(identity(allow()), request)  # a statement that names no such key is evaluated once, as usual


def test_a_variable_naming_a_colliding_key_is_tried_with_each_value() -> None:
    dev = facts(context={**COLLIDING, "aws:username": "dev"})
    by_variable = {"StringEquals": {"aws:username": "${kms:EncryptionContext:stage}"}}
    assert denies(identity(deny(Condition=by_variable)), dev)  # "dev" is one of the values
    assert not allows(identity(allow(Condition=by_variable)), dev)  # but not every one
    assert not denies(identity(deny(Condition=by_variable)), facts(context=COLLIDING))  # no username at all


def test_too_many_combinations_fail_safe() -> None:
    context = {}
    for index in range(9):  # 2 ** 9 = 512 combinations > 256
        context[f"kms:EncryptionContext:k{index}"] = "a"
        context[f"kms:EncryptionContext:K{index}"] = "b"
    request = facts(context=context)
    every_key = {"StringLike": {f"kms:EncryptionContext:k{index}": "*" for index in range(9)}}
    assert not allows(identity(allow(Condition=every_key)), request)
    assert denies(identity(deny(Condition=every_key)), request)
    elsewhere = deny(Condition=every_key, Resource="arn:aws:kms:*:*:key/not-this-one")
    assert not denies(identity(elsewhere), request)  # still only for the resources the statement names

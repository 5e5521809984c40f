"""Hand-worked examples for the reference evaluator (tests/authz_model/model.py).

Every expected outcome is worked out by hand from docs/authorization.md ("AUTH"), docs/grants.md ("GRANTS"),
the fact sheet ("FS §n") or IAM's policy-language reference ("IAM"); each test names its section. Most tests
check a contrasting pair (allow and deny) so that a model that always answers one way fails them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.authz_model.model import Call, Caller, Grant, Key, World, decide

A = "111122223333"
B = "444455556666"
REGION = "us-east-1"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z

ROOT_A = Caller(arn=f"arn:aws:iam::{A}:root", account=A, kind="root", user_id=A)
ROOT_B = Caller(arn=f"arn:aws:iam::{B}:root", account=B, kind="root", user_id=B)
ALICE = Caller(arn=f"arn:aws:iam::{A}:user/alice", account=A, kind="user", user_id="AIDAALICE", user_name="alice")
CAROL = Caller(arn=f"arn:aws:iam::{A}:user/carol", account=A, kind="user", user_id="AIDACAROL", user_name="carol")
BOB = Caller(arn=f"arn:aws:iam::{B}:user/bob", account=B, kind="user", user_id="AIDABOB", user_name="bob")
APP_ROLE = f"arn:aws:iam::{A}:role/app"
APP = Caller(
    arn=f"arn:aws:sts::{A}:assumed-role/app/s1", account=A, kind="session", user_id="AROAAPP:s1", role_arn=APP_ROLE
)
OPS = Caller(
    arn=f"arn:aws:sts::{A}:assumed-role/ops/s2",
    account=A,
    kind="session",
    user_id="AROAOPS:s2",
    role_arn=f"arn:aws:iam::{A}:role/ops",
)


def arn(key_id: str, account: str = A) -> str:
    return f"arn:aws:kms:{REGION}:{account}:key/{key_id}"


def st(
    effect: str, action: Any, principal: Any = None, resource: Any = "*", condition: Any = None, **extra: Any
) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": resource}
    if principal is not None:
        s["Principal"] = principal
    if condition is not None:
        s["Condition"] = condition
    s.update(extra)
    return s


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    d: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        d["Version"] = version
    return json.dumps(d)


def enable_iam(account: str = A) -> dict[str, Any]:
    return st("Allow", "kms:*", {"AWS": f"arn:aws:iam::{account}:root"})


DEFAULT = doc(enable_iam())
ADMIN_ONLY = doc(st("Allow", "kms:*", {"AWS": f"arn:aws:iam::{A}:user/admin"}))  # enables nobody's IAM


def key(
    key_id: str = "k1",
    policy: str = DEFAULT,
    account: str = A,
    spec: str = "SYMMETRIC_DEFAULT",
    usage: str = "ENCRYPT_DECRYPT",
    tags: dict[str, str] | None = None,
    aliases: tuple[str, ...] = (),
) -> Key:
    return Key(
        arn=arn(key_id, account),
        key_id=key_id,
        account=account,
        region=REGION,
        spec=spec,
        usage=usage,
        policy=policy,
        tags=tags or {},
        aliases=aliases,
    )


def world(
    *keys: Key, identity: dict[str, list[str]] | None = None, grants: tuple[Grant, ...] = (), delay: float = 0.0
) -> World:
    return World(
        keys={k.arn: k for k in keys}, identity_policies=identity or {}, grants=grants, propagation_delay=delay
    )


def call(
    op: str,
    caller: Caller,
    now: float = NOW,
    ciphertext_key: str | None = None,
    tokens: tuple[str, ...] = (),
    **params: Any,
) -> Call:
    return Call(
        operation=op,
        params=params,
        caller=caller,
        now=now,
        region=REGION,
        ciphertext_key=ciphertext_key,
        token_grants=tokens,
    )


def grant(
    grantee: str,
    ops: set[str],
    key_id: str = "k1",
    gid: str = "g1",
    created: float = NOW - 1000,
    issuing: str = A,
    **kw: Any,
) -> Grant:
    return Grant(
        grant_id=gid,
        key_arn=arn(key_id),
        grantee=grantee,
        operations=frozenset(ops),
        issuing_account=issuing,
        created_at=created,
        **kw,
    )


def ident(*statements: dict[str, Any]) -> list[str]:
    return [doc(*statements)]


# ---------------------------------------------------------------- who is asking, rules 3 and 4


def test_default_policy_allows_root_directly():
    # AUTH rule 3: an account principal in an Allow names the account's root.
    w = world(key())
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", ROOT_B, KeyId=arn("k1"))) == "deny"  # B's root is not named


def test_default_policy_user_needs_identity_allow_on_key_arn():
    # AUTH rule 4: account principal enables IAM; the user's identity policy must allow the action on the key ARN.
    w0 = world(key())
    assert decide(w0, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    w1 = world(key(), identity={ALICE.arn: ident(st("Allow", "kms:Encrypt", resource=arn("k1")))})
    assert decide(w1, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w1, call("Decrypt", ALICE, KeyId="k1", ciphertext_key=arn("k1"))) == "deny"
    w2 = world(key(), identity={ALICE.arn: ident(st("Allow", "kms:Encrypt", resource=arn("other")))})
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1")) == "deny"


def test_identity_allow_is_ineffective_without_iam_enabled():
    # AUTH rule 4 needs the key policy to name the account principal; FS §9 "Without it, IAM Allow ... ineffective".
    w = world(key(policy=ADMIN_ONLY), identity={ALICE.arn: ident(st("Allow", "kms:*"))})
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1")) == "deny"  # root is not named by a user principal


def test_key_policy_naming_user_needs_no_identity_policy_same_account():
    # AUTH rule 3: the key policy names the caller, same account: allowed.
    w = world(key(policy=doc(st("Allow", "kms:Encrypt", {"AWS": ALICE.arn}))))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", CAROL, KeyId="k1")) == "deny"


def test_role_principal_names_every_session_of_the_role():
    # AUTH 'Principal': role ARNs name every session of the role.
    w = world(key(policy=doc(st("Allow", "kms:DescribeKey", {"AWS": APP_ROLE}))))
    assert decide(w, call("DescribeKey", APP, KeyId="k1")) == "allow"
    assert decide(w, call("DescribeKey", OPS, KeyId="k1")) == "deny"


def test_session_principal_arn_fact_is_the_role_arn():
    # AUTH 'Who is asking': aws:PrincipalArn of a role session is the role ARN; aws:userid is '<role id>:S'.
    cond_arn = {"StringEquals": {"aws:PrincipalArn": APP_ROLE}}
    w = world(key(policy=doc(st("Allow", "kms:DescribeKey", "*", condition=cond_arn))))
    assert decide(w, call("DescribeKey", APP, KeyId="k1")) == "allow"
    assert decide(w, call("DescribeKey", ALICE, KeyId="k1")) == "deny"
    cond_type = {"StringEquals": {"aws:PrincipalType": "AssumedRole", "aws:userid": "AROAAPP:*"}}
    w2 = world(key(policy=doc(st("Allow", "kms:DescribeKey", "*", condition=cond_type))))
    assert decide(w2, call("DescribeKey", APP, KeyId="k1")) == "deny"  # StringEquals has no wildcard
    cond_like = {"StringEquals": {"aws:PrincipalType": "AssumedRole"}, "StringLike": {"aws:userid": "AROAAPP:*"}}
    w3 = world(key(policy=doc(st("Allow", "kms:DescribeKey", "*", condition=cond_like))))
    assert decide(w3, call("DescribeKey", APP, KeyId="k1")) == "allow"


# ---------------------------------------------------------------- rule 1: explicit deny


def test_key_policy_deny_beats_allow():
    # AUTH rule 1.
    w = world(key(policy=doc(enable_iam(), st("Deny", "kms:Decrypt", "*"))))
    assert decide(w, call("Decrypt", ROOT_A, ciphertext_key=arn("k1"))) == "deny"
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1")) == "allow"


def test_identity_deny_beats_key_policy_allow():
    # AUTH rule 1: 'or in any identity policy of the caller'.
    w = world(
        key(policy=doc(st("Allow", "kms:*", {"AWS": ALICE.arn}))),
        identity={ALICE.arn: ident(st("Deny", "kms:Encrypt", resource=arn("k1")))},
    )
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("DescribeKey", ALICE, KeyId="k1")) == "allow"


def test_deny_naming_account_principal_covers_everyone_in_account():
    # AUTH 'Principal': an account principal in a Deny names everyone in the account.
    w = world(
        key(policy=doc(st("Allow", "kms:*", {"AWS": [APP_ROLE, BOB.arn]}), st("Deny", "kms:Encrypt", {"AWS": A}))),
        identity={BOB.arn: ident(st("Allow", "kms:*"))},
    )
    assert decide(w, call("Encrypt", APP, KeyId="k1")) == "deny"
    assert decide(w, call("Encrypt", BOB, KeyId=arn("k1"))) == "allow"


def test_not_principal_exempts_only_listed_account_and_arn():
    # AUTH 'Principal': NotPrincipal exempts a caller only when its account is listed and its own ARN (or role) too.
    allow_all = st("Allow", "kms:*", "*")
    deny_np = {
        "Effect": "Deny",
        "Action": "kms:Encrypt",
        "Resource": "*",
        "NotPrincipal": {"AWS": [f"arn:aws:iam::{A}:root", ALICE.arn, APP_ROLE]},
    }
    w = world(key(policy=doc(allow_all, deny_np)))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", APP, KeyId="k1")) == "allow"  # its role is listed
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", CAROL, KeyId="k1")) == "deny"
    assert decide(w, call("Encrypt", OPS, KeyId="k1")) == "deny"
    # Without the account listed, alice's own ARN does not exempt her.
    deny_np2 = {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*", "NotPrincipal": {"AWS": [ALICE.arn]}}
    w2 = world(key(policy=doc(allow_all, deny_np2)))
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1")) == "deny"


def test_not_action_and_not_resource():
    # IAM NotAction / NotResource: the statement applies to everything not listed.
    w = world(
        key(policy=doc(enable_iam())),
        identity={
            ALICE.arn: ident(
                st("Allow", "kms:*"),
                {"Effect": "Deny", "NotAction": ["kms:Describe*", "kms:List*"], "NotResource": arn("k2")},
            )
        },
    )
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("DescribeKey", ALICE, KeyId="k1")) == "allow"
    w2 = world(key("k2", policy=doc(enable_iam())), identity=w.identity_policies)
    assert decide(w2, call("Encrypt", ALICE, KeyId="k2")) == "allow"


def test_statement_without_resource_never_applies():
    # AUTH 'The policy language': a statement without Action or Resource never applies.
    no_resource = {"Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": "kms:*"}
    w = world(key(policy=doc(no_resource)))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    w2 = world(key(policy=doc(dict(no_resource, Resource="*"))))
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1")) == "allow"


# ---------------------------------------------------------------- cross-account and rule 2


def test_cross_account_account_principal_and_identity_policy():
    # AUTH rules 3/4 and FS §9: another account's users need the key policy AND their own identity policy.
    w0 = world(key(policy=doc(enable_iam(), enable_iam(B))))
    assert decide(w0, call("Encrypt", BOB, KeyId=arn("k1"))) == "deny"
    assert decide(w0, call("Encrypt", ROOT_B, KeyId=arn("k1"))) == "allow"  # implicit for B's root
    w1 = world(
        key(policy=doc(enable_iam(), enable_iam(B))),
        identity={BOB.arn: ident(st("Allow", "kms:Encrypt", resource=f"arn:aws:kms:*:{A}:key/*"))},
    )
    assert decide(w1, call("Encrypt", BOB, KeyId=arn("k1"))) == "allow"


def test_cross_account_user_named_directly_still_needs_identity_allow():
    # AUTH rule 3: 'a caller of another account also needs an Allow in its own identity policies'.
    pol = doc(enable_iam(), st("Allow", "kms:Decrypt", {"AWS": BOB.arn}))
    assert decide(world(key(policy=pol)), call("Decrypt", BOB, ciphertext_key=arn("k1"))) == "deny"
    w = world(key(policy=pol), identity={BOB.arn: ident(st("Allow", "kms:Decrypt"))})
    assert decide(w, call("Decrypt", BOB, ciphertext_key=arn("k1"))) == "allow"


def test_same_account_only_actions_refused_across_accounts():
    # AUTH rule 2 and the 'own account' column.
    w = world(key(policy=doc(st("Allow", "kms:*", "*"))), identity={BOB.arn: ident(st("Allow", "kms:*"))})
    k = arn("k1")
    assert decide(w, call("DescribeKey", BOB, KeyId=k)) == "allow"
    assert decide(w, call("GetKeyRotationStatus", BOB, KeyId=k)) == "allow"  # not 'own account'
    for op in ("ScheduleKeyDeletion", "GetKeyPolicy", "ListResourceTags", "EnableKey", "ListKeyRotations"):
        assert decide(w, call(op, BOB, KeyId=k)) == "deny", op
        assert decide(w, call(op, ALICE, KeyId=k)) == "allow", op
    assert decide(w, call("PutKeyPolicy", BOB, KeyId=k, Policy=DEFAULT, BypassPolicyLockoutSafetyCheck=True)) == "deny"
    assert (
        decide(w, call("PutKeyPolicy", ROOT_B, KeyId=k, Policy=DEFAULT, BypassPolicyLockoutSafetyCheck=True)) == "deny"
    )


# ---------------------------------------------------------------- grants (rule 5)


def test_grant_allows_its_grantee_and_operations_only():
    # AUTH rule 5.
    w = world(key(policy=ADMIN_ONLY), grants=(grant(ALICE.arn, {"Decrypt"}),))
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k1"))) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("Decrypt", CAROL, ciphertext_key=arn("k1"))) == "deny"


def test_grant_to_role_matches_every_session_and_session_grantee_only_itself():
    # AUTH rule 5: 'the role ARN for every session of that role'.
    w = world(key(policy=ADMIN_ONLY), grants=(grant(APP_ROLE, {"Encrypt"}), grant(OPS.arn, {"DescribeKey"}, gid="g2")))
    assert decide(w, call("Encrypt", APP, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", OPS, KeyId="k1")) == "deny"
    assert decide(w, call("DescribeKey", OPS, KeyId="k1")) == "allow"
    other_session = Caller(
        arn=f"arn:aws:sts::{A}:assumed-role/ops/s3",
        account=A,
        kind="session",
        user_id="AROAOPS:s3",
        role_arn=f"arn:aws:iam::{A}:role/ops",
    )
    assert decide(w, call("DescribeKey", other_session, KeyId="k1")) == "deny"


def test_account_root_grantee_user_needs_identity_allow_with_request_facts():
    # AUTH rule 5 / FS §16.8: an account-root grantee works for a user only if its identity policy also allows,
    # evaluated with exactly this request's facts.
    pol = st(
        "Allow", "kms:Decrypt", resource=arn("k1"), condition={"StringNotEquals": {"kms:EncryptionContext:dept": "HR"}}
    )
    w = world(
        key(policy=ADMIN_ONLY), identity={ALICE.arn: ident(pol)}, grants=(grant(f"arn:aws:iam::{A}:root", {"Decrypt"}),)
    )
    ct = arn("k1")
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct, EncryptionContext={"dept": "IT"})) == "allow"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct, EncryptionContext={"dept": "HR"})) == "deny"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct)) == "allow"  # absent key: negated op holds
    assert decide(w, call("Decrypt", CAROL, ciphertext_key=ct)) == "deny"  # no identity policy
    assert decide(w, call("Decrypt", ROOT_A, ciphertext_key=ct, EncryptionContext={"dept": "HR"})) == "allow"


def test_cross_account_grant_needs_no_identity_policy():
    # FS §9 step 4: no IAM permission in the grantee's account is required for a grant to the user itself.
    w = world(key(policy=ADMIN_ONLY), grants=(grant(BOB.arn, {"Encrypt"}),))
    assert decide(w, call("Encrypt", BOB, KeyId=arn("k1"))) == "allow"


def test_grant_cannot_override_explicit_deny_or_allow_management():
    # AUTH rule 1 ('Grants cannot override a deny') and 'RevokeGrant, ListGrants ... no grant can allow them'.
    all_ops = {"Decrypt", "Encrypt", "DescribeKey", "CreateGrant", "RetireGrant"}
    w = world(
        key(
            policy=doc(
                st("Allow", "kms:DescribeKey", {"AWS": "arn:aws:iam::" + A + ":user/admin"}),
                st("Deny", "kms:Decrypt", {"AWS": ALICE.arn}),
            )
        ),
        grants=(grant(ALICE.arn, all_ops),),
    )
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k1"))) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("RevokeGrant", ALICE, KeyId="k1", GrantId="g1")) == "deny"
    assert decide(w, call("ListGrants", ALICE, KeyId="k1")) == "deny"


def test_grant_on_another_key_gives_nothing():
    # AUTH rule 5: 'an active grant on the key'; GRANTS: 'a token ... of a grant on another key gives no permission'.
    w = world(key(policy=ADMIN_ONLY), key("k2", policy=ADMIN_ONLY), grants=(grant(ALICE.arn, {"Encrypt"}, "k2"),))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", tokens=("g1",))) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k2")) == "allow"


def test_grant_subset_constraint_keys_case_insensitive_values_case_sensitive():
    # AUTH 'Grant operations' / GRANTS 'Constraints'.
    g = grant(ALICE.arn, {"Encrypt"}, constraints={"EncryptionContextSubset": {"Dept": "IT"}})
    w = world(key(policy=ADMIN_ONLY), grants=(g,))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"dept": "IT", "x": "y"})) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"dept": "it"})) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"


def test_grant_equals_constraint_and_empty_maps():
    # GRANTS 'Constraints': Equals exact pairs; empty Equals only without context; empty Subset matches everything.
    eq = grant(ALICE.arn, {"Encrypt"}, constraints={"EncryptionContextEquals": {"a": "1"}})
    w = world(key(policy=ADMIN_ONLY), grants=(eq,))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"A": "1"})) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"a": "1", "b": "2"})) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    empty_eq = grant(ALICE.arn, {"Encrypt"}, constraints={"EncryptionContextEquals": {}})
    w2 = world(key(policy=ADMIN_ONLY), grants=(empty_eq,))
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"a": "1"})) == "deny"
    empty_sub = grant(ALICE.arn, {"Encrypt"}, constraints={"EncryptionContextSubset": {}})
    w3 = world(key(policy=ADMIN_ONLY), grants=(empty_sub,))
    assert decide(w3, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"a": "1"})) == "allow"


def test_grant_constraint_with_case_colliding_context_is_a_multiset():
    # AUTH: 'a context with stage and STAGE has two pairs under the key stage'.
    eq = grant(ALICE.arn, {"Encrypt"}, constraints={"EncryptionContextEquals": {"stage": "prod"}})
    sub = grant(ALICE.arn, {"Decrypt"}, gid="g2", constraints={"EncryptionContextSubset": {"stage": "prod"}})
    w = world(key(policy=ADMIN_ONLY), grants=(eq, sub))
    both_prod = {"stage": "prod", "STAGE": "prod"}
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext=both_prod)) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"STAGE": "prod"})) == "allow"
    mixed = {"STAGE": "dev", "stage": "prod"}
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k1"), EncryptionContext=mixed)) == "allow"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k1"), EncryptionContext={"STAGE": "dev"})) == "deny"


def test_constraint_ignored_for_describe_key_and_source_arn_never_met():
    # AUTH: EC constraints do not apply to DescribeKey; 'A SourceArn constraint is never met'.
    g1 = grant(ALICE.arn, {"DescribeKey", "Encrypt"}, constraints={"EncryptionContextSubset": {"a": "1"}})
    w = world(key(policy=ADMIN_ONLY), grants=(g1,))
    assert decide(w, call("DescribeKey", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    g2 = grant(ALICE.arn, {"DescribeKey", "Encrypt"}, constraints={"SourceArn": "arn:aws:s3:::bucket-1234567890"})
    w2 = world(key(policy=ADMIN_ONLY), grants=(g2,))
    assert decide(w2, call("DescribeKey", ALICE, KeyId="k1")) == "deny"
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1")) == "deny"


def test_new_grant_propagation_delay_and_token():
    # GRANTS 'Grant tokens and eventual consistency': without token only after d seconds; token at once.
    w = world(key(policy=ADMIN_ONLY), grants=(grant(ALICE.arn, {"Encrypt"}, created=NOW - 5),), delay=10)
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", tokens=("g1",))) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", now=NOW + 6)) == "allow"


def test_retired_grant_with_and_without_token_and_delay():
    # AUTH rule 5: 'a retired or revoked grant counts for no one with its token, and without its token until
    # the propagation delay has passed'.
    g = grant(ALICE.arn, {"Encrypt"}, deleted_at=NOW - 5)
    w = world(key(policy=ADMIN_ONLY), grants=(g,), delay=10)
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", tokens=("g1",))) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", now=NOW + 6)) == "deny"
    w0 = world(key(policy=ADMIN_ONLY), grants=(g,), delay=0)
    assert decide(w0, call("Encrypt", ALICE, KeyId="k1")) == "deny"


# ---------------------------------------------------------------- CreateGrant: conditions and delegation


def test_for_all_values_and_for_any_value_on_grant_operations():
    # AUTH 'Condition' (ForAllValues/ForAnyValue on a list key); FS §9.1 kms:GrantOperations.
    only = st(
        "Allow",
        "kms:CreateGrant",
        {"AWS": ALICE.arn},
        condition={"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}},
    )
    w = world(key(policy=doc(only)))
    base = {"KeyId": "k1", "GranteePrincipal": CAROL.arn}
    assert decide(w, call("CreateGrant", ALICE, **base, Operations=["Decrypt"])) == "allow"
    assert decide(w, call("CreateGrant", ALICE, **base, Operations=["Decrypt", "Sign"])) == "deny"
    anyv = st(
        "Allow",
        "kms:CreateGrant",
        {"AWS": ALICE.arn},
        condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": "Decrypt"}},
    )
    w2 = world(key(policy=doc(anyv)))
    assert decide(w2, call("CreateGrant", ALICE, **base, Operations=["Encrypt", "Decrypt"])) == "allow"
    assert decide(w2, call("CreateGrant", ALICE, **base, Operations=["Encrypt"])) == "deny"


def test_create_grant_constraint_facts():
    # AUTH table CreateGrant: kms:GrantConstraintType, kms:EncryptionContext:* of the constraint, kms:GranteePrincipal.
    cond = {
        "StringEquals": {"kms:GrantConstraintType": "EncryptionContextEquals", "kms:EncryptionContext:team": "blue"},
        "StringLike": {"kms:GranteePrincipal": f"arn:aws:iam::{A}:user/*"},
        "Bool": {"kms:GrantIsForAWSResource": "false"},
    }
    w = world(key(policy=doc(st("Allow", "kms:CreateGrant", {"AWS": ALICE.arn}, condition=cond))))
    base = {"KeyId": "k1", "Operations": ["Decrypt"]}
    ok = {"EncryptionContextEquals": {"team": "blue"}}
    assert decide(w, call("CreateGrant", ALICE, **base, GranteePrincipal=CAROL.arn, Constraints=ok)) == "allow"
    sub = {"EncryptionContextSubset": {"team": "blue"}}
    assert decide(w, call("CreateGrant", ALICE, **base, GranteePrincipal=CAROL.arn, Constraints=sub)) == "deny"
    assert decide(w, call("CreateGrant", ALICE, **base, GranteePrincipal=APP_ROLE, Constraints=ok)) == "deny"


def test_delegation_child_operations_must_be_subset():
    # GRANTS 'Delegation' / FS §16.11.
    parent = grant(ALICE.arn, {"Decrypt", "CreateGrant"})
    w = world(key(policy=ADMIN_ONLY), grants=(parent,))
    base = {"KeyId": "k1", "GranteePrincipal": CAROL.arn}
    assert decide(w, call("CreateGrant", ALICE, **base, Operations=["Decrypt"])) == "allow"
    assert decide(w, call("CreateGrant", ALICE, **base, Operations=["Decrypt", "CreateGrant"])) == "allow"
    assert decide(w, call("CreateGrant", ALICE, **base, Operations=["Decrypt", "Encrypt"])) == "deny"


def test_delegation_child_constraints_at_least_as_strict():
    # FS §7 example and §16.11: parent Subset S -> child Subset S' ⊇ S or Equals E ⊇ S; parent Equals E -> Equals E.
    sub_parent = grant(
        ALICE.arn,
        {"GenerateDataKey", "Decrypt", "CreateGrant"},
        constraints={"EncryptionContextSubset": {"Department": "IT"}},
    )
    w = world(key(policy=ADMIN_ONLY), grants=(sub_parent,))
    base = {"KeyId": "k1", "GranteePrincipal": CAROL.arn, "Operations": ["CreateGrant", "Decrypt"]}
    assert (
        decide(w, call("CreateGrant", ALICE, **base, Constraints={"EncryptionContextEquals": {"Department": "IT"}}))
        == "allow"
    )
    assert (
        decide(
            w,
            call(
                "CreateGrant",
                ALICE,
                **base,
                Constraints={"EncryptionContextSubset": {"Department": "IT", "Purpose": "Test"}},
            ),
        )
        == "allow"
    )
    assert decide(w, call("CreateGrant", ALICE, **base)) == "deny"
    assert (
        decide(w, call("CreateGrant", ALICE, **base, Constraints={"EncryptionContextSubset": {"Purpose": "Test"}}))
        == "deny"
    )
    eq_parent = grant(ALICE.arn, {"Decrypt", "CreateGrant"}, constraints={"EncryptionContextEquals": {"a": "1"}})
    w2 = world(key(policy=ADMIN_ONLY), grants=(eq_parent,))
    base2 = {"KeyId": "k1", "GranteePrincipal": CAROL.arn, "Operations": ["Decrypt"]}
    assert (
        decide(w2, call("CreateGrant", ALICE, **base2, Constraints={"EncryptionContextEquals": {"a": "1"}})) == "allow"
    )
    assert (
        decide(w2, call("CreateGrant", ALICE, **base2, Constraints={"EncryptionContextSubset": {"a": "1"}})) == "deny"
    )
    assert (
        decide(w2, call("CreateGrant", ALICE, **base2, Constraints={"EncryptionContextEquals": {"a": "1", "b": "2"}}))
        == "deny"
    )


def test_policy_create_grant_is_not_limited_by_delegation():
    # AUTH 'Policies are tried before grants' / FS §16.9.
    pol = doc(st("Allow", "kms:CreateGrant", {"AWS": ALICE.arn}))
    w = world(key(policy=pol), grants=(grant(ALICE.arn, {"Decrypt", "CreateGrant"}),))
    assert (
        decide(w, call("CreateGrant", ALICE, KeyId="k1", GranteePrincipal=CAROL.arn, Operations=["Encrypt"])) == "allow"
    )
    w2 = world(key(policy=ADMIN_ONLY), grants=w.grants)
    assert (
        decide(w2, call("CreateGrant", ALICE, KeyId="k1", GranteePrincipal=CAROL.arn, Operations=["Encrypt"])) == "deny"
    )


# ---------------------------------------------------------------- RetireGrant


def _retire(caller: Caller, **kw: Any) -> Call:
    return call("RetireGrant", caller, KeyId=arn("k1"), GrantId="g1", **kw)


def test_retire_grant_by_issuing_account_user_needs_identity_allow():
    # AUTH 'RetireGrant': the issuing account's root, or its users with an identity Allow of kms:RetireGrant.
    g = grant(BOB.arn, {"Decrypt"}, issuing=A)
    w0 = world(key(), grants=(g,))
    assert decide(w0, _retire(ALICE)) == "deny"
    assert decide(w0, _retire(ROOT_A)) == "allow"
    w1 = world(key(), grants=(g,), identity={ALICE.arn: ident(st("Allow", "kms:RetireGrant", resource=arn("k1")))})
    assert decide(w1, _retire(ALICE)) == "allow"
    assert decide(w1, _retire(ROOT_B)) == "deny"  # B is neither issuer, retiring principal nor grantee


def test_retire_grant_retiring_principal_and_identity_deny():
    # AUTH 'RetireGrant': the retiring principal needs no permission; an identity Deny refuses.
    g = grant(BOB.arn, {"Decrypt"}, issuing=B, retiring=CAROL.arn)
    w = world(key(policy=ADMIN_ONLY), grants=(g,))
    assert decide(w, _retire(CAROL)) == "allow"
    assert decide(w, _retire(ALICE)) == "deny"
    w2 = world(key(policy=ADMIN_ONLY), grants=(g,), identity={CAROL.arn: ident(st("Deny", "kms:RetireGrant"))})
    assert decide(w2, _retire(CAROL)) == "deny"


def test_retire_grant_key_policy_plays_no_part():
    # AUTH 'RetireGrant': 'The key policy plays no part' (neither its Allow nor its Deny).
    g = grant(BOB.arn, {"Decrypt"}, issuing=B, retiring=CAROL.arn)
    pol = doc(st("Allow", "kms:RetireGrant", {"AWS": ALICE.arn}), st("Deny", "kms:RetireGrant", {"AWS": CAROL.arn}))
    w = world(key(policy=pol), grants=(g,))
    assert decide(w, _retire(ALICE)) == "deny"
    assert decide(w, _retire(CAROL)) == "allow"


def test_retire_grant_by_grantee_needs_retire_operation():
    # AUTH 'RetireGrant': 'the grantee, when the grant's operations include RetireGrant'.
    w = world(key(policy=ADMIN_ONLY), grants=(grant(BOB.arn, {"Decrypt", "RetireGrant"}, issuing=A),))
    assert decide(w, _retire(BOB)) == "allow"
    w2 = world(key(policy=ADMIN_ONLY), grants=(grant(BOB.arn, {"Decrypt"}, issuing=A),))
    assert decide(w2, _retire(BOB)) == "deny"


def test_retire_grant_account_root_retiring_principal_delegates_through_iam():
    # AUTH 'RetireGrant': the retiring principal is the caller's account root and an identity policy allows.
    g = grant(ALICE.arn, {"Decrypt"}, issuing=A, retiring=f"arn:aws:iam::{B}:root")
    w0 = world(key(), grants=(g,))
    assert decide(w0, _retire(BOB)) == "deny"
    assert decide(w0, _retire(ROOT_B)) == "allow"
    w1 = world(key(), grants=(g,), identity={BOB.arn: ident(st("Allow", "kms:RetireGrant"))})
    assert decide(w1, _retire(BOB)) == "allow"


def test_retire_new_grant_by_token_before_propagation():
    # GRANTS: 'the only way to delete a grant that is not yet eventually consistent is RetireGrant with the token'.
    g = grant(BOB.arn, {"Decrypt", "RetireGrant"}, issuing=A, created=NOW - 1)
    w = world(key(policy=ADMIN_ONLY), grants=(g,), delay=10)
    assert decide(w, call("RetireGrant", BOB, GrantToken="tok", tokens=("g1",))) == "allow"
    assert decide(w, _retire(BOB)) == "deny"


# ---------------------------------------------------------------- case-colliding keys


def test_deny_on_case_colliding_context_in_both_orders():
    # AUTH 'Names that differ only in case': a Deny applies if it applies in any combination.
    deny = st("Deny", "kms:Encrypt", "*", condition={"StringEquals": {"kms:EncryptionContext:stage": "prod"}})
    w = world(key(policy=doc(enable_iam(), deny)))
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1", EncryptionContext={"stage": "prod", "STAGE": "dev"})) == "deny"
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1", EncryptionContext={"STAGE": "dev", "stage": "prod"})) == "deny"
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1", EncryptionContext={"STAGE": "dev"})) == "allow"
    assert decide(w, call("Encrypt", ROOT_A, KeyId="k1", EncryptionContext={"Stage": "prod"})) == "deny"


def test_allow_on_case_colliding_context_needs_every_combination():
    # AUTH 'Names that differ only in case': an Allow applies only if it applies in every combination.
    allow = st(
        "Allow", "kms:Encrypt", {"AWS": ALICE.arn}, condition={"StringEquals": {"kms:EncryptionContext:stage": "prod"}}
    )
    w = world(key(policy=doc(allow)))
    assert (
        decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"stage": "prod", "STAGE": "prod"})) == "allow"
    )
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"stage": "prod", "STAGE": "dev"})) == "deny"
    # kms:EncryptionContextKeys lists both keys case-sensitively.
    keys = st(
        "Allow",
        "kms:Encrypt",
        {"AWS": ALICE.arn},
        condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["stage"]}},
    )
    w2 = world(key(policy=doc(keys)))
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"stage": "a"})) == "allow"
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"stage": "a", "STAGE": "a"})) == "deny"


def test_case_colliding_tags_and_policy_variables():
    # AUTH: the same holds for aws:ResourceTag/* and for policy variables naming such keys.
    allow = st(
        "Allow",
        "kms:Encrypt",
        {"AWS": ALICE.arn},
        condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:ResourceTag/owner}"}},
    )
    w = world(key(policy=doc(allow), tags={"owner": "alice", "OWNER": "bob"}))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"owner": "alice"})) == "deny"
    w2 = world(key(policy=doc(allow), tags={"owner": "alice"}))
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"owner": "alice"})) == "allow"


def test_combination_cap_of_256():
    # AUTH: 'more than 256 combinations is treated as not applying if it allows and as applying if it denies'.
    def context(colliding: int) -> dict[str, str]:  # keys k0..k8, the first `colliding` also as K<i>
        c = {f"k{i}": "a" for i in range(9)}
        for i in range(colliding):
            c[f"K{i}"] = "b"
        return c

    like_all = {"StringLike": {f"kms:EncryptionContext:k{i}": "*" for i in range(9)}}
    w = world(key(policy=doc(st("Allow", "kms:Encrypt", {"AWS": ALICE.arn}, condition=like_all))))
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext=context(8))) == "allow"  # 2**8 = 256
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext=context(9))) == "deny"  # 2**9 = 512
    never = {"StringEquals": {f"kms:EncryptionContext:k{i}": "zzz" for i in range(9)}}
    w2 = world(
        key(policy=doc(st("Allow", "kms:Encrypt", {"AWS": ALICE.arn}), st("Deny", "kms:Encrypt", "*", condition=never)))
    )
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext=context(8))) == "allow"
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext=context(9))) == "deny"


# ---------------------------------------------------------------- the lockout check


def test_lockout_when_new_policy_needs_absent_policy_name():
    # AUTH 'The lockout check': facts of a PutKeyPolicy made now include kms:PolicyName = default.
    new = doc(st("Allow", "kms:*", {"AWS": f"arn:aws:iam::{A}:root"}, condition={"Null": {"kms:PolicyName": "true"}}))
    w = world(key())
    assert decide(w, call("PutKeyPolicy", ROOT_A, KeyId="k1", Policy=new)) == "lockout"
    assert (
        decide(w, call("PutKeyPolicy", ROOT_A, KeyId="k1", Policy=new, BypassPolicyLockoutSafetyCheck=True)) == "allow"
    )
    assert decide(w, call("PutKeyPolicy", ROOT_A, KeyId="k1", Policy=DEFAULT)) == "allow"


def test_lockout_check_uses_bypass_false_and_caller_identity():
    # AUTH 'The lockout check': kms:BypassPolicyLockoutSafetyCheck = false; rule 4 needs the caller's identity Allow.
    new_bypass = doc(
        st("Allow", "kms:*", {"AWS": A}, condition={"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}})
    )
    w = world(key())
    assert decide(w, call("PutKeyPolicy", ROOT_A, KeyId="k1", Policy=new_bypass)) == "lockout"
    w2 = world(key(), identity={ALICE.arn: ident(st("Allow", ["kms:PutKeyPolicy"], resource=arn("k1")))})
    assert decide(w2, call("PutKeyPolicy", ALICE, KeyId="k1", Policy=DEFAULT)) == "allow"
    assert decide(w2, call("PutKeyPolicy", ALICE, KeyId="k1", Policy=ADMIN_ONLY)) == "lockout"
    # Not allowed to put a policy at all: 'deny', before any lockout check.
    assert decide(world(key()), call("PutKeyPolicy", ALICE, KeyId="k1", Policy=ADMIN_ONLY)) == "deny"


def test_lockout_check_on_create_key_with_policy():
    # AUTH 'The lockout check' for CreateKey with a Policy; the new key's ARN comes from _NewKeyArn.
    new_arn = arn("new")
    w = world(identity={ALICE.arn: ident(st("Allow", "kms:CreateKey"))})
    assert decide(w, call("CreateKey", ALICE, Policy=DEFAULT, _NewKeyArn=new_arn)) == "lockout"
    assert (
        decide(w, call("CreateKey", ALICE, Policy=doc(st("Allow", "kms:*", {"AWS": ALICE.arn})), _NewKeyArn=new_arn))
        == "allow"
    )
    assert (
        decide(w, call("CreateKey", ALICE, Policy=DEFAULT, _NewKeyArn=new_arn, BypassPolicyLockoutSafetyCheck=True))
        == "allow"
    )
    assert decide(w, call("CreateKey", ROOT_A, Policy=DEFAULT, _NewKeyArn=new_arn)) == "allow"
    # The identity Allow must cover kms:PutKeyPolicy on the new key's ARN.
    w2 = world(
        identity={ALICE.arn: ident(st("Allow", "kms:CreateKey"), st("Allow", "kms:PutKeyPolicy", resource=new_arn))}
    )
    assert decide(w2, call("CreateKey", ALICE, Policy=DEFAULT, _NewKeyArn=new_arn)) == "allow"


# ---------------------------------------------------------------- actions without a key policy


def test_create_key_identity_only_with_tags_and_request_facts():
    # AUTH 'Actions without a key policy' and the CreateKey row.
    w0 = world()
    assert decide(w0, call("CreateKey", ALICE)) == "deny"
    assert decide(w0, call("CreateKey", ROOT_A)) == "allow"
    w = world(
        identity={
            ALICE.arn: ident(
                st(
                    "Allow",
                    "kms:CreateKey",
                    condition={"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT"}},
                )
            )
        }
    )
    assert decide(w, call("CreateKey", ALICE)) == "allow"  # defaults
    assert decide(w, call("CreateKey", ALICE, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")) == "deny"
    tags = [{"TagKey": "env", "TagValue": "dev"}]
    assert decide(w, call("CreateKey", ALICE, Tags=tags)) == "deny"  # needs kms:TagResource too
    w2 = world(
        identity={
            ALICE.arn: ident(
                st(
                    "Allow",
                    ["kms:CreateKey", "kms:TagResource"],
                    condition={"StringEquals": {"aws:RequestTag/env": "dev"}},
                )
            )
        }
    )
    assert decide(w2, call("CreateKey", ALICE, Tags=tags)) == "allow"
    assert decide(w2, call("CreateKey", ALICE, Tags=[{"TagKey": "env", "TagValue": "prod"}])) == "deny"


def test_list_and_random_need_star_resource():
    # AUTH: ListKeys/ListAliases/GenerateRandom on '*'.
    w = world(
        identity={
            ALICE.arn: ident(
                st("Allow", ["kms:ListKeys", "kms:GenerateRandom"], resource=arn("k1")), st("Allow", "kms:ListAliases")
            )
        }
    )
    assert decide(w, call("ListKeys", ALICE)) == "deny"
    assert decide(w, call("GenerateRandom", ALICE, NumberOfBytes=8)) == "deny"
    assert decide(w, call("ListAliases", ALICE)) == "allow"
    assert decide(w, call("ListKeys", ROOT_A)) == "allow"
    # The resource of these actions is '*', which an ARN pattern does not match.
    w2 = world(identity={ALICE.arn: ident(st("Allow", "kms:ListKeys", resource="arn:aws:kms:*"))})
    assert decide(w2, call("ListKeys", ALICE)) == "deny"


def test_list_retirable_grants_on_principal_arn_of_own_account():
    # AUTH: 'authorized on the retiring principal's ARN, which must belong to the caller's account'.
    w = world(identity={ALICE.arn: ident(st("Allow", "kms:ListRetirableGrants", resource=f"arn:aws:iam::{A}:user/*"))})
    assert decide(w, call("ListRetirableGrants", ALICE, RetiringPrincipal=CAROL.arn)) == "allow"
    assert decide(w, call("ListRetirableGrants", ALICE, RetiringPrincipal=APP_ROLE)) == "deny"
    assert decide(w, call("ListRetirableGrants", ROOT_A, RetiringPrincipal=BOB.arn)) == "deny"


def test_alias_operations_need_both_halves():
    # AUTH: alias half on the alias ARN (identity only), key half on the target key(s).
    alias_arn = f"arn:aws:kms:{REGION}:{A}:alias/app"
    k1, k2 = key("k1", aliases=("alias/app",)), key("k2")
    alias_only = {
        ALICE.arn: ident(
            st("Allow", "kms:UpdateAlias", resource=alias_arn), st("Allow", "kms:CreateAlias", resource=alias_arn)
        )
    }
    w = world(k1, k2, identity=alias_only)
    assert decide(w, call("CreateAlias", ALICE, AliasName="alias/app2", TargetKeyId="k2")) == "deny"
    w2 = world(
        k1, k2, identity={ALICE.arn: ident(st("Allow", "kms:UpdateAlias", resource=[alias_arn, arn("k1"), arn("k2")]))}
    )
    assert decide(w2, call("UpdateAlias", ALICE, AliasName="alias/app", TargetKeyId="k2")) == "allow"
    w3 = world(k1, k2, identity={ALICE.arn: ident(st("Allow", "kms:UpdateAlias", resource=[alias_arn, arn("k2")]))})
    assert decide(w3, call("UpdateAlias", ALICE, AliasName="alias/app", TargetKeyId="k2")) == "deny"  # old target
    w4 = world(k1, k2, identity={ALICE.arn: ident(st("Allow", "kms:DeleteAlias", resource=arn("*")))})
    assert decide(w4, call("DeleteAlias", ALICE, AliasName="alias/app")) == "deny"  # alias ARN not covered
    assert decide(w4, call("DeleteAlias", ROOT_A, AliasName="alias/app")) == "allow"


# ---------------------------------------------------------------- ReEncrypt, Decrypt, identifiers


def test_reencrypt_needs_both_halves_with_their_own_facts():
    # AUTH table ReEncrypt: kms:ReEncryptFrom on the source, kms:ReEncryptTo on the destination, own contexts.
    src = key(
        "k1",
        policy=doc(
            st(
                "Allow",
                "kms:ReEncryptFrom",
                {"AWS": ALICE.arn},
                condition={"StringEquals": {"kms:EncryptionContext:side": "src"}},
            )
        ),
    )
    dst = key(
        "k2",
        policy=doc(
            st(
                "Allow",
                "kms:ReEncrypt*",
                {"AWS": ALICE.arn},
                condition={"StringEquals": {"kms:EncryptionContext:side": "dst"}},
            )
        ),
    )
    w = world(src, dst)
    good = {
        "DestinationKeyId": "k2",
        "SourceEncryptionContext": {"side": "src"},
        "DestinationEncryptionContext": {"side": "dst"},
    }
    assert decide(w, call("ReEncrypt", ALICE, ciphertext_key=arn("k1"), **good)) == "allow"
    swapped = dict(good, SourceEncryptionContext={"side": "dst"})
    assert decide(w, call("ReEncrypt", ALICE, ciphertext_key=arn("k1"), **swapped)) == "deny"
    assert decide(w, call("ReEncrypt", ALICE, ciphertext_key=arn("k2"), **dict(good, DestinationKeyId="k1"))) == "deny"


def test_reencrypt_on_same_key_and_grants_per_half():
    # AUTH: kms:ReEncryptOnSameKey; each half 'by its own grant operation'.
    pol = doc(st("Allow", "kms:ReEncrypt*", {"AWS": ALICE.arn}, condition={"Bool": {"kms:ReEncryptOnSameKey": "true"}}))
    w = world(key("k1", policy=pol), key("k2", policy=pol))
    assert decide(w, call("ReEncrypt", ALICE, ciphertext_key=arn("k1"), DestinationKeyId="k1")) == "allow"
    assert decide(w, call("ReEncrypt", ALICE, ciphertext_key=arn("k1"), DestinationKeyId="k2")) == "deny"
    g = grant(CAROL.arn, {"ReEncryptFrom", "ReEncryptTo"}, constraints={"EncryptionContextSubset": {"t": "1"}})
    w2 = world(key("k1", policy=ADMIN_ONLY), grants=(g,))
    ok = {"DestinationKeyId": "k1", "SourceEncryptionContext": {"t": "1"}, "DestinationEncryptionContext": {"t": "1"}}
    assert decide(w2, call("ReEncrypt", CAROL, ciphertext_key=arn("k1"), **ok)) == "allow"
    assert (
        decide(w2, call("ReEncrypt", CAROL, ciphertext_key=arn("k1"), **dict(ok, DestinationEncryptionContext={})))
        == "deny"
    )


def test_decrypt_is_decided_on_the_ciphertexts_key():
    # AUTH table Decrypt: on the ciphertext's key (RSA: on KeyId).
    w = world(
        key("k1", policy=doc(st("Allow", "kms:Decrypt", {"AWS": ALICE.arn}))),
        key("k2", policy=ADMIN_ONLY),
        key("rsa", policy=doc(st("Allow", "kms:Decrypt", {"AWS": ALICE.arn})), spec="RSA_2048"),
    )
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k1"))) == "allow"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=arn("k2"))) == "deny"
    assert (
        decide(
            w, call("Decrypt", ALICE, KeyId="rsa", ciphertext_key=arn("rsa"), EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        )
        == "allow"
    )
    # A symmetric ciphertext names its key: a KeyId naming another key does not move the decision.
    assert decide(w, call("Decrypt", ALICE, KeyId="k1", ciphertext_key=arn("k2"))) == "deny"
    assert decide(w, call("Decrypt", ALICE, KeyId="k2", ciphertext_key=arn("k1"))) == "allow"


def test_request_alias_and_resource_aliases_and_identifier_forms():
    # AUTH: kms:RequestAlias when KeyId names an alias; kms:ResourceAliases lists the key's aliases.
    pol = doc(
        st("Allow", "kms:Encrypt", {"AWS": ALICE.arn}, condition={"StringEquals": {"kms:RequestAlias": "alias/app"}}),
        st(
            "Allow",
            "kms:DescribeKey",
            {"AWS": ALICE.arn},
            condition={"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/ap*"}},
        ),
    )
    w = world(key("k1", policy=pol, aliases=("alias/app", "alias/other")))
    assert decide(w, call("Encrypt", ALICE, KeyId="alias/app")) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId=f"arn:aws:kms:{REGION}:{A}:alias/app")) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="alias/other")) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    assert decide(w, call("DescribeKey", ALICE, KeyId=arn("k1"))) == "allow"
    w2 = world(key("k1", policy=pol))
    assert decide(w2, call("DescribeKey", ALICE, KeyId="k1")) == "deny"  # empty list counts as absent
    with pytest.raises(ValueError):
        decide(w, call("Encrypt", ALICE, KeyId="alias/missing"))


# ---------------------------------------------------------------- the policy language: operators and variables


def test_policy_variables_in_resource_and_condition_with_default_and_literals():
    # AUTH 'Policy variables': ${aws:username}, ${name, 'default'}, ${*} is a literal '*'.
    w = world(
        key(),
        identity={
            ALICE.arn: ident(
                st(
                    "Allow",
                    "kms:Encrypt",
                    resource="arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
                    condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}},
                )
            ),
            APP_ROLE: ident(
                st(
                    "Allow",
                    "kms:Encrypt",
                    condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:username, 'robot'}"}},
                )
            ),
            CAROL.arn: ident(
                st("Allow", "kms:Encrypt", condition={"StringLike": {"kms:EncryptionContext:p": "a${*}"}})
            ),
        },
    )
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"owner": "alice"})) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"owner": "bob"})) == "deny"
    assert decide(w, call("Encrypt", APP, KeyId="k1", EncryptionContext={"owner": "robot"})) == "allow"
    assert decide(w, call("Encrypt", CAROL, KeyId="k1", EncryptionContext={"p": "a*"})) == "allow"
    assert decide(w, call("Encrypt", CAROL, KeyId="k1", EncryptionContext={"p": "ab"})) == "deny"


def test_variable_without_value_matches_nothing_and_old_version_has_no_variables():
    # AUTH: 'A variable without a value and without a default matches nothing'; 2008-10-17 has no variables.
    like_username = {"StringLike": {"kms:EncryptionContext:o": "${aws:username}"}}
    w = world(key(), identity={APP_ROLE: ident(st("Allow", "kms:Encrypt", condition=like_username))})
    assert decide(w, call("Encrypt", APP, KeyId="k1", EncryptionContext={"o": "${aws:username}"})) == "deny"
    w2 = world(
        key(),
        identity={
            ALICE.arn: [
                doc(
                    st(
                        "Allow",
                        "kms:Encrypt",
                        condition={"StringEquals": {"kms:EncryptionContext:o": "${aws:username}"}},
                    ),
                    version="2008-10-17",
                )
            ]
        },
    )
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"o": "alice"})) == "deny"
    assert decide(w2, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"o": "${aws:username}"})) == "allow"


def test_date_numeric_ip_bool_and_default_parameter_facts():
    # AUTH facts table: aws:CurrentTime/EpochTime, aws:SourceIp, aws:SecureTransport=false, defaults of parameters.
    admin = f"arn:aws:iam::{A}:user/admin"
    cond = {
        "DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"},
        "DateLessThan": {"aws:EpochTime": "1800000001"},
        "NumericLessThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 10},
        "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.1"]},
        "Bool": {"aws:SecureTransport": False},
    }
    w = world(key(policy=doc(st("Allow", "kms:ScheduleKeyDeletion", {"AWS": admin}, condition=cond))))
    admin_caller = Caller(
        arn=admin, account=A, kind="user", user_id="AIDAADMIN", user_name="admin", source_ip="10.1.2.3"
    )
    assert decide(w, call("ScheduleKeyDeletion", admin_caller, KeyId="k1", PendingWindowInDays=7)) == "allow"
    assert decide(w, call("ScheduleKeyDeletion", admin_caller, KeyId="k1")) == "deny"  # default 30
    assert (
        decide(w, call("ScheduleKeyDeletion", admin_caller, KeyId="k1", PendingWindowInDays=7, now=NOW + 1)) == "deny"
    )
    far = Caller(arn=admin, account=A, kind="user", user_id="AIDAADMIN", user_name="admin", source_ip="172.16.0.1")
    assert decide(w, call("ScheduleKeyDeletion", far, KeyId="k1", PendingWindowInDays=7)) == "deny"


def test_wrong_type_never_matches_and_negated_operators_on_absent_keys():
    # AUTH: wrong-typed request values never match; absent keys: negated ops hold, IfExists holds, Null true.
    w = world(
        key(
            policy=doc(
                st(
                    "Allow",
                    "kms:Encrypt",
                    {"AWS": ALICE.arn},
                    condition={"NumericGreaterThan": {"kms:EncryptionContext:n": "5"}},
                ),
                st(
                    "Allow",
                    "kms:Decrypt",
                    {"AWS": ALICE.arn},
                    condition={
                        "StringEqualsIfExists": {"kms:EncryptionContext:n": "1"},
                        "Null": {"kms:EncryptionContext:m": "true"},
                    },
                ),
            )
        )
    )
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"n": "7"})) == "allow"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1", EncryptionContext={"n": "seven"})) == "deny"
    assert decide(w, call("Encrypt", ALICE, KeyId="k1")) == "deny"
    ct = arn("k1")
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct)) == "allow"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct, EncryptionContext={"n": "2"})) == "deny"
    assert decide(w, call("Decrypt", ALICE, ciphertext_key=ct, EncryptionContext={"m": "x"})) == "deny"


def test_arn_like_matches_per_component_and_action_case_insensitive():
    # IAM ArnLike: each of the six components separately, '*' does not cross ':'; actions are case-insensitive.
    cond = {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/*"}}
    w = world(key(policy=doc(st("Allow", "KMS:describekey", "*", condition=cond))))
    assert decide(w, call("DescribeKey", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("DescribeKey", APP, KeyId="k1")) == "deny"
    cond2 = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}  # fewer than six components
    w2 = world(key(policy=doc(st("Allow", "kms:DescribeKey", "*", condition=cond2))))
    assert decide(w2, call("DescribeKey", ALICE, KeyId="k1")) == "deny"


def test_operation_facts_and_their_defaults():
    # AUTH facts table: each operation's parameters with their defaults.
    def only(action: str, condition: dict[str, Any]) -> World:
        return world(key(policy=doc(st("Allow", action, {"AWS": ALICE.arn}, condition=condition))))

    w = only("kms:Sign", {"StringEquals": {"kms:MessageType": "RAW", "kms:SigningAlgorithm": "ECDSA_SHA_256"}})
    assert decide(w, call("Sign", ALICE, KeyId="k1", SigningAlgorithm="ECDSA_SHA_256")) == "allow"
    assert decide(w, call("Sign", ALICE, KeyId="k1", SigningAlgorithm="ECDSA_SHA_256", MessageType="DIGEST")) == "deny"
    w = only("kms:EnableKeyRotation", {"NumericGreaterThanEquals": {"kms:RotationPeriodInDays": 365}})
    assert decide(w, call("EnableKeyRotation", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("EnableKeyRotation", ALICE, KeyId="k1", RotationPeriodInDays=90)) == "deny"
    w = only("kms:GetKeyPolicy", {"StringEqualsIgnoreCase": {"kms:PolicyName": "DEFAULT"}})
    assert decide(w, call("GetKeyPolicy", ALICE, KeyId="k1")) == "allow"
    assert decide(w, call("GetKeyPolicy", ALICE, KeyId="k1", PolicyName="other")) == "deny"
    w = only(
        "kms:GenerateDataKeyPair",
        {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256", "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}},
    )
    assert decide(w, call("GenerateDataKeyPair", ALICE, KeyId="k1", KeyPairSpec="ECC_NIST_P256")) == "allow"
    assert decide(w, call("GenerateDataKeyPair", ALICE, KeyId="k1", KeyPairSpec="RSA_2048")) == "deny"
    w = only(
        "kms:TagResource",
        {"ForAllValues:StringLike": {"aws:TagKeys": "team-*"}, "StringNotLike": {"aws:RequestTag/team-a": "*secret*"}},
    )
    assert decide(w, call("TagResource", ALICE, KeyId="k1", Tags=[{"TagKey": "team-a", "TagValue": "x"}])) == "allow"
    assert decide(w, call("TagResource", ALICE, KeyId="k1", Tags=[{"TagKey": "env", "TagValue": "x"}])) == "deny"
    assert (
        decide(w, call("TagResource", ALICE, KeyId="k1", Tags=[{"TagKey": "team-a", "TagValue": "top-secret-1"}]))
        == "deny"
    )
    w = only("kms:UntagResource", {"ForAnyValue:StringEquals": {"aws:TagKeys": "tmp"}})
    assert decide(w, call("UntagResource", ALICE, KeyId="k1", TagKeys=["x", "tmp"])) == "allow"
    assert decide(w, call("UntagResource", ALICE, KeyId="k1", TagKeys=["x"])) == "deny"


def test_an_alias_made_in_one_region_leaves_the_same_name_in_another_region() -> None:
    """Aliases are of one account and one Region. The differential's bookkeeping once moved `alias/a1` off a
    multi-Region replica in eu-west-1 when the same name was created in us-east-1; Trent kept it (rightly), so a
    policy on kms:ResourceAliases decided differently (seed 14)."""
    from tests.authz_model.differential import Built, Case, apply_effects

    key_id = "mrk-0123456789abcdef0123456789abcdef"
    primary, replica = (f"arn:aws:kms:{region}:{A}:key/{key_id}" for region in ("us-east-1", "eu-west-1"))
    keys = {
        arn_: Key(arn_, key_id, A, region, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", doc(), aliases=aliases)
        for arn_, region, aliases in ((primary, "us-east-1", ()), (replica, "eu-west-1", ("alias/a1",)))
    }
    built = Built(arns={}, ciphertexts={}, world=World(keys, {}, []))
    call = Call("CreateAlias", {"AliasName": "alias/a1", "TargetKeyId": key_id}, ROOT_A, NOW, "us-east-1")
    apply_effects(built, Case(call, (A, "root", "root")), {})
    assert built.world.keys[primary].aliases == ("alias/a1",)
    assert built.world.keys[replica].aliases == ("alias/a1",)
    delete = Call("DeleteAlias", {"AliasName": "alias/a1"}, ROOT_A, NOW, "eu-west-1")
    apply_effects(built, Case(delete, (A, "root", "root")), {})
    assert built.world.keys[primary].aliases == ("alias/a1",) and built.world.keys[replica].aliases == ()

"""The four authorization bypasses found from outside, and the information leak, as regression tests through boto3
against a live server with real SigV4 (issue: "Authorization that cannot be fooled"). Each failed before its fix.

1. an account-root grantee used by an IAM user: the user's identity policy saw only the key's facts;
2. the lockout check evaluated the new key policy without the facts a PutKeyPolicy request carries;
3. encryption-context keys that differ only in case collapsed into one condition-key value;
4. (in test_caches.py) a revoked grant's token kept working in another worker process;
and: CreateGrant, CreateKey, Decrypt told strangers things about keys and principals before deciding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_authorization import denied, key_policy, new_user
from tests.e2e.test_keys import error_of
from tests.server import TrentServer

A = "000000000000"
A_ROOT = f"arn:aws:iam::{A}:root"
ROOT_STATEMENT = {"Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": "kms:*", "Resource": "*"}


def code_of(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return error_of(exc)[0]


# --- 1. account-root grantee, IAM user ------------------------------------------------------------------------------
ALLOW_DECRYPT_UNLESS_HR = {
    "Effect": "Allow",
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"StringNotEquals": {"kms:EncryptionContext:dept": "HR"}},
}
ALLOW_DECRYPT_IF_IT_WHEN_GIVEN = {
    "Effect": "Allow",
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"StringEqualsIfExists": {"kms:EncryptionContext:dept": "IT"}},
}


@pytest.mark.parametrize("statement", [ALLOW_DECRYPT_UNLESS_HR, ALLOW_DECRYPT_IF_IT_WHEN_GIVEN])
@pytest.mark.parametrize("key_owner", ["same account", "other account"])
def test_an_account_root_grant_used_by_a_user_sees_the_requests_conditions(
    server: TrentServer, kms: Any, account_b: Any, tmp_path: Path, statement: dict[str, Any], key_owner: str
) -> None:
    owner = kms if key_owner == "same account" else account_b
    key = owner.create_key()["KeyMetadata"]
    owner.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Decrypt"])
    hr = owner.encrypt(KeyId=key["Arn"], Plaintext=b"pay", EncryptionContext={"dept": "HR"})["CiphertextBlob"]
    it = owner.encrypt(KeyId=key["Arn"], Plaintext=b"laptops", EncryptionContext={"dept": "IT"})["CiphertextBlob"]
    _, user = new_user(server, tmp_path, [statement])
    denied(lambda: user.decrypt(CiphertextBlob=hr, EncryptionContext={"dept": "HR"}))
    assert user.decrypt(CiphertextBlob=it, EncryptionContext={"dept": "IT"})["Plaintext"] == b"laptops"


def test_an_account_root_grant_used_by_a_user_sees_the_requests_algorithm(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Decrypt", "Encrypt"])
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    only_rsa = {
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:Encrypt"],
        "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}},
    }
    _, user = new_user(server, tmp_path, [only_rsa])
    denied(lambda: user.decrypt(CiphertextBlob=blob))
    denied(lambda: user.encrypt(KeyId=key["Arn"], Plaintext=b"x"))


def test_an_account_root_grant_used_by_a_user_sees_the_grant_operations(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["CreateGrant", "Decrypt", "Encrypt"])
    decrypt_grants_only = {
        "Effect": "Allow",
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}},
    }
    _, user = new_user(server, tmp_path, [decrypt_grants_only])
    denied(lambda: user.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Encrypt"]))
    assert user.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Decrypt"])["GrantId"]


# --- 2. the lockout check -------------------------------------------------------------------------------------------
LOCKS_OUT = key_policy(
    {
        "Effect": "Allow",
        "Principal": {"AWS": A_ROOT},
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"Null": {"kms:PolicyName": "true"}},
    }
)


def test_the_lockout_check_sees_the_facts_of_a_put_key_policy_request(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    before = kms.get_key_policy(KeyId=key["KeyId"])["Policy"]
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=LOCKS_OUT)
    assert error_of(exc) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == before  # nothing changed: still manageable
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(ROOT_STATEMENT))


def test_create_key_with_a_locking_policy_creates_nothing(kms: Any) -> None:
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    assert code_of(lambda: kms.create_key(Policy=LOCKS_OUT)) == "MalformedPolicyDocumentException"
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


def test_a_policy_that_allows_put_key_policy_only_with_the_bypass_flag_locks_out(kms: Any) -> None:
    """The check asks whether a plain PutKeyPolicy would be allowed: kms:BypassPolicyLockoutSafetyCheck false."""
    only_with_bypass = key_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": A_ROOT},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
        }
    )
    key = kms.create_key()["KeyMetadata"]
    code = code_of(lambda: kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=only_with_bypass))
    assert code == "MalformedPolicyDocumentException"


# --- 3. encryption-context keys that differ only in case ---------------------------------------------------------
DENY_PROD_DECRYPT = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:EncryptionContext:stage": "prod"}},
}


@pytest.mark.parametrize("context", [{"stage": "prod", "STAGE": "dev"}, {"STAGE": "dev", "stage": "prod"}])
def test_a_deny_applies_when_any_of_the_case_colliding_values_matches(kms: Any, context: dict[str, str]) -> None:
    key = kms.create_key(Policy=key_policy(ROOT_STATEMENT, DENY_PROD_DECRYPT))["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)["CiphertextBlob"]
    denied(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=context))
    dev = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"y", EncryptionContext={"STAGE": "dev"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=dev, EncryptionContext={"STAGE": "dev"})["Plaintext"] == b"y"


@pytest.mark.parametrize("context", [{"stage": "prod", "STAGE": "dev"}, {"STAGE": "dev", "stage": "prod"}])
def test_an_allow_applies_only_when_every_case_colliding_value_matches(
    server: TrentServer, kms: Any, tmp_path: Path, context: dict[str, str]
) -> None:
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)["CiphertextBlob"]
    dev_only = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:stage": "dev"}},
    }
    _, user = new_user(server, tmp_path, [dev_only])
    denied(lambda: user.decrypt(CiphertextBlob=blob, EncryptionContext=context))
    dev = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"y", EncryptionContext={"stage": "dev"})["CiphertextBlob"]
    assert user.decrypt(CiphertextBlob=dev, EncryptionContext={"stage": "dev"})["Plaintext"] == b"y"


def test_case_colliding_constraint_pairs_of_create_grant_meet_a_deny(kms: Any) -> None:
    deny_hr_grants = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "HR"}},
    }
    key = kms.create_key(Policy=key_policy(ROOT_STATEMENT, deny_hr_grants))["KeyMetadata"]
    for subset in ({"dept": "HR", "DEPT": "IT"}, {"DEPT": "IT", "dept": "HR"}):
        denied(
            lambda subset=subset: kms.create_grant(
                KeyId=key["Arn"],
                GranteePrincipal=A_ROOT,
                Operations=["Decrypt"],
                Constraints={"EncryptionContextSubset": subset},
            )
        )


def test_case_colliding_request_tags_meet_a_deny(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    deny_prod_tags = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:TagResource",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}},
    }
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(ROOT_STATEMENT, deny_prod_tags))
    tags = [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "ENV", "TagValue": "dev"}]
    denied(lambda: kms.tag_resource(KeyId=key["KeyId"], Tags=tags))
    denied(lambda: kms.tag_resource(KeyId=key["KeyId"], Tags=list(reversed(tags))))
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == []


# --- nothing for strangers before the decision --------------------------------------------------------------------
def test_create_grant_by_a_stranger_learns_nothing_about_the_key(kms: Any, account_b: Any) -> None:
    key = kms.create_key()["KeyMetadata"]  # symmetric: Sign is not a valid grant operation on it
    assert code_of(lambda: account_b.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Sign"])) == (
        "AccessDeniedException"
    )
    # Whether a principal exists in account A is not the stranger's business either.
    ghost = f"arn:aws:iam::{A}:user/no-such-user-42"
    code = code_of(lambda: account_b.create_grant(KeyId=key["Arn"], GranteePrincipal=ghost, Operations=["Decrypt"]))
    assert code == "AccessDeniedException"
    # The owner, who may create grants, hears what is wrong.
    assert code_of(lambda: kms.create_grant(KeyId=key["Arn"], GranteePrincipal=A_ROOT, Operations=["Sign"])) == (
        "ValidationException"
    )
    assert code_of(lambda: kms.create_grant(KeyId=key["Arn"], GranteePrincipal=ghost, Operations=["Decrypt"])) == (
        "ValidationException"
    )


def test_create_key_by_a_caller_without_permission_learns_nothing_about_principals(
    server: TrentServer, tmp_path: Path
) -> None:
    _, user = new_user(server, tmp_path)  # no identity policy: may not create keys
    naming_a_ghost = key_policy(
        ROOT_STATEMENT,
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:user/ghost-7"}, "Action": "kms:*", "Resource": "*"},
    )
    assert code_of(lambda: user.create_key(Policy=naming_a_ghost)) == "AccessDeniedException"


def test_put_key_policy_by_a_stranger_learns_nothing_about_principals(kms: Any, account_b: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    naming_a_ghost = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:user/ghost-8"}, "Action": "kms:*", "Resource": "*"}
    )
    code = code_of(lambda: account_b.put_key_policy(KeyId=key["Arn"], PolicyName="default", Policy=naming_a_ghost))
    assert code == "AccessDeniedException"


def test_decrypt_by_a_stranger_does_not_say_which_key_a_ciphertext_is_for(kms: Any, account_b: Any) -> None:
    mine = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=mine["Arn"], Plaintext=b"x")["CiphertextBlob"]
    assert code_of(lambda: account_b.decrypt(CiphertextBlob=blob, KeyId=other["Arn"])) == "AccessDeniedException"
    assert code_of(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=other["Arn"])) == "IncorrectKeyException"


def test_grant_request_of_a_stranger_with_an_unknown_grantee_account_is_refused_first(kms: Any, account_b: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    unhosted = "arn:aws:iam::999999999999:user/x"
    code = code_of(lambda: account_b.create_grant(KeyId=key["Arn"], GranteePrincipal=unhosted, Operations=["Decrypt"]))
    assert code == "AccessDeniedException"

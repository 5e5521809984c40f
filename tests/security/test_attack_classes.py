"""Attack classes not covered by test_attacks.py, each an attempt that must be refused through boto3 against a live
server: using keys in states that forbid it, retiring or revoking without authority, bypassing grant constraints,
and policy tricks. Each attempt also changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.e2e.test_authorization import denied, key_policy, new_user, policy_file
from tests.security.test_bypasses import code_of
from tests.server import TrentServer

A = "000000000000"
A_ROOT = f"arn:aws:iam::{A}:root"


def grant_ids(kms: Any, key: str) -> set[str]:
    return {g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]}


# --- key states ----------------------------------------------------------------------------------------------------
def test_a_grant_or_policy_does_not_open_a_disabled_or_deleted_key(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    key = kms.create_key()["KeyMetadata"]
    user, user_kms = new_user(server, tmp_path)
    grant = kms.create_grant(KeyId=key["Arn"], GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"])
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    for call in (
        lambda: user_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]]),
        lambda: user_kms.decrypt(CiphertextBlob=blob),
        lambda: kms.encrypt(KeyId=key["Arn"], Plaintext=b"x"),
        lambda: kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256"),
    ):
        assert code_of(call) == "DisabledException"
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    for call in (
        lambda: user_kms.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]]),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.create_grant(KeyId=key["Arn"], GranteePrincipal=user["Arn"], Operations=["Decrypt"]),
    ):
        assert code_of(call) == "KMSInvalidStateException"
    assert grant_ids(kms, key["Arn"]) == {grant["GrantId"]}  # the refused CreateGrant made nothing


# --- retire and revoke authority ----------------------------------------------------------------------------------
def test_only_those_named_may_retire_a_grant(server: TrentServer, kms: Any, account_b: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    grantee, grantee_kms = new_user(server, tmp_path)
    _, stranger_kms = new_user(server, tmp_path)  # same account, no identity policy
    # Without RetireGrant in its operations, the grantee may not retire its own grant; nor may a stranger with the
    # token, another account's root, or an IAM user of the issuing account without kms:RetireGrant.
    grant = kms.create_grant(KeyId=key["Arn"], GranteePrincipal=grantee["Arn"], Operations=["Encrypt"])
    token = grant["GrantToken"]
    denied(lambda: grantee_kms.retire_grant(GrantToken=token))
    denied(lambda: stranger_kms.retire_grant(GrantToken=token))
    denied(lambda: stranger_kms.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]))
    denied(lambda: account_b.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]))
    denied(lambda: account_b.retire_grant(GrantToken=token))
    assert grant["GrantId"] in grant_ids(kms, key["Arn"])
    # An identity-policy Deny of kms:RetireGrant blocks even the retiring principal.
    retirer, retirer_kms = new_user(
        server, tmp_path, [{"Effect": "Deny", "Action": "kms:RetireGrant", "Resource": "*"}]
    )
    named = kms.create_grant(
        KeyId=key["Arn"], GranteePrincipal=grantee["Arn"], RetiringPrincipal=retirer["Arn"], Operations=["Encrypt"]
    )
    denied(lambda: retirer_kms.retire_grant(GrantToken=named["GrantToken"]))
    assert named["GrantId"] in grant_ids(kms, key["Arn"])
    # A key policy cannot hand out RetireGrant (AWS: kms:RetireGrant in a key policy has no effect).
    kms.put_key_policy(
        KeyId=key["KeyId"],
        PolicyName="default",
        Policy=key_policy(
            {"Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:RetireGrant", "Resource": "*"},
        ),
    )
    denied(lambda: account_b.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]))
    # The retiring principal, then the issuing account's root, may.
    plain = kms.create_grant(
        KeyId=key["Arn"], GranteePrincipal=grantee["Arn"], RetiringPrincipal=grantee["Arn"], Operations=["Encrypt"]
    )
    grantee_kms.retire_grant(GrantToken=plain["GrantToken"])
    kms.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
    assert grant_ids(kms, key["Arn"]) == {named["GrantId"]}


def test_grantees_and_retiring_principals_cannot_revoke(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    grantee, grantee_kms = new_user(server, tmp_path)
    grant = kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=grantee["Arn"],
        RetiringPrincipal=grantee["Arn"],
        Operations=["Encrypt", "RetireGrant", "CreateGrant"],
    )
    denied(lambda: grantee_kms.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]))
    assert grant["GrantId"] in grant_ids(kms, key["Arn"])


# --- grant constraints ------------------------------------------------------------------------------------------
def test_encryption_context_constraints_cannot_be_bypassed(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    grantee, grantee_kms = new_user(server, tmp_path)
    subset = kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=grantee["Arn"],
        Operations=["Encrypt", "GenerateDataKey"],
        Constraints={"EncryptionContextSubset": {"dept": "IT"}},
    )["GrantToken"]
    equals = kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=grantee["Arn"],
        Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"dept": "IT"}},
    )["GrantToken"]

    def encrypt(context: dict[str, str] | None) -> Any:
        kwargs = {"EncryptionContext": context} if context is not None else {}
        return grantee_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[subset], **kwargs)

    for context in (None, {}, {"dept": "it"}, {"dept": "IT "}, {"department": "IT"}, {"dept": "HR"}):
        denied(lambda context=context: encrypt(context))
    assert encrypt({"Dept": "IT", "x": "y"})["KeyId"] == key["Arn"]  # keys compare case-insensitively
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"dept": "IT", "x": "y"})["CiphertextBlob"]
    denied(
        lambda: grantee_kms.decrypt(
            CiphertextBlob=blob, EncryptionContext={"dept": "IT", "x": "y"}, GrantTokens=[equals]
        )
    )
    # An Encrypt grant does not decrypt, and a constraint on one grant does not travel to another operation.
    exact = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"dept": "IT"})["CiphertextBlob"]
    assert grantee_kms.decrypt(CiphertextBlob=exact, EncryptionContext={"dept": "IT"}, GrantTokens=[equals])[
        "Plaintext"
    ]
    denied(
        lambda: grantee_kms.generate_data_key_pair(KeyId=key["Arn"], KeyPairSpec="ECC_NIST_P256", GrantTokens=[subset])
    )


# --- policy tricks ------------------------------------------------------------------------------------------------
def test_policy_tricks_are_refused_or_give_nothing(
    server: TrentServer, kms: Any, account_b: Any, tmp_path: Path
) -> None:
    key = kms.create_key()["KeyMetadata"]
    # A wildcard principal other than a bare "*" is not a principal: refused, nothing stored.
    wildcard = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:*", "Resource": "*"}
    )
    before = kms.get_key_policy(KeyId=key["KeyId"])["Policy"]
    assert code_of(lambda: kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=wildcard)) == (
        "MalformedPolicyDocumentException"
    )
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == before
    # "Principal": "*" lets another account's principals in only with their own identity policy's Allow; a
    # condition on kms:CallerAccount keeps them out even then.
    everyone = key_policy(
        {"Effect": "Allow", "Principal": {"AWS": A_ROOT}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": A}},
        },
    )
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=everyone)
    denied(lambda: account_b.encrypt(KeyId=key["Arn"], Plaintext=b"x"))
    # NotAction in an identity policy allows everything but what it names, and never what the key policy denies.
    _, user_kms = new_user(server, tmp_path, [{"Effect": "Allow", "NotAction": "kms:Decrypt", "Resource": "*"}])
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    denied(lambda: user_kms.decrypt(CiphertextBlob=blob))
    assert user_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["KeyId"] == key["Arn"]
    # Action names are case-insensitive, so a Deny cannot be dodged by case; policy variables are literal text.
    _, shouty_kms = new_user(
        server,
        tmp_path,
        [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "KMS:ENCRYPT", "Resource": "*"},
        ],
    )
    denied(lambda: shouty_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x"))
    name = f"u{uuid.uuid4().hex[:8]}"
    variable_user = server.admin("user", "create", A, name)
    server.admin(
        "policy",
        "put",
        variable_user["Arn"],
        "own-keys",
        policy_file(
            tmp_path, [{"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:*:*:key/${aws:username}"}]
        ),
    )
    variable_kms = server.client(
        "kms", access_key=variable_user["AccessKeyId"], secret_key=variable_user["SecretAccessKey"]
    )
    plain = kms.create_key()["KeyMetadata"]  # the default policy: IAM decides
    denied(lambda: variable_kms.encrypt(KeyId=plain["Arn"], Plaintext=b"x"))  # the key ID is not the user's name

"""Authorization scenarios through boto3: key policies, IAM identity policies, conditions, cross-account
access, the lockout check, ReEncrypt across keys and `trent admin explain`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_keys import error_of
from tests.server import TrentServer

A = "000000000000"
B = "222222222222"


def policy_file(tmp_path: Path, statements: list[dict[str, Any]]) -> str:
    path = tmp_path / f"policy-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return str(path)


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def admin_statement(account: str = A) -> dict[str, Any]:
    return {
        "Sid": "Admins",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:user/admin"},
        "Action": "kms:*",
        "Resource": "*",
    }


def new_user(
    server: TrentServer, tmp_path: Path, statements: list[dict[str, Any]] | None = None, account: str = A
) -> tuple[dict[str, str], Any]:
    name = f"u{uuid.uuid4().hex[:10]}"
    user = server.admin("user", "create", account, name)
    if statements:
        server.admin("policy", "put", user["Arn"], "inline", policy_file(tmp_path, statements))
    return user, server.client("kms", access_key=user["AccessKeyId"], secret_key=user["SecretAccessKey"])


def denied(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    code, message = error_of(exc)
    assert code == "AccessDeniedException", (code, message)
    assert message is not None
    return message


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Identity policies are cached for a moment per server process: retry until the change applies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (ClientError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.fixture(scope="module")
def other_account(server: TrentServer) -> Any:
    server.admin("account", "create", B)
    root = server.admin("access-key", "create", f"arn:aws:iam::{B}:root")
    return server.client("kms", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"])


def test_default_key_policy_needs_an_identity_policy(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    user, user_kms = new_user(server, tmp_path)
    message = denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message == (
        f"User: {user['Arn']} is not authorized to perform: kms:Encrypt on resource: {key['Arn']} "
        "because no identity-based policy allows the kms:Encrypt action"
    )
    server.admin(
        "policy",
        "put",
        user["Arn"],
        "encrypt-only",
        policy_file(tmp_path, [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key["Arn"]}]),
    )
    eventually(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    denied(lambda: user_kms.describe_key(KeyId=key["KeyId"]))
    other = kms.create_key()["KeyMetadata"]
    denied(lambda: user_kms.encrypt(KeyId=other["KeyId"], Plaintext=b"x"))


def test_iam_only_actions(server: TrentServer, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    message = denied(lambda: user_kms.create_key())
    assert message == (
        f"User: {user['Arn']} is not authorized to perform: kms:CreateKey on resource: * "
        "because no identity-based policy allows the kms:CreateKey action"
    )
    denied(lambda: user_kms.list_keys())
    denied(lambda: user_kms.generate_random(NumberOfBytes=8))
    _, allowed_kms = new_user(
        server,
        tmp_path,
        [{"Effect": "Allow", "Action": ["kms:CreateKey", "kms:List*", "kms:GenerateRandom"], "Resource": "*"}],
    )
    assert allowed_kms.list_keys()["Keys"] is not None
    assert len(allowed_kms.generate_random(NumberOfBytes=8)["Plaintext"]) == 8
    created = allowed_kms.create_key()["KeyMetadata"]
    # The creator got the default policy: without an identity permission for DescribeKey it cannot use it.
    denied(lambda: allowed_kms.describe_key(KeyId=created["KeyId"]))


def test_key_policy_naming_a_role_allows_its_sessions(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    role_name = f"r{uuid.uuid4().hex[:8]}"
    trust = tmp_path / "trust.json"
    trust.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"}],
            }
        )
    )
    role = server.admin("role", "create", A, role_name, "--trust-policy", str(trust))
    key = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Sid": "RoleUse",
                "Effect": "Allow",
                "Principal": {"AWS": role["Arn"]},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
            },
        )
    )["KeyMetadata"]
    creds = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="worker")["Credentials"]
    session = server.client(
        "kms", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"], session_token=creds["SessionToken"]
    )
    blob = session.encrypt(KeyId=key["KeyId"], Plaintext=b"by role")["CiphertextBlob"]
    assert session.decrypt(CiphertextBlob=blob)["Plaintext"] == b"by role"
    message = denied(lambda: session.describe_key(KeyId=key["KeyId"]))
    assert message == (
        f"User: arn:aws:sts::{A}:assumed-role/{role_name}/worker is not authorized to perform: kms:DescribeKey "
        f"on resource: {key['Arn']} because no resource-based policy allows the kms:DescribeKey action"
    )


def test_explicit_deny_in_identity_policy_wins(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    user, user_kms = new_user(
        server,
        tmp_path,
        [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": key["Arn"]},
        ],
    )
    blob = user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    message = denied(lambda: user_kms.decrypt(CiphertextBlob=blob))
    assert message == (
        f"User: {user['Arn']} is not authorized to perform: kms:Decrypt on resource: {key['Arn']} "
        "with an explicit deny in an identity-based policy"
    )


def test_explicit_deny_in_key_policy_wins(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path, [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}])
    key = kms.create_key(
        Policy=key_policy(
            {
                "Sid": "Enable IAM",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "NoSigningForThem",
                "Effect": "Deny",
                "Principal": {"AWS": user["Arn"]},
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
        )
    )["KeyMetadata"]
    message = denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message == (
        f"User: {user['Arn']} is not authorized to perform: kms:Encrypt on resource: {key['Arn']} "
        "with an explicit deny in a resource-based policy"
    )
    assert user_kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    # DryRun is authorized too.
    message = denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True))
    assert "explicit deny" in message


def test_cross_account_needs_both_sides(server: TrentServer, kms: Any, other_account: Any, tmp_path: Path) -> None:
    shared = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Sid": "AccountB",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
            },
        )
    )["KeyMetadata"]
    private = kms.create_key()["KeyMetadata"]
    # B's root: the key policy names B, and a root needs no identity policy in its own account.
    blob = other_account.encrypt(KeyId=shared["Arn"], Plaintext=b"across")["CiphertextBlob"]
    assert other_account.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across"
    message = denied(lambda: other_account.encrypt(KeyId=private["Arn"], Plaintext=b"x"))
    assert message.endswith("because no resource-based policy allows the kms:Encrypt action")
    # A user of B needs B's identity policy too.
    _user, user_kms = new_user(server, tmp_path, account=B)
    message = denied(lambda: user_kms.encrypt(KeyId=shared["Arn"], Plaintext=b"x"))
    assert message.endswith("because no identity-based policy allows the kms:Encrypt action")
    _, allowed_kms = new_user(
        server, tmp_path, [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": shared["Arn"]}], account=B
    )
    assert allowed_kms.encrypt(KeyId=shared["Arn"], Plaintext=b"x")["KeyId"] == shared["Arn"]
    # Another account's key needs its ARN: a bare key ID names a key of the caller's own account.
    with pytest.raises(ClientError) as exc:
        other_account.encrypt(KeyId=shared["KeyId"], Plaintext=b"x")
    assert error_of(exc)[0] == "NotFoundException"


def test_key_management_stays_in_the_keys_account(
    server: TrentServer, kms: Any, other_account: Any, tmp_path: Path
) -> None:
    """Even a key policy granting another account kms:* lets it only use the key, not manage it (fact sheet §12,
    "X-acct: no"): such permissions have no effect."""
    key = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*", "Resource": "*"},
        )
    )["KeyMetadata"]
    arn = key["Arn"]
    for call in (
        lambda: other_account.put_key_policy(
            KeyId=arn, PolicyName="default", Policy=key_policy(admin_statement(B)), BypassPolicyLockoutSafetyCheck=True
        ),
        lambda: other_account.get_key_policy(KeyId=arn, PolicyName="default"),
        lambda: other_account.list_key_policies(KeyId=arn),
        lambda: other_account.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7),
        lambda: other_account.cancel_key_deletion(KeyId=arn),
        lambda: other_account.disable_key(KeyId=arn),
        lambda: other_account.enable_key(KeyId=arn),
        lambda: other_account.update_key_description(KeyId=arn, Description="mine now"),
        lambda: other_account.tag_resource(KeyId=arn, Tags=[{"TagKey": "owner", "TagValue": "b"}]),
        lambda: other_account.untag_resource(KeyId=arn, TagKeys=["owner"]),
        lambda: other_account.list_resource_tags(KeyId=arn),
        lambda: other_account.enable_key_rotation(KeyId=arn),
        lambda: other_account.disable_key_rotation(KeyId=arn),
        lambda: other_account.rotate_key_on_demand(KeyId=arn),
        lambda: other_account.list_key_rotations(KeyId=arn),
        lambda: other_account.create_alias(AliasName=f"alias/x-{uuid.uuid4().hex[:8]}", TargetKeyId=arn),
        lambda: other_account.list_aliases(KeyId=arn),
    ):
        message = denied(call)
        assert message.startswith(f"User: arn:aws:iam::{B}:root is not authorized to perform: kms:")
        assert message.endswith("because no resource-based policy allows the " + message.split()[7] + " action")
        assert f"on resource: {arn} " in message
    # Use across accounts still works, and nothing above changed the key.
    assert other_account.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert other_account.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is False
    blob = other_account.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] != key_policy(admin_statement(B))
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == []


def test_re_encrypt_on_same_key_condition_applies_to_both_halves(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    same_key_only = {
        "Effect": "Allow",
        "Principal": {"AWS": user["Arn"]},
        "Action": ["kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {"Bool": {"kms:ReEncryptOnSameKey": "true"}},
    }
    key = kms.create_key(Policy=key_policy(admin_statement(), same_key_only))["KeyMetadata"]
    other = kms.create_key(Policy=key_policy(admin_statement(), same_key_only))["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    again = user_kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["Arn"])
    assert kms.decrypt(CiphertextBlob=again["CiphertextBlob"])["Plaintext"] == b"x"
    message = denied(lambda: user_kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["Arn"]))
    assert "kms:ReEncryptFrom" in message


def test_encryption_context_condition(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    key = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Sid": "ITOnly",
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "IT"}},
            },
        )
    )["KeyMetadata"]
    blob = user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"department": "IT"})[
        "CiphertextBlob"
    ]  # condition key names are case-insensitive
    assert user_kms.decrypt(CiphertextBlob=blob, EncryptionContext={"department": "IT"})["Plaintext"] == b"x"
    denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "HR"}))
    denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_caller_account_condition(server: TrentServer, kms: Any, other_account: Any, tmp_path: Path) -> None:
    key = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Sid": "AnyoneInB",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": B}},
            },
        )
    )["KeyMetadata"]
    assert other_account.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    _, user_kms = new_user(server, tmp_path)  # a user of account A without identity policy
    denied(lambda: user_kms.describe_key(KeyId=key["Arn"]))


def test_lockout_safety_check(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    someone_else, _ = new_user(server, tmp_path)
    key = kms.create_key()["KeyMetadata"]
    locking = key_policy(
        {
            "Sid": "OnlySomeoneElse",
            "Effect": "Allow",
            "Principal": {"AWS": someone_else["Arn"]},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locking)
    assert error_of(exc) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=locking)
    assert error_of(exc)[0] == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locking, BypassPolicyLockoutSafetyCheck=True)
    # And now the administrator is locked out, as AWS warns.
    denied(lambda: kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default"))
    denied(lambda: kms.describe_key(KeyId=key["KeyId"]))


def test_a_key_policy_may_not_name_principals_that_do_not_exist(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    """In an account this server hosts, a named user or role must exist (fact sheet §9); other accounts' cannot
    be checked."""
    user, _ = new_user(server, tmp_path)
    ghost = uuid.uuid4().hex[:8]

    def policy(*principals: str) -> str:
        extra = {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "kms:Decrypt", "Resource": "*"}
        return key_policy(admin_statement(), extra)

    key = kms.create_key(Policy=policy(user["Arn"], f"arn:aws:iam::999988887777:user/{ghost}"))["KeyMetadata"]
    invalid = ("MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.")
    for missing in (
        f"arn:aws:iam::{A}:user/{ghost}",
        f"arn:aws:iam::{A}:role/{ghost}",
        f"arn:aws:sts::{A}:assumed-role/{ghost}/session",
    ):
        with pytest.raises(ClientError) as exc:
            kms.create_key(Policy=policy(user["Arn"], missing))
        assert error_of(exc) == invalid
        with pytest.raises(ClientError) as exc:
            kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy(missing))
        assert error_of(exc) == invalid
    assert user["Arn"] in kms.get_key_policy(KeyId=key["KeyId"])["Policy"]


def test_an_identity_policy_that_cannot_apply_is_refused_when_attached(server: TrentServer, tmp_path: Path) -> None:
    """IAM refuses a Sid that is not alphanumeric; were it stored, its Deny could not apply at request time."""
    user, user_kms = new_user(server, tmp_path, [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}])
    bad = [{"Sid": "Deny-Encrypt", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]
    result = server.admin_run("policy", "put", user["Arn"], "deny-encrypt", policy_file(tmp_path, bad), check=False)
    assert result.returncode != 0 and "Sid" in result.stderr
    key = server.client("kms").create_key()["KeyMetadata"]
    user_kms.describe_key(KeyId=key["Arn"])  # nothing was attached: the user's permissions are as before


def test_put_key_policy_round_trip_and_syntax_errors(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    new_policy = key_policy(
        admin_statement(),
        {"Sid": "Extra", "Effect": "Allow", "Principal": {"AWS": A}, "Action": "kms:DescribeKey", "Resource": "*"},
    )
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=new_policy)
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == new_policy
    for bad in (
        "not json",
        json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    ):
        with pytest.raises(ClientError) as exc:
            kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=bad)
        code, message = error_of(exc)
        assert code == "MalformedPolicyDocumentException" and message
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == new_policy
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="x" * 40000)
    assert error_of(exc)[0] == "LimitExceededException"
    forall = key_policy(
        admin_statement(),
        {
            "Effect": "Allow",
            "Principal": {"AWS": A},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContext:Dept": "IT"}},
        },
    )
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=forall)
    code, message = error_of(exc)
    assert code == "MalformedPolicyDocumentException"
    assert message is not None and message.startswith("OverlyPermissiveCondition:EncryptionContext")


def test_re_encrypt_needs_from_and_to(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    source = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": ["kms:Encrypt", "kms:ReEncryptFrom"],
                "Resource": "*",
            },
        )
    )["KeyMetadata"]
    destination = kms.create_key(
        Policy=key_policy(
            admin_statement(),
            {
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": ["kms:ReEncryptTo", "kms:Decrypt"],
                "Resource": "*",
            },
        )
    )["KeyMetadata"]
    blob = user_kms.encrypt(KeyId=source["KeyId"], Plaintext=b"move me")["CiphertextBlob"]
    moved = user_kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["KeyId"])
    assert user_kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"move me"
    message = denied(
        lambda: user_kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=source["KeyId"])
    )
    assert "kms:ReEncryptFrom" in message and destination["Arn"] in message
    denied(lambda: user_kms.decrypt(CiphertextBlob=blob))


def test_admin_explain(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    allowed = server.admin_run(
        "explain",
        "--principal",
        f"arn:aws:iam::{A}:user/admin",
        "--action",
        "kms:Decrypt",
        "--key",
        key["Arn"],
    ).stdout
    assert "ALLOW" in allowed.upper()
    assert "Enable IAM User Permissions" in allowed and "AdministratorAccess" in allowed
    user, _ = new_user(
        server, tmp_path, [{"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]
    )
    result = server.admin_run(
        "explain",
        "--principal",
        user["Arn"],
        "--action",
        "kms:Decrypt",
        "--key",
        key["Arn"],
        "--json",
        check=False,
    )
    assert result.returncode == 1  # DENIED: scripts can test the exit status
    decision = json.loads(result.stdout)
    assert decision["Allowed"] is False and decision["Reason"] == "explicit-deny-identity"
    assert decision["Matches"][0]["Sid"] == "NoDecrypt" and decision["Matches"][0]["Effect"] == "Deny"
    assert decision["Message"].endswith("with an explicit deny in an identity-based policy")


def test_admin_explain_names_the_grant_that_almost_matched(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    user, user_kms = new_user(server, tmp_path)
    constrained = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user["Arn"],
        Operations=["Decrypt", "Encrypt"],
        Constraints={"EncryptionContextSubset": {"team": "blue"}},
        Name="blue-only",
    )["GrantId"]
    sign_only = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["DescribeKey"])[
        "GrantId"
    ]
    retired = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"])["GrantId"]
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=retired)
    args = ["explain", "--principal", user["Arn"], "--action", "Encrypt", "--key", key["Arn"], "--context", "team=red"]
    result = server.admin_run(*args, "--json", check=False)
    assert result.returncode == 1
    grants = {g["GrantId"]: g for g in json.loads(result.stdout)["Grants"]}
    assert grants[constrained]["Reason"] == (
        "EncryptionContextSubset {team=blue} is not satisfied by {team=red}: team is red, not blue"
    )
    assert grants[sign_only]["Reason"] == "Encrypt is not one of its operations (DescribeKey)"
    assert grants[retired]["Reason"] == "it was retired or revoked"
    text = server.admin_run(*args, check=False).stdout
    assert f'grant {constrained} "blue-only": does not apply: EncryptionContextSubset' in text
    allowed = server.admin_run(*args[:-1], "team=blue")
    assert allowed.returncode == 0 and f"grant {constrained}" in allowed.stdout
    user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "blue"})  # as explained
    typo = server.admin_run(
        "explain", "--principal", user["Arn"], "--action", "kms:Decrpyt", "--key", key["Arn"], check=False
    )
    assert typo.returncode != 0 and "did you mean kms:Decrypt" in typo.stderr + typo.stdout


def test_admin_explain_names_every_account_root_grant_that_applies(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    # The server stops at the first grant that allows a request; an explanation names every one. Two grants to the
    # account root both apply to a user whose identity policy allows the action (the key policy names only admin).
    admin_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:user/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms.create_key(Policy=json.dumps(admin_only))["KeyMetadata"]
    root = f"arn:aws:iam::{A}:root"
    first, second = (
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=root, Operations=["Decrypt"])["GrantId"] for _ in range(2)
    )
    user, _ = new_user(server, tmp_path, [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}])
    args = ["explain", "--principal", user["Arn"], "--action", "kms:Decrypt", "--key", key["Arn"], "--json"]
    explained = json.loads(server.admin_run(*args).stdout)
    assert explained["Allowed"] is True and explained["Reason"] == "grant"
    assert {match["Policy"] for match in explained["Matches"]} == {f"grant {first}", f"grant {second}"}
    assert {g["GrantId"]: g["Reason"] for g in explained["Grants"]} == {first: None, second: None}


def test_resource_tag_and_alias_conditions(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    tagged = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]
    untagged = kms.create_key()["KeyMetadata"]
    alias = f"alias/cond-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=untagged["KeyId"])
    _, tag_kms = new_user(
        server,
        tmp_path,
        [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
            }
        ],
    )
    tag_kms.encrypt(KeyId=tagged["KeyId"], Plaintext=b"x")
    denied(lambda: tag_kms.encrypt(KeyId=untagged["KeyId"], Plaintext=b"x"))
    _, alias_kms = new_user(
        server,
        tmp_path,
        [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:RequestAlias": alias}},
            },
            {
                "Effect": "Allow",
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}},
            },
        ],
    )
    alias_kms.encrypt(KeyId=alias, Plaintext=b"x")
    denied(lambda: alias_kms.encrypt(KeyId=untagged["KeyId"], Plaintext=b"x"))
    assert alias_kms.describe_key(KeyId=untagged["KeyId"])["KeyMetadata"]["KeyId"] == untagged["KeyId"]
    denied(lambda: alias_kms.describe_key(KeyId=tagged["KeyId"]))


def test_key_policy_can_be_changed_in_every_key_state(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"])
    policy = key_policy(admin_statement())
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == policy

"""Grants end to end, one test per story of the seed document (../shared/spec/grants-in-aws-kms.txt)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_authorization import A, B, admin_statement, denied, key_policy, new_user, policy_file
from tests.e2e.test_keys import error_of
from tests.server import TrentServer

DRY_RUN = ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")


def grant_admin_key(kms: Any, *extra: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.create_key(Policy=key_policy(admin_statement(), *extra))["KeyMetadata"]
    return metadata


@pytest.fixture(scope="module")
def other_account(server: TrentServer) -> Any:
    server.admin("account", "create", B)
    root = server.admin("access-key", "create", f"arn:aws:iam::{B}:root")
    return server.client("kms", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"])


def test_service_grants_a_user_who_uses_it_at_once_and_loses_it_on_retire(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    service, service_kms = new_user(server, tmp_path)
    user, user_kms = new_user(server, tmp_path)
    key = grant_admin_key(
        kms,
        {
            "Sid": "ServiceMayGrant",
            "Effect": "Allow",
            "Principal": {"AWS": service["Arn"]},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
    )
    denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    response = service_kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=user["Arn"],
        RetiringPrincipal=service["Arn"],
        Operations=["Encrypt", "Decrypt"],
    )
    token, grant_id = response["GrantToken"], response["GrantId"]
    assert len(grant_id) == 64 and int(grant_id, 16) >= 0 and grant_id == grant_id.lower()
    blob = user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"granted", GrantTokens=[token])["CiphertextBlob"]
    assert user_kms.decrypt(CiphertextBlob=blob, GrantTokens=[token])["Plaintext"] == b"granted"
    assert user_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"granted"  # no propagation delay here
    denied(lambda: user_kms.describe_key(KeyId=key["KeyId"]))  # only what the grant allows
    explained = json.loads(
        server.admin_run(
            "explain", "--principal", user["Arn"], "--action", "kms:Decrypt", "--key", key["Arn"], "--json"
        ).stdout
    )
    assert explained["Allowed"] is True and explained["Reason"] == "grant"
    assert explained["Matches"][0]["Policy"] == f"grant {grant_id}"
    service_kms.retire_grant(GrantToken=token)
    denied(lambda: user_kms.decrypt(CiphertextBlob=blob))
    denied(lambda: user_kms.decrypt(CiphertextBlob=blob, GrantTokens=[token]))  # the token of a gone grant
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_a_remembered_policy_refusal_still_leaves_each_request_to_its_own_grants(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    """The policies' refusal of a caller is remembered (no condition is in play), the grants never are: each
    request is decided on the grants usable now, with its own encryption context and its own caller."""
    user, user_kms = new_user(server, tmp_path)
    _, other_kms = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    one = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"one", EncryptionContext={"app": "one"})["CiphertextBlob"]
    two = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"two", EncryptionContext={"app": "two"})["CiphertextBlob"]
    constrained = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user["Arn"],
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "one"}},
    )
    token = constrained["GrantToken"]
    refusal = f"User: {user['Arn']} is not authorized to perform: kms:Decrypt on resource: {key['Arn']} because "
    for _ in range(3):  # the first request decides the policies, the next ones reuse that
        assert (
            user_kms.decrypt(CiphertextBlob=one, EncryptionContext={"app": "one"}, GrantTokens=[token])["Plaintext"]
            == b"one"
        )
        message = denied(
            lambda: user_kms.decrypt(CiphertextBlob=two, EncryptionContext={"app": "two"}, GrantTokens=[token])
        )
        assert message.startswith(refusal), message
        denied(lambda: other_kms.decrypt(CiphertextBlob=one, EncryptionContext={"app": "one"}, GrantTokens=[token]))
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=constrained["GrantId"])
    denied(lambda: user_kms.decrypt(CiphertextBlob=one, EncryptionContext={"app": "one"}, GrantTokens=[token]))
    denied(lambda: user_kms.decrypt(CiphertextBlob=one, EncryptionContext={"app": "one"}))
    wider = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Decrypt"])
    assert (
        user_kms.decrypt(CiphertextBlob=two, EncryptionContext={"app": "two"}, GrantTokens=[wider["GrantToken"]])[
            "Plaintext"
        ]
        == b"two"
    )


def test_grant_to_another_account_used_with_the_key_arn(kms: Any, other_account: Any) -> None:
    key = grant_admin_key(kms)
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{B}:root", Operations=["Encrypt", "Decrypt", "DescribeKey"]
    )
    blob = other_account.encrypt(KeyId=key["Arn"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert other_account.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    assert other_account.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(ClientError) as exc:
        other_account.encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # a bare ID names B's own (missing) key
    assert error_of(exc)[0] == "NotFoundException"
    denied(lambda: other_account.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["Arn"]))


def test_three_level_delegation_each_narrower(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    first, first_kms = new_user(server, tmp_path)
    second, second_kms = new_user(server, tmp_path)
    third, third_kms = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    level1 = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=first["Arn"],
        Operations=["Encrypt", "Decrypt", "GenerateDataKey", "CreateGrant"],
        Constraints={"EncryptionContextSubset": {"Department": "IT"}},
    )
    level2 = first_kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=second["Arn"],
        Operations=["Encrypt", "Decrypt", "CreateGrant"],
        Constraints={"EncryptionContextSubset": {"Department": "IT", "Team": "Ops"}},
        GrantTokens=[level1["GrantToken"]],
    )
    level3 = second_kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=third["Arn"],
        Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"Department": "IT", "Team": "Ops"}},
        GrantTokens=[level2["GrantToken"]],
    )
    context = {"Department": "IT", "Team": "Ops"}
    blob = second_kms.encrypt(KeyId=key["Arn"], Plaintext=b"chain", EncryptionContext=context)["CiphertextBlob"]
    assert (
        third_kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, GrantTokens=[level3["GrantToken"]])[
            "Plaintext"
        ]
        == b"chain"
    )
    denied(lambda: third_kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext=context))
    # Attempts to widen, at each level:
    widenings = [
        lambda: first_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=second["Arn"],
            Operations=["Encrypt", "ReEncryptFrom"],
            Constraints={"EncryptionContextSubset": {"Department": "IT"}},
        ),
        lambda: first_kms.create_grant(KeyId=key["Arn"], GranteePrincipal=second["Arn"], Operations=["Encrypt"]),
        lambda: first_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=second["Arn"],
            Operations=["Encrypt"],
            Constraints={"EncryptionContextSubset": {"Team": "Ops"}},
        ),
        lambda: second_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=third["Arn"],
            Operations=["GenerateDataKey"],
            Constraints={"EncryptionContextSubset": {"Department": "IT", "Team": "Ops"}},
        ),
        lambda: third_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=first["Arn"],
            Operations=["Decrypt"],
            Constraints={"EncryptionContextEquals": context},
        ),
    ]
    for widen in widenings:
        denied(widen)


def test_equals_and_subset_constraints(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user["Arn"],
        Operations=["Encrypt"],
        Constraints={"EncryptionContextEquals": {"Department": "IT"}},
    )
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user["Arn"],
        Operations=["GenerateDataKey"],
        Constraints={"EncryptionContextSubset": {"Department": "IT"}},
    )
    user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "IT"})
    user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"department": "IT"})  # key case-free
    denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "it"}))
    denied(
        lambda: user_kms.encrypt(
            KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "IT", "Purpose": "Test"}
        )
    )
    denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    user_kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"Department": "IT"})
    user_kms.generate_data_key(
        KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"Department": "IT", "Purpose": "Test"}
    )
    denied(
        lambda: user_kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"Purpose": "Test"})
    )


def test_who_may_retire(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    retirer, retirer_kms = new_user(server, tmp_path)
    grantee, grantee_kms = new_user(server, tmp_path)
    _stranger, stranger_kms = new_user(server, tmp_path)
    _iam_retirer, iam_retirer_kms = new_user(
        server, tmp_path, [{"Effect": "Allow", "Action": "kms:RetireGrant", "Resource": "*"}]
    )
    key = grant_admin_key(kms)

    def grant(**kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee["Arn"], **kwargs)
        return response

    by_retiring = grant(Operations=["Encrypt"], RetiringPrincipal=retirer["Arn"])
    denied(lambda: stranger_kms.retire_grant(KeyId=key["Arn"], GrantId=by_retiring["GrantId"]))
    denied(lambda: grantee_kms.retire_grant(GrantToken=by_retiring["GrantToken"]))  # no RetireGrant in the grant
    retirer_kms.retire_grant(KeyId=key["Arn"], GrantId=by_retiring["GrantId"])

    by_grantee = grant(Operations=["Encrypt", "RetireGrant"])
    grantee_kms.retire_grant(GrantToken=by_grantee["GrantToken"])

    by_account = grant(Operations=["Encrypt"])
    denied(lambda: stranger_kms.retire_grant(KeyId=key["Arn"], GrantId=by_account["GrantId"]))
    iam_retirer_kms.retire_grant(KeyId=key["Arn"], GrantId=by_account["GrantId"])  # issuing account, via IAM

    by_root = grant(Operations=["Encrypt"])
    root = server.admin("access-key", "create", f"arn:aws:iam::{A}:root")
    root_kms = server.client("kms", access_key=root["AccessKeyId"], secret_key=root["SecretAccessKey"])
    root_kms.retire_grant(GrantToken=by_root["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    with pytest.raises(ClientError) as exc:
        retirer_kms.retire_grant(KeyId=key["Arn"], GrantId=by_retiring["GrantId"])
    assert error_of(exc)[0] == "NotFoundException"


def test_an_identity_policy_deny_stops_even_the_retiring_principal(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    retirer, retirer_kms = new_user(
        server, tmp_path, [{"Effect": "Deny", "Action": "kms:RetireGrant", "Resource": "*"}]
    )
    grantee, _ = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=grantee["Arn"], RetiringPrincipal=retirer["Arn"], Operations=["Encrypt"]
    )
    message = denied(lambda: retirer_kms.retire_grant(GrantToken=grant["GrantToken"]))
    assert message == (
        f"User: {retirer['Arn']} is not authorized to perform: kms:RetireGrant on resource: {key['Arn']} "
        "with an explicit deny in an identity-based policy"
    )
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]


def test_list_retirable_grants_is_authorized_on_the_retiring_principal(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    """kms:ListRetirableGrants is an IAM permission whose resource is the retiring principal (fact sheet §3.3)."""
    name = f"r{uuid.uuid4().hex[:10]}"
    own_arn = f"arn:aws:iam::{A}:user/{name}"
    statement = {"Effect": "Allow", "Action": "kms:ListRetirableGrants", "Resource": own_arn}
    retirer = server.admin("user", "create", A, name)
    server.admin("policy", "put", retirer["Arn"], "inline", policy_file(tmp_path, [statement]))
    retirer_kms = server.client("kms", access_key=retirer["AccessKeyId"], secret_key=retirer["SecretAccessKey"])
    other, _ = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=other["Arn"], RetiringPrincipal=own_arn, Operations=["Encrypt"]
    )
    listed = retirer_kms.list_retirable_grants(RetiringPrincipal=own_arn)["Grants"]
    assert [g["GrantId"] for g in listed] == [grant["GrantId"]]
    message = denied(lambda: retirer_kms.list_retirable_grants(RetiringPrincipal=other["Arn"]))
    assert message.startswith(
        f"User: {own_arn} is not authorized to perform: kms:ListRetirableGrants on resource: {other['Arn']}"
    )


def test_revoke_by_key_administrator_not_by_grantee(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    grantee, grantee_kms = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=grantee["Arn"], Operations=["Encrypt", "RetireGrant", "CreateGrant"]
    )
    message = denied(lambda: grantee_kms.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"]))
    assert "kms:RevokeGrant" in message
    grantee_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"still works")
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    denied(lambda: grantee_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert error_of(exc)[0] == "NotFoundException"


def test_dry_run_on_each_grant_call(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, _ = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"], DryRun=True)
    assert error_of(exc) == DRY_RUN
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"])
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(GrantToken=grant["GrantToken"], DryRun=True)
    assert error_of(exc) == DRY_RUN
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"], DryRun=True)
    assert error_of(exc) == DRY_RUN
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    _, stranger_kms = new_user(server, tmp_path)
    denied(lambda: stranger_kms.revoke_grant(KeyId=key["Arn"], GrantId=grant["GrantId"], DryRun=True))


def test_name_makes_create_grant_idempotent(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, _ = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    first = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"], Name="retry-me"
    )
    again = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Decrypt", "Encrypt"], Name="retry-me"
    )
    assert again["GrantId"] == first["GrantId"] and again["GrantToken"] != first["GrantToken"]
    different = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"], Name="retry-me"
    )
    assert different["GrantId"] != first["GrantId"]
    unnamed = [
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"])["GrantId"]
        for _ in range(2)
    ]
    assert unnamed[0] != unnamed[1]
    other_key = grant_admin_key(kms)
    on_other = kms.create_grant(
        KeyId=other_key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"], Name="retry-me"
    )
    assert on_other["GrantId"] != first["GrantId"]
    grants = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert len(grants) == 4
    named = next(g for g in grants if g["GrantId"] == first["GrantId"])
    assert named["Name"] == "retry-me" and named["Operations"] == ["Decrypt", "Encrypt"]
    kms.retire_grant(GrantToken=again["GrantToken"])  # any token of the grant works
    after = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"], Name="retry-me"
    )
    assert after["GrantId"] != first["GrantId"]  # a retired original does not count


def test_list_grants_entries_and_pagination(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, _ = new_user(server, tmp_path)
    retirer, retirer_kms = new_user(
        server, tmp_path, [{"Effect": "Allow", "Action": "kms:ListRetirableGrants", "Resource": "*"}]
    )
    key = grant_admin_key(kms)
    created = [
        kms.create_grant(
            KeyId=key["KeyId"],
            GranteePrincipal=user["Arn"],
            RetiringPrincipal=retirer["Arn"],
            Operations=["Encrypt", "Decrypt", "DescribeKey"],
            Constraints={"EncryptionContextSubset": {"n": str(i)}},
        )["GrantId"]
        for i in range(5)
    ]
    entry = kms.list_grants(KeyId=key["KeyId"], Limit=1)["Grants"][0]
    assert set(entry) == {
        "KeyId",
        "GrantId",
        "CreationDate",
        "GranteePrincipal",
        "RetiringPrincipal",
        "IssuingAccount",
        "Operations",
        "Constraints",
    }
    assert entry["KeyId"] == key["Arn"] and entry["IssuingAccount"] == f"arn:aws:iam::{A}:root"
    assert entry["Operations"] == ["Decrypt", "Encrypt", "DescribeKey"]
    assert entry["Constraints"] == {"EncryptionContextSubset": {"n": "0"}}
    pages = list(kms.get_paginator("list_grants").paginate(KeyId=key["KeyId"], PaginationConfig={"PageSize": 2}))
    assert [g["GrantId"] for p in pages for g in p["Grants"]] == created
    assert [p["Truncated"] for p in pages] == [True, True, False]
    assert kms.list_grants(KeyId=key["KeyId"], GrantId=created[3])["Grants"][0]["GrantId"] == created[3]
    assert kms.list_grants(KeyId=key["KeyId"], GrantId="0" * 64)["Grants"] == []
    assert len(kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=user["Arn"])["Grants"]) == 5
    assert kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=retirer["Arn"])["Grants"] == []
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key["KeyId"], GrantId="not-a-grant-id")
    assert error_of(exc)[0] == "InvalidGrantIdException"
    retirable = retirer_kms.list_retirable_grants(RetiringPrincipal=retirer["Arn"])
    assert [g["GrantId"] for g in retirable["Grants"]] == created
    # A service-principal filter is for callers that are AWS services; it never silently lists every grant.
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key["KeyId"], GranteeServicePrincipal="s3.amazonaws.com")
    assert error_of(exc) == (
        "AccessDeniedException",
        "GranteeServicePrincipal is only usable by callers in a service principal.",
    )
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], GranteeServicePrincipal="s3.amazonaws.com")
    assert error_of(exc)[0] == "ValidationException"
    marker = kms.list_grants(KeyId=key["KeyId"], Limit=2)["NextMarker"]
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key["KeyId"], Limit=2, Marker=marker[:-2] + ("AA" if marker[-2:] != "AA" else "BB"))
    assert error_of(exc)[0] == "InvalidMarkerException"


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        (
            {"Operations": ["CreateGrant"]},
            "ValidationException",
            "Grants must not contain only the CreateGrant operation.",
        ),
        (
            {
                "Operations": ["Encrypt"],
                "Constraints": {"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {}},
            },
            "ValidationException",
            "More than one constraint supplied",
        ),
        ({"Operations": ["Sign"]}, "ValidationException", None),
        (
            {"Operations": ["Encrypt"], "Constraints": {"EncryptionContextSubset": {f"k{i}": "v" for i in range(9)}}},
            "ValidationException",
            None,
        ),
        (
            {"Operations": ["Encrypt"], "Constraints": {"EncryptionContextSubset": {"k": "v" * 385}}},
            "ValidationException",
            None,
        ),
        ({"Operations": ["Encrypt"], "GranteePrincipal": "not-an-arn"}, "ValidationException", None),
        (
            {"Operations": ["Encrypt"], "GranteePrincipal": f"arn:aws:iam::{A}:user/does-not-exist-{uuid.uuid4().hex}"},
            "ValidationException",
            None,
        ),
        ({"Operations": ["Encrypt"], "GrantTokens": ["forged-token"]}, "InvalidGrantTokenException", None),
    ],
)
def test_create_grant_validation(kms: Any, kwargs: dict[str, Any], code: str, message: str | None) -> None:
    key = grant_admin_key(kms)
    arguments = {"KeyId": key["KeyId"], "GranteePrincipal": f"arn:aws:iam::{A}:user/admin", **kwargs}
    with pytest.raises(ClientError) as exc:
        kms.create_grant(**arguments)
    got_code, got_message = error_of(exc)
    assert got_code == code
    if message is not None:
        assert got_message == message
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_create_grant_refuses_aliases_and_wrong_key_types(kms: Any) -> None:
    key = grant_admin_key(kms)
    alias = f"alias/g-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=alias, GranteePrincipal=f"arn:aws:iam::{A}:user/admin", Operations=["Encrypt"])
    assert error_of(exc) == ("InvalidArnException", "Key Aliases are not supported for this operation.")
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.create_grant(
            KeyId=signing["KeyId"],
            GranteePrincipal=f"arn:aws:iam::{A}:user/admin",
            Operations=["Sign"],
            Constraints={"EncryptionContextSubset": {"a": "b"}},
        )
    assert error_of(exc)[0] == "ValidationException"
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{A}:user/admin", Operations=["Encrypt"])
    assert error_of(exc) == ("DisabledException", f"{key['Arn']} is disabled.")


def test_grant_on_signing_key(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Sign", "GetPublicKey"])
    user_kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    user_kms.get_public_key(KeyId=key["KeyId"])
    denied(
        lambda: user_kms.verify(KeyId=key["KeyId"], Message=b"m", Signature=b"s" * 64, SigningAlgorithm="ECDSA_SHA_256")
    )


def test_tokens_are_unforgeable(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    user, user_kms = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    token = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"])["GrantToken"]
    for index in (0, len(token) // 2, len(token) - 2):
        altered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        with pytest.raises(ClientError) as exc:
            user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[altered])
        assert error_of(exc)[0] == "InvalidGrantTokenException"
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(GrantToken=token[:-4])
    assert error_of(exc)[0] == "InvalidGrantTokenException"
    other_key = grant_admin_key(kms)
    denied(lambda: user_kms.encrypt(KeyId=other_key["KeyId"], Plaintext=b"x", GrantTokens=[token]))


def test_grant_limit(server: TrentServer, kms: Any) -> None:
    import sqlalchemy as sa

    key = grant_admin_key(kms)
    grantee = f"arn:aws:iam::{A}:user/admin"
    engine = sa.create_engine(server.database_url)
    rows = [
        {
            "grant_id": uuid.uuid4().hex + uuid.uuid4().hex,
            "key_id": key["KeyId"],
            "key_account": A,
            "key_region": "us-east-1",
            "grantee_principal": grantee,
            "issuing_account": A,
            "operations": 2,
            "creation_date": time.time(),
        }
        for _ in range(49_999)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO grants (grant_id, key_id, key_account, key_region, grantee_principal, issuing_account, "
                "operations, creation_date) VALUES (:grant_id, :key_id, :key_account, :key_region, :grantee_principal, "
                ":issuing_account, :operations, :creation_date)"
            ),
            rows,
        )
        conn.execute(sa.text("UPDATE keys SET grant_count = 49999 WHERE key_id = :k"), {"k": key["KeyId"]})
    engine.dispose()
    last = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])
    assert error_of(exc)[0] == "LimitExceededException"
    kms.retire_grant(GrantToken=last["GrantToken"])
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])


def test_propagation_delay(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "delayed", extra_args=["--grant-propagation-delay", "2"])
    trent.init()
    trent.start()
    try:
        kms = trent.client("kms")
        user, user_kms = new_user(trent, tmp_path)
        key = kms.create_key()["KeyMetadata"]
        grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=user["Arn"], Operations=["Encrypt"])
        created = time.monotonic()
        denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))  # not propagated yet
        user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])  # the token works
        time.sleep(max(0.0, 2.2 - (time.monotonic() - created)))
        user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # propagated
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
        revoked = time.monotonic()
        user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # still working while the revoke propagates
        time.sleep(max(0.0, 2.2 - (time.monotonic() - revoked)))
        denied(lambda: user_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    finally:
        trent.stop()


def test_grant_condition_keys_limit_create_grant_from_a_policy(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    creator, creator_kms = new_user(server, tmp_path)
    allowed, _ = new_user(server, tmp_path)
    other, _ = new_user(server, tmp_path)
    key = grant_admin_key(
        kms,
        {
            "Sid": "LimitedGranting",
            "Effect": "Allow",
            "Principal": {"AWS": creator["Arn"]},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
                "StringEquals": {
                    "kms:GranteePrincipal": allowed["Arn"],
                    "kms:GrantConstraintType": "EncryptionContextSubset",
                },
                "Bool": {"kms:GrantIsForAWSResource": "false"},
            },
        },
    )
    subset = {"EncryptionContextSubset": {"app": "billing"}}
    creator_kms.create_grant(
        KeyId=key["Arn"], GranteePrincipal=allowed["Arn"], Operations=["Decrypt"], Constraints=subset
    )
    denied(
        lambda: creator_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=allowed["Arn"],
            Operations=["Decrypt", "ReEncryptFrom"],
            Constraints=subset,
        )
    )
    denied(
        lambda: creator_kms.create_grant(
            KeyId=key["Arn"], GranteePrincipal=other["Arn"], Operations=["Decrypt"], Constraints=subset
        )
    )
    denied(
        lambda: creator_kms.create_grant(
            KeyId=key["Arn"],
            GranteePrincipal=allowed["Arn"],
            Operations=["Decrypt"],
            Constraints={"EncryptionContextEquals": {"app": "billing"}},
        )
    )
    denied(lambda: creator_kms.create_grant(KeyId=key["Arn"], GranteePrincipal=allowed["Arn"], Operations=["Decrypt"]))
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1


def test_lineage_of_a_three_level_chain_is_recorded_but_never_shown_by_the_kms_api(
    server: TrentServer, kms: Any, tmp_path: Path
) -> None:
    """Key policy -> A, with CreateGrant, to `first`; `first` creates B with A's permission; `second`, B's grantee,
    creates C with B's (docs/grants.md, "Lineage")."""
    first, first_kms = new_user(server, tmp_path)
    second, second_kms = new_user(server, tmp_path)
    third, _ = new_user(server, tmp_path)
    key = grant_admin_key(kms)
    a = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=first["Arn"], Operations=["Encrypt", "Decrypt", "CreateGrant"], Name="a"
    )
    request_b = {"GranteePrincipal": second["Arn"], "Operations": ["Decrypt", "CreateGrant"], "Name": "b"}
    b = first_kms.create_grant(KeyId=key["Arn"], **request_b)  # the grant view's A allows it
    c = second_kms.create_grant(
        KeyId=key["Arn"], GranteePrincipal=third["Arn"], Operations=["Decrypt"], GrantTokens=[b["GrantToken"]]
    )
    d = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=third["Arn"], Operations=["Encrypt"])
    assert first_kms.create_grant(KeyId=key["Arn"], **request_b)["GrantId"] == b["GrantId"]  # a retry: the same B

    # The KMS API is AWS's: each ListGrants entry has the members of AWS's GrantListEntry, and nothing else.
    members = set(kms.meta.service_model.shape_for("GrantListEntry").members)
    entries = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [e["GrantId"] for e in entries] == [a["GrantId"], b["GrantId"], c["GrantId"], d["GrantId"]]
    for entry in entries:
        assert set(entry) <= members, set(entry) - members
    assert not any(a["GrantId"] in str(e) for e in entries[1:])

    # The tree: A a root, B under A, C under B; D, created by the key policy, a root.
    tree = server.admin_run("grants", "--tree", key["Arn"]).stdout.splitlines()
    assert tree[0] == key["Arn"]
    shown = [(len(line) - len(line.lstrip(" ")), line.split()[0]) for line in tree[1:]]
    assert shown == [(0, a["GrantId"]), (2, b["GrantId"]), (4, c["GrantId"]), (0, d["GrantId"])]
    assert f'"b" grantee={second["Arn"]} operations=Decrypt,CreateGrant' in tree[2]
    as_json = json.loads(server.admin_run("grants", "--tree", key["KeyId"], "--json").stdout)
    assert as_json["KeyArn"] == key["Arn"]
    assert [(g["GrantId"], g["ParentGrantId"], g["Depth"]) for g in as_json["Grants"]] == [
        (a["GrantId"], None, 0),
        (b["GrantId"], a["GrantId"], 1),
        (c["GrantId"], b["GrantId"], 2),
        (d["GrantId"], None, 0),
    ]

    # Each CreateGrant event names the parent of the grant it returned; no event has a grant token.
    events = server.audit_events("--key", key["Arn"], "--event", "CreateGrant")
    parents = [
        (e["responseElements"]["grantId"], e.get("additionalEventData", {}).get("parentGrantId"))
        for e in events
        if "errorCode" not in e
    ]
    assert parents == [
        (a["GrantId"], None),
        (b["GrantId"], a["GrantId"]),
        (c["GrantId"], b["GrantId"]),
        (d["GrantId"], None),
        (b["GrantId"], a["GrantId"]),
    ]
    text = json.dumps(events)
    assert not any(grant["GrantToken"] in text for grant in (a, b, c, d))

    # B revoked: C stays under B, marked, while B's tombstone lasts.
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=b["GrantId"])
    tree = server.admin_run("grants", "--tree", key["KeyId"]).stdout.splitlines()
    shown = [(len(line) - len(line.lstrip(" ")), line.split()[0]) for line in tree[1:]]
    assert shown == [(0, a["GrantId"]), (2, b["GrantId"]), (4, c["GrantId"]), (0, d["GrantId"])]
    assert tree[2].endswith("(retired or revoked)") and "retired" not in tree[3]
    missing = server.admin_run("grants", "--tree", f"{key['KeyId'][:-4]}0000", check=False)
    assert missing.returncode != 0 and "does not exist in us-east-1" in missing.stderr

"""Key lifecycle through boto3 against a live server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import REGION

ACCOUNT = "000000000000"

SPECS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    (
        "RSA_3072",
        "SIGN_VERIFY",
        "SigningAlgorithms",
        [
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
        ],
    ),
    ("RSA_4096", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
    ("HMAC_224", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_224"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_256"]),
    ("HMAC_384", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_384"]),
    ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
]
ALGORITHM_MEMBERS = {"EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms"}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str | None]:
    err = exc.value.response["Error"]
    return err["Code"], err.get("Message")


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.create_key(**kwargs)["KeyMetadata"]
    return metadata


@pytest.mark.parametrize(("spec", "usage", "member", "algorithms"), SPECS)
def test_create_key_of_every_spec_has_aws_field_set(
    kms: Any, spec: str, usage: str, member: str, algorithms: list[str]
) -> None:
    metadata = new_key(kms, KeySpec=spec, KeyUsage=usage, Description=f"{spec} key")
    expected = {
        "AWSAccountId",
        "KeyId",
        "Arn",
        "CreationDate",
        "Enabled",
        "Description",
        "KeyUsage",
        "KeyState",
        "Origin",
        "KeyManager",
        "CustomerMasterKeySpec",
        "KeySpec",
        "MultiRegion",
        member,
    }
    if spec == "SYMMETRIC_DEFAULT":
        expected.add("CurrentKeyMaterialId")
    if spec == "ECC_NIST_EDWARDS25519":
        expected.discard("CustomerMasterKeySpec")  # the deprecated member predates this spec
    assert set(metadata) == expected
    assert metadata[member] == algorithms
    assert metadata["KeySpec"] == spec and metadata["KeyUsage"] == usage
    assert metadata["KeyState"] == "Enabled" and metadata["Enabled"] is True
    assert metadata["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{metadata['KeyId']}"
    assert metadata["AWSAccountId"] == ACCOUNT
    assert metadata["Origin"] == "AWS_KMS" and metadata["KeyManager"] == "CUSTOMER"
    described = kms.describe_key(KeyId=metadata["KeyId"])["KeyMetadata"]
    assert described == metadata


def test_symmetric_key_is_the_default(kms: Any) -> None:
    metadata = new_key(kms)
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert metadata["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert len(metadata["CurrentKeyMaterialId"]) == 64
    int(metadata["CurrentKeyMaterialId"], 16)


def test_customer_master_key_spec_is_still_accepted(kms: Any) -> None:
    metadata = new_key(kms, CustomerMasterKeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    assert metadata["KeySpec"] == "ECC_NIST_P256"


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        (
            {"KeySpec": "RSA_2048"},
            "ValidationException",
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        ),
        (
            {"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"},
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048",
        ),
        (
            {"KeySpec": "HMAC_256", "KeyUsage": "ENCRYPT_DECRYPT"},
            "ValidationException",
            "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_256",
        ),
        (
            {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "KEY_AGREEMENT"},
            "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_NIST_EDWARDS25519",
        ),
        (
            {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"},
            "ValidationException",
            "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT",
        ),
        (
            {"KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"},
            "ValidationException",
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec is deprecated.",
        ),
        ({"KeySpec": "NOT_A_SPEC"}, "ValidationException", None),
    ],
)
def test_create_key_refuses_bad_spec_and_usage(
    kms: Any, kwargs: dict[str, Any], code: str, message: str | None
) -> None:
    before = kms.list_keys(Limit=1000)["Keys"]
    with pytest.raises(ClientError) as exc:
        kms.create_key(**kwargs)
    got_code, got_message = error_of(exc)
    assert got_code == code
    if message is not None:
        assert got_message == message
    else:
        assert got_message is not None and "keySpec" in got_message
    assert kms.list_keys(Limit=1000)["Keys"] == before


def test_describe_key_by_every_identifier_form(kms: Any) -> None:
    metadata = new_key(kms)
    alias = f"alias/describe-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
    for identifier in (metadata["KeyId"], metadata["Arn"], alias, alias_arn):
        assert kms.describe_key(KeyId=identifier)["KeyMetadata"]["KeyId"] == metadata["KeyId"]


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("fake-key-id", "Invalid keyId 'fake-key-id'"),
        (
            "00000000-0000-0000-0000-000000000000",
            f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000' does not exist",
        ),
        (
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
            "Invalid arn eu-west-1",
        ),
        ("alias/does-not-exist", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/does-not-exist is not found."),
    ],
)
def test_describe_key_not_found_messages(kms: Any, identifier: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=identifier)
    assert error_of(exc) == ("NotFoundException", message)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_list_keys_paginates_with_opaque_markers(server: Any) -> None:
    # A fresh account in its own region keeps this listing independent of the other tests' keys.
    kms = server.client("kms", region="eu-central-1")
    created = {new_key(kms)["KeyId"] for _ in range(5)}
    seen: list[str] = []
    response = kms.list_keys(Limit=2)
    while True:
        assert len(response["Keys"]) <= 2
        seen.extend(k["KeyId"] for k in response["Keys"])
        for entry in response["Keys"]:
            assert entry["KeyArn"] == f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/{entry['KeyId']}"
        if not response["Truncated"]:
            assert "NextMarker" not in response
            break
        response = kms.list_keys(Limit=2, Marker=response["NextMarker"])
    assert set(seen) == created and len(seen) == len(created)
    paginated = [
        k["KeyId"]
        for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3})
        for k in page["Keys"]
    ]
    assert paginated == seen


def test_list_keys_refuses_a_tampered_marker(kms: Any) -> None:
    new_key(kms)
    new_key(kms)
    marker = kms.list_keys(Limit=1)["NextMarker"]
    tampered = ("A" if marker[0] != "A" else "B") + marker[1:]
    with pytest.raises(ClientError) as exc:
        kms.list_keys(Limit=1, Marker=tampered)
    assert error_of(exc)[0] == "InvalidMarkerException"


def test_list_keys_limit_out_of_range(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.list_keys(Limit=1001)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000",
    )


def test_update_key_description(kms: Any) -> None:
    key_id = new_key(kms, Description="before")["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="after")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "after"


def test_disable_and_enable(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    kms.disable_key(KeyId=key_id)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Disabled", False)
    kms.disable_key(KeyId=key_id)  # idempotent, as AWS
    kms.enable_key(KeyId=key_id)
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"]) == ("Enabled", True)


def test_key_management_operations_refuse_aliases(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    alias = f"alias/mgmt-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    with pytest.raises(ClientError) as exc:
        kms.disable_key(KeyId=alias)
    assert error_of(exc)[0] in ("NotFoundException", "InvalidArnException")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_and_cancel_key_deletion(kms: Any) -> None:
    metadata = new_key(kms)
    key_id, arn = metadata["KeyId"], metadata["Arn"]
    response = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert response["KeyId"] == arn
    assert response["KeyState"] == "PendingDeletion"
    assert response["PendingWindowInDays"] == 7
    days = (response["DeletionDate"] - metadata["CreationDate"]).total_seconds() / 86400
    assert 6.99 < days < 7.01
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion"
    assert described["PendingDeletionWindowInDays"] == 7
    assert described["DeletionDate"] == response["DeletionDate"]
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key_id)
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    for operation in (kms.enable_key, kms.disable_key):
        with pytest.raises(ClientError) as exc:
            operation(KeyId=key_id)
        assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    with pytest.raises(ClientError) as exc:
        kms.update_key_description(KeyId=key_id, Description="x")
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["KeyState"] == "Disabled"
    assert "DeletionDate" not in described and "PendingDeletionWindowInDays" not in described
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=key_id)
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is not pending deletion.")


def test_schedule_key_deletion_default_window_is_30_days(kms: Any) -> None:
    response = kms.schedule_key_deletion(KeyId=new_key(kms)["KeyId"])
    assert response["PendingWindowInDays"] == 30


@pytest.mark.parametrize(
    ("window", "constraint"), [(6, "greater than or equal to 7"), (31, "less than or equal to 30")]
)
def test_schedule_key_deletion_window_bounds(kms: Any, window: int, constraint: str) -> None:
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=window)
    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{window}' at 'pendingWindowInDays' failed to satisfy constraint: "
        f"Member must have value {constraint}",
    )
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_get_key_policy_is_the_default_policy(kms: Any) -> None:
    import json

    key_id = new_key(kms)["KeyId"]
    response = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert response["PolicyName"] == "default"
    policy = json.loads(response["Policy"])
    assert policy["Id"] == "key-default-1"
    assert policy["Statement"] == [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


def test_create_key_with_malformed_policy_is_refused(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy="{not json")
    assert error_of(exc)[0] == "MalformedPolicyDocumentException"


def test_response_carries_request_id_and_json_content_type(kms: Any) -> None:
    response = kms.list_keys(Limit=1)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert response["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]
    uuid.UUID(headers["x-amzn-requestid"])


def test_text_with_a_nul_character_is_refused_alike_on_every_store(kms: Any) -> None:
    """PostgreSQL cannot store U+0000: descriptions and tags holding it are a ValidationException on both stores
    (it was a 500 on PostgreSQL; found by the hostile-input fuzzing). docs/decisions.md D29."""
    expected = "Member must not contain the character U+0000"
    for call in (
        lambda: kms.create_key(Description="a\x00b"),
        lambda: kms.create_key(Tags=[{"TagKey": "k", "TagValue": "\x00"}]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        code, message = error_of(exc)
        assert code == "ValidationException" and message is not None and expected in message
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.update_key_description(KeyId=key_id, Description="\x00")
    assert error_of(exc)[0] == "ValidationException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""

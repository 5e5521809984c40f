"""Aliases, tags and rotation through boto3 against a live server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.test_keys import ACCOUNT, error_of, new_key
from tests.server import REGION


def unique_alias(prefix: str = "t") -> str:
    return f"alias/{prefix}-{uuid.uuid4().hex[:10]}"


# --- aliases --------------------------------------------------------------------------------------------
def test_alias_lifecycle(kms: Any) -> None:
    first, second = new_key(kms)["KeyId"], new_key(kms)["KeyId"]
    alias = unique_alias()
    kms.create_alias(AliasName=alias, TargetKeyId=first)
    entries = kms.list_aliases(KeyId=first)["Aliases"]
    assert [e["AliasName"] for e in entries] == [alias]
    entry = entries[0]
    assert entry["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
    assert entry["TargetKeyId"] == first
    assert set(entry) == {"AliasName", "AliasArn", "TargetKeyId", "CreationDate", "LastUpdatedDate"}
    kms.update_alias(AliasName=alias, TargetKeyId=second)
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == second
    assert kms.list_aliases(KeyId=first)["Aliases"] == []
    kms.delete_alias(AliasName=alias)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=alias)
    assert error_of(exc)[0] == "NotFoundException"


def test_create_alias_errors(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    alias = unique_alias()
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert error_of(exc) == (
        "AlreadyExistsException",
        f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:{alias} already exists",
    )
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="no-prefix", TargetKeyId=key_id)
    assert error_of(exc) == (
        "ValidationException",
        'Alias must start with the prefix "alias/". Please see '
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
    )
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/aws/reserved", TargetKeyId=key_id)
    assert error_of(exc)[0] == "InvalidAliasNameException"
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/bad name!", TargetKeyId=key_id)
    assert error_of(exc)[0] == "ValidationException"
    pending = new_key(kms)["KeyId"]
    kms.schedule_key_deletion(KeyId=pending)
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=unique_alias(), TargetKeyId=pending)
    assert error_of(exc)[0] == "KMSInvalidStateException"


def test_update_alias_requires_same_key_type(kms: Any) -> None:
    symmetric = new_key(kms)["KeyId"]
    signing = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    alias = unique_alias()
    kms.create_alias(AliasName=alias, TargetKeyId=symmetric)
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=alias, TargetKeyId=signing)
    assert error_of(exc)[0] == "ValidationException"
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == symmetric


def test_update_alias_between_asymmetric_keys_of_one_usage(kms: Any) -> None:
    """ "Same type" is symmetric, asymmetric or HMAC: an RSA signing key may give way to an ECC signing key."""
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    ecc = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    rsa_encryption = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyId"]
    hmac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    alias = unique_alias()
    kms.create_alias(AliasName=alias, TargetKeyId=rsa)
    kms.update_alias(AliasName=alias, TargetKeyId=ecc)
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == ecc
    for other in (rsa_encryption, hmac):  # another usage; another type
        with pytest.raises(ClientError) as exc:
            kms.update_alias(AliasName=alias, TargetKeyId=other)
        assert error_of(exc)[0] == "ValidationException"
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == ecc


def test_update_and_delete_unknown_alias(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    alias = unique_alias()
    message = f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:{alias} is not found."
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    assert error_of(exc) == ("NotFoundException", message)
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName=alias)
    assert error_of(exc) == ("NotFoundException", message)


def test_list_aliases_paginates(server: Any) -> None:
    kms = server.client("kms", region="ap-southeast-2")
    key_id = new_key(kms)["KeyId"]
    names = sorted(unique_alias("page") for _ in range(5))
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    pages = list(kms.get_paginator("list_aliases").paginate(KeyId=key_id, PaginationConfig={"PageSize": 2}))
    assert [a["AliasName"] for p in pages for a in p["Aliases"]] == names
    assert len(pages) == 3


# --- tags -----------------------------------------------------------------------------------------------
def test_tag_lifecycle(kms: Any) -> None:
    key_id = new_key(kms, Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "test"}, {"TagKey": "team", "TagValue": "b"}])
    tags = kms.list_resource_tags(KeyId=key_id)
    assert tags["Tags"] == [{"TagKey": "env", "TagValue": "test"}, {"TagKey": "team", "TagValue": "b"}]
    assert tags["Truncated"] is False
    kms.untag_resource(KeyId=key_id, TagKeys=["team", "absent"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "env", "TagValue": "test"}]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([{"TagKey": "aws:reserved", "TagValue": "x"}], "Tags beginning with aws: are reserved"),
        ([{"TagKey": "AWS:key1", "TagValue": "x"}], "Tags beginning with aws: are reserved"),  # any case
        ([{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}], "Duplicate tag keys"),
        ([{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)], "Too many tags"),
    ],
)
def test_tag_errors_change_nothing(kms: Any, tags: list[dict[str, str]], message: str) -> None:
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key_id, Tags=tags)
    assert error_of(exc) == ("TagException", message)
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []


def test_tag_value_too_long_is_a_validation_error_with_its_path(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v" * 257}])
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message is not None and "'tags.1.member.tagValue'" in message
    assert "Member must have length less than or equal to 256" in message


def test_tagging_a_key_pending_deletion_is_refused(kms: Any) -> None:
    metadata = new_key(kms)
    kms.schedule_key_deletion(KeyId=metadata["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=metadata["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
    assert error_of(exc) == ("KMSInvalidStateException", f"{metadata['Arn']} is pending deletion.")


# --- rotation -------------------------------------------------------------------------------------------
def test_automatic_rotation_settings(kms: Any) -> None:
    metadata = new_key(kms)
    key_id = metadata["KeyId"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and status["KeyId"] == metadata["Arn"]
    assert "NextRotationDate" not in status
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    days = (status["NextRotationDate"] - metadata["CreationDate"]).total_seconds() / 86400
    assert 89.9 < days < 90.1
    kms.disable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key_id)  # no period: the default, not the period set before
    assert kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == 365


@pytest.mark.parametrize(
    ("days", "constraint"), [(89, "greater than or equal to 90"), (2561, "less than or equal to 2560")]
)
def test_rotation_period_bounds(server: Any, days: int, constraint: str) -> None:
    kms = server.client("kms", parameter_validation=False)  # the server must check, not only botocore
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: "
        f"Member must have value {constraint}",
    )
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_rotation_is_for_symmetric_keys_only(kms: Any) -> None:
    key_id = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand, kms.get_key_rotation_status):
        with pytest.raises(ClientError) as exc:
            call(KeyId=key_id)
        assert error_of(exc)[0] == "UnsupportedOperationException"


def test_on_demand_rotation_of_an_asymmetric_key_says_nothing_and_a_disabled_one_says_it_is_disabled(
    kms: Any,
) -> None:
    """As AWS answers (recorded): the state before the spec, and no message for the spec."""
    metadata = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=metadata["KeyId"])
    assert error_of(exc) == ("UnsupportedOperationException", "")
    kms.disable_key(KeyId=metadata["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=metadata["KeyId"])
    assert error_of(exc) == ("DisabledException", f"{metadata['Arn']} is disabled.")


def test_reserved_tag_keys_are_refused_at_creation_whatever_their_case(kms: Any) -> None:
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    with pytest.raises(ClientError) as exc:
        kms.create_key(Tags=[{"TagKey": "Aws:owner", "TagValue": "x"}])
    assert error_of(exc) == ("TagException", "Tags beginning with aws: are reserved")
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


def test_rotation_on_a_disabled_key(kms: Any) -> None:
    metadata = new_key(kms)
    kms.disable_key(KeyId=metadata["KeyId"])
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
        with pytest.raises(ClientError) as exc:
            call(KeyId=metadata["KeyId"])
        assert error_of(exc) == ("DisabledException", f"{metadata['Arn']} is disabled.")


def test_on_demand_rotation_adds_material(kms: Any) -> None:
    metadata = new_key(kms)
    key_id, first_material = metadata["KeyId"], metadata["CurrentKeyMaterialId"]
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == metadata["Arn"]
    second_material = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert second_material != first_material
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1
    assert rotations[0]["RotationType"] == "ON_DEMAND"
    assert rotations[0]["KeyMaterialId"] == second_material
    assert rotations[0]["KeyMaterialState"] == "CURRENT"
    every = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in every] == [
        (first_material, "NON_CURRENT"),
        (second_material, "CURRENT"),
    ]


def test_on_demand_rotation_limit(server: Any) -> None:
    import sqlalchemy as sa

    kms = server.client("kms")
    metadata = new_key(kms)
    # Reaching the limit through the API would take 25 rotations; seed the counter instead.
    engine = sa.create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE keys SET on_demand_rotations = 25 WHERE key_id = :k"), {"k": metadata["KeyId"]})
    engine.dispose()
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=metadata["KeyId"])
    assert error_of(exc) == (
        "LimitExceededException",
        "The on-demand rotations limit has been reached for the given keyId. "
        f"No more on-demand rotations can be performed for this key: {metadata['Arn']}",
    )

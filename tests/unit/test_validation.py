"""Tests for trent.edge.validation: AWS-exact request validation driven by botocore's KMS model.

Constraint numbers are read from the model wherever the exact figure does not matter, so a newer
botocore does not break these tests; the messages the brief pins down are asserted literally.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from typing import Any

import botocore.model
import botocore.serialize
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trent.domain.errors import SerializationException, UnknownOperationException, ValidationException
from trent.edge.java_regex import compile_java_pattern
from trent.edge.validation import RequestValidator

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def model() -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model("kms")


@pytest.fixture(scope="module")
def validator(model: botocore.model.ServiceModel) -> RequestValidator:
    return RequestValidator(model)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def validation_message(validator: RequestValidator, operation: str, body: object) -> str:
    with pytest.raises(ValidationException) as excinfo:
        validator.validate(operation, body)
    assert excinfo.value.message is not None
    return excinfo.value.message


def serialization_message(validator: RequestValidator, operation: str, body: object) -> str:
    with pytest.raises(SerializationException) as excinfo:
        validator.validate(operation, body)
    assert excinfo.value.message is not None
    return excinfo.value.message


def member_shape(model: botocore.model.ServiceModel, operation: str, member: str) -> botocore.model.Shape:
    shape = model.operation_model(operation).input_shape.members[member]
    assert isinstance(shape, botocore.model.Shape)
    return shape


def one_error(text: str) -> str:
    return f"1 validation error detected: {text}"


# --------------------------------------------------------------------------------------------------
# operations
# --------------------------------------------------------------------------------------------------
def test_every_model_operation_is_known(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    assert model.operation_names, "botocore returned an empty KMS model"
    for name in model.operation_names:
        assert validator.has_operation(name), name
    assert validator.operation_names == list(model.operation_names)


@pytest.mark.parametrize(
    "name", ["CreateKey", "Encrypt", "ListKeyRotations", "RotateKeyOnDemand", "DeriveSharedSecret"]
)
def test_recent_operations_are_known(validator: RequestValidator, name: str) -> None:
    assert validator.has_operation(name)


def test_unknown_operation(validator: RequestValidator) -> None:
    assert not validator.has_operation("MakeCoffee")
    assert not validator.has_operation("encrypt")  # operation names are case-sensitive
    with pytest.raises(UnknownOperationException):
        validator.validate("MakeCoffee", {})


# --------------------------------------------------------------------------------------------------
# rule 1: the body is an object
# --------------------------------------------------------------------------------------------------
def test_list_body_is_a_serialization_error(validator: RequestValidator) -> None:
    assert serialization_message(validator, "Encrypt", []) == "Start of list found where not expected"


@pytest.mark.parametrize("body", ["Encrypt", 3, 1.5, True, False])
def test_scalar_body_is_a_serialization_error(validator: RequestValidator, body: object) -> None:
    assert serialization_message(validator, "ListKeys", body) == "Expected null"


def test_null_body_is_an_empty_request(validator: RequestValidator) -> None:
    assert validator.validate("ListKeys", None) == {}
    assert validation_message(validator, "DescribeKey", None) == one_error(
        "Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


# --------------------------------------------------------------------------------------------------
# rule 2: JSON types
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        # integers
        ("GenerateRandom", {"NumberOfBytes": "5"}, "STRING_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": True}, "TRUE_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": False}, "FALSE_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": 1.5}, "NUMBER_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": 32.0}, "NUMBER_VALUE can not be converted to an Integer"),
        ("GenerateRandom", {"NumberOfBytes": 2**31}, "NUMBER_VALUE can not be converted to an Integer"),
        (
            "GenerateRandom",
            {"NumberOfBytes": -(2**31) - 1},
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        ("GenerateRandom", {"NumberOfBytes": [1]}, "Start of list found where not expected"),
        ("GenerateRandom", {"NumberOfBytes": {}}, "Start of structure or map found where not expected."),
        # strings
        ("DescribeKey", {"KeyId": 5}, "NUMBER_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": 5.5}, "NUMBER_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": True}, "TRUE_VALUE can not be converted to a String"),
        ("DescribeKey", {"KeyId": ["k"]}, "Start of list found where not expected"),
        ("DescribeKey", {"KeyId": {"k": "v"}}, "Start of structure or map found where not expected."),
        # booleans: 1 is not a boolean, nor is "true"
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "DryRun": 1},
            "NUMBER_VALUE can not be converted to a Boolean",
        ),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "DryRun": "true"},
            "STRING_VALUE can not be converted to a Boolean",
        ),
        # blobs
        ("Encrypt", {"KeyId": "k", "Plaintext": 5}, "NUMBER_VALUE can not be converted to a Blob"),
        ("Encrypt", {"KeyId": "k", "Plaintext": ["QQ=="]}, "Start of list found where not expected"),
        # lists
        ("Encrypt", {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": "t"}, "Expected list or null"),
        ("Encrypt", {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": 1}, "Expected list or null"),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": {"t": "t"}},
            "Start of structure or map found where not expected.",
        ),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": [1]},
            "NUMBER_VALUE can not be converted to a String",
        ),
        # maps
        ("Encrypt", {"KeyId": "k", "Plaintext": "QQ==", "EncryptionContext": "a=b"}, "Expected map or null"),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "EncryptionContext": [["a", "b"]]},
            "Start of list found where not expected",
        ),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "EncryptionContext": {"a": 1}},
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            "Encrypt",
            {"KeyId": "k", "Plaintext": "QQ==", "EncryptionContext": {"a": {"b": "c"}}},
            "Start of structure or map found where not expected.",
        ),
        # structures
        ("TagResource", {"KeyId": "k", "Tags": ["a=b"]}, "Expected null"),
        ("TagResource", {"KeyId": "k", "Tags": [[]]}, "Start of list found where not expected"),
        (
            "TagResource",
            {"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": 1}]},
            "NUMBER_VALUE can not be converted to a String",
        ),
        # timestamps are epoch seconds
        (
            "ImportKeyMaterial",
            {"KeyId": "k", "ImportToken": "QQ==", "EncryptedKeyMaterial": "QQ==", "ValidTo": "2030-01-01"},
            "STRING_VALUE can not be converted to milliseconds since epoch",
        ),
        (
            "ImportKeyMaterial",
            {"KeyId": "k", "ImportToken": "QQ==", "EncryptedKeyMaterial": "QQ==", "ValidTo": True},
            "TRUE_VALUE can not be converted to milliseconds since epoch",
        ),
    ],
)
def test_wrong_json_type(validator: RequestValidator, operation: str, body: object, message: str) -> None:
    assert serialization_message(validator, operation, body) == message


def test_type_error_wins_over_constraint_errors(validator: RequestValidator) -> None:
    # AWS deserializes the whole body before validating: a later type error hides earlier violations.
    body = {"KeyId": "", "Plaintext": "", "DryRun": "yes"}
    assert serialization_message(validator, "Encrypt", body) == "STRING_VALUE can not be converted to a Boolean"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("QUJ", "Base64 encoded length is expected a multiple of 4 bytes but found: 3"),
        ("QQ", "Base64 encoded length is expected a multiple of 4 bytes but found: 2"),  # padding required
        ("QU!=", "Invalid Base64 character: '!'"),
        ("QU-_", "Invalid Base64 character: '-'"),  # URL-safe alphabet is not accepted
        ("QUJD\n", "Invalid Base64 character: '\\u000a'"),
        ("QUJD QUJD", "Invalid Base64 character: ' '"),
        ("QQ\u00e9=", "Invalid Base64 character: '\\u00e9'"),
        ("QU=D", "Invalid Base64 character: '='"),
        ("QR==", "Invalid last non-pad Base64 character dectected"),  # non-zero trailing bits
        ("QUJ=", "Invalid last non-pad Base64 character dectected"),
        ("QUJD==", "Base64 encoded length is expected a multiple of 4 bytes but found: 6"),
        ("QUJD====", "Invalid last non-pad Base64 character dectected"),  # surplus padding
        ("====", "Invalid last non-pad Base64 character dectected"),
    ],
)
def test_invalid_base64(validator: RequestValidator, text: str, reason: str) -> None:
    message = serialization_message(validator, "Encrypt", {"KeyId": "k", "Plaintext": text})
    assert message == f"STRING_VALUE can not be converted to a Blob: {reason}"


@pytest.mark.parametrize("data", [b"", b"A", b"AB", b"ABC", bytes(range(256))])
def test_valid_base64_is_decoded(validator: RequestValidator, data: bytes) -> None:
    body = {"CiphertextBlob": b64(data)}
    if data:
        assert validator.validate("Decrypt", body) == {"CiphertextBlob": data}
    else:
        validation_message(validator, "Decrypt", body)  # empty decodes fine, then fails min length


def test_null_means_absent(validator: RequestValidator) -> None:
    body = {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": None, "EncryptionContext": None, "DryRun": None}
    assert validator.validate("Encrypt", body) == {"KeyId": "k", "Plaintext": b"A"}
    assert validation_message(validator, "Encrypt", {"KeyId": None, "Plaintext": "QQ=="}) == one_error(
        "Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_null_list_elements_and_map_values_are_dropped(validator: RequestValidator) -> None:
    body = {
        "KeyId": "k",
        "Plaintext": "QQ==",
        "GrantTokens": ["a", None, "b"],
        "EncryptionContext": {"x": "1", "y": None},
    }
    result = validator.validate("Encrypt", body)
    assert result["GrantTokens"] == ["a", "b"]
    assert result["EncryptionContext"] == {"x": "1"}


def test_result_decodes_blobs_keeps_the_rest_and_drops_unknown_members(validator: RequestValidator) -> None:
    body = {
        "KeyId": KEY_ARN,
        "Plaintext": b64(b"secret"),
        "EncryptionContext": {"purpose": "test", "tenant": "acme"},
        "GrantTokens": ["token"],
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DryRun": False,
        "Unknown": {"anything": [1, 2]},
        "keyId": 5,  # member names are case-sensitive: this is just another unknown member
    }
    assert validator.validate("Encrypt", body) == {
        "KeyId": KEY_ARN,
        "Plaintext": b"secret",
        "EncryptionContext": {"purpose": "test", "tenant": "acme"},
        "GrantTokens": ["token"],
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DryRun": False,
    }


def test_nested_structures_are_converted(validator: RequestValidator) -> None:
    body = {"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "", "Extra": 1}]}
    assert validator.validate("TagResource", body) == {
        "KeyId": "k",
        "Tags": [{"TagKey": "a", "TagValue": ""}],
    }


# --------------------------------------------------------------------------------------------------
# rule 3: constraint messages
# --------------------------------------------------------------------------------------------------
def test_integer_range_messages(validator: RequestValidator) -> None:
    assert validation_message(validator, "GenerateRandom", {"NumberOfBytes": 1025}) == (
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value less than or equal to 1024"
    )
    assert validation_message(validator, "GenerateRandom", {"NumberOfBytes": 0}) == (
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert validator.validate("GenerateRandom", {"NumberOfBytes": 1024}) == {"NumberOfBytes": 1024}


def test_integer_range_read_from_model(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    shape = member_shape(model, "ScheduleKeyDeletion", "PendingWindowInDays")
    low, high = shape.metadata["min"], shape.metadata["max"]
    for value in (low, high):
        validator.validate("ScheduleKeyDeletion", {"KeyId": "k", "PendingWindowInDays": value})
    assert validation_message(validator, "ScheduleKeyDeletion", {"KeyId": "k", "PendingWindowInDays": -3}) == (
        one_error(
            "Value '-3' at 'pendingWindowInDays' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    )


def test_enum_message(validator: RequestValidator) -> None:
    body = {"KeyId": "k", "Message": "QQ==", "MacAlgorithm": "INVALID"}
    assert validation_message(validator, "GenerateMac", body) == (
        "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: "
        "Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]"
    )  # AWS's order (fact sheet §1), not the model's


def test_enum_values_in_model_order(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    values = member_shape(model, "CreateKey", "KeySpec").metadata["enum"]
    assert validation_message(validator, "CreateKey", {"KeySpec": "AES_256"}) == one_error(
        "Value 'AES_256' at 'keySpec' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(values)}]"
    )
    for value in values:
        validator.validate("CreateKey", {"KeySpec": value})
    validation_message(validator, "CreateKey", {"KeySpec": values[0].lower()})  # enums are case-sensitive


def test_sensitive_blob_length_hides_the_value(validator: RequestValidator) -> None:
    body = {"KeyId": "k", "Plaintext": b64(b"x" * 4097)}
    assert validation_message(validator, "Encrypt", body) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )
    assert validation_message(validator, "Encrypt", {"KeyId": "k", "Plaintext": ""}) == one_error(
        "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
    assert validator.validate("Encrypt", {"KeyId": "k", "Plaintext": b64(b"x" * 4096)})["Plaintext"] == b"x" * 4096


def test_blob_length_counts_decoded_bytes(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    high = member_shape(model, "Decrypt", "CiphertextBlob").metadata["max"]
    # The base64 text is longer than the limit, the decoded bytes are not.
    assert len(b64(b"c" * high)) > high
    validator.validate("Decrypt", {"CiphertextBlob": b64(b"c" * high)})


def test_non_sensitive_blob_is_rendered_as_a_java_byte_buffer(
    model: botocore.model.ServiceModel, validator: RequestValidator
) -> None:
    high = member_shape(model, "Decrypt", "CiphertextBlob").metadata["max"]
    size = high + 1
    assert validation_message(validator, "Decrypt", {"CiphertextBlob": b64(b"c" * size)}) == one_error(
        f"Value 'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]' at 'ciphertextBlob' failed to satisfy "
        f"constraint: Member must have length less than or equal to {high}"
    )


def test_string_length_is_counted_in_characters(
    model: botocore.model.ServiceModel, validator: RequestValidator
) -> None:
    high = member_shape(model, "UpdateKeyDescription", "Description").metadata["max"]
    validator.validate("UpdateKeyDescription", {"KeyId": "k", "Description": "\u00e9" * high})
    too_long = "d" * (high + 1)
    assert validation_message(validator, "UpdateKeyDescription", {"KeyId": "k", "Description": too_long}) == (
        one_error(
            f"Value '{too_long}' at 'description' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
        )
    )


def test_missing_required_member(validator: RequestValidator) -> None:
    assert validation_message(validator, "DescribeKey", {}) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )


def test_pattern_uses_the_model_pattern(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    pattern = member_shape(model, "CreateAlias", "AliasName").metadata["pattern"]
    assert validation_message(validator, "CreateAlias", {"AliasName": "alias/bad name", "TargetKeyId": "k"}) == (
        one_error(
            "Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )
    )
    assert validator.validate("CreateAlias", {"AliasName": "alias/good-name_1", "TargetKeyId": "k"})


def test_pattern_must_match_the_whole_value(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    # This account-id pattern has no anchors in the model; Java's matches() anchors it anyway.
    pattern = member_shape(model, "CreateCustomKeyStore", "XksProxyVpcEndpointServiceOwner").metadata.get("pattern")
    if pattern != "^[0-9]{12}$" and pattern != "[0-9]{12}":
        pytest.skip(f"model pattern changed: {pattern!r}")
    base = {"CustomKeyStoreName": "store"}
    validator.validate("CreateCustomKeyStore", {**base, "XksProxyVpcEndpointServiceOwner": "111122223333"})
    message = validation_message(
        validator, "CreateCustomKeyStore", {**base, "XksProxyVpcEndpointServiceOwner": "1111222233334"}
    )
    assert "Member must satisfy regular expression pattern: " + pattern in message


def test_length_and_pattern_are_both_reported(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    shape = member_shape(model, "CreateAlias", "AliasName")
    assert validation_message(validator, "CreateAlias", {"AliasName": "", "TargetKeyId": "k"}) == (
        "2 validation errors detected: "
        "Value '' at 'aliasName' failed to satisfy constraint: "
        f"Member must have length greater than or equal to {shape.metadata['min']}; "
        "Value '' at 'aliasName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {shape.metadata['pattern']}"
    )


def test_all_errors_in_model_member_order(validator: RequestValidator) -> None:
    # Body order is deliberately the reverse of the model's member order.
    body = {"EncryptionAlgorithm": "ROT13", "GrantTokens": [""], "Plaintext": ""}
    message = validation_message(validator, "Encrypt", body)
    assert message.startswith("4 validation errors detected: ")
    errors = message.removeprefix("4 validation errors detected: ").split("; ")
    assert errors[0] == "Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    assert errors[1].startswith("Value at 'plaintext' failed")
    assert errors[2] == (  # grant tokens are never repeated back, like the model's sensitive members
        "Value at 'grantTokens.1.member' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    assert errors[3].startswith("Value 'ROT13' at 'encryptionAlgorithm' failed to satisfy constraint: ")


def test_more_than_ten_errors_are_all_listed(validator: RequestValidator) -> None:
    tags = [{"TagKey": ""} for _ in range(6)]
    message = validation_message(validator, "TagResource", {"KeyId": "", "Tags": tags})
    assert message.startswith("13 validation errors detected: ")
    assert message.count("; ") == 12


def test_list_length_renders_the_list(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    high = member_shape(model, "ListKeys", "ResourceOwners").metadata["max"]
    owners = ["SELF"] * (high + 1)
    assert validation_message(validator, "ListKeys", {"ResourceOwners": owners}) == one_error(
        f"Value '[{', '.join(owners)}]' at 'resourceOwners' failed to satisfy constraint: "
        f"Member must have length less than or equal to {high}"
    )


def test_grant_tokens_are_never_rendered(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    high = member_shape(model, "Encrypt", "GrantTokens").metadata["max"]
    tokens = [f"secret-token-{i}" for i in range(high + 1)]
    body = {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": tokens}
    message = validation_message(validator, "Encrypt", body)
    assert message == one_error(
        f"Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to {high}"
    )
    assert "secret-token" not in message


def test_a_list_of_length_bounded_strings(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    longest = model.shape_for("GrantTokenType").metadata["max"]
    tokens = ["t" * longest, "u"]
    body = {"KeyId": "k", "Plaintext": "QQ==", "GrantTokens": tokens}
    assert validator.validate("Encrypt", body)["GrantTokens"] is tokens  # nothing to convert: the very list
    too_long = {**body, "GrantTokens": ["u", "t" * (longest + 1)]}
    assert validation_message(validator, "Encrypt", too_long) == one_error(
        "Value at 'grantTokens.2.member' failed to satisfy constraint: "
        f"Member must have length less than or equal to {longest}"
    )
    with pytest.raises(SerializationException):
        validator.validate("Encrypt", {**body, "GrantTokens": ["u", 7]})


def test_tag_paths(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    tags = [{"TagKey": "ok", "TagValue": "ok"}, {"TagKey": "a"}]
    assert validation_message(validator, "TagResource", {"KeyId": "k", "Tags": tags}) == (
        "1 validation error detected: Value null at 'tags.2.member.tagValue' failed to satisfy constraint: "
        "Member must not be null"
    )
    high = model.shape_for("TagKeyType").metadata["max"]
    long_key = "k" * (high + 1)
    tags = [{"TagKey": long_key, "TagValue": "v"}]
    assert validation_message(validator, "TagResource", {"KeyId": "k", "Tags": tags}) == one_error(
        f"Value '{long_key}' at 'tags.1.member.tagKey' failed to satisfy constraint: "
        f"Member must have length less than or equal to {high}"
    )


def test_nested_required_only_checked_when_structure_present(validator: RequestValidator) -> None:
    # XksProxyAuthenticationCredential requires both of its members, but is itself optional.
    assert validator.validate("CreateCustomKeyStore", {"CustomKeyStoreName": "s"}) == {"CustomKeyStoreName": "s"}
    message = validation_message(
        validator,
        "CreateCustomKeyStore",
        {"CustomKeyStoreName": "s", "XksProxyAuthenticationCredential": {}},
    )
    assert message == (
        "2 validation errors detected: "
        "Value null at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: "
        "Member must not be null; "
        "Value null at 'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_sensitive_strings_hide_their_value(model: botocore.model.ServiceModel, validator: RequestValidator) -> None:
    low = model.shape_for("KeyStorePasswordType").metadata["min"]
    body = {"CustomKeyStoreName": "s", "KeyStorePassword": "x"}
    assert validation_message(validator, "CreateCustomKeyStore", body) == one_error(
        "Value at 'keyStorePassword' failed to satisfy constraint: "
        f"Member must have length greater than or equal to {low}"
    )
    credential = {"AccessKeyId": "lowercase-is-not-base32", "RawSecretAccessKey": "s" * 43}
    message = validation_message(
        validator,
        "CreateCustomKeyStore",
        {"CustomKeyStoreName": "s", "XksProxyAuthenticationCredential": credential},
    )
    assert "Value at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint" in message
    assert "lowercase-is-not-base32" not in message


def test_every_model_pattern_is_enforced(model: botocore.model.ServiceModel) -> None:
    # A pattern that could not be translated would silently not be enforced; none of KMS's may be.
    patterns = {shape.metadata["pattern"] for shape in _input_shapes(model) if "pattern" in shape.metadata}
    assert patterns
    for pattern in sorted(patterns):
        assert compile_java_pattern(pattern) is not None, pattern


# --------------------------------------------------------------------------------------------------
# real SDK bodies
# --------------------------------------------------------------------------------------------------
def _sdk_body(model: botocore.model.ServiceModel, operation: str, params: dict[str, Any]) -> Any:
    serializer = botocore.serialize.create_serializer("json", include_validation=True)
    request = serializer.serialize_to_request(params, model.operation_model(operation))
    return json.loads(request["body"])


def test_bodies_serialized_by_botocore_validate(
    model: botocore.model.ServiceModel, validator: RequestValidator
) -> None:
    body = _sdk_body(
        model,
        "Encrypt",
        {
            "KeyId": KEY_ARN,
            "Plaintext": b"\x00\xff" * 300,
            "EncryptionContext": {"a": "b"},
            "GrantTokens": ["t"],
        },
    )
    assert validator.validate("Encrypt", body)["Plaintext"] == b"\x00\xff" * 300

    valid_to = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    params = {"KeyId": "k", "ImportToken": b"t", "EncryptedKeyMaterial": b"m", "ValidTo": valid_to}
    result = validator.validate("ImportKeyMaterial", _sdk_body(model, "ImportKeyMaterial", params))
    assert result["ValidTo"] == int(valid_to.timestamp())

    params = {"Tags": [{"TagKey": "k", "TagValue": "v"}], "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": True}
    assert validator.validate("CreateKey", _sdk_body(model, "CreateKey", params)) == params


# --------------------------------------------------------------------------------------------------
# a synthetic model for what KMS does not exercise (yet): maps with constraints, recursion, wider types
# --------------------------------------------------------------------------------------------------
_HTTP = {"method": "POST", "requestUri": "/"}
SYNTHETIC: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "endpointPrefix": "synthetic",
        "jsonVersion": "1.1",
        "protocol": "json",
        "serviceFullName": "Synthetic",
        "serviceId": "Synthetic",
        "signatureVersion": "v4",
        "targetPrefix": "Synthetic",
        "uid": "synthetic-2020-01-01",
    },
    "operations": {
        "Everything": {"name": "Everything", "http": _HTTP, "input": {"shape": "EverythingRequest"}},
        "NoInput": {"name": "NoInput", "http": _HTTP},
    },
    "shapes": {
        "EverythingRequest": {
            "type": "structure",
            "members": {
                "Labels": {"shape": "LabelMap"},
                "Count": {"shape": "Count"},
                "Ratio": {"shape": "Ratio"},
                "Blobs": {"shape": "BlobList"},
                "Secret": {"shape": "Plain", "sensitive": True},
                "Open": {"shape": "Plain"},
                "Tree": {"shape": "TreeNode"},
                "Dotted": {"shape": "Dotted"},
                "Word": {"shape": "Word"},
                "Posix": {"shape": "Posix"},
                "Unicode": {"shape": "Unicode"},
                "Items": {"shape": "ItemList"},
                "Doc": {"shape": "Doc"},
                "Renamed": {"shape": "Plain", "locationName": "renamed_on_wire"},
                "Secrets": {"shape": "SecretList"},
            },
        },
        "LabelMap": {"type": "map", "key": {"shape": "LabelKey"}, "value": {"shape": "LabelValue"}, "max": 2},
        "LabelKey": {"type": "string", "min": 2},
        "LabelValue": {"type": "string", "enum": ["on", "off"]},
        "Count": {"type": "long", "min": 0},
        "Ratio": {"type": "double", "max": 1.5},
        "BlobList": {"type": "list", "member": {"shape": "SmallBlob"}, "max": 1},
        "SmallBlob": {"type": "blob", "max": 2},
        "Plain": {"type": "string", "min": 3},
        "TreeNode": {
            "type": "structure",
            "required": ["Name"],
            "members": {"Name": {"shape": "Plain"}, "Children": {"shape": "TreeList"}},
        },
        "TreeList": {"type": "list", "member": {"shape": "TreeNode"}},
        "Dotted": {"type": "string", "pattern": "^a.c$"},
        "Word": {"type": "string", "pattern": "\\w+"},
        "Posix": {"type": "string", "pattern": "\\p{Alpha}+\\Q.*\\E"},
        "Unicode": {"type": "string", "pattern": "\\p{L}+"},
        "ItemList": {"type": "list", "member": {"shape": "Item"}, "max": 1},
        "Item": {
            "type": "structure",
            "required": ["Key"],
            "members": {"Key": {"shape": "Plain"}, "Value": {"shape": "Plain"}},
        },
        "Doc": {"type": "structure", "members": {}, "document": True},
        "SecretList": {"type": "list", "member": {"shape": "SecretString"}, "max": 1},
        "SecretString": {"type": "string", "sensitive": True},
    },
}


@pytest.fixture(scope="module")
def synthetic() -> RequestValidator:
    return RequestValidator(botocore.model.ServiceModel(SYNTHETIC, service_name="synthetic"))


def test_operation_without_input(synthetic: RequestValidator) -> None:
    assert synthetic.validate("NoInput", {"Anything": 1}) == {}
    assert serialization_message(synthetic, "NoInput", []) == "Start of list found where not expected"


def test_map_entry_paths(synthetic: RequestValidator) -> None:
    body = {"Labels": {"ok": "on", "x": "on", "yy": "maybe"}}
    assert validation_message(synthetic, "Everything", body) == (
        "3 validation errors detected: "
        "Value 'x' at 'labels.2.key' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2; "
        "Value 'maybe' at 'labels.3.value' failed to satisfy constraint: "
        "Member must satisfy enum value set: [on, off]; "
        "Value '{ok=on, x=on, yy=maybe}' at 'labels' failed to satisfy constraint: "
        "Member must have length less than or equal to 2"
    )
    assert synthetic.validate("Everything", {"Labels": {"ok": "on", "no": None}}) == {"Labels": {"ok": "on"}}


def test_long_and_double(synthetic: RequestValidator) -> None:
    assert synthetic.validate("Everything", {"Count": 2**40, "Ratio": 1}) == {"Count": 2**40, "Ratio": 1}
    assert (
        serialization_message(synthetic, "Everything", {"Count": 2**63})
        == "NUMBER_VALUE can not be converted to a Long"
    )
    assert (
        serialization_message(synthetic, "Everything", {"Ratio": "1"})
        == "STRING_VALUE can not be converted to a Double"
    )
    assert serialization_message(synthetic, "Everything", {"Ratio": float("nan")}) == (
        "NUMBER_VALUE can not be converted to a Double"
    )
    assert validation_message(synthetic, "Everything", {"Count": -1, "Ratio": 2.5}) == (
        "2 validation errors detected: "
        "Value '-1' at 'count' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0; "
        "Value '2.5' at 'ratio' failed to satisfy constraint: "
        "Member must have value less than or equal to 1.5"
    )


def test_list_of_blobs(synthetic: RequestValidator) -> None:
    assert synthetic.validate("Everything", {"Blobs": ["QUI="]}) == {"Blobs": [b"AB"]}
    assert validation_message(synthetic, "Everything", {"Blobs": ["QUJD", "QQ=="]}) == (
        "2 validation errors detected: "
        "Value 'java.nio.HeapByteBuffer[pos=0 lim=3 cap=3]' at 'blobs.1.member' "
        "failed to satisfy constraint: Member must have length less than or equal to 2; "
        "Value '[java.nio.HeapByteBuffer[pos=0 lim=3 cap=3], java.nio.HeapByteBuffer[pos=0 lim=1 cap=1]]' "
        "at 'blobs' failed to satisfy constraint: Member must have length less than or equal to 1"
    )


def test_member_level_sensitive_trait(synthetic: RequestValidator) -> None:
    # "Secret" and "Open" share a shape; only the member reference of "Secret" is marked sensitive.
    assert validation_message(synthetic, "Everything", {"Secret": "ab", "Open": "ab"}) == (
        "2 validation errors detected: "
        "Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 3; "
        "Value 'ab' at 'open' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3"
    )


def test_containers_of_sensitive_values_are_not_rendered(synthetic: RequestValidator) -> None:
    assert validation_message(synthetic, "Everything", {"Secrets": ["hunter2", "hunter3"]}) == one_error(
        "Value at 'secrets' failed to satisfy constraint: Member must have length less than or equal to 1"
    )


def test_recursive_structures(synthetic: RequestValidator) -> None:
    tree = {"Name": "root", "Children": [{"Name": "kid", "Children": [{"Name": "x"}, {}]}]}
    assert validation_message(synthetic, "Everything", {"Tree": tree}) == (
        "2 validation errors detected: "
        "Value 'x' at 'tree.children.1.member.children.1.member.name' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value null at 'tree.children.1.member.children.2.member.name' failed to satisfy constraint: "
        "Member must not be null"
    )
    ok = {"Name": "root", "Children": [{"Name": "kid", "Children": []}]}
    assert synthetic.validate("Everything", {"Tree": ok}) == {"Tree": ok}


def test_structures_in_lists_are_rendered(synthetic: RequestValidator) -> None:
    items = [{"Key": "aaa", "Value": "bbb"}, {"Key": "ccc"}]
    assert validation_message(synthetic, "Everything", {"Items": items}) == one_error(
        "Value '[{Key=aaa, Value=bbb}, {Key=ccc}]' at 'items' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )


@pytest.mark.parametrize(
    ("member", "accepted", "rejected"),
    [
        ("Dotted", ["abc", "a-c"], ["a\rc", "a\nc", "a\u2028c", "abcd"]),  # Java's '.' skips line terminators
        ("Word", ["abc_123"], ["\u00e9t\u00e9", "a b"]),  # Java's \w is ASCII-only
        ("Posix", ["abc.*"], ["abc", "ab1.*", "\u00e9.*"]),  # \p{Alpha} and \Q..\E
    ],
)
def test_java_pattern_semantics(
    synthetic: RequestValidator, member: str, accepted: list[str], rejected: list[str]
) -> None:
    for value in accepted:
        assert synthetic.validate("Everything", {member: value}) == {member: value}
    for value in rejected:
        assert "Member must satisfy regular expression pattern" in validation_message(
            synthetic, "Everything", {member: value}
        )


def test_untranslatable_pattern_is_not_enforced(synthetic: RequestValidator) -> None:
    # \p{L} (a Unicode category) has no equivalent in Python's re: accept rather than wrongly reject.
    assert synthetic.validate("Everything", {"Unicode": "123"}) == {"Unicode": "123"}


def test_document_and_wire_names(synthetic: RequestValidator) -> None:
    body = {"Doc": {"free": ["form", 1, None]}, "renamed_on_wire": "value", "Renamed": "ignored"}
    assert synthetic.validate("Everything", body) == {"Doc": {"free": ["form", 1, None]}, "Renamed": "value"}
    assert validation_message(synthetic, "Everything", {"renamed_on_wire": "v"}).endswith(
        "at 'renamed' failed to satisfy constraint: Member must have length greater than or equal to 3"
    )


# --------------------------------------------------------------------------------------------------
# property tests over every operation of the model
# --------------------------------------------------------------------------------------------------
def _input_shapes(model: botocore.model.ServiceModel) -> Iterator[botocore.model.Shape]:
    seen: set[str] = set()
    stack = [
        model.operation_model(name).input_shape
        for name in model.operation_names
        if model.operation_model(name).input_shape is not None
    ]
    while stack:
        shape = stack.pop()
        yield shape
        if shape.name in seen:
            continue
        seen.add(shape.name)
        if isinstance(shape, botocore.model.StructureShape):
            stack.extend(shape.members.values())
        elif isinstance(shape, botocore.model.ListShape):
            stack.append(shape.member)
        elif isinstance(shape, botocore.model.MapShape):
            stack.extend((shape.key, shape.value))


_KMS_MODEL = botocore.session.get_session().get_service_model("kms")
_KMS_VALIDATOR = RequestValidator(_KMS_MODEL)
_OPERATIONS = list(_KMS_MODEL.operation_names)

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "QQ==", "QUJD", "QR==", "ENCRYPT_DECRYPT", "alias/x", KEY_ARN])
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def _json_bodies(draw: st.DrawFn) -> tuple[str, object]:
    """An operation and a body: arbitrary JSON, usually an object using that operation's member names."""
    operation = draw(st.sampled_from(_OPERATIONS))
    shape = _KMS_MODEL.operation_model(operation).input_shape
    names = list(shape.members) if shape is not None else []
    keys = st.sampled_from(names) | st.text(max_size=10) if names else st.text(max_size=10)
    body = draw(st.dictionaries(keys, _json_values, max_size=8) | _json_values)
    return operation, body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json_bodies())
def test_any_json_body_gives_a_dict_or_an_aws_error(case: tuple[str, object]) -> None:
    operation, body = case
    try:
        result = _KMS_VALIDATOR.validate(operation, body)
    except (ValidationException, SerializationException) as exc:
        assert exc.message
    else:
        assert isinstance(result, dict)


def _typed_value(shape: botocore.model.Shape, depth: int) -> st.SearchStrategy[Any]:
    """Values of the right JSON type for ``shape`` (constraints are not necessarily met)."""
    kind = shape.type_name
    if kind == "string":
        enum = shape.metadata.get("enum")
        return st.sampled_from(enum) if enum else st.text(max_size=20)
    if kind == "blob":
        return st.binary(max_size=20).map(b64)
    if kind == "integer":
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if kind == "long":
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.integers(min_value=0, max_value=2**33) | st.floats(min_value=0, max_value=2**33)
    if kind == "list":
        return st.lists(_typed_value(shape.member, depth + 1), max_size=3 if depth < 3 else 0)
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), _typed_value(shape.value, depth + 1), max_size=3)
    if kind == "structure":
        optional = {name: _typed_value(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=optional if depth < 3 else {})
    raise AssertionError(f"unexpected shape type {kind}")


@st.composite
def _typed_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    operation = draw(st.sampled_from(_OPERATIONS))
    shape = _KMS_MODEL.operation_model(operation).input_shape
    body = draw(_typed_value(shape, 0)) if shape is not None else {}
    return operation, body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_typed_bodies())
def test_type_correct_bodies_never_give_serialization_errors(case: tuple[str, dict[str, Any]]) -> None:
    operation, body = case
    try:
        result = _KMS_VALIDATOR.validate(operation, body)
    except ValidationException:
        return
    assert result == _decoded(_KMS_MODEL.operation_model(operation).input_shape, body)


def _decoded(shape: botocore.model.Shape, value: Any) -> Any:
    """What validate() should return for a type-correct ``value``: the same, with blobs decoded."""
    if shape.type_name == "blob":
        return base64.b64decode(value)
    if shape.type_name == "list":
        return [_decoded(shape.member, item) for item in value]
    if shape.type_name == "map":
        return {key: _decoded(shape.value, item) for key, item in value.items()}
    if shape.type_name == "structure":
        return {name: _decoded(shape.members[name], item) for name, item in value.items()}
    return value


def test_a_flood_of_violations_makes_a_bounded_message(validator: RequestValidator) -> None:
    """CreateGrant with 262,000 bad operations made a 104 MB message (and audit record)."""
    operations = ["x" * 40] * 262_000
    message = validation_message(
        validator, "CreateGrant", {"KeyId": "k", "GranteePrincipal": "p", "Operations": operations}
    )
    assert message.startswith("262000 validation errors detected: ")
    assert message.endswith(f"; and {262_000 - 100} more")
    assert len(message) < 70_000


def test_long_values_are_quoted_up_to_a_bound(validator: RequestValidator) -> None:
    too_long = "d" * 1_000_000
    message = validation_message(validator, "UpdateKeyDescription", {"KeyId": "k", "Description": too_long})
    assert f"'{'d' * 16_384}... (1000000 characters)' at 'description'" in message
    assert len(message) < 17_000


def test_encryption_contexts_are_bounded(validator: RequestValidator) -> None:
    validator.validate("Encrypt", {"KeyId": "k", "Plaintext": "eA==", "EncryptionContext": {"k": "v" * 8191}})
    for member, operation in (("EncryptionContext", "Encrypt"), ("DestinationEncryptionContext", "ReEncrypt")):
        body = {
            "KeyId": "k",
            "DestinationKeyId": "k",
            "Plaintext": "eA==",
            "CiphertextBlob": "eA==",
            member: {"k": "v" * 8192},
        }
        message = validation_message(validator, operation, body)
        assert message == (
            f"1 validation error detected: Value at '{member[0].lower()}{member[1:]}' failed to satisfy constraint: "
            "Member must have keys and values of at most 8192 bytes in all"
        )


@pytest.mark.parametrize("service", ["kms", "iam"])
def test_the_model_read_with_the_loader_is_the_sessions_model(service: str) -> None:
    from trent.edge.validation import service_model

    ours = service_model(service)
    sessions = botocore.session.get_session().get_service_model(service)
    assert ours.metadata == sessions.metadata
    assert list(ours.operation_names) == list(sessions.operation_names)
    assert list(ours.shape_names) == list(sessions.shape_names)
    for name in ours.shape_names:
        shape, expected = ours.shape_for(name), sessions.shape_for(name)
        assert (shape.type_name, shape.metadata) == (expected.type_name, expected.metadata)
        assert list(getattr(shape, "members", {})) == list(getattr(expected, "members", {}))

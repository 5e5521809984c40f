"""Encrypt, Decrypt, ReEncrypt, data keys, data key pairs, GenerateRandom and DryRun, through boto3."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from tests.e2e.test_auth import send_signed
from tests.e2e.test_keys import error_of, new_key
from tests.server import TrentServer

DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."


@pytest.fixture(scope="module")
def key(kms: Any) -> dict[str, Any]:
    return new_key(kms, Description="symmetric tests")


def test_encrypt_decrypt_round_trip(kms: Any, key: dict[str, Any]) -> None:
    context = {"purpose": "test", "tenant": "42"}
    encrypted = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret data", EncryptionContext=context)
    assert encrypted["KeyId"] == key["Arn"]
    assert encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert b"secret data" not in encrypted["CiphertextBlob"]
    decrypted = kms.decrypt(
        CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext=dict(reversed(context.items()))
    )
    assert decrypted["Plaintext"] == b"secret data"
    assert decrypted["KeyId"] == key["Arn"]
    assert decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert decrypted["KeyMaterialId"] == key["CurrentKeyMaterialId"]


def test_decrypt_with_every_key_identifier(kms: Any, key: dict[str, Any]) -> None:
    alias = f"alias/dec-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=alias, Plaintext=b"x")["CiphertextBlob"]
    for identifier in (key["KeyId"], key["Arn"], alias):
        assert kms.decrypt(CiphertextBlob=blob, KeyId=identifier)["Plaintext"] == b"x"


def test_each_encryption_is_fresh(kms: Any, key: dict[str, Any]) -> None:
    first = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    second = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    assert first != second


@pytest.mark.parametrize(
    ("encrypt_context", "decrypt_context"),
    [
        ({"a": "1"}, None),
        (None, {"a": "1"}),
        ({"a": "1"}, {"a": "2"}),
        ({"a": "1"}, {"A": "1"}),
        ({"ab": "c"}, {"a": "bc"}),
        ({"a": "1", "b": "2"}, {"a": "1"}),
        ({"a": "1"}, {"a": "1", "b": "2"}),
    ],
)
def test_wrong_encryption_context_is_refused(
    kms: Any, key: dict[str, Any], encrypt_context: Any, decrypt_context: Any
) -> None:
    kwargs = {"EncryptionContext": encrypt_context} if encrypt_context else {}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", **kwargs)["CiphertextBlob"]
    kwargs = {"EncryptionContext": decrypt_context} if decrypt_context else {}
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, **kwargs)
    assert error_of(exc) == ("InvalidCiphertextException", "")


def test_invalid_ciphertext_has_no_message_field(server: TrentServer, kms: Any, key: dict[str, Any]) -> None:
    access_key, secret_key = server.admin_credentials()
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    body = json.dumps({"CiphertextBlob": base64.b64encode(blob[:-1] + bytes([blob[-1] ^ 1])).decode()}).encode()
    status, response = send_signed(
        server, body, access_key=access_key, secret_key=secret_key, target="TrentService.Decrypt"
    )
    assert (status, response) == (400, {"__type": "InvalidCiphertextException"})


def test_every_byte_of_the_blob_is_authenticated(kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    other = new_key(kms)["KeyId"]
    context = {"k": "v"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"tamper me", EncryptionContext=context)["CiphertextBlob"]
    for index in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = blob[:index] + bytes([blob[index] ^ flip]) + blob[index + 1 :]
            with pytest.raises(ClientError) as exc:
                kms.decrypt(CiphertextBlob=tampered, EncryptionContext=context)
            assert error_of(exc)[0] == "InvalidCiphertextException", (index, flip)
    for truncated in (blob[:-1], blob[:20], blob[:1], blob + b"\x00"):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=truncated, EncryptionContext=context)
        assert error_of(exc)[0] == "InvalidCiphertextException"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"tamper me"
    assert other  # a second key exists, so a changed key ID can name a real key and still fail


def test_incorrect_key(kms: Any, key: dict[str, Any]) -> None:
    other = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert error_of(exc) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )


def test_an_hmac_key_named_for_a_ciphertext_is_the_incorrect_key(kms: Any, key: dict[str, Any]) -> None:
    """The ciphertext's key is compared with the named one before the named key's usage is looked at."""
    hmac_key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for call in (
        lambda: kms.decrypt(CiphertextBlob=blob, KeyId=hmac_key["KeyId"]),
        lambda: kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=hmac_key["KeyId"], DestinationKeyId=key["KeyId"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        )


def test_key_states(kms: Any) -> None:
    metadata = new_key(kms)
    blob = kms.encrypt(KeyId=metadata["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=metadata["KeyId"])
    for call in (
        lambda: kms.encrypt(KeyId=metadata["KeyId"], Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.generate_data_key(KeyId=metadata["KeyId"], KeySpec="AES_256"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("DisabledException", f"{metadata['Arn']} is disabled.")
    kms.enable_key(KeyId=metadata["KeyId"])
    kms.schedule_key_deletion(KeyId=metadata["KeyId"])
    for call in (
        lambda: kms.encrypt(KeyId=metadata["KeyId"], Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("KMSInvalidStateException", f"{metadata['Arn']} is pending deletion.")


def test_key_usage_and_algorithm_errors(kms: Any, key: dict[str, Any]) -> None:
    hmac_key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=hmac_key["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"{hmac_key['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.",
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.",
    )


def test_plaintext_size_limit(kms: Any, key: dict[str, Any]) -> None:
    assert (
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key["KeyId"], Plaintext=b"a" * 4096)["CiphertextBlob"])[
            "Plaintext"
        ]
        == b"a" * 4096
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"a" * 4097)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096",
    )


def test_rotation_keeps_old_ciphertexts_decryptable(kms: Any) -> None:
    metadata = new_key(kms)
    key_id = metadata["KeyId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before", EncryptionContext={"v": "1"})["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old = kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "1"})
    assert old["Plaintext"] == b"before"
    assert old["KeyMaterialId"] == metadata["CurrentKeyMaterialId"]
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    new = kms.decrypt(CiphertextBlob=new_blob)
    assert new["Plaintext"] == b"after" and new["KeyMaterialId"] == current != metadata["CurrentKeyMaterialId"]


def test_re_encrypt_between_keys_and_contexts(kms: Any, key: dict[str, Any]) -> None:
    destination = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"moving", EncryptionContext={"from": "a"})["CiphertextBlob"]
    response = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"from": "a"},
        DestinationKeyId=destination["KeyId"],
        DestinationEncryptionContext={"to": "b"},
    )
    assert response["SourceKeyId"] == key["Arn"]
    assert response["KeyId"] == destination["Arn"]
    assert response["SourceEncryptionAlgorithm"] == response["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert response["DestinationKeyMaterialId"] == destination["CurrentKeyMaterialId"]
    decrypted = kms.decrypt(CiphertextBlob=response["CiphertextBlob"], EncryptionContext={"to": "b"})
    assert decrypted["Plaintext"] == b"moving" and decrypted["KeyId"] == destination["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["KeyId"])
    assert error_of(exc)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize(
    ("kwargs", "length"),
    [
        ({"KeySpec": "AES_256"}, 32),
        ({"KeySpec": "AES_128"}, 16),
        ({"NumberOfBytes": 1}, 1),
        ({"NumberOfBytes": 1024}, 1024),
    ],
)
def test_generate_data_key(kms: Any, key: dict[str, Any], kwargs: dict[str, Any], length: int) -> None:
    response = kms.generate_data_key(KeyId=key["KeyId"], EncryptionContext={"c": "d"}, **kwargs)
    assert len(response["Plaintext"]) == length
    assert response["KeyId"] == key["Arn"]
    assert response["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert (
        kms.decrypt(CiphertextBlob=response["CiphertextBlob"], EncryptionContext={"c": "d"})["Plaintext"]
        == response["Plaintext"]
    )
    without = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], **kwargs)
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == length


@pytest.mark.parametrize("kwargs", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}])
def test_generate_data_key_needs_exactly_one_size(kms: Any, key: dict[str, Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key["KeyId"], **kwargs)
    assert error_of(exc) == ("ValidationException", "Please specify either number of bytes or key spec.")


@pytest.mark.parametrize(
    "pair_spec",
    [
        "RSA_2048",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
    ],
)
def test_generate_data_key_pair(kms: Any, key: dict[str, Any], pair_spec: str) -> None:
    response = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec=pair_spec, EncryptionContext={"p": "q"})
    assert response["KeyPairSpec"] == pair_spec and response["KeyId"] == key["Arn"]
    private_key = serialization.load_der_private_key(response["PrivateKeyPlaintext"], password=None)
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_der == response["PublicKey"]
    decrypted = kms.decrypt(CiphertextBlob=response["PrivateKeyCiphertextBlob"], EncryptionContext={"p": "q"})
    assert decrypted["Plaintext"] == response["PrivateKeyPlaintext"]
    without = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec=pair_spec)
    assert "PrivateKeyPlaintext" not in without
    assert serialization.load_der_public_key(without["PublicKey"]) is not None


def test_data_keys_need_a_symmetric_key(kms: Any) -> None:
    rsa_key = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=rsa_key["KeyId"], KeySpec="AES_256")
    assert error_of(exc)[0] == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=rsa_key["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert error_of(exc)[0] == "InvalidKeyUsageException"


def test_generate_random(kms: Any, server: TrentServer) -> None:
    for size in (1, 32, 1024):
        assert len(kms.generate_random(NumberOfBytes=size)["Plaintext"]) == size
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != kms.generate_random(NumberOfBytes=32)["Plaintext"]
    with pytest.raises(ClientError) as exc:
        kms.generate_random()
    assert error_of(exc) == ("ValidationException", "NumberOfBytes is required.")


def test_grant_tokens_shape_is_validated(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["t"] * 11)
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message is not None and "'grantTokens'" in message and "less than or equal to 10" in message


# --- DryRun ---------------------------------------------------------------------------------------------
def test_dry_run_on_every_symmetric_operation(kms: Any, key: dict[str, Any]) -> None:
    destination = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    calls = [
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True),
        lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        lambda: kms.decrypt(KeyId=key["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]),
        lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["KeyId"], DryRun=True),
        lambda: kms.re_encrypt(
            SourceKeyId=key["KeyId"],
            DestinationKeyId=destination["KeyId"],
            DryRun=True,
            DryRunModifiers=["IGNORE_CIPHERTEXT"],
        ),
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True),
        lambda: kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True),
        lambda: kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256", DryRun=True),
        lambda: kms.generate_data_key_pair_without_plaintext(
            KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256", DryRun=True
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("DryRunOperationException", DRY_RUN_MESSAGE)


def test_dry_run_still_checks_everything(kms: Any, key: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, DryRun=True)  # wrong context: the ciphertext is examined
    assert error_of(exc)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(
            CiphertextBlob=b"garbage" * 10,
            KeyId=key["KeyId"],
            DryRun=True,
            DryRunModifiers=["IGNORE_CIPHERTEXT"],
        )
    assert error_of(exc)[0] == "DryRunOperationException"
    # Without IGNORE_CIPHERTEXT a DryRun needs its ciphertext like any other request.
    null_ciphertext = (
        "ValidationException",
        "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
        "Member must not be null",
    )
    with pytest.raises(ClientError) as exc:
        kms.decrypt(KeyId=key["KeyId"], DryRun=True)
    assert error_of(exc) == null_ciphertext
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(SourceKeyId=key["KeyId"], DestinationKeyId=key["KeyId"], DryRun=True)
    assert error_of(exc) == null_ciphertext
    disabled = new_key(kms)
    kms.disable_key(KeyId=disabled["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=disabled["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_of(exc)[0] == "DisabledException"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId="alias/nope-nope", Plaintext=b"x", DryRun=True)
    assert error_of(exc)[0] == "NotFoundException"

"""Imported key material (Origin EXTERNAL) through boto3 against a live server, on SQLite and PostgreSQL: the
client wraps its own material as AWS's documentation tells it to, and the test proves that Trent uses exactly
those bytes."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tests.e2e.test_authorization import key_policy, new_user
from tests.e2e.test_keys import error_of, new_key
from tests.server import TrentServer

A_ROOT = "arn:aws:iam::000000000000:root"
DOES_NOT_EXPIRE = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def wrap(parameters: dict[str, Any], algorithm: str, material: bytes) -> bytes:
    """What a client does with GetParametersForImport's answer (AWS's documented procedure)."""
    public_key = serialization.load_der_public_key(parameters["PublicKey"])
    assert isinstance(public_key, rsa.RSAPublicKey)
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public_key.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public_key.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    *,
    algorithm: str = "RSAES_OAEP_SHA_256",
    spec: str = "RSA_2048",
    **extra: Any,
) -> dict[str, Any]:
    parameters = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    answer: dict[str, Any] = kms.import_key_material(
        KeyId=key_id,
        ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=wrap(parameters, algorithm, material),
        **(extra or DOES_NOT_EXPIRE),
    )
    return answer


def pkcs8(private_key: Any) -> bytes:
    der: bytes = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return der


def test_a_symmetric_key_lives_on_imported_material_and_loses_and_regains_it(kms: Any) -> None:
    created = new_key(kms, Origin="EXTERNAL", Description="byok")
    arn = created["Arn"]
    assert (created["KeyState"], created["Enabled"], created["Origin"]) == ("PendingImport", False, "EXTERNAL")
    assert not {"CurrentKeyMaterialId", "ExpirationModel", "ValidTo"} & set(created)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=arn, Plaintext=b"x")
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending import.")

    parameters = kms.get_parameters_for_import(
        KeyId=created["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    assert parameters["KeyId"] == arn
    assert serialization.load_der_public_key(parameters["PublicKey"]).key_size == 3072  # type: ignore[union-attr]
    valid_for = parameters["ParametersValidTo"].timestamp() - time.time()
    assert 24 * 3600 - 120 < valid_for <= 24 * 3600 + 5

    material = os.urandom(32)
    answer = kms.import_key_material(
        KeyId=arn,
        ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=wrap(parameters, "RSAES_OAEP_SHA_256", material),
        **DOES_NOT_EXPIRE,
    )
    material_id = answer["KeyMaterialId"]
    assert answer["KeyId"] == arn and len(material_id) == 64 and int(material_id, 16) >= 0
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Enabled", True)
    assert described["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in described
    assert described["CurrentKeyMaterialId"] == material_id
    blob = kms.encrypt(KeyId=arn, Plaintext=b"before", EncryptionContext={"a": "b"})["CiphertextBlob"]

    deleted = kms.delete_imported_key_material(KeyId=arn)
    assert deleted == {"KeyId": arn, "KeyMaterialId": material_id, "ResponseMetadata": deleted["ResponseMetadata"]}
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert described["KeyState"] == "PendingImport" and "ExpirationModel" not in described
    assert described["CurrentKeyMaterialId"] == material_id  # kept, as AWS keeps it
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending import.")

    # Other bytes are not this key's material; the same bytes, through the other wrapping family, are.
    with pytest.raises(ClientError) as exc:
        import_material(kms, arn, os.urandom(32))
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    again = import_material(kms, arn, material, algorithm="RSA_AES_KEY_WRAP_SHA_1", spec="RSA_4096")
    assert again["KeyMaterialId"] == material_id
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"before"


def test_an_hmac_key_uses_exactly_the_imported_bytes(kms: Any) -> None:
    key_id = new_key(kms, Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    material = os.urandom(40)  # HMAC_256 takes 32 to 64 bytes
    answer = import_material(kms, key_id, material)
    assert "KeyMaterialId" not in answer  # AWS shows no material IDs for HMAC or asymmetric keys
    mac = kms.generate_mac(KeyId=key_id, Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(material, b"message", hashlib.sha256).digest()
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, os.urandom(31))
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"


@pytest.mark.parametrize(
    ("spec", "curve", "algorithm", "wrapping_spec"),
    [
        ("ECC_NIST_P256", ec.SECP256R1(), "RSAES_OAEP_SHA_1", "RSA_2048"),
        ("ECC_SECG_P256K1", ec.SECP256K1(), "RSAES_OAEP_SHA_256", "RSA_2048"),
        ("ECC_NIST_P521", ec.SECP521R1(), "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
    ],
)
def test_an_imported_ecc_key_signs_with_the_clients_private_key(
    kms: Any, spec: str, curve: ec.EllipticCurve, algorithm: str, wrapping_spec: str
) -> None:
    private_key = ec.generate_private_key(curve)
    key_id = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyId"]
    import_material(kms, key_id, pkcs8(private_key), algorithm=algorithm, spec=wrapping_spec)
    expected_public = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == expected_public
    signing = {"ECC_NIST_P521": "ECDSA_SHA_512"}.get(spec, "ECDSA_SHA_256")
    signature = kms.sign(KeyId=key_id, Message=b"signed", SigningAlgorithm=signing)["Signature"]
    digest: hashes.HashAlgorithm = hashes.SHA512() if signing.endswith("512") else hashes.SHA256()
    private_key.public_key().verify(signature, b"signed", ec.ECDSA(digest))  # raises if not ours


def test_an_imported_rsa_key_needs_the_aes_key_wrap_and_decrypts_for_the_client(kms: Any) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = new_key(kms, Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyId"]
    with pytest.raises(ClientError) as exc:  # ~1.2 KB of PKCS#8 does not fit in one RSA-OAEP block
        import_material(kms, key_id, pkcs8(private_key)[:190])
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    import_material(kms, key_id, pkcs8(private_key), algorithm="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_4096")
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    ciphertext = private_key.public_key().encrypt(b"for the key", oaep)
    decrypted = kms.decrypt(KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert decrypted["Plaintext"] == b"for the key"


def test_a_key_of_the_wrong_curve_is_refused_and_changes_nothing(kms: Any) -> None:
    key_id = new_key(kms, Origin="EXTERNAL", KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyId"]
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, pkcs8(ec.generate_private_key(ec.SECP256R1())))
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_tokens_are_bound_to_their_key_and_their_material_must_unwrap(kms: Any) -> None:
    first = new_key(kms, Origin="EXTERNAL")["KeyId"]
    second = new_key(kms, Origin="EXTERNAL")["KeyId"]
    parameters = kms.get_parameters_for_import(
        KeyId=first, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048"
    )
    wrapped = wrap(parameters, "RSAES_OAEP_SHA_1", os.urandom(32))
    cases = [
        (
            dict(KeyId=second, ImportToken=parameters["ImportToken"], EncryptedKeyMaterial=wrapped),
            "InvalidImportTokenException",
        ),
        (
            dict(KeyId=first, ImportToken=parameters["ImportToken"][:-1] + b"\x00", EncryptedKeyMaterial=wrapped),
            "InvalidImportTokenException",
        ),
        (
            dict(KeyId=first, ImportToken=parameters["ImportToken"], EncryptedKeyMaterial=wrapped[:-1] + b"\x00"),
            "InvalidCiphertextException",
        ),
    ]
    for request, code in cases:
        with pytest.raises(ClientError) as exc:
            kms.import_key_material(**request, **DOES_NOT_EXPIRE)
        assert error_of(exc)[0] == code, request
    for key_id in (first, second):
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    # The token is good until it expires: a second import with it works.
    kms.import_key_material(
        KeyId=first, ImportToken=parameters["ImportToken"], EncryptedKeyMaterial=wrapped, **DOES_NOT_EXPIRE
    )
    assert kms.describe_key(KeyId=first)["KeyMetadata"]["KeyState"] == "Enabled"


def test_aws_errors_for_what_a_key_of_generated_material_cannot_do(kms: Any) -> None:
    generated = new_key(kms)
    for call in (
        lambda: kms.get_parameters_for_import(
            KeyId=generated["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        ),
        lambda: kms.delete_imported_key_material(KeyId=generated["KeyId"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (
            "UnsupportedOperationException",
            f"{generated['Arn']} origin is AWS_KMS which is not valid for this operation.",
        )
    external = new_key(kms, Origin="EXTERNAL")
    import_material(kms, external["KeyId"], os.urandom(32))
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=external["KeyId"])
    assert error_of(exc) == (
        "UnsupportedOperationException",
        f"{external['Arn']} origin is EXTERNAL which is not valid for this operation.",
    )
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=external["KeyId"])
    assert error_of(exc) == (
        "KMSInvalidStateException",
        f"No available key material pending rotation for the key: {external['Arn']}.",
    )
    with pytest.raises(ClientError) as exc:
        kms.get_parameters_for_import(
            KeyId=external["KeyId"], WrappingAlgorithm="RSAES_PKCS1_V1_5", WrappingKeySpec="RSA_2048"
        )
    assert error_of(exc)[0] == "UnsupportedOperationException"


def test_expiration_settings_are_checked_before_anything_else(kms: Any) -> None:
    key_id = new_key(kms, Origin="EXTERNAL")["KeyId"]
    parameters = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    request = {
        "KeyId": key_id,
        "ImportToken": parameters["ImportToken"],
        "EncryptedKeyMaterial": wrap(parameters, "RSAES_OAEP_SHA_256", os.urandom(32)),
    }
    with pytest.raises(ClientError) as exc:
        kms.import_key_material(**request)
    assert error_of(exc) == (
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    )
    for bad in (time.time() - 10, time.time() + 366 * 86400):
        with pytest.raises(ClientError) as exc:
            kms.import_key_material(**request, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=bad)
        assert error_of(exc)[0] == "ValidationException"
    valid_to = int(time.time()) + 7 * 86400
    kms.import_key_material(**request, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert described["ValidTo"].timestamp() == valid_to
    rotations = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["ImportState"], r["ExpirationModel"], r["ValidTo"].timestamp()) for r in rotations] == [
        ("IMPORTED", "KEY_MATERIAL_EXPIRES", valid_to)
    ]


def test_grants_and_import_condition_keys_decide_as_on_any_key(server: TrentServer, kms: Any, tmp_path: Path) -> None:
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    only_sha256 = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:GetParametersForImport",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:WrappingAlgorithm": "RSAES_OAEP_SHA_256"}},
    }
    key_id = new_key(kms, Origin="EXTERNAL", Policy=key_policy(root, only_sha256))["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048")
    assert error_of(exc)[0] == "AccessDeniedException"
    import_material(kms, key_id, os.urandom(32))
    user, as_user = new_user(server, tmp_path)
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(exc)[0] == "AccessDeniedException"
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Encrypt", "Decrypt"])
    blob = as_user.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_import_is_audited_without_material_or_tokens(server: TrentServer, kms: Any) -> None:
    key = new_key(kms, Origin="EXTERNAL")
    material = os.urandom(32)
    import_material(kms, key["KeyId"], material)
    events = [e for e in server.audit_events("--key", key["Arn"]) if e["eventName"] == "ImportKeyMaterial"]
    assert len(events) == 1
    event = events[0]
    assert event["readOnly"] is False
    assert event["requestParameters"]["expirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert event["responseElements"]["keyMaterialId"]
    text = str(event)
    assert "importToken" not in text and "encryptedKeyMaterial" not in text and material.hex() not in text


def test_new_material_waits_pending_rotation_then_becomes_current_and_old_ciphertexts_still_decrypt(
    kms: Any,
) -> None:
    key = new_key(kms, Origin="EXTERNAL")
    arn = key["Arn"]
    first, second, third = os.urandom(32), os.urandom(32), os.urandom(32)
    first_id = import_material(kms, arn, first, KeyMaterialDescription="first one", **DOES_NOT_EXPIRE)["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=arn, Plaintext=b"old")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=arn)
    assert error_of(exc) == (
        "KMSInvalidStateException",
        f"No available key material pending rotation for the key: {arn}.",
    )

    second_id = import_material(kms, arn, second, ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)["KeyMaterialId"]
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert described["CurrentKeyMaterialId"] == first_id and described["KeyState"] == "Enabled"
    with pytest.raises(ClientError) as exc:  # one pending material at a time
        import_material(kms, arn, third, ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)
    code, message = error_of(exc)
    assert code == "KMSInvalidStateException" and message is not None
    assert message.endswith(f"because another key material (id: {second_id}) is pending rotation.")
    listed = kms.list_key_rotations(KeyId=arn, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in listed] == [
        (first_id, "CURRENT"),
        (second_id, "PENDING_ROTATION"),
    ]
    assert listed[0]["KeyMaterialDescription"] == "first one"
    assert kms.list_key_rotations(KeyId=arn)["Rotations"] == []  # ROTATIONS_ONLY: nothing rotated yet

    assert kms.rotate_key_on_demand(KeyId=arn)["KeyId"] == arn
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["CurrentKeyMaterialId"] == second_id
    rotations = kms.list_key_rotations(KeyId=arn)["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["RotationType"]) for r in rotations] == [
        (second_id, "CURRENT", "ON_DEMAND")
    ]
    new_blob = kms.encrypt(KeyId=arn, Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"  # with the NON_CURRENT material
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"new"

    # Losing the old material makes the key wait for it: every permanently associated material must be there.
    kms.delete_imported_key_material(KeyId=arn, KeyMaterialId=first_id)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, arn, first, KeyMaterialId=first_id, **DOES_NOT_EXPIRE)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"


def test_pending_material_can_be_withdrawn_and_replaced(kms: Any) -> None:
    arn = new_key(kms, Origin="EXTERNAL")["Arn"]
    import_material(kms, arn, os.urandom(32))
    withdrawn = import_material(kms, arn, os.urandom(32), ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)
    kms.delete_imported_key_material(KeyId=arn, KeyMaterialId=withdrawn["KeyMaterialId"])
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"  # pending material is not the key's
    replacement = import_material(kms, arn, os.urandom(32), ImportType="NEW_KEY_MATERIAL", **DOES_NOT_EXPIRE)
    states = [
        r["KeyMaterialState"]
        for r in kms.list_key_rotations(KeyId=arn, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    ]
    assert states == ["CURRENT", "PENDING_ROTATION"]
    kms.rotate_key_on_demand(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["CurrentKeyMaterialId"] == replacement["KeyMaterialId"]
    with pytest.raises(ClientError) as exc:
        kms.delete_imported_key_material(KeyId=arn, KeyMaterialId="0" * 64)
    assert error_of(exc)[0] == "NotFoundException"


@pytest.mark.parametrize("deleted_while", ["Enabled", "PendingDeletion"])
def test_cancelling_a_deletion_cannot_bring_back_material_that_is_gone(kms: Any, deleted_while: str) -> None:
    """Found by an attack from outside: ScheduleKeyDeletion, CancelKeyDeletion (which made the key Disabled) and
    EnableKey brought deleted material back into use, served from the process's cache of unwrapped material."""
    arn = new_key(kms, Origin="EXTERNAL")["Arn"]
    import_material(kms, arn, os.urandom(32))
    blob = kms.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]  # the material is now cached
    if deleted_while == "Enabled":
        kms.delete_imported_key_material(KeyId=arn)
        kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    else:
        kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        kms.delete_imported_key_material(KeyId=arn)
    kms.cancel_key_deletion(KeyId=arn)
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("PendingImport", False)
    for call in (
        lambda: kms.enable_key(KeyId=arn),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending import.")


def test_cancelling_the_deletion_of_a_key_never_imported_leaves_it_waiting_for_material(kms: Any) -> None:
    arn = new_key(kms, Origin="EXTERNAL")["Arn"]
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        kms.enable_key(KeyId=arn)
    assert error_of(exc)[0] == "KMSInvalidStateException"
    material = os.urandom(32)
    import_material(kms, arn, material)  # and it works once it has material
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_key_with_its_material_whole_is_disabled_after_a_cancelled_deletion(kms: Any) -> None:
    arn = new_key(kms, Origin="EXTERNAL")["Arn"]
    import_material(kms, arn, os.urandom(32))
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"  # as for any key
    kms.enable_key(KeyId=arn)
    assert kms.encrypt(KeyId=arn, Plaintext=b"x")["KeyId"] == arn

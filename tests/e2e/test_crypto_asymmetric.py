"""Sign/Verify, RSA encryption, MACs, ECDH and GetPublicKey through boto3, checked independently with
`cryptography` (never with Trent's own code)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from tests.e2e.test_keys import error_of, new_key

HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
SIGNING = [
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_2048", "RSASSA_PSS_SHA_384"),
    ("RSA_2048", "RSASSA_PSS_SHA_512"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("RSA_3072", "RSASSA_PSS_SHA_256"),
    ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
]
_keys: dict[tuple[str, str, str], dict[str, Any]] = {}


def key_of(kms: Any, spec: str, usage: str) -> dict[str, Any]:
    """One key per (server, spec, usage) for the whole module: RSA key generation is slow."""
    cache_key = (kms.meta.endpoint_url, spec, usage)
    if cache_key not in _keys:
        _keys[cache_key] = new_key(kms, KeySpec=spec, KeyUsage=usage)
    return _keys[cache_key]


def public_key(kms: Any, key_id: str) -> Any:
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def verify_locally(public: Any, algorithm: str, signature: bytes, message: bytes, digest: bool) -> None:
    hash_algorithm = HASHES[algorithm[-3:]]
    data_hash: Any = utils.Prehashed(hash_algorithm) if digest else hash_algorithm
    if algorithm.startswith("RSASSA_PSS"):
        public.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size),
            data_hash,
        )
    elif algorithm.startswith("RSASSA_PKCS1"):
        public.verify(signature, message, padding.PKCS1v15(), data_hash)
    else:
        public.verify(signature, message, ec.ECDSA(data_hash))


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_sign_verifies_independently(kms: Any, spec: str, algorithm: str, message_type: str) -> None:
    key = key_of(kms, spec, "SIGN_VERIFY")
    raw = b"message to sign " * 10
    message = hashlib.new("sha" + algorithm[-3:], raw).digest() if message_type == "DIGEST" else raw
    response = kms.sign(KeyId=key["KeyId"], Message=message, MessageType=message_type, SigningAlgorithm=algorithm)
    assert response["KeyId"] == key["Arn"] and response["SigningAlgorithm"] == algorithm
    public = public_key(kms, key["KeyId"])
    verify_locally(public, algorithm, response["Signature"], message, message_type == "DIGEST")
    # RAW and DIGEST agree: signing the raw message equals signing its digest.
    verify_locally(public, algorithm, response["Signature"], raw, False)
    verified = kms.verify(
        KeyId=key["KeyId"],
        Message=message,
        MessageType=message_type,
        Signature=response["Signature"],
        SigningAlgorithm=algorithm,
    )
    assert verified["SignatureValid"] is True and verified["KeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.verify(
            KeyId=key["KeyId"],
            Message=message[:-1] + bytes([message[-1] ^ 1]),
            MessageType=message_type,
            Signature=response["Signature"],
            SigningAlgorithm=algorithm,
        )
    assert error_of(exc) == ("KMSInvalidSignatureException", "")


def test_locally_made_signature_verifies_through_trent(kms: Any) -> None:
    """The reverse direction: Trent's Verify accepts what any ECDSA implementation would."""
    key = key_of(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    signature = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    with pytest.raises(InvalidSignature):
        verify_locally(public_key(kms, key["KeyId"]), "ECDSA_SHA_256", signature, b"other", False)


def test_ed25519(kms: Any) -> None:
    key = key_of(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    public = public_key(kms, key["KeyId"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    signature = kms.sign(KeyId=key["KeyId"], Message=b"hello", MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")[
        "Signature"
    ]
    public.verify(signature, b"hello")
    digest = hashlib.sha512(b"hello").digest()
    ph_signature = kms.sign(
        KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512"
    )["Signature"]
    assert len(ph_signature) == 64
    assert (
        kms.verify(
            KeyId=key["KeyId"],
            Message=digest,
            MessageType="DIGEST",
            Signature=ph_signature,
            SigningAlgorithm="ED25519_PH_SHA_512",
        )["SignatureValid"]
        is True
    )
    with pytest.raises(ClientError) as exc:
        kms.verify(
            KeyId=key["KeyId"],
            Message=digest,
            MessageType="DIGEST",
            Signature=signature,
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    assert error_of(exc)[0] == "KMSInvalidSignatureException"
    for algorithm, message_type in (("ED25519_SHA_512", "DIGEST"), ("ED25519_PH_SHA_512", "RAW")):
        with pytest.raises(ClientError) as exc:
            kms.sign(KeyId=key["KeyId"], Message=digest, MessageType=message_type, SigningAlgorithm=algorithm)
        assert error_of(exc)[0] == "ValidationException"


@pytest.mark.parametrize(("algorithm", "length"), [("ECDSA_SHA_256", 31), ("ECDSA_SHA_256", 33)])
def test_digest_length_is_checked(kms: Any, algorithm: str, length: int) -> None:
    key = key_of(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key["KeyId"], Message=b"x" * length, MessageType="DIGEST", SigningAlgorithm=algorithm)
    assert error_of(exc) == ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def test_signing_errors(kms: Any) -> None:
    key = key_of(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.",
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"m")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"{key['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.",
    )
    symmetric = new_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=symmetric["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(exc)[0] == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert error_of(exc)[0] == "DryRunOperationException"


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
@pytest.mark.parametrize(
    ("algorithm", "hash_algorithm", "hash_bytes"),
    [("RSAES_OAEP_SHA_1", hashes.SHA1(), 20), ("RSAES_OAEP_SHA_256", hashes.SHA256(), 32)],
)
def test_rsa_encryption(kms: Any, spec: str, algorithm: str, hash_algorithm: Any, hash_bytes: int) -> None:
    key = key_of(kms, spec, "ENCRYPT_DECRYPT")
    public = public_key(kms, key["KeyId"])
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hash_algorithm), algorithm=hash_algorithm, label=None)
    limit = public.key_size // 8 - 2 * hash_bytes - 2
    local = public.encrypt(b"L" * limit, oaep)
    decrypted = kms.decrypt(CiphertextBlob=local, KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
    assert decrypted["Plaintext"] == b"L" * limit and decrypted["EncryptionAlgorithm"] == algorithm
    assert "KeyMaterialId" not in decrypted
    remote = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"T" * limit, EncryptionAlgorithm=algorithm)
    assert (
        kms.decrypt(CiphertextBlob=remote["CiphertextBlob"], KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)[
            "Plaintext"
        ]
        == b"T" * limit
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"T" * (limit + 1), EncryptionAlgorithm=algorithm)
    assert error_of(exc) == (
        "ValidationException",
        f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.",
    )


def test_rsa_encryption_errors(kms: Any) -> None:
    key = key_of(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
    )
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, KeyId=key["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert error_of(exc)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)  # without KeyId, an RSA ciphertext names no key
    assert error_of(exc)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_hmac(kms: Any, bits: int) -> None:
    key = key_of(kms, f"HMAC_{bits}", "GENERATE_VERIFY_MAC")
    algorithm = f"HMAC_SHA_{bits}"
    response = kms.generate_mac(KeyId=key["KeyId"], Message=b"data", MacAlgorithm=algorithm)
    assert response["KeyId"] == key["Arn"] and response["MacAlgorithm"] == algorithm
    assert len(response["Mac"]) == bits // 8
    verified = kms.verify_mac(KeyId=key["KeyId"], Message=b"data", MacAlgorithm=algorithm, Mac=response["Mac"])
    assert verified["MacValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=key["KeyId"], Message=b"datA", MacAlgorithm=algorithm, Mac=response["Mac"])
    assert error_of(exc) == ("KMSInvalidMacException", "")
    other = "HMAC_SHA_256" if bits != 256 else "HMAC_SHA_384"
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=key["KeyId"], Message=b"data", MacAlgorithm=other)
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"Algorithm {other} is incompatible with key spec HMAC_{bits}.",
    )


def test_mac_is_a_real_hmac(kms: Any, server: Any) -> None:
    """Check against an HMAC computed with the stored key material, read through the root key."""
    from tests.e2e.test_persistence_cli import _raw_materials

    key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"abc", MacAlgorithm="HMAC_SHA_256")["Mac"]
    candidates = []
    for material in _raw_materials(server.data_dir, server.store_url):
        if len(material) == 32:
            h = hmac.HMAC(material, hashes.SHA256())
            h.update(b"abc")
            candidates.append(h.finalize())
    assert mac in candidates


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()), ("ECC_NIST_P521", ec.SECP521R1())],
)
def test_derive_shared_secret_matches_local_ecdh(kms: Any, spec: str, curve: Any) -> None:
    key = key_of(kms, spec, "KEY_AGREEMENT")
    peer = ec.generate_private_key(curve)
    peer_public = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_public)
    expected = peer.exchange(ec.ECDH(), public_key(kms, key["KeyId"]))
    assert response["SharedSecret"] == expected
    assert response["KeyId"] == key["Arn"] and response["KeyOrigin"] == "AWS_KMS"
    other_curve = (
        ec.generate_private_key(ec.SECP256K1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ClientError) as exc:
        kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=other_curve)
    code, message = error_of(exc)
    assert code == "ValidationException" and not message  # AWS sends this one without a message


def test_get_public_key_fields(kms: Any) -> None:
    key = key_of(kms, "RSA_2048", "SIGN_VERIFY")
    response = kms.get_public_key(KeyId=key["KeyId"])
    assert {k for k in response if k != "ResponseMetadata"} == {
        "KeyId",
        "PublicKey",
        "CustomerMasterKeySpec",
        "KeySpec",
        "KeyUsage",
        "SigningAlgorithms",
    }
    assert response["KeyId"] == key["Arn"] and response["KeyUsage"] == "SIGN_VERIFY"
    symmetric = new_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.get_public_key(KeyId=symmetric["KeyId"])
    assert error_of(exc)[0] == "UnsupportedOperationException"

"""Tests for trent.crypto.asymmetric.

Every signature the module makes is checked by `cryptography` directly with the public key (or, for
Ed25519ph, which `cryptography` lacks, by the module's own verifier; test_ed25519_vectors.py checks that
one against the RFC 8032 vectors and libsodium), and every ciphertext or shared secret is compared with
one computed locally. The expected algorithm tables and limits are written out here from the AWS KMS
documentation, not read from the code under test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from trent.crypto.asymmetric import (
    AlgorithmMismatch,
    AsymmetricError,
    DecryptionFailed,
    DigestLengthError,
    InvalidPeerKey,
    MessageTypeMismatch,
    PlaintextTooLarge,
    PrivateKey,
    UnsupportedSpec,
    digest_length,
    ed25519ph_verify,
    generate_key_pair,
    rsa_oaep_plaintext_limit,
)
from trent.crypto.keygen import generate_material
from trent.domain.keyspec import KEY_SPECS

RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
EC_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1")
ED = "ECC_NIST_EDWARDS25519"
ALL_SPECS = (*RSA_SPECS, *EC_SPECS, ED)

RSA_SIGNING = (  # AWS's order (fact sheet, "Algorithms advertised in KeyMetadata")
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
)
SIGNING: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(RSA_SPECS, RSA_SIGNING),
    "ECC_NIST_P256": ("ECDSA_SHA_256",),
    "ECC_NIST_P384": ("ECDSA_SHA_384",),
    "ECC_NIST_P521": ("ECDSA_SHA_512",),
    "ECC_SECG_P256K1": ("ECDSA_SHA_256",),
    ED: ("ED25519_SHA_512", "ED25519_PH_SHA_512"),
}
MESSAGE_TYPES = {"ED25519_SHA_512": ("RAW",), "ED25519_PH_SHA_512": ("DIGEST",)}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}

SIGN_CASES = [
    (spec, algorithm, message_type)
    for spec, algorithms in SIGNING.items()
    for algorithm in algorithms
    for message_type in MESSAGE_TYPES.get(algorithm, ("RAW", "DIGEST"))
]

SMALL = settings(max_examples=8, deadline=None)


@pytest.fixture(scope="module")
def materials() -> dict[str, bytes]:
    """PKCS#8 material for every spec, as the key store holds it (made by keygen, not the module)."""
    return {spec: generate_material(KEY_SPECS[spec]) for spec in ALL_SPECS}


@pytest.fixture(scope="module")
def keys(materials: dict[str, bytes]) -> dict[str, PrivateKey]:
    return {spec: PrivateKey(spec, der) for spec, der in materials.items()}


def local_public(key: PrivateKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    public = serialization.load_der_public_key(key.public_key_der())
    assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return public


def hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm[-3:]]()


def as_input(algorithm: str, message: bytes, message_type: str) -> bytes:
    """What the caller sends: the message itself, or its digest under the algorithm's hash."""
    if message_type == "RAW":
        return message
    return hashlib.new(hash_of(algorithm).name, message).digest()


def verify_locally(
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    algorithm: str,
    message: bytes,
    signature: bytes,
) -> bool:
    """Verify an AWS-style signature of the RAW message with cryptography alone."""
    digest = hash_of(algorithm)
    try:
        if algorithm.startswith("RSASSA_PSS"):
            assert isinstance(public, rsa.RSAPublicKey)
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            public.verify(signature, message, pss, digest)
        elif algorithm.startswith("RSASSA_PKCS1"):
            assert isinstance(public, rsa.RSAPublicKey)
            public.verify(signature, message, padding.PKCS1v15(), digest)
        elif algorithm.startswith("ECDSA"):
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signature, message, ec.ECDSA(digest))
        else:
            assert algorithm == "ED25519_SHA_512" and isinstance(public, ed25519.Ed25519PublicKey)
            public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def ed25519_raw_public(key: PrivateKey) -> bytes:
    public = local_public(key)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# ---------------------------------------------------------------------------------------------- loading


def test_public_key_der_is_the_spki_of_the_material(materials: dict[str, bytes], keys: dict[str, PrivateKey]) -> None:
    for spec, der in materials.items():
        private = serialization.load_der_private_key(der, password=None)
        expected = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert keys[spec].public_key_der() == expected
        assert keys[spec].spec == spec


def test_skipping_rsa_validation_loads_the_same_key(materials: dict[str, bytes]) -> None:
    key = PrivateKey("RSA_2048", materials["RSA_2048"], skip_rsa_validation=True)
    assert key.public_key_der() == PrivateKey("RSA_2048", materials["RSA_2048"]).public_key_der()
    signature = key.sign("RSASSA_PSS_SHA_256", b"m", "RAW")
    assert verify_locally(local_public(key), "RSASSA_PSS_SHA_256", b"m", signature)


def test_rsa_validation_catches_broken_material(materials: dict[str, bytes]) -> None:
    private = serialization.load_der_private_key(materials["RSA_2048"], password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    numbers = private.private_numbers()
    # A wrong CRT exponent, the kind of fault that makes CRT signatures leak a prime: only the validating
    # load notices it.
    broken = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    )
    der = broken.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError):
        PrivateKey("RSA_2048", der)


@pytest.mark.parametrize("spec", ["SYMMETRIC_DEFAULT", "HMAC_256", "SM2", "ML_DSA_44", "NOPE"])
def test_private_key_rejects_specs_that_are_not_asymmetric(spec: str, materials: dict[str, bytes]) -> None:
    with pytest.raises(UnsupportedSpec) as raised:
        PrivateKey(spec, materials["ECC_NIST_P256"])
    assert raised.value.spec == spec


@pytest.mark.parametrize(
    ("spec", "material_of"),
    [
        ("RSA_3072", "RSA_2048"),
        ("ECC_NIST_P384", "ECC_NIST_P256"),
        ("ECC_SECG_P256K1", "ECC_NIST_P256"),
        (ED, "ECC_NIST_P256"),
        ("ECC_NIST_P256", ED),
    ],
)
def test_private_key_refuses_material_of_another_spec(spec: str, material_of: str, materials: dict[str, bytes]) -> None:
    with pytest.raises(ValueError, match="not an"):
        PrivateKey(spec, materials[material_of])


# ---------------------------------------------------------------------------------------------- signing


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_signature_verifies_with_cryptography(
    spec: str, algorithm: str, message_type: str, keys: dict[str, PrivateKey]
) -> None:
    key = keys[spec]
    message = b"Trent signs this message for " + spec.encode()
    signature = key.sign(algorithm, as_input(algorithm, message, message_type), message_type)
    if algorithm == "ED25519_PH_SHA_512":
        # KMS hashes twice: the caller's SHA-512 digest is the Ed25519ph message, prehashed again.
        digest = hashlib.sha512(message).digest()
        assert ed25519ph_verify(ed25519_raw_public(key), digest, signature)
        assert not ed25519ph_verify(ed25519_raw_public(key), message, signature)
        assert len(signature) == 64
    else:
        # DIGEST signatures must verify as signatures of the original message hashed by the verifier.
        assert verify_locally(local_public(key), algorithm, message, signature)
        assert not verify_locally(local_public(key), algorithm, message + b"!", signature)
    if spec in RSA_SPECS:
        assert len(signature) == KEY_SPECS[spec].size // 8
    if algorithm == "ED25519_SHA_512":
        assert len(signature) == 64


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_module_verify_accepts_good_and_rejects_tampered(
    spec: str, algorithm: str, message_type: str, keys: dict[str, PrivateKey]
) -> None:
    key = keys[spec]
    message = as_input(algorithm, b"a message worth signing", message_type)
    signature = key.sign(algorithm, message, message_type)
    assert key.verify(algorithm, message, message_type, signature)
    assert not key.verify(algorithm, flip(message), message_type, signature)
    assert not key.verify(algorithm, message, message_type, flip(signature, len(signature) // 2))
    assert not key.verify(algorithm, message, message_type, flip(signature, len(signature) - 1))
    assert not key.verify(algorithm, message, message_type, signature[:-1])
    assert not key.verify(algorithm, message, message_type, signature + b"\x00")
    assert not key.verify(algorithm, message, message_type, b"")


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_module_verifies_signatures_made_by_cryptography(
    spec: str, materials: dict[str, bytes], keys: dict[str, PrivateKey]
) -> None:
    """Verification does not merely agree with the module's own signing."""
    private = serialization.load_der_private_key(materials[spec], password=None)
    message = b"signed elsewhere"
    for algorithm in SIGNING[spec]:
        if algorithm == "ED25519_PH_SHA_512":
            continue  # cryptography cannot make these; test_ed25519_vectors.py covers them
        digest = hash_of(algorithm)
        if isinstance(private, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if "PSS" in algorithm
                else padding.PKCS1v15()
            )
            signature = private.sign(message, pad, digest)
        elif isinstance(private, ec.EllipticCurvePrivateKey):
            signature = private.sign(message, ec.ECDSA(digest))
        else:
            assert isinstance(private, ed25519.Ed25519PrivateKey)
            signature = private.sign(message)
        assert keys[spec].verify(algorithm, message, "RAW", signature)
        if algorithm != "ED25519_SHA_512":
            assert keys[spec].verify(algorithm, as_input(algorithm, message, "DIGEST"), "DIGEST", signature)


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1", ED])
@SMALL
@given(message=st.binary(max_size=4096))
def test_random_messages_sign_and_verify(spec: str, message: bytes, keys: dict[str, PrivateKey]) -> None:
    key = keys[spec]
    algorithm = SIGNING[spec][0]
    signature = key.sign(algorithm, message, "RAW")
    assert verify_locally(local_public(key), algorithm, message, signature)
    if spec == ED:
        digest = hashlib.sha512(message).digest()
        ph = key.sign("ED25519_PH_SHA_512", digest, "DIGEST")
        assert ed25519ph_verify(ed25519_raw_public(key), digest, ph)
        assert key.verify("ED25519_PH_SHA_512", digest, "DIGEST", ph)


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P384", ED])
@SMALL
@given(garbage=st.binary(max_size=600))
def test_verify_never_raises_for_garbage_signatures(spec: str, garbage: bytes, keys: dict[str, PrivateKey]) -> None:
    for algorithm in SIGNING[spec]:
        message_type = MESSAGE_TYPES.get(algorithm, ("RAW",))[0]
        message = as_input(algorithm, b"m", message_type)
        assert keys[spec].verify(algorithm, message, message_type, garbage) is False


def test_pss_uses_a_salt_as_long_as_the_digest(keys: dict[str, PrivateKey]) -> None:
    key = keys["RSA_2048"]
    public = local_public(key)
    assert isinstance(public, rsa.RSAPublicKey)
    signature = key.sign("RSASSA_PSS_SHA_384", b"salty", "RAW")
    # OpenSSL checks the exact salt length when one is given: 48 passes, 32 does not.
    public.verify(signature, b"salty", padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"salty", padding.PSS(padding.MGF1(hashes.SHA384()), 32), hashes.SHA384())


def test_ed25519_signatures_are_deterministic(keys: dict[str, PrivateKey]) -> None:
    key = keys[ED]
    digest = hashlib.sha512(b"x").digest()
    assert key.sign("ED25519_SHA_512", b"x", "RAW") == key.sign("ED25519_SHA_512", b"x", "RAW")
    assert key.sign("ED25519_PH_SHA_512", digest, "DIGEST") == key.sign("ED25519_PH_SHA_512", digest, "DIGEST")


@pytest.mark.parametrize(("algorithm", "length"), [(a, int(a[-3:]) // 8) for s in SIGNING.values() for a in s])
def test_digest_length(algorithm: str, length: int) -> None:
    assert digest_length(algorithm) == length


def test_digest_length_of_an_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        digest_length("RSAES_OAEP_SHA_256")


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [(spec, algorithm) for spec, algorithm, message_type in SIGN_CASES if message_type == "DIGEST"],
)
def test_digest_of_the_wrong_length(spec: str, algorithm: str, keys: dict[str, PrivateKey]) -> None:
    size = int(algorithm[-3:]) // 8
    for length in (size - 1, size + 1, 0, 20):
        with pytest.raises(DigestLengthError) as raised:
            keys[spec].sign(algorithm, b"\x01" * length, "DIGEST")
        assert raised.value.algorithm == algorithm
        with pytest.raises(DigestLengthError):
            keys[spec].verify(algorithm, b"\x01" * length, "DIGEST", b"\x00" * 64)


def test_digest_length_message_is_aws_text(keys: dict[str, PrivateKey]) -> None:
    with pytest.raises(DigestLengthError, match=r"^Digest is invalid length for algorithm ECDSA_SHA_256\.$"):
        keys["ECC_NIST_P256"].sign("ECDSA_SHA_256", b"\x00" * 31, "DIGEST")
    with pytest.raises(DigestLengthError):
        keys["ECC_NIST_P256"].sign("ECDSA_SHA_256", b"\x00" * 33, "DIGEST")


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_384"),
        ("ECC_NIST_P256", "ECDSA_SHA_512"),
        ("ECC_NIST_P384", "ECDSA_SHA_256"),
        ("ECC_NIST_P521", "ECDSA_SHA_384"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_512"),
        ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
        ("ECC_NIST_P256", "ED25519_SHA_512"),
        ("RSA_2048", "ECDSA_SHA_256"),
        ("RSA_2048", "ED25519_PH_SHA_512"),
        ("RSA_2048", "RSAES_OAEP_SHA_256"),
        (ED, "ECDSA_SHA_512"),
        (ED, "RSASSA_PKCS1_V1_5_SHA_512"),
        ("ECC_NIST_P256", "ECDH"),
        ("RSA_4096", "SYMMETRIC_DEFAULT"),
        ("RSA_4096", "HMAC_SHA_256"),
    ],
)
def test_algorithm_not_for_the_spec(spec: str, algorithm: str, keys: dict[str, PrivateKey]) -> None:
    for call in (
        lambda: keys[spec].sign(algorithm, b"\x00" * 32, "DIGEST"),
        lambda: keys[spec].sign(algorithm, b"m", "RAW"),
        lambda: keys[spec].verify(algorithm, b"m", "RAW", b"s"),
    ):
        with pytest.raises(AlgorithmMismatch) as raised:
            call()
        assert (raised.value.algorithm, raised.value.spec) == (algorithm, spec)


@pytest.mark.parametrize(
    ("spec", "algorithm", "message_type"),
    [
        (ED, "ED25519_SHA_512", "DIGEST"),
        (ED, "ED25519_PH_SHA_512", "RAW"),
        (ED, "ED25519_SHA_512", "EXTERNAL_MU"),
        ("ECC_NIST_P256", "ECDSA_SHA_256", "EXTERNAL_MU"),
        ("RSA_2048", "RSASSA_PSS_SHA_256", "raw"),
    ],
)
def test_message_type_not_for_the_algorithm(
    spec: str, algorithm: str, message_type: str, keys: dict[str, PrivateKey]
) -> None:
    message = b"\x00" * 64
    with pytest.raises(MessageTypeMismatch) as raised:
        keys[spec].sign(algorithm, message, message_type)
    assert (raised.value.algorithm, raised.value.message_type) == (algorithm, message_type)
    with pytest.raises(MessageTypeMismatch):
        keys[spec].verify(algorithm, message, message_type, b"\x00" * 64)


def test_errors_share_a_base() -> None:
    errors = (DigestLengthError, AlgorithmMismatch, MessageTypeMismatch, PlaintextTooLarge, DecryptionFailed)
    assert all(issubclass(error, AsymmetricError) for error in (*errors, InvalidPeerKey, UnsupportedSpec))


# ---------------------------------------------------------------------------------------------- RSA OAEP

OAEP_LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}


def local_oaep(algorithm: str) -> padding.OAEP:
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


@pytest.mark.parametrize(("spec", "algorithm"), OAEP_LIMITS)
def test_oaep_round_trips_with_cryptography(
    spec: str, algorithm: str, materials: dict[str, bytes], keys: dict[str, PrivateKey]
) -> None:
    private = serialization.load_der_private_key(materials[spec], password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    key = keys[spec]
    plaintext = b"attack at dawn"
    assert key.decrypt(algorithm, private.public_key().encrypt(plaintext, local_oaep(algorithm))) == plaintext
    ciphertext = key.encrypt(algorithm, plaintext)
    assert len(ciphertext) == KEY_SPECS[spec].size // 8
    assert private.decrypt(ciphertext, local_oaep(algorithm)) == plaintext
    assert key.encrypt(algorithm, plaintext) != ciphertext  # OAEP is randomized


@pytest.mark.parametrize(("spec", "algorithm"), OAEP_LIMITS)
def test_oaep_plaintext_limits(spec: str, algorithm: str, keys: dict[str, PrivateKey]) -> None:
    limit = OAEP_LIMITS[spec, algorithm]
    assert rsa_oaep_plaintext_limit(spec, algorithm) == limit
    key = keys[spec]
    at_limit = bytes(range(256)) * 2
    assert key.decrypt(algorithm, key.encrypt(algorithm, at_limit[:limit])) == at_limit[:limit]
    with pytest.raises(PlaintextTooLarge) as raised:
        key.encrypt(algorithm, at_limit[: limit + 1])
    assert raised.value.limit == limit


def test_oaep_limit_of_non_rsa_arguments() -> None:
    with pytest.raises(AlgorithmMismatch):
        rsa_oaep_plaintext_limit("ECC_NIST_P256", "RSAES_OAEP_SHA_256")
    with pytest.raises(AlgorithmMismatch):
        rsa_oaep_plaintext_limit("RSA_2048", "RSASSA_PSS_SHA_256")


@SMALL
@given(plaintext=st.binary(max_size=190))
def test_oaep_random_plaintexts(plaintext: bytes, keys: dict[str, PrivateKey]) -> None:
    key = keys["RSA_2048"]
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        assert key.decrypt(algorithm, key.encrypt(algorithm, plaintext)) == plaintext


def test_corrupted_ciphertexts_fail_alike(keys: dict[str, PrivateKey]) -> None:
    key = keys["RSA_2048"]
    ciphertext = key.encrypt("RSAES_OAEP_SHA_256", b"secret")
    bad = [
        flip(ciphertext, 0),
        flip(ciphertext, 100),
        flip(ciphertext, 255),
        ciphertext[:-1],
        ciphertext + b"\x00",
        b"",
        b"\xff" * 256,  # larger than the modulus
        bytes(256),
        keys["RSA_3072"].encrypt("RSAES_OAEP_SHA_256", b"secret"),
    ]
    for corrupted in bad:
        with pytest.raises(DecryptionFailed) as raised:
            key.decrypt("RSAES_OAEP_SHA_256", corrupted)
        assert str(raised.value) == "Decryption failed."
    with pytest.raises(DecryptionFailed):
        key.decrypt("RSAES_OAEP_SHA_1", ciphertext)  # the wrong hash is just another failure


def test_encryption_algorithm_checks(keys: dict[str, PrivateKey]) -> None:
    for spec, algorithm in [
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "SYMMETRIC_DEFAULT"),
        ("ECC_NIST_P256", "RSAES_OAEP_SHA_256"),
        (ED, "RSAES_OAEP_SHA_1"),
    ]:
        with pytest.raises(AlgorithmMismatch):
            keys[spec].encrypt(algorithm, b"p")
        with pytest.raises(AlgorithmMismatch):
            keys[spec].decrypt(algorithm, b"c" * 256)


# ---------------------------------------------------------------------------------------------- ECDH


def spki(public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"])
def test_ecdh_matches_a_local_exchange(spec: str, keys: dict[str, PrivateKey]) -> None:
    key = keys[spec]
    peer = ec.generate_private_key(CURVES[spec]())
    own_public = local_public(key)
    assert isinstance(own_public, ec.EllipticCurvePublicKey)
    secret = key.derive_shared_secret(spki(peer.public_key()))
    assert secret == peer.exchange(ec.ECDH(), own_public)
    assert len(secret) == (CURVES[spec]().key_size + 7) // 8


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"])
def test_ecdh_rejects_peers_on_other_curves(spec: str, keys: dict[str, PrivateKey]) -> None:
    for other in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"):
        if other == spec:
            continue
        peer = ec.generate_private_key(CURVES[other]()).public_key()
        with pytest.raises(InvalidPeerKey):
            keys[spec].derive_shared_secret(spki(peer))


def test_ecdh_rejects_malformed_and_non_ec_peers(keys: dict[str, PrivateKey]) -> None:
    key = keys["ECC_NIST_P256"]
    good = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad = [
        b"",
        b"not der at all",
        good[:-1],
        good + b"\x00",
        flip(good, len(good) - 1),  # y no longer matches x: off the curve
        pem,
        spki(ed25519.Ed25519PrivateKey.generate().public_key()),
        keys["RSA_2048"].public_key_der(),
    ]
    for peer in bad:
        with pytest.raises(InvalidPeerKey) as raised:
            key.derive_shared_secret(peer)
        assert raised.value.reason


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_SECG_P256K1", ED])
def test_ecdh_only_on_nist_curves(spec: str, keys: dict[str, PrivateKey]) -> None:
    peer = spki(ec.generate_private_key(ec.SECP256K1()).public_key())
    with pytest.raises(AlgorithmMismatch):
        keys[spec].derive_shared_secret(peer)


# ---------------------------------------------------------------------------------------------- key pairs


@pytest.mark.parametrize("pair_spec", ALL_SPECS)
def test_generate_key_pair(pair_spec: str) -> None:
    private_der, public_der = generate_key_pair(pair_spec)
    private = serialization.load_der_private_key(private_der, password=None)
    public = serialization.load_der_public_key(public_der)
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    assert spki(private.public_key()) == public_der
    if pair_spec in RSA_SPECS:
        assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
        assert private.key_size == KEY_SPECS[pair_spec].size
        assert public.public_numbers().e == 65537
    elif pair_spec in CURVES:
        assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(private.curve, CURVES[pair_spec])
    else:
        assert isinstance(private, ed25519.Ed25519PrivateKey) and isinstance(public, ed25519.Ed25519PublicKey)
    # The pair is usable as KMS key material too, and signs under the returned public key.
    key = PrivateKey(pair_spec, private_der)
    assert key.public_key_der() == public_der
    algorithm = SIGNING[pair_spec][0]
    assert verify_locally(public, algorithm, b"pair", key.sign(algorithm, b"pair", "RAW"))


def test_generated_key_pairs_differ() -> None:
    assert generate_key_pair("ECC_NIST_P256") != generate_key_pair("ECC_NIST_P256")


@pytest.mark.parametrize(
    "pair_spec", ["SM2", "ML_KEM_768", "ML_DSA_65", "SYMMETRIC_DEFAULT", "HMAC_256", "rsa_2048", ""]
)
def test_generate_key_pair_of_unsupported_specs(pair_spec: str) -> None:
    with pytest.raises(UnsupportedSpec) as raised:
        generate_key_pair(pair_spec)
    assert raised.value.spec == pair_spec

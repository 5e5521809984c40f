"""Ed25519 and Ed25519ph known-answer tests (RFC 8032 §7.1, §7.3) and agreement with libsodium.

Pure Ed25519 (ED25519_SHA_512, done by `cryptography`) is tested through `PrivateKey`, with each RFC seed
stored as the PKCS#8 key material Trent keeps. Ed25519ph is libsodium's (through PyNaCl). The §7.3 vector
signs "abc", but KMS's ED25519_PH_SHA_512 takes a 64-byte SHA-512 digest and uses those 64 bytes as the
Ed25519ph message (prehashed again), so the vector is checked against `ed25519ph_sign`/`ed25519ph_verify`
and the DIGEST path against libsodium called directly here, on the RFC key and on random keys.

Every hex value is RFC 8032's; the 1023-byte message of TEST 1024 is also checked by re-signing it, since
any wrong digit would change the signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from trent.crypto.asymmetric import PrivateKey, ed25519ph_sign, ed25519ph_verify

ED = "ECC_NIST_EDWARDS25519"
PURE = "ED25519_SHA_512"
PH = "ED25519_PH_SHA_512"
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
SMALL = settings(max_examples=25, deadline=None)


@dataclass(frozen=True)
class Vector:
    name: str
    seed: bytes
    public: bytes
    message: bytes
    signature: bytes


def vector(name: str, seed: str, public: str, message: str, signature: str) -> Vector:
    return Vector(name, bytes.fromhex(seed), bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))


# RFC 8032 §7.1, Ed25519.
TEST_1 = vector(
    "TEST 1",
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
)
TEST_2 = vector(
    "TEST 2",
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
)
TEST_3 = vector(
    "TEST 3",
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
)
TEST_1024 = vector(
    "TEST 1024",
    "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    (
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
        "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
        "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
        "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
        "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
        "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
        "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
        "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
        "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
        "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
        "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
        "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
        "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
        "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
        "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
        "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
        "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
        "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
        "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
        "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
        "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
        "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"
    ),
    "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
    "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
)
ED25519_VECTORS = [TEST_1, TEST_2, TEST_3, TEST_1024]

# RFC 8032 §7.3, Ed25519ph ("abc").
TEST_ABC = vector(
    "TEST abc",
    "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    "616263",
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
)

# ED25519_PH_SHA_512 of the DIGEST SHA-512("abc") with the §7.3 key, as made by Trent's earlier pure-Python
# Ed25519ph (commit ab05326): signatures made before the switch to libsodium must still verify, bit for bit.
EARLIER_DIGEST_SIGNATURE = bytes.fromhex(
    "914dc6538ac512db8ffbdfbbf9c2fd2c1e5c915ff5d708751ad2d3a1425f0c9b"
    "fa3f1da6d93e5c7fc5b106b536f7263a3db68e4a285f30e4bd7e8b9f93d42f0e"
)


def kms_key(seed: bytes) -> PrivateKey:
    """A Trent key of spec ECC_NIST_EDWARDS25519 whose material is this seed, as the store holds it."""
    der = ed25519.Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return PrivateKey(ED, der)


def raw_public(key: PrivateKey) -> bytes:
    public = serialization.load_der_public_key(key.public_key_der())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def flip(data: bytes, index: int = 0, bit: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1 :]


def libsodium_ph_sign(seed: bytes, message: bytes) -> bytes:
    """Ed25519ph of `message` by libsodium directly, without Trent."""
    _, secret_key = sodium.crypto_sign_seed_keypair(seed)
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, message)
    return sodium.crypto_sign_ed25519ph_final_create(state, secret_key)


def libsodium_ph_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, message)
    try:
        return sodium.crypto_sign_ed25519ph_final_verify(state, signature, public)
    except BadSignatureError:
        return False


def s_of(signature: bytes) -> int:
    return int.from_bytes(signature[32:], "little")


def tampered(v: Vector) -> list[tuple[str, bytes, bytes]]:
    """(what, message, signature) pairs that must not verify."""
    return [
        ("flipped bit in R", v.message, flip(v.signature, 0)),
        ("flipped bit in S", v.message, flip(v.signature, 40, 3)),
        ("flipped last bit", v.message, flip(v.signature, 63, 7)),
        ("wrong message", flip(v.message, 0) if v.message else b"\x00", v.signature),
        ("message with a byte more", v.message + b"\x00", v.signature),
        ("truncated signature", v.message, v.signature[:-1]),
        ("signature with a byte more", v.message, v.signature + b"\x00"),
        ("empty signature", v.message, b""),
        ("S + L (malleated)", v.message, v.signature[:32] + (s_of(v.signature) + ED25519_ORDER).to_bytes(32, "little")),
    ]


# ---------------------------------------------------------------------------------------------- Ed25519 (§7.1)


def test_the_long_vector_is_1023_bytes() -> None:
    assert len(TEST_1024.message) == 1023


@pytest.mark.parametrize("v", ED25519_VECTORS, ids=lambda v: v.name)
def test_ed25519_vector_public_key(v: Vector) -> None:
    assert raw_public(kms_key(v.seed)) == v.public


@pytest.mark.parametrize("v", ED25519_VECTORS, ids=lambda v: v.name)
def test_ed25519_vector_signature(v: Vector) -> None:
    key = kms_key(v.seed)
    assert key.sign(PURE, v.message, "RAW") == v.signature
    assert key.verify(PURE, v.message, "RAW", v.signature)


@pytest.mark.parametrize("v", ED25519_VECTORS, ids=lambda v: v.name)
def test_ed25519_vector_rejects_tampering(v: Vector) -> None:
    key = kms_key(v.seed)
    for what, message, signature in tampered(v):
        assert key.verify(PURE, message, "RAW", signature) is False, what


@pytest.mark.parametrize("v", ED25519_VECTORS, ids=lambda v: v.name)
def test_ed25519_vector_is_not_an_ed25519ph_signature(v: Vector) -> None:
    """dom2 separates the two schemes: a pure signature never passes as Ed25519ph, and vice versa."""
    assert not ed25519ph_verify(v.public, v.message, v.signature)
    assert not kms_key(v.seed).verify(PURE, v.message, "RAW", ed25519ph_sign(v.seed, v.message))


# ---------------------------------------------------------------------------------------------- Ed25519ph (§7.3)


def test_ed25519ph_vector() -> None:
    v = TEST_ABC
    assert raw_public(kms_key(v.seed)) == v.public
    assert ed25519ph_sign(v.seed, v.message) == v.signature
    assert ed25519ph_verify(v.public, v.message, v.signature)
    assert libsodium_ph_sign(v.seed, v.message) == v.signature  # the same thing Trent calls, directly


def test_ed25519ph_vector_rejects_tampering() -> None:
    for what, message, signature in tampered(TEST_ABC):
        assert ed25519ph_verify(TEST_ABC.public, message, signature) is False, what


def test_ed25519ph_rejects_non_canonical_r() -> None:
    v = TEST_ABC
    # R with y = p: not a canonical encoding.
    assert not ed25519ph_verify(v.public, v.message, (2**255 - 19).to_bytes(32, "little") + v.signature[32:])
    assert not ed25519ph_verify(v.public, v.message, bytes(64))


def test_ed25519ph_rejects_wrong_and_malformed_public_keys() -> None:
    v = TEST_ABC
    for public in (flip(v.public), v.public[:31], v.public + b"\x00", b"", bytes(32), TEST_1.public):
        assert ed25519ph_verify(public, v.message, v.signature) is False
    with pytest.raises(InvalidSignature):  # and cryptography does not take the Ed25519ph signature as pure
        ed25519.Ed25519PublicKey.from_public_bytes(v.public).verify(v.signature, v.message)


def test_ed25519ph_seed_must_be_32_bytes() -> None:
    for seed in (TEST_ABC.seed[:31], TEST_ABC.seed + b"\x00", b""):
        with pytest.raises(ValueError):
            ed25519ph_sign(seed, b"m")


# ---------------------------------------------------------------------------------------------- ED25519_PH_SHA_512


def test_digest_path_with_the_rfc_key() -> None:
    """KMS signs the digest bytes with Ed25519ph: the vector's scheme over SHA-512(message), not over message."""
    v = TEST_ABC
    key = kms_key(v.seed)
    digest = hashlib.sha512(v.message).digest()
    signature = key.sign(PH, digest, "DIGEST")
    assert signature == libsodium_ph_sign(v.seed, digest) == ed25519ph_sign(v.seed, digest)
    assert signature != v.signature
    assert key.verify(PH, digest, "DIGEST", signature)
    assert not key.verify(PH, digest, "DIGEST", v.signature)


def test_digest_path_still_matches_signatures_made_before_libsodium() -> None:
    key = kms_key(TEST_ABC.seed)
    digest = hashlib.sha512(b"abc").digest()
    assert key.sign(PH, digest, "DIGEST") == EARLIER_DIGEST_SIGNATURE
    assert key.verify(PH, digest, "DIGEST", EARLIER_DIGEST_SIGNATURE)


@SMALL
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=2048))
def test_digest_path_matches_libsodium(seed: bytes, message: bytes) -> None:
    key = kms_key(seed)
    public = raw_public(key)
    digest = hashlib.sha512(message).digest()
    signature = key.sign(PH, digest, "DIGEST")
    assert signature == libsodium_ph_sign(seed, digest)
    assert libsodium_ph_verify(public, digest, signature)
    assert key.verify(PH, digest, "DIGEST", signature)
    assert not key.verify(PH, flip(digest, 63), "DIGEST", signature)
    assert not key.verify(PH, digest, "DIGEST", flip(signature, 10))
    assert not key.verify(PH, digest, "DIGEST", signature[:63])


@SMALL
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=512))
def test_ed25519ph_matches_libsodium(seed: bytes, message: bytes) -> None:
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = ed25519ph_sign(seed, message)
    assert signature == libsodium_ph_sign(seed, message)
    assert ed25519ph_verify(raw, message, signature)
    assert not ed25519ph_verify(raw, message + b"\x00", signature)


@SMALL
@given(public=st.binary(max_size=40), signature=st.binary(max_size=80), message=st.binary(max_size=64))
def test_ed25519ph_verify_never_raises(public: bytes, signature: bytes, message: bytes) -> None:
    assert ed25519ph_verify(public, message, signature) is False

"""Imported key material: wrapping key pairs, import tokens, unwrapping, and the checks that what was unwrapped is
material of the key's spec.

    import token = 0x01 | token ID (16 B) | expiry (uint64, ms) | wrapping algorithm (1 B) | wrapping spec (1 B)
                   | HMAC-SHA256 tag (32 B) over those bytes and the key's ARN

The tag binds a token to its key: presented with another key's ARN, it does not verify. Tokens are reusable until
they expire (docs/decisions.md D19); the wrapping private key they name is kept, wrapped under the root key,
until then.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
WRAPPING_KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
#: HMAC material lengths AWS accepts, in bytes (docs/decisions.md D20).
HMAC_MATERIAL_BYTES = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128), "HMAC_512": (64, 128)}
_CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}

_VERSION = b"\x01"
_BODY = struct.Struct(">c16sQBB")
_TAG_BYTES = 32


class InvalidImportToken(Exception):
    """Malformed, forged, altered, or issued for another key."""


class UnwrapFailed(Exception):
    """The encrypted material does not decrypt under the wrapping key with its algorithm. No detail."""


class WrongMaterial(Exception):
    """What was unwrapped is not material of the key's spec."""


@dataclass(frozen=True, slots=True)
class ImportClaims:
    token_id: str
    expires: float
    wrapping_algorithm: str
    wrapping_key_spec: str


class ImportTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def mint(
        self, key_arn: str, wrapping_algorithm: str, wrapping_key_spec: str, expires: float
    ) -> tuple[ImportClaims, bytes]:
        """A new token for `key_arn`: its claims, and the token itself."""
        claims = ImportClaims(os.urandom(16).hex(), expires, wrapping_algorithm, wrapping_key_spec)
        body = _BODY.pack(
            _VERSION,
            bytes.fromhex(claims.token_id),
            round(claims.expires * 1000),
            WRAPPING_ALGORITHMS.index(claims.wrapping_algorithm),
            list(WRAPPING_KEY_SPECS).index(claims.wrapping_key_spec),
        )
        return claims, body + self._tag(body, key_arn)

    def verify(self, key_arn: str, token: bytes) -> ImportClaims:
        """The claims of a token this server minted for `key_arn`. :raises InvalidImportToken: otherwise."""
        if len(token) != _BODY.size + _TAG_BYTES:
            raise InvalidImportToken
        body, tag = token[: _BODY.size], token[_BODY.size :]
        if not hmac.compare_digest(tag, self._tag(body, key_arn)):
            raise InvalidImportToken
        version, token_id, expires_ms, algorithm, spec = _BODY.unpack(body)
        if version != _VERSION or algorithm >= len(WRAPPING_ALGORITHMS) or spec >= len(WRAPPING_KEY_SPECS):
            raise InvalidImportToken
        return ImportClaims(
            token_id.hex(), expires_ms / 1000, WRAPPING_ALGORITHMS[algorithm], list(WRAPPING_KEY_SPECS)[spec]
        )

    def _tag(self, body: bytes, key_arn: str) -> bytes:
        return hmac.new(self._secret, body + key_arn.encode(), hashlib.sha256).digest()


def new_wrapping_key(spec: str) -> tuple[bytes, bytes]:
    """(private key PKCS#8 DER, public key SubjectPublicKeyInfo DER) of a fresh RSA wrapping key."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_SPECS[spec])
    private_der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_der, public_der


def unwrap(private_der: bytes, algorithm: str, encrypted: bytes) -> bytes:
    """The material a client wrapped with the public half of `private_der`.

    RSAES_OAEP_SHA_x: RSA-OAEP (OAEP and MGF1 with that hash, empty label) of the material itself.
    RSA_AES_KEY_WRAP_SHA_x (PKCS#11 CKM_RSA_AES_KEY_WRAP): RSA-OAEP of an ephemeral AES key, modulus-length bytes,
    then that key's AES Key Wrap with Padding (RFC 5649) of the material.
    """
    private_key = serialization.load_der_private_key(private_der, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()  # noqa: S303
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return private_key.decrypt(encrypted, oaep)
        modulus_bytes = private_key.key_size // 8
        if len(encrypted) <= modulus_bytes:
            raise UnwrapFailed
        aes_key = private_key.decrypt(encrypted[:modulus_bytes], oaep)
        return aes_key_unwrap_with_padding(aes_key, encrypted[modulus_bytes:])
    except (ValueError, InvalidUnwrap):
        raise UnwrapFailed from None


def material_for_spec(spec_name: str, unwrapped: bytes) -> bytes:
    """The material as Trent stores it for `spec_name` (raw bytes; PKCS#8 DER for private keys).

    :raises WrongMaterial: when `unwrapped` is not material of that spec.
    """
    if spec_name == "SYMMETRIC_DEFAULT":
        if len(unwrapped) != 32:
            raise WrongMaterial
        return unwrapped
    if spec_name in HMAC_MATERIAL_BYTES:
        low, high = HMAC_MATERIAL_BYTES[spec_name]
        if not low <= len(unwrapped) <= high:
            raise WrongMaterial
        return unwrapped
    try:
        private_key = serialization.load_der_private_key(unwrapped, password=None)
    except (ValueError, TypeError):
        raise WrongMaterial from None
    if spec_name in _RSA_BITS:
        fits = isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size == _RSA_BITS[spec_name]
    elif spec_name in _CURVES:
        fits = isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, _CURVES[spec_name])
    else:
        fits = False
    if not fits:
        raise WrongMaterial
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def material_id(secret: bytes, key_id: str, material: bytes) -> str:
    """The KeyMaterialId of imported material: the same bytes imported into the same key get the same ID
    (docs/decisions.md D21)."""
    return hmac.new(secret, key_id.encode() + b"\x00" + material, hashlib.sha256).hexdigest()

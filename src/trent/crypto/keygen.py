"""Generation of key material for every supported key spec.

Symmetric and HMAC material is raw random bytes; asymmetric material is the private key in PKCS#8 DER.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from trent.domain.keyspec import KeyFamily, KeySpecInfo

_CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(),
    "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
}


def generate_material(spec: KeySpecInfo) -> bytes:
    if spec.family in (KeyFamily.SYMMETRIC, KeyFamily.HMAC):
        return secrets.token_bytes(spec.size // 8)
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if spec.family is KeyFamily.RSA:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    elif spec.family is KeyFamily.EC:
        private_key = ec.generate_private_key(_CURVES[spec.name])
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_material_id() -> str:
    """AWS's KeyMaterialId: 64 lowercase hex characters."""
    return secrets.token_hex(32)

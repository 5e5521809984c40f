"""HMAC for GENERATE_VERIFY_MAC keys. Verification compares in constant time."""

from __future__ import annotations

import hashlib
import hmac

_HASHES = {
    "HMAC_SHA_224": hashlib.sha224,
    "HMAC_SHA_256": hashlib.sha256,
    "HMAC_SHA_384": hashlib.sha384,
    "HMAC_SHA_512": hashlib.sha512,
}


def generate_mac(key: bytes, algorithm: str, message: bytes) -> bytes:
    return hmac.new(key, message, _HASHES[algorithm]).digest()


def verify_mac(key: bytes, algorithm: str, message: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(generate_mac(key, algorithm, message), mac)

"""The root key: it wraps every key material and secret Trent stores (AES-256-GCM key wrapping).

A wrapped blob is ``version byte 0x01 || 12-byte nonce || ciphertext+tag``. The associated data names what
is wrapped (for example ``b"material:<key id>:<version>"``), so a wrapped value cannot be moved to another row.
Every failure raises `RootKeyError` and says nothing more, as Fernet does.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT_KEY_BYTES = 32
_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
#: The value wrapped at `trent init`, used to tell at start whether the root key is the right one.
CHECK_PLAINTEXT = b"trent root key check v1"
CHECK_AAD = b"root-key-check"


class RootKeyError(Exception):
    """The root key is missing, malformed, or cannot unwrap what the store holds."""


class RootKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != ROOT_KEY_BYTES:
            raise RootKeyError(f"the root key must be {ROOT_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _WRAP_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _WRAP_VERSION:
            raise RootKeyError("wrapped value is malformed")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
        except InvalidTag:
            raise RootKeyError("wrapped value does not authenticate under this root key") from None

    def derive(self, purpose: bytes, length: int = 32) -> bytes:
        """A subkey for one purpose (marker MACs, grant tokens), independent of the wrapping key."""
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"trent/" + purpose).derive(self._key)


def generate_root_key() -> bytes:
    return secrets.token_bytes(ROOT_KEY_BYTES)


def encode_root_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_root_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RootKeyError(f"{source} does not hold a base64 root key") from None
    if len(key) != ROOT_KEY_BYTES:
        raise RootKeyError(f"{source} holds {len(key)} bytes; a root key is {ROOT_KEY_BYTES} bytes")
    return key


def write_secret_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the start (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)

"""The root key: it wraps every key material and secret Trent stores (AES-256-GCM key wrapping), directly or
through the versions of the root key made by rotation.

Two formats, told apart by their first byte:

- ``0x01 || 12-byte nonce || ciphertext+tag``: wrapped under the root key itself ("version 0", what a store holds
  before its first rotation);
- ``0x02 || 4-byte version (big-endian) || 12-byte nonce || ciphertext+tag``: wrapped under the data key of that
  root-key version, a random AES-256 key that the store keeps wrapped under the root key itself (`RootKeyVersions`).

The associated data names what is wrapped (for example ``b"material:<key id>:<version>"``), so a wrapped value
cannot be moved to another row; in the second format it also names the version, so a header cannot be rewritten to
point at another one. Every failure raises `RootKeyError` and says nothing more, as Fernet does.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT_KEY_BYTES = 32
_WRAP_VERSION = b"\x01"
_VERSIONED = b"\x02"
_NONCE_BYTES = 12
_TAG_BYTES = 16
#: The value wrapped at `trent init`, used to tell at start whether the root key is the right one.
CHECK_PLAINTEXT = b"trent root key check v1"
CHECK_AAD = b"root-key-check"


class RootKeyError(Exception):
    """The root key is missing, malformed, or cannot unwrap what the store holds."""


class RootKeyUnavailable(RootKeyError):
    """The root key cannot be used right now (its HSM does not answer); another attempt may succeed."""


class WrappingKey(Protocol):
    """What a root key does: a key in a file (`RootKey`) or in an HSM (`trent.crypto.hsm.HsmRootKey`)."""

    #: An HSM's key wraps only the data keys of the root key's versions (it is slow, and never leaves the HSM).
    held_in_hsm: bool

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...

    def derive(self, purpose: bytes, length: int = 32) -> bytes: ...


class RootKey:
    held_in_hsm = False

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


def _version_aad(aad: bytes, version: int) -> bytes:
    return aad + b"#root-key-version:" + str(version).encode()


def _data_key_aad(version: int) -> bytes:
    return b"root-key-version:" + str(version).encode()


def wrapped_version(blob: bytes) -> int:
    """The root-key version a wrapped value was made with (0: the root key itself).

    :raises RootKeyError: for a value in neither format.
    """
    if blob[:1] == _WRAP_VERSION:
        return 0
    if blob[:1] == _VERSIONED and len(blob) >= 5:
        return int.from_bytes(blob[1:5], "big")
    raise RootKeyError("wrapped value is malformed")


def version_prefix(version: int) -> bytes:
    """The first bytes of every value wrapped under `version` (for counting them in the store)."""
    return _WRAP_VERSION if version == 0 else _VERSIONED + version.to_bytes(4, "big")


class RootKeyVersions:
    """The root key and the data keys of its versions, as one process holds them.

    Version 0 is the root key itself; version N > 0 is a random AES-256 key that the store keeps wrapped under the
    root key (`wrap_data_key`). The store says which version is current and which are retired; this class only
    wraps and unwraps, and keeps the data keys it has unwrapped (`forget` drops them when a version is retired).
    """

    def __init__(self, root_key: WrappingKey) -> None:
        self.root_key = root_key
        #: Which of the store's root keys this process holds: "current", or "previous" while a replacement of the
        #: root key is under way (the data keys are then read from the copies wrapped under the previous one).
        self.role = "current"
        self._data_keys: dict[int, AESGCM] = {}
        #: Whether version 0 (the root key itself) may still wrap and unwrap, as far as this process knows.
        self._root_key_usable = False

    def wrap_data_key(self, version: int, data_key: bytes) -> bytes:
        return self.root_key.wrap(data_key, _data_key_aad(version))

    def knows(self, version: int) -> bool:
        """Whether this process holds the version and knows it is not retired."""
        return self._root_key_usable if version == 0 else version in self._data_keys

    def allow_root_key(self) -> None:
        """The store says version 0 is not retired."""
        self._root_key_usable = True

    def derive(self, purpose: bytes, length: int = 32) -> bytes:
        return self.root_key.derive(purpose, length)

    def changed(self, change: Any) -> None:
        """A listener of the change feed: a root-key change (a new version, a retirement) forgets every key."""
        if change.kind == "root_key":
            self.forget()

    def reset(self) -> None:
        self.forget()

    def adopt(self, version: int, data_key: bytes) -> None:
        """Keep a data key this process has just made (the version is being created)."""
        self._data_keys[version] = AESGCM(data_key)

    def learn(self, version: int, wrapped_data_key: bytes) -> None:
        """Unwrap a version's data key (read from the store) and keep it."""
        data_key = self.root_key.unwrap(wrapped_data_key, _data_key_aad(version))
        if len(data_key) != ROOT_KEY_BYTES:
            raise RootKeyError("wrapped value is malformed")
        self._data_keys[version] = AESGCM(data_key)

    def forget(self) -> None:
        """Drop every data key (a version was retired): they are learnt again from the store as needed."""
        self._data_keys = {}
        self._root_key_usable = False

    def wrap(self, version: int, plaintext: bytes, aad: bytes) -> bytes:
        if version == 0:
            if not self._root_key_usable:
                raise RootKeyError("root-key version 0 is retired")
            return self.root_key.wrap(plaintext, aad)
        aead = self._data_keys.get(version)
        if aead is None:
            raise RootKeyError(f"root-key version {version} is not known to this process")
        nonce = os.urandom(_NONCE_BYTES)
        return (
            _VERSIONED + version.to_bytes(4, "big") + nonce + aead.encrypt(nonce, plaintext, _version_aad(aad, version))
        )

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Unwrap a value of either format; the caller has made sure its version is known and not retired."""
        version = wrapped_version(blob)
        if version == 0:
            if not self._root_key_usable:
                raise RootKeyError("wrapped value is malformed or its root-key version is retired")
            return self.root_key.unwrap(blob, aad)
        aead = self._data_keys.get(version)
        if aead is None or len(blob) < 5 + _NONCE_BYTES + _TAG_BYTES:
            raise RootKeyError("wrapped value is malformed or its root-key version is retired")
        try:
            return aead.decrypt(blob[5 : 5 + _NONCE_BYTES], blob[5 + _NONCE_BYTES :], _version_aad(aad, version))
        except InvalidTag:
            raise RootKeyError("wrapped value does not authenticate under this root key") from None


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

"""A root key held in an HSM, through PKCS#11 (docs/security.md, "A root key in an HSM").

The root key is an AES-256 key generated in the token, sensitive and not extractable: it never leaves the HSM.
Trent asks the HSM to wrap and unwrap with it (AES-GCM, the same ``0x01 || nonce || ciphertext+tag`` format as a
root key in a file), and uses it only for what the root key itself wraps: the data keys of the root key's
versions and the store's check value. Each process unwraps a version's data key once and keeps it, so requests
never wait for the HSM (SoftHSM2 takes ~47 µs per wrap and unwrap; a network HSM, milliseconds).

The configuration names it with a PKCS#11 URI (RFC 7512):

    pkcs11:token=<token label>;object=<key label>?module-path=<library>&pin-source=file:<path>

The PIN comes from the file `pin-source` names (mode 0600), or from the environment variable TRENT_PKCS11_PIN;
never from the URI itself, which may be logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from trent.crypto.rootkey import RootKeyError, RootKeyUnavailable

_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16
PIN_VARIABLE = "TRENT_PKCS11_PIN"


class HsmError(RootKeyError):
    """The HSM cannot be used: missing library or token, wrong PIN, no such key, or the HSM does not answer."""


class HsmUnavailable(HsmError, RootKeyUnavailable):
    """The HSM did not do an operation it should (device removed, session closed, no answer)."""


@dataclass(frozen=True)
class Pkcs11Uri:
    token: str
    object: str
    module_path: str
    pin_source: str | None

    @classmethod
    def parse(cls, uri: str) -> Pkcs11Uri:
        if not uri.startswith("pkcs11:"):
            raise HsmError("a PKCS#11 root key is named by a pkcs11: URI")
        path, _, query = uri[len("pkcs11:") :].partition("?")
        attributes = {}
        for part in filter(None, path.split(";")):
            name, separator, value = part.partition("=")
            if not separator:
                raise HsmError(f"the pkcs11: URI has a malformed attribute {part!r}")
            attributes[name] = unquote(value)
        if "pin-value" in query:
            raise HsmError(
                "the PIN may not be written in the pkcs11: URI: use pin-source=file:PATH or TRENT_PKCS11_PIN"
            )
        options = {name: values[-1] for name, values in parse_qs(query).items()}
        missing = [
            name
            for name, found in (
                ("token", attributes.get("token")),
                ("object", attributes.get("object")),
                ("module-path", options.get("module-path")),
            )
            if not found
        ]
        if missing:
            raise HsmError(f"the pkcs11: URI needs {', '.join(missing)}")
        return cls(attributes["token"], attributes["object"], options["module-path"], options.get("pin-source"))

    def pin(self) -> str:
        if self.pin_source is not None:
            if not self.pin_source.startswith("file:"):
                raise HsmError("pin-source must be file:PATH")
            path = Path(self.pin_source[len("file:") :])
            try:
                mode = path.stat().st_mode & 0o777
            except OSError:
                raise HsmError(f"the PIN file {path} cannot be read") from None
            if mode & 0o077:
                raise HsmError(f"the PIN file {path} is readable by others (mode {mode:o}); chmod 600 it")
            return path.read_text().strip()
        pin = os.environ.get(PIN_VARIABLE)
        if not pin:
            raise HsmError(f"no PIN for the HSM: set pin-source=file:PATH in the URI, or {PIN_VARIABLE}")
        return pin


#: The session of each token this process has logged in to, with the digest of the PIN it logged in with and the
#: lock its operations take. PKCS#11 logs an application in once, for all its sessions: a second login is refused
#: (CKR_USER_ALREADY_LOGGED_IN), so every root key on the same token shares the first session.
_SESSIONS: dict[tuple[str, str], tuple[Any, bytes, threading.Lock]] = {}
_SESSIONS_LOCK = threading.Lock()


def _open(pkcs11: Any, uri: Pkcs11Uri) -> tuple[Any, threading.Lock]:
    pin_digest = hashlib.sha256(uri.pin().encode()).digest()
    with _SESSIONS_LOCK:
        opened = _SESSIONS.get((uri.module_path, uri.token))
        if opened is not None:
            if not hmac.compare_digest(opened[1], pin_digest):
                raise HsmError(f"the HSM refused the PIN of token {uri.token!r}")
            return opened[0], opened[2]
        try:
            library = pkcs11.lib(uri.module_path)
        except pkcs11.PKCS11Error:
            raise HsmError(f"the PKCS#11 library {uri.module_path} cannot be loaded") from None
        try:
            token = library.get_token(token_label=uri.token)
        except pkcs11.NoSuchToken:
            raise HsmError(f"the HSM has no token labelled {uri.token!r}") from None
        try:
            session = token.open(rw=True, user_pin=uri.pin())
        except pkcs11.PinIncorrect:
            raise HsmError(f"the HSM refused the PIN of token {uri.token!r}") from None
        except pkcs11.PinLocked:
            raise HsmError(f"the PIN of token {uri.token!r} is locked") from None
        except pkcs11.PKCS11Error as exc:
            raise HsmError(f"the HSM token {uri.token!r} cannot be opened ({type(exc).__name__})") from None
        lock = threading.Lock()
        _SESSIONS[(uri.module_path, uri.token)] = (session, pin_digest, lock)
        return session, lock


class HsmRootKey:
    """The root key's interface (`wrap`, `unwrap`, `derive`) over an AES key in a PKCS#11 token.

    One session for the process, used under a lock (PKCS#11 sessions are not for concurrent operations); only the
    rare wraps and unwraps of data keys and check values reach it.
    """

    held_in_hsm = True

    def __init__(self, uri: str, *, create: bool = False) -> None:
        try:
            import pkcs11
        except ImportError:  # pragma: no cover - python-pkcs11 is a dependency
            raise HsmError("PKCS#11 support needs the python-pkcs11 package") from None
        self._pkcs11: Any = pkcs11
        self.uri = Pkcs11Uri.parse(uri)
        self._session, self._lock = _open(pkcs11, self.uri)
        with self._lock:
            self._key = self._find_or_create(create)

    def _find_or_create(self, create: bool) -> Any:
        pkcs11 = self._pkcs11
        found = list(
            self._session.get_objects(
                {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY, pkcs11.Attribute.LABEL: self.uri.object}
            )
        )
        if len(found) > 1:
            raise HsmError(f"the token holds {len(found)} keys labelled {self.uri.object!r}; label one key only")
        if found:
            key = found[0]
            if key[pkcs11.Attribute.KEY_TYPE] != pkcs11.KeyType.AES:
                raise HsmError(f"the key {self.uri.object!r} is not an AES key")
            return key
        if not create:
            raise HsmError(f"the token {self.uri.token!r} holds no key labelled {self.uri.object!r}")
        # Generated in the token: sensitive, never extractable, for encryption and decryption only.
        return self._session.generate_key(
            pkcs11.KeyType.AES,
            256,
            label=self.uri.object,
            store=True,
            template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
                pkcs11.Attribute.ENCRYPT: True,
                pkcs11.Attribute.DECRYPT: True,
                pkcs11.Attribute.WRAP: False,
                pkcs11.Attribute.UNWRAP: False,
                pkcs11.Attribute.SIGN: False,
                pkcs11.Attribute.VERIFY: False,
                pkcs11.Attribute.DERIVE: False,
            },
        )

    def __repr__(self) -> str:
        return f"HsmRootKey(token={self.uri.token!r}, object={self.uri.object!r})"

    def _gcm(self, nonce: bytes, aad: bytes) -> dict[str, Any]:
        return {
            "mechanism": self._pkcs11.Mechanism.AES_GCM,
            "mechanism_param": self._pkcs11.GCMParams(nonce, aad, _TAG_BYTES * 8),
        }

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        try:
            with self._lock:
                sealed = self._key.encrypt(plaintext, **self._gcm(nonce, aad))
        except self._pkcs11.PKCS11Error as exc:
            raise HsmUnavailable(f"the HSM did not wrap ({type(exc).__name__})") from None
        return _WRAP_VERSION + nonce + bytes(sealed)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[:1] != _WRAP_VERSION:
            raise RootKeyError("wrapped value is malformed")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            with self._lock:
                return bytes(self._key.decrypt(blob[1 + _NONCE_BYTES :], **self._gcm(nonce, aad)))
        except (self._pkcs11.GeneralError, self._pkcs11.EncryptedDataInvalid, self._pkcs11.FunctionFailed):
            # What SoftHSM2 and others answer to a tag that does not verify.
            raise RootKeyError("wrapped value does not authenticate under this root key") from None
        except self._pkcs11.PKCS11Error as exc:
            raise HsmUnavailable(f"the HSM did not unwrap ({type(exc).__name__})") from None

    def derive(self, purpose: bytes, length: int = 32) -> bytes:
        """Not offered: a store whose root key is in an HSM keeps its derived keys (`Store.derived_key`)."""
        raise RootKeyError("keys are not derived from a root key held in an HSM; the store keeps them")

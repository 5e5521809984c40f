"""The process's cache of unwrapped key material, ready for use.

Material versions never change once written, so a cached entry is never stale; only the key's state
(read from the store on every request) decides whether it may be used. Entries hold prepared objects
(a prepared AES-GCM key, a loaded private key) because preparing them costs more than the operation itself.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from trent.crypto.blob import SealingKey, sealing_key
from trent.domain.errors import KMSInternalException, KMSInvalidStateException
from trent.domain.keys import Key
from trent.domain.keyspec import KeyFamily
from trent.storage.store import Store

_MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class LoadedMaterial:
    key_id: str
    version: int
    material_id: str
    raw: bytes
    aead: SealingKey | None = None  # symmetric keys
    private_key: object | None = None  # asymmetric keys: trent.crypto.asymmetric.PrivateKey


class KeyRing:
    def __init__(self, store: Store, max_entries: int = _MAX_ENTRIES) -> None:
        self._store = store
        self._entries: OrderedDict[tuple[str, int], LoadedMaterial] = OrderedDict()
        self._max = max_entries
        self._lock = Lock()

    def material(self, key: Key, version: int | None = None) -> LoadedMaterial | None:
        """The material of `key` at `version` (default: current), or None if that version does not exist."""
        version = key.current_version if version is None else version
        cache_key = (key.key_id, version)
        entry = self._entries.get(cache_key)
        if entry is not None:
            return entry
        with self._store.transaction(write=False) as tx:
            stored = tx.keys.material(key.key_id, version)
        if stored is None or stored.material is None:
            return None  # no such version, or imported material that is absent (the key is PendingImport)
        entry = _prepare(key, stored.version, stored.material_id, stored.material)
        with self._lock:
            self._entries[cache_key] = entry
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return entry

    def current(self, key: Key) -> LoadedMaterial:
        entry = self.material(key)
        if entry is None and key.external:
            # Imported material deleted or expired on another node, before this one saw the key's new state.
            raise KMSInvalidStateException(f"{key.arn} is pending import.")
        if entry is None:  # generated material always exists; its absence is a store fault
            raise KMSInternalException("Key material is missing.")
        return entry


def _prepare(key: Key, version: int, material_id: str, raw: bytes) -> LoadedMaterial:
    family = key.spec.family
    if family is KeyFamily.SYMMETRIC:
        return LoadedMaterial(key.key_id, version, material_id, raw, aead=sealing_key(raw))
    if family is KeyFamily.HMAC:
        return LoadedMaterial(key.key_id, version, material_id, raw)
    from trent.crypto.asymmetric import PrivateKey

    # The material was authenticated by the root key's AES-GCM on its way out of the store, so it is what
    # Trent generated: OpenSSL's prime checks (up to 500 ms for RSA-4096) would add nothing.
    private_key = PrivateKey(key.spec_name, raw, skip_rsa_validation=True)
    return LoadedMaterial(key.key_id, version, material_id, raw, private_key=private_key)

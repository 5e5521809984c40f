"""The process's cache of unwrapped key material, ready for use.

Material Trent generated never changes once written. Imported material can be deleted, expire, and come back
(the same bytes only), so the ring follows the change feed: any change of a key — its material deleted or
imported, its state — drops what the ring holds of that key, and a gap in the feed drops everything. Imported
material past its ValidTo is refused at the moment of use, whether or not the maintenance pass has deleted it
yet. Entries hold prepared objects (a prepared AES-GCM key, a loaded private key) because preparing them costs
more than the operation itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from trent.crypto.blob import SealingKey, sealing_key
from trent.domain.errors import KMSInternalException, KMSInvalidStateException
from trent.domain.keys import Key
from trent.domain.keyspec import KeyFamily
from trent.storage.session import CHANGE_KEY, Change
from trent.storage.store import Store

_MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class LoadedMaterial:
    key_ref: str
    version: int
    material_id: str
    raw: bytes
    aead: SealingKey | None = None  # symmetric keys
    private_key: object | None = None  # asymmetric keys: trent.crypto.asymmetric.PrivateKey
    valid_to: float | None = None  # imported material that expires


class KeyRing:
    def __init__(self, store: Store, max_entries: int = _MAX_ENTRIES, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._entries: OrderedDict[tuple[str, int], LoadedMaterial] = OrderedDict()
        self._versions: dict[str, set[int]] = {}  # key ref -> the versions held, so that a change finds them
        self._max = max_entries
        self._clock = clock
        self._lock = Lock()
        #: Moves on every change, so that material read while a change is applied is not kept after it.
        self._generation = 0

    def material(self, key: Key, version: int | None = None) -> LoadedMaterial | None:
        """The material of `key` at `version` (default: current), or None if that version does not exist or its
        imported material is absent or past its ValidTo."""
        version = key.current_version if version is None else version
        cache_key = (key.ref, version)
        entry = self._entries.get(cache_key)
        if entry is None:
            generation = self._generation
            with self._store.transaction(write=False) as tx:
                stored = tx.keys.material(key.ref, version)
            if stored is None or stored.material is None:
                return None  # no such version, or imported material that is absent (the key is PendingImport)
            entry = _prepare(key, stored.version, stored.material_id, stored.material, stored.valid_to)
            with self._lock:
                if generation == self._generation:
                    self._entries[cache_key] = entry
                    self._versions.setdefault(key.ref, set()).add(version)
                    if len(self._entries) > self._max:
                        (old_key, old_version), _ = self._entries.popitem(last=False)
                        held = self._versions.get(old_key)
                        if held is not None:
                            held.discard(old_version)
                            if not held:
                                del self._versions[old_key]
        if entry.valid_to is not None and entry.valid_to <= self._clock():
            return None  # expired: as good as deleted, whether or not maintenance has got to it
        return entry

    def current(self, key: Key) -> LoadedMaterial:
        entry = self.material(key)
        if entry is None and key.external:
            # Imported material deleted or expired (maybe on another node, before this one saw the key's state).
            raise KMSInvalidStateException(f"{key.arn} is pending import.")
        if entry is None:  # generated material always exists; its absence is a store fault
            raise KMSInternalException("Key material is missing.")
        return entry

    # --- the change feed ---------------------------------------------------------------------------------
    def changed(self, change: Change) -> None:
        if change.kind != CHANGE_KEY:
            return
        with self._lock:
            self._generation += 1
            for version in self._versions.pop(change.entity, ()):
                self._entries.pop((change.entity, version), None)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._versions.clear()


def _prepare(key: Key, version: int, material_id: str, raw: bytes, valid_to: float | None) -> LoadedMaterial:
    family = key.spec.family
    if family is KeyFamily.SYMMETRIC:
        return LoadedMaterial(key.ref, version, material_id, raw, aead=sealing_key(raw), valid_to=valid_to)
    if family is KeyFamily.HMAC:
        return LoadedMaterial(key.ref, version, material_id, raw, valid_to=valid_to)
    from trent.crypto.asymmetric import PrivateKey

    # The material was authenticated by the root key's AES-GCM on its way out of the store, so it is what
    # Trent generated or checked at import: OpenSSL's prime checks (up to 500 ms for RSA-4096) would add nothing.
    private_key = PrivateKey(key.spec_name, raw, skip_rsa_validation=True)
    return LoadedMaterial(key.ref, version, material_id, raw, private_key=private_key, valid_to=valid_to)

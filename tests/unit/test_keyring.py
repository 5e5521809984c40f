"""The process's cache of unwrapped key material (`api/keyring.py`)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.test_repositories import KEY_ID, a_key, material, with_key
from trent.api.keyring import KeyRing
from trent.crypto import blob
from trent.domain.errors import KMSInternalException
from trent.storage.store import Store


def test_material_is_unwrapped_once_and_prepared_for_its_key_type(memory_store: Store) -> None:
    with_key(memory_store)
    ring = KeyRing(memory_store)
    loaded = ring.current(a_key())
    assert (loaded.key_ref, loaded.version, loaded.raw) == (KEY_ID, 1, material().material)
    assert loaded.aead is not None and loaded.private_key is None
    sealed = blob.seal(loaded.aead, KEY_ID, 1, b"x", None)
    assert blob.open_blob(blob.sealing_key(material().material), sealed, None) == b"x"
    assert ring.material(a_key(), 1) is loaded  # cached: versions never change once written


def test_a_missing_version_is_none_and_a_missing_current_version_is_a_fault(memory_store: Store) -> None:
    with_key(memory_store)
    ring = KeyRing(memory_store)
    assert ring.material(a_key(), 2) is None
    with pytest.raises(KMSInternalException):
        ring.current(dataclasses.replace(a_key(), current_version=2))


def test_the_cache_is_bounded(memory_store: Store) -> None:
    with_key(memory_store)
    with memory_store.transaction() as tx:
        tx.keys.add_material(material(2))
    ring = KeyRing(memory_store, max_entries=1)
    first = ring.material(a_key(), 1)
    ring.material(a_key(), 2)
    assert ring.material(a_key(), 1) is not first  # evicted, read again

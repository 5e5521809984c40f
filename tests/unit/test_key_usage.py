"""When access keys were last used: noted per request in memory, written in batches (`api/key_usage.py`)."""

from __future__ import annotations

from trent.api import identity
from trent.api.key_usage import KeyUsage
from trent.storage.store import Store


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def a_key(store: Store) -> str:
    identity.create_account(store, "111122223333")
    _, key = identity.create_user(store, "111122223333", "alice")
    return key.access_key_id


def last_used(store: Store, access_key_id: str) -> tuple[float, str, str] | None:
    with store.transaction(write=False) as tx:
        return tx.identities.last_used(access_key_id)


def test_uses_are_written_in_batches_once_per_interval(memory_store: Store) -> None:
    key = a_key(memory_store)
    clock = Clock(1_000.0)
    usage = KeyUsage(memory_store, clock, interval=60.0)
    usage.note(key, "us-east-1", "kms")
    assert last_used(memory_store, key) is None  # nothing is written on the request path
    assert usage.write(force=True) == 1
    assert last_used(memory_store, key) == (1_000.0, "us-east-1", "kms")
    clock.now += 10
    usage.note(key, "eu-west-1", "iam")  # within the interval of the use written: not noted again
    assert usage.write(force=True) == 0
    clock.now += 60
    usage.note(key, "eu-west-1", "iam")
    assert usage.write() == 1  # the interval has passed since the last write
    assert last_used(memory_store, key) == (1_070.0, "eu-west-1", "iam")


def test_an_older_use_never_replaces_a_newer_one(memory_store: Store) -> None:
    key = a_key(memory_store)
    newer, older = KeyUsage(memory_store, Clock(2_000.0)), KeyUsage(memory_store, Clock(1_000.0))
    newer.note(key, "us-east-1", "kms")
    older.note(key, "eu-west-1", "sts")  # another worker, whose write comes later
    newer.write(force=True)
    older.write(force=True)
    assert last_used(memory_store, key) == (2_000.0, "us-east-1", "kms")

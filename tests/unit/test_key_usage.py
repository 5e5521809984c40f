"""When access keys were last used: noted per request in memory, written in batches (`api/key_usage.py`)."""

from __future__ import annotations

import pytest

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


def test_many_uses_are_written_in_bounded_transactions(memory_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import trent.api.key_usage as key_usage

    identity.create_account(memory_store, "111122223333")
    keys = [identity.create_user(memory_store, "111122223333", f"u{i}")[1].access_key_id for i in range(7)]
    monkeypatch.setattr(key_usage, "WRITE_BATCH", 3)
    transactions = []
    real_transaction = memory_store.transaction

    def counting_transaction(*args: object, **kwargs: object) -> object:
        transactions.append(1)
        return real_transaction(*args, **kwargs)

    monkeypatch.setattr(memory_store, "transaction", counting_transaction)
    clock = Clock(1_000.0)
    usage = KeyUsage(memory_store, clock)
    for key in keys:
        usage.note(key, "us-east-1", "kms")
    assert usage.write(force=True) == 7
    assert len(transactions) == 3  # 3 + 3 + 1
    monkeypatch.undo()
    assert all(last_used(memory_store, key) == (1_000.0, "us-east-1", "kms") for key in keys)


def test_written_uses_are_forgotten_once_they_cannot_spare_a_note(memory_store: Store) -> None:
    key = a_key(memory_store)
    _, other = identity.create_user(memory_store, "111122223333", "bob")
    clock = Clock(1_000.0)
    usage = KeyUsage(memory_store, clock, interval=60.0)
    usage.note(key, "us-east-1", "kms")
    usage.write(force=True)
    clock.now += 61
    usage.note(other.access_key_id, "us-east-1", "kms")
    usage.write()
    assert set(usage._written) == {other.access_key_id}  # the first key's write is older than the interval
    usage.note(key, "us-east-1", "kms")  # so its next use is noted and written again
    clock.now += 61
    assert usage.write() == 1
    assert last_used(memory_store, key) == (1_061.0, "us-east-1", "kms")

"""Audit batches reach the store whole and in order, whatever their size, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from trent.storage.session import AUDIT_BATCH_ROWS, AUDIT_COLUMNS
from trent.storage.store import Store


def event(number: int) -> dict[str, object]:
    failed = number % 3 == 0
    row: dict[str, object] = {
        "event_id": f"00000000-0000-4000-8000-{number:012d}",
        "event_time": 1_800_000_000.0 + number / 1000,
        "event_name": "Decrypt" if failed else "Encrypt",
        "account_id": "111122223333",
        "principal_arn": f"arn:aws:iam::111122223333:user/u{number % 7}",
        "key_arn": None if number % 5 == 0 else f"arn:aws:kms:us-east-1:111122223333:key/k{number % 2}",
        "error_code": "AccessDeniedException" if failed else None,
        "record": json.dumps({"n": number, "quote": "'\"; DROP TABLE audit_events; --"}),
    }
    assert tuple(row) == AUDIT_COLUMNS
    return row


@pytest.mark.parametrize("count", [1, 2, 3, AUDIT_BATCH_ROWS - 1, AUDIT_BATCH_ROWS, AUDIT_BATCH_ROWS + 1, 1000])
def test_every_event_of_a_batch_is_stored_once_in_order(store: Store, count: int) -> None:
    events = [event(n) for n in range(count)]
    with store.transaction() as tx:
        tx.audit.insert(events)
    with store.transaction(write=False) as tx:
        stored = tx.audit.events(limit=count + 10)
        failures = tx.audit.events(errors_only=True, limit=count + 10)
        by_key = tx.audit.events(key_arn="arn:aws:kms:us-east-1:111122223333:key/k1", limit=count + 10)
    assert [json.loads(record)["n"] for _, record in stored] == list(range(count))
    assert [json.loads(record)["n"] for _, record in failures] == [n for n in range(count) if n % 3 == 0]
    assert [json.loads(record)["n"] for _, record in by_key] == [n for n in range(count) if n % 5 and n % 2]


def test_an_empty_batch_writes_nothing(store: Store) -> None:
    with store.transaction() as tx:
        tx.audit.insert([])
    with store.transaction(write=False) as tx:
        assert tx.audit.events() == []


def test_a_batch_that_fails_writes_nothing(store: Store) -> None:
    """Within its transaction a batch is all or nothing: a duplicate event ID in the last chunk undoes the rest."""
    events = [event(n) for n in range(AUDIT_BATCH_ROWS + 5)]
    events[-1] = {**events[-1], "event_id": events[0]["event_id"]}
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), store.transaction() as tx:
        tx.audit.insert(events)
    with store.transaction(write=False) as tx:
        assert tx.audit.events() == []


def test_audit_pages_by_key_or_principal_are_index_ranges(sqlite_store: Store) -> None:
    """`trent admin audit --key` with a million matches took 217 s: every page re-read and sorted every match."""
    import sqlalchemy as sa

    store = sqlite_store
    with store.engine.connect() as conn:
        for column in ("key_arn", "principal_arn"):
            plan = " ".join(
                str(row)
                for row in conn.execute(
                    sa.text(
                        f"EXPLAIN QUERY PLAN SELECT seq, record FROM audit_events WHERE seq > 5 AND {column} = 'x' "
                        "ORDER BY seq LIMIT 1000"
                    )
                )
            )
            assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
    store.dispose()

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


def _spanning_buckets(store: Store) -> list[tuple[int, dict[str, object]]]:
    """Events in three buckets of the key and principal indexes (`tables.AUDIT_BUCKET_EVENTS`), with gaps in the
    sequence numbers as purges and rolled back batches leave: (seq, row) of each, in order."""
    import sqlalchemy as sa

    from trent.storage import tables as t

    size = t.AUDIT_BUCKET_EVENTS
    placed = [1, 2, 3, size - 2, size - 1, size, size + 1, 2 * size + 5, 2 * size + 6, 2 * size + 7]
    rows = []
    with store.engine.begin() as conn:
        for number, seq in enumerate(placed):
            row = event(number)
            rows.append((seq, row))
            conn.execute(sa.insert(t.audit_events).values(seq=seq, **row))
    return rows


def test_pages_by_key_and_principal_walk_the_buckets_in_order(database_store: Store) -> None:
    """Every page of `events` (oldest first, after a sequence number) and of `newest` (newest first, before one),
    filtered by key or principal and the other filters, is the matching events in order: what a scan of every
    event and a sort would give."""
    store = database_store
    rows = _spanning_buckets(store)
    filters: list[dict[str, object]] = [
        {"key_arn": "arn:aws:kms:us-east-1:111122223333:key/k1"},
        {"key_arn": "arn:aws:kms:us-east-1:111122223333:key/k0"},
        {"principal_arn": "arn:aws:iam::111122223333:user/u1"},
        {"principal_arn": "arn:aws:iam::111122223333:user/u0", "errors_only": True},
        {"principal_arn": "arn:aws:iam::111122223333:user/u2", "event_name": "Encrypt"},
        {"key_arn": "arn:aws:kms:us-east-1:111122223333:key/k1", "principal_arn": "arn:aws:iam::111122223333:user/u3"},
        {"principal_arn": "arn:aws:iam::111122223333:user/nobody"},
        {"key_arn": "arn:aws:kms:us-east-1:111122223333:key/k1", "since": 1_800_000_000.004},
    ]

    def matches(row: dict[str, object], wanted: dict[str, object]) -> bool:
        for name, value in wanted.items():
            if name == "errors_only":
                if row["error_code"] is None:
                    return False
            elif name == "since":
                if row["event_time"] < value:  # type: ignore[operator]
                    return False
            elif row[name] != value:
                return False
        return True

    for wanted in filters:
        expected = [seq for seq, row in rows if matches(row, wanted)]
        for page_size in (1, 2, 3, 1000):
            forward: list[int] = []
            after = 0
            with store.transaction(write=False) as tx:
                while page := tx.audit.events(after_seq=after, limit=page_size, **wanted):  # type: ignore[arg-type]
                    assert len(page) <= page_size
                    forward += [seq for seq, _ in page]
                    after = page[-1][0]
            assert forward == expected, (wanted, page_size)
            if "since" in wanted:
                continue
            backward: list[int] = []
            before = None
            with store.transaction(write=False) as tx:
                while page := tx.audit.newest(
                    "111122223333",
                    before_seq=before,
                    limit=page_size,
                    **wanted,  # type: ignore[arg-type]
                ):
                    backward += [seq for seq, _ in page]
                    before = page[-1][0]
            assert backward == expected[::-1], (wanted, page_size)


def test_audit_pages_by_key_or_principal_are_index_probes(sqlite_store: Store) -> None:
    """`trent admin audit --key` with a million matches took 217 s when every page re-read and sorted every match.
    Each statement a page by key or principal runs probes the bucketed index, in its order: no sort, no scan."""
    from tests.unit.test_query_plans import statements

    store = sqlite_store
    _spanning_buckets(store)
    with statements(store) as seen, store.transaction(write=False) as tx:
        tx.audit.events(key_arn="arn:aws:kms:us-east-1:111122223333:key/k1", after_seq=2, limit=2)
        tx.audit.events(principal_arn="arn:aws:iam::111122223333:user/u1", limit=2)
        tx.audit.newest("111122223333", principal_arn="arn:aws:iam::111122223333:user/u1", limit=2)
        tx.audit.newest("111122223333", key_arn="arn:aws:kms:us-east-1:111122223333:key/k1", before_seq=9, limit=2)
    pages = [sql for sql in seen if "audit_events.record" in sql]
    assert len(pages) == 4
    with store.engine.connect() as conn:
        for sql in pages:
            plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "USING INDEX ix_audit_key" in plan or "USING INDEX ix_audit_principal" in plan, plan
            assert "<expr>=?" in plan and "TEMP B-TREE" not in plan, plan
    store.dispose()

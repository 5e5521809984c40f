"""No query of maintenance, /metrics, CreateGrant's Name lookup or key deletion reads a whole table: every statement
those paths run on SQLite is captured as it runs and explained, and a plan that scans a table without an index
fails the test. (At a million keys a maintenance pass took 227 ms under the writer lock, a /metrics scrape
222 ms.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.unit.services import services_for
from tests.unit.test_repositories import ACCOUNT, KEY_ID, a_grant, with_key
from trent.api.maintenance import run_due_work
from trent.storage.store import Store

#: Tables that grow with use; a plain "SCAN <table>" of one of them is a full read.
LARGE = ("keys", "grants", "changes", "access_keys", "audit_events", "key_materials", "aliases", "tags")


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement SQLite runs on the store's connections meanwhile, values inlined."""
    seen: list[str] = []

    def trace(connection: sqlite3.Connection, _record: object) -> None:
        connection.set_trace_callback(seen.append)

    store.engine.dispose()  # new connections, so that each gets the trace
    store.reader.reset()
    event.listen(store.engine, "connect", trace)
    try:
        yield seen
    finally:
        event.remove(store.engine, "connect", trace)
        store.engine.dispose()
        store.reader.reset()


def full_scans(store: Store, sql: list[str]) -> list[tuple[str, str]]:
    found = []
    connection = sqlite3.connect(store.engine.url.database or "")
    try:
        for statement in sql:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            for row in connection.execute("EXPLAIN QUERY PLAN " + statement):
                detail = str(row[-1])
                words = detail.split()
                if words[:1] == ["SCAN"] and words[1] in LARGE and "USING" not in detail:
                    found.append((statement, detail))
    finally:
        connection.close()
    return found


def test_maintenance_metrics_grant_views_and_named_grants_read_by_index(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    services = services_for(sqlite_store)
    with statements(sqlite_store) as sql:
        run_due_work(services, audit_retention_days=30, audit_max_events=1000)
        with sqlite_store.transaction() as tx:
            tx.keys.with_most_grants(100)
            tx.grants.active_named(KEY_ID, "name")
            tx.grants.insert(a_grant("a" * 64, name="name"))
            tx.grants.retirable("us-east-1", f"arn:aws:iam::{ACCOUNT}:user/bob", 0, 10)
        services.grants.usable_grants(KEY_ID, (f"arn:aws:iam::{ACCOUNT}:user/alice",))
        with sqlite_store.transaction() as tx:
            tx.keys.delete(KEY_ID)
    assert len(sql) > 10, sql  # the trace saw the work
    assert full_scans(sqlite_store, sql) == []

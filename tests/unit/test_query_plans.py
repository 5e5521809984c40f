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
from trent.storage.store import Store, Tx

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
                # A SEARCH with no index under a WHERE is a walk in rowid order too (SQLite's min/max(rowid)
                # shortcut stepping until a row matches); without a WHERE it is one step.
                search = words[:1] == ["SEARCH"] and " WHERE " in statement.upper().replace("\n", " ")
                # A SCAN through an index reads it whole too, unless a LIMIT stops it (ORDER BY ... LIMIT n).
                unbounded = " LIMIT " not in statement.upper().replace("\n", " ")
                walks_an_index = words[:1] == ["SCAN"] and "USING" in detail and unbounded
                if (
                    (words[:1] == ["SCAN"] or search)
                    and words[1] in LARGE
                    and ("USING" not in detail or walks_an_index)
                ):
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
            _audit_and_console_queries(tx)
            tx.keys.delete(KEY_ID)
    assert len(sql) > 10, sql  # the trace saw the work
    assert full_scans(sqlite_store, sql) == []


def _audit_and_console_queries(tx: Tx) -> None:
    """The audit trail's pages (trent admin audit, the console's) and the console's lineage and sessions."""
    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
    principal = f"arn:aws:iam::{ACCOUNT}:user/alice"
    tx.audit.events(since=1_800_000_000.0, limit=10)
    tx.audit.events(key_arn=key_arn, limit=10)
    tx.audit.events(principal_arn=principal, limit=10)
    tx.audit.newest(ACCOUNT, limit=50)
    tx.audit.newest(ACCOUNT, key_arn=key_arn, before_seq=100, limit=50)
    tx.grants.delegations(KEY_ID)
    tx.grants.of_account(ACCOUNT, "us-east-1", grantee=principal, operation_mask=1, before_seq=100, limit=51)
    tx.grants.lineage(KEY_ID)
    tx.console.purge_idle(1_800_000_000.0)


def test_the_same_paths_use_indexes_on_postgresql(database_store: Store) -> None:
    """PostgreSQL's planner prefers reading a small table whole, so the check asks it to avoid that
    (`enable_seqscan = off`): a sequential scan it still chooses means no index can serve the statement."""
    store = database_store
    if store.engine.dialect.name != "postgresql":
        return  # the SQLite side is the test above
    with_key(store)
    services = services_for(store)
    seen: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        run_due_work(services, audit_retention_days=30, audit_max_events=1000)
        with store.transaction() as tx:
            tx.keys.with_most_grants(100)
            tx.grants.active_named(KEY_ID, "name")
            tx.grants.retirable("us-east-1", f"arn:aws:iam::{ACCOUNT}:user/bob", 0, 10)
            _audit_and_console_queries(tx)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    scans = []
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection  # type: ignore[union-attr]
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            # Nested loops over indexes, as the real plans at size are: no sort-merge or hash of whole tables.
            for setting in ("enable_seqscan", "enable_mergejoin", "enable_hashjoin"):
                cursor.execute(f"SET {setting} = off")
            for statement, parameters in seen:
                if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                    continue
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0][0]["Plan"]
                scans += [(statement, node) for node in _whole_reads(plan)]
    assert len(seen) > 10
    assert scans == []


def _whole_reads(plan: dict[str, object]) -> list[str]:
    """The nodes of a PostgreSQL plan that read a large table whole: a sequential scan, or an index scan with no
    condition on the index (a full walk of it)."""
    found = []
    nodes = [plan]
    while nodes:
        node = nodes.pop()
        relation = node.get("Relation Name")
        kind = str(node.get("Node Type"))
        if relation in LARGE and (kind == "Seq Scan" or (kind.endswith("Index Scan") and "Index Cond" not in node)):
            found.append(f"{kind} on {relation}")
        nodes.extend(node.get("Plans", []) or [])  # type: ignore[arg-type]
    return found

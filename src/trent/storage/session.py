"""What the repositories of one transaction share: its connection, the prepared statements, the root key, and the
list of what the transaction changed (for the change feed). Repositories reach the database only through here;
nothing above `trent.storage` sees a connection or a row."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection

from trent.crypto.rootkey import (
    CHECK_AAD,
    CHECK_PLAINTEXT,
    RootKeyError,
    RootKeyUnavailable,
    RootKeyVersions,
    wrapped_version,
)
from trent.domain.errors import DependencyTimeoutException
from trent.storage.rows import GRANT_COLUMNS, GRANT_INSERT_COLUMNS, KEY_COLUMNS

log = logging.getLogger("trent.store")

#: The columns an audit event row provides (the sequence number is assigned by the database).
AUDIT_COLUMNS = (
    "event_id",
    "event_time",
    "event_name",
    "account_id",
    "principal_arn",
    "key_arn",
    "error_code",
    "record",
)
#: Largest number of audit rows one INSERT carries (a power of two; 8 columns each stays far below the
#: 32,766 bound parameters of SQLite and 65,535 of PostgreSQL).
AUDIT_BATCH_ROWS = 256


class Change(NamedTuple):
    """One row of the change feed: what changed (`kind`), which one (`entity`), and its key if it has one."""

    kind: str  # one of the CHANGE_* names below
    entity: str
    #: The ref (`trent.domain.ids.key_ref`) of the key the change is about, if any: caches are named by refs.
    key_id: str | None = None


CHANGE_GRANT = "grant"  # entity: grant ID (key_id: its key)
CHANGE_KEY = "key"  # entity: key ID
CHANGE_ALIAS = "alias"  # entity: "<account>:<region>:<alias name>" (key_id: its target, old or new)
CHANGE_ACCOUNT = "account"  # entity: account ID
CHANGE_PRINCIPAL = "principal"  # entity: principal ARN
CHANGE_ACCESS_KEY = "access_key"  # entity: access key ID
CHANGE_IDENTITY_POLICY = "identity_policy"  # entity: the ARN of the principal the policy is attached to
CHANGE_ROOT_KEY = "root_key"  # entity: the new newest version, or "retired" (every process forgets its data keys)


def alias_entity(account: str, region: str, alias_name: str) -> str:
    return f"{account}:{region}:{alias_name}"


class StoreConflict(Exception):
    """A row changed under an optimistic update, or a unique row already exists."""


class Statements:
    """The constant SQL text of the hot statements, in the driver's placeholder style.

    Only table and column names and placeholders go into the text; every value is a bound parameter.
    """

    def __init__(self, *, qmark: bool, for_update: bool) -> None:
        m = "?" if qmark else "%s"

        def insert(table: str, columns: Sequence[str]) -> str:
            return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([m] * len(columns))})"  # noqa: S608

        key = f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = {m} AND account_id = {m} AND region = {m}"  # noqa: S608
        self.key = key
        self.key_for_update = key + (" FOR UPDATE" if for_update else "")
        self.reserve_grant_slot = (
            f"UPDATE keys SET grant_count = grant_count + 1 WHERE key_id = {m} AND grant_count < {m}"  # noqa: S608
        )
        self.release_grant_slot = f"UPDATE keys SET grant_count = grant_count - 1 WHERE key_id = {m}"  # noqa: S608
        self.insert_grant = insert("grants", GRANT_INSERT_COLUMNS)
        self.insert_change = insert("changes", ("kind", "entity", "key_id", "changed_at"))
        self.active_grants_named = (
            f"SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = {m} AND name = {m} AND deleted_at IS NULL"  # noqa: S608
        )
        self.delete_grant = f"UPDATE grants SET deleted_at = {m} WHERE grant_id = {m} AND deleted_at IS NULL"  # noqa: S608

        # One statement per power-of-two batch size up to AUDIT_BATCH_ROWS: few texts to prepare and cache. On
        # PostgreSQL they carry numbered placeholders and run on a raw cursor (`Session.native_cursor`): psycopg
        # caches its parse of a `%s` query only up to 50 parameters, and parsing a 256-row text again on every flush
        # cost ~4 % of a busy server's CPU.
        def rows(size: int) -> str:
            width = len(AUDIT_COLUMNS)
            if qmark:
                return ", ".join([f"({', '.join([m] * width)})"] * size)
            return ", ".join(
                f"({', '.join(f'${row * width + column + 1}' for column in range(width))})" for row in range(size)
            )

        self.insert_audit_events = {
            size: f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES {rows(size)}"  # noqa: S608
            for size in (1 << bit for bit in range(AUDIT_BATCH_ROWS.bit_length()))
        }


class Session:
    """One transaction's connection and what its repositories share."""

    def __init__(self, conn: Connection, sql: Statements, versions: RootKeyVersions, *, is_sqlite: bool) -> None:
        self.conn = conn
        self.sql = sql
        #: What the repositories wrap and unwrap with (`TransactionKeys`).
        self.root_key = TransactionKeys(self, versions)
        self.is_sqlite = is_sqlite
        self._cursor: Any = None
        self._native_cursor: Any = None
        #: What this transaction changed, for the change feed (`ChangeFeedRepository.write` writes it last).
        self.changes: list[Change] = []

    def record(self, kind: str, entity: str, key_id: str | None = None) -> None:
        """Note a change for the change feed; every repository method that changes a cached row calls it."""
        self.changes.append(Change(kind, entity, key_id))

    def raw(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a constant statement on this transaction's DB-API cursor, and return the cursor.

        SQLAlchemy Core spends ~200 µs here building, keying and compiling each statement; the hot write
        paths (CreateGrant, RetireGrant, RevokeGrant) run a handful of them per request, so they use
        prepared text with bound parameters on the same connection and transaction instead.
        """
        cursor = self.raw_cursor()
        cursor.execute(sql, params)
        return cursor

    def raw_cursor(self) -> Any:
        if self._cursor is None:
            self._cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return self._cursor

    def native_cursor(self) -> Any:
        """A cursor for statements in the database's own placeholder style: SQLite's `?`, PostgreSQL's `$n`."""
        if self.is_sqlite:
            return self.raw_cursor()
        if self._native_cursor is None:
            from psycopg import RawCursor  # imported when PostgreSQL is first used

            self._native_cursor = RawCursor(self.conn.connection.driver_connection)  # type: ignore[arg-type]
        return self._native_cursor


class TransactionKeys:
    """The root key as one transaction uses it.

    New values are wrapped under the newest root-key version that is not retired, read once per transaction from
    `root_key_versions`; on PostgreSQL that row is read FOR SHARE, so that retiring the version waits for this
    transaction to end and then sees what it wrote (docs/security.md, "Rotating the root key"). A value is
    unwrapped under the version that made it, provided that version is not retired: whether it is comes from the
    store the first time a process meets the version, and the change feed makes every process forget it when one is
    retired.
    """

    def __init__(self, session: Session, versions: RootKeyVersions) -> None:
        self._s = session
        self.versions = versions
        self._newest: int | None = None

    def newest(self) -> int:
        """The version this transaction wraps under (read once, and on PostgreSQL locked FOR SHARE)."""
        if self._newest is None:
            newest = (
                f"SELECT version, {self._column()} FROM root_key_versions WHERE retired IS NULL "  # noqa: S608
                "ORDER BY version DESC LIMIT 1"
            )
            row = self._s.raw(newest if self._s.is_sqlite else newest + " FOR SHARE").fetchone()
            if row is None:
                raise RootKeyError("the store has no root-key version in use")
            version = int(row[0])
            if not self.versions.knows(version):
                self._learn(version, row[1])
            self._newest = version
        return self._newest

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return self.versions.wrap(self.newest(), plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        version = wrapped_version(blob)
        if not self.versions.knows(version):
            mark = "?" if self._s.is_sqlite else "%s"
            row = self._s.raw(
                f"SELECT {self._column()}, retired FROM root_key_versions WHERE version = {mark}",  # noqa: S608
                (version,),
            ).fetchone()
            if row is None or row[1] is not None:
                raise RootKeyError(f"the value is wrapped under root-key version {version}, which is retired")
            self._learn(version, row[0])
        return self.versions.unwrap(blob, aad)

    def _column(self) -> str:
        """Where this process finds the data keys: under the current root key, or under the one being replaced."""
        return "wrapped_key" if self.versions.role == "current" else "wrapped_key_previous"

    def _learn(self, version: int, wrapped: bytes | None) -> None:
        if version == 0:
            self.versions.allow_root_key()
            return
        if wrapped is None:
            raise RootKeyError("the root key this process holds has been replaced, and its copies retired")
        try:
            self.versions.learn(version, bytes(wrapped))
        except RootKeyUnavailable as exc:
            # An HSM that does not answer: retryable, and nothing falls back to another key.
            log.warning("the root key cannot be used: %s", exc)
            raise DependencyTimeoutException("The root key's HSM did not answer. Retry the request.") from None
        except RootKeyError:
            # The root key was replaced since this process started: it holds the previous one now, and finds the
            # data keys among the copies kept for it (until the old versions are retired).
            if self.versions.role != "current" or not self._holds_previous_root_key():
                raise
            self.versions.role = "previous"
            self.versions.forget()
            mark = "?" if self._s.is_sqlite else "%s"
            row = self._s.raw(
                f"SELECT wrapped_key_previous FROM root_key_versions WHERE version = {mark}",  # noqa: S608
                (version,),
            ).fetchone()
            if row is None or row[0] is None:
                raise
            self.versions.learn(version, bytes(row[0]))

    def _holds_previous_root_key(self) -> bool:
        row = self._s.raw("SELECT value FROM meta WHERE name = 'root_key_check_previous'").fetchone()
        if row is None:
            return False
        try:
            return self.versions.root_key.unwrap(bytes(row[0]), CHECK_AAD) == CHECK_PLAINTEXT
        except RootKeyError:
            return False

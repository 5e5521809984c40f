"""The hot read path: point lookups of keys, aliases, grants and the change feed on a persistent DB-API connection.

SQLAlchemy Core costs ~100 µs per statement here; a prepared point lookup on a connection the thread
keeps costs a few. Only reads that need no transaction go through here (a SELECT in autocommit mode sees
every committed change); anything that reads in order to write uses `Store.transaction()`.

Nothing here is cached: the process's caches live in `trent.api` and are kept exact by the change feed
(`api/changes.py`), which this reader also serves.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from trent.domain.errors import DependencyTimeoutException
from trent.domain.grants import Grant
from trent.domain.ids import key_id_of_ref, key_ref
from trent.domain.keys import Key
from trent.storage.rows import GRANT_COLUMNS, KEY_COLUMNS, grant_from_tuple, key_from_tuple


def _is_connection_problem(exc: Exception) -> bool:
    """A lost or unreachable database (retryable), as opposed to a bug in a statement."""
    if isinstance(exc, OperationalError | InterfaceError | SATimeoutError):
        return True
    module = type(exc).__module__
    return type(exc).__name__ in ("OperationalError", "InterfaceError") and module.split(".")[0] in (
        "psycopg",
        "sqlite3",
    )


class FastReader:
    """Point reads on one DB-API connection per thread, in autocommit mode."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Constant SQL text with bound parameters: only the placeholder style varies by driver.
        mark = self._mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._sql_key = (
            f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = {mark} AND account_id = {mark} AND region = {mark}"  # noqa: S608
        )
        self._sql_key_by_id = f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = {mark}"  # noqa: S608
        self._sql_identity_policies = (
            f"SELECT policy_name, document FROM identity_policies WHERE principal_arn = {mark} ORDER BY policy_name"  # noqa: S608
        )
        self._sql_grants_of_grantee = (
            f"SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = {mark} AND grantee_principal = {mark} "  # noqa: S608
            f"AND (deleted_at IS NULL OR deleted_at >= {mark}) ORDER BY seq"
        )
        self._sql_grant = f"SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = {mark}"  # noqa: S608
        self._sql_changes = (
            f"SELECT seq, kind, entity, key_id FROM changes WHERE seq > {mark} ORDER BY seq LIMIT {mark}"  # noqa: S608
        )
        # The oldest row left and the rows after a point, in one statement: one round trip, and one snapshot (a
        # purge cannot fall between the two). The first row carries MIN(seq), the others the rows in order.
        self._sql_changes_and_oldest = (
            "SELECT 0 AS part, MIN(seq), NULL, NULL, NULL FROM changes UNION ALL "  # noqa: S608
            f"SELECT * FROM (SELECT 1 AS part, seq, kind, entity, key_id FROM changes WHERE seq > {mark} "
            f"ORDER BY seq LIMIT {mark}) AS after_point ORDER BY part, 2"
        )
        self._sql_last_change = "SELECT MAX(seq) FROM changes"
        self._sql_oldest_change = "SELECT MIN(seq) FROM changes"
        self._sql_account = f"SELECT 1 FROM accounts WHERE account_id = {mark}"  # noqa: S608
        self._sql_principal = f"SELECT 1 FROM principals WHERE arn = {mark}"  # noqa: S608
        self._sql_alias = (
            f"SELECT key_id FROM aliases WHERE account_id = {mark} AND region = {mark} AND alias_name = {mark}"  # noqa: S608
        )

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            connection = self._engine.raw_connection()
            if self._engine.dialect.name == "postgresql":
                connection.driver_connection.autocommit = True  # type: ignore[union-attr]
            self._local.connection = connection  # kept for the life of the thread
            cursor = self._local.cursor = connection.cursor()
        return cursor

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._all(sql, params, one=True)
        return rows[0] if rows else None

    def get_key(self, account: str, region: str, key_id: str) -> Key | None:
        row = self._one(self._sql_key, (key_ref(key_id, region), account, region))
        return None if row is None else key_from_tuple(row)

    def get_key_by_ref(self, ref: str) -> Key | None:
        row = self._one(self._sql_key_by_id, (ref,))
        return None if row is None else key_from_tuple(row)

    def alias_target(self, account: str, region: str, alias_name: str) -> str | None:
        """The key ID an alias names."""
        row = self._one(self._sql_alias, (account, region, alias_name))
        return None if row is None else key_id_of_ref(str(row[0]))

    def account_exists(self, account: str) -> bool:
        return self._one(self._sql_account, (account,)) is not None

    def principal_exists(self, arn: str) -> bool:
        """Whether a user or role with this ARN exists (account roots are principals too)."""
        return self._one(self._sql_principal, (arn,)) is not None

    def data_version(self) -> int | None:
        """SQLite's count of commits by other connections as this thread's connection sees it (~5 µs); None on
        PostgreSQL. The reader's connection never writes, so every commit anywhere moves it."""
        if not self.is_sqlite:
            return None
        row = self._one("PRAGMA data_version", ())
        return None if row is None else int(row[0])

    def _all(self, sql: str, params: tuple[Any, ...], one: bool = False) -> list[tuple[Any, ...]]:
        try:
            cursor = self._cursor()
            cursor.execute(sql, params)
            if one:
                row = cursor.fetchone()
                return [] if row is None else [row]
            return list(cursor.fetchall())
        except Exception as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: Exception) -> None:
        """After an error: drop the connection, and turn a lost database into a retryable timeout."""
        self.reset()
        if _is_connection_problem(exc):
            raise DependencyTimeoutException("The store did not answer in time. Retry the request.") from exc

    # --- grants: what each process's grant view reads ------------------------------------------------
    def grants_of_grantee(self, key_ref: str, grantee: str, deleted_since: float) -> list[tuple[int, Grant]]:
        """A grantee's active grants on a key, and those deleted at or after `deleted_since` (an index range)."""
        rows = self._all(self._sql_grants_of_grantee, (key_ref, grantee, deleted_since))
        return [grant_from_tuple(row) for row in rows]

    def list_grants(
        self, key_ref: str, after_seq: int, limit: int, grant_id: str | None = None, grantee: str | None = None
    ) -> list[tuple[int, Grant]]:
        """A page of a key's active grants in creation order, after `after_seq` (an index seek)."""
        mark = self._mark
        sql = f"SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = {mark} AND deleted_at IS NULL AND seq > {mark}"  # noqa: S608
        params: list[Any] = [key_ref, after_seq]
        if grant_id is not None:
            sql += f" AND grant_id = {mark}"
            params.append(grant_id)
        if grantee is not None:
            sql += f" AND grantee_principal = {mark}"
            params.append(grantee)
        sql += f" ORDER BY seq LIMIT {mark}"
        params.append(limit)
        return [grant_from_tuple(row) for row in self._all(sql, tuple(params))]

    def grant(self, grant_id: str) -> Grant | None:
        row = self._one(self._sql_grant, (grant_id,))
        return None if row is None else grant_from_tuple(row)[1]

    def changes_after(self, after_seq: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        """(seq, kind, entity, key ref) of the change feed after `after_seq`, oldest first."""
        return [(int(q), str(k), str(e), g) for q, k, e, g in self._all(self._sql_changes, (after_seq, limit))]

    def changes_and_oldest(
        self, after_seq: int, limit: int
    ) -> tuple[int | None, list[tuple[int, str, str, str | None]]]:
        """`oldest_change()` and `changes_after(after_seq, limit)` as one snapshot of the feed shows them."""
        oldest: int | None = None
        rows: list[tuple[int, str, str, str | None]] = []
        for part, seq, kind, entity, key in self._all(self._sql_changes_and_oldest, (after_seq, limit)):
            if part == 0:
                oldest = None if seq is None else int(seq)
            else:
                rows.append((int(seq), str(kind), str(entity), key))
        return oldest, rows

    def last_change(self) -> int:
        row = self._one(self._sql_last_change, ())
        return int(row[0]) if row is not None and row[0] is not None else 0

    def oldest_change(self) -> int | None:
        row = self._one(self._sql_oldest_change, ())
        return int(row[0]) if row is not None and row[0] is not None else None

    def identity_policies(self, principal_arn: str) -> list[tuple[str, str]]:
        return [
            (str(name), str(document)) for name, document in self._all(self._sql_identity_policies, (principal_arn,))
        ]

    def reset(self) -> None:
        """Drop this thread's connection (after an error, or when the store is disposed)."""
        connection = getattr(self._local, "connection", None)
        self._local.cursor = None
        self._local.connection = None
        if connection is not None:
            with contextlib.suppress(Exception):  # the connection is being thrown away either way
                connection.invalidate()

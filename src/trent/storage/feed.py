"""The change feed's table: what each transaction changed, appended as its last statements (`changes`), read by
every process's caches through the fast reader (`api/changes.py`)."""

from __future__ import annotations

import time

from sqlalchemy import delete, func, select

from trent.storage import tables as t
from trent.storage.session import Session

#: Held from the feed's write to the commit on PostgreSQL (see `ChangeFeedRepository.write`).
_FEED_LOCK = 1952805748


class ChangeFeedRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def write(self) -> None:
        """Append the transaction's changes to the feed (the last statements before the commit).

        The feed's `seq` must commit in order, so a reader that has seen N never misses N-1: SQLite writers are
        serialized already; on PostgreSQL an advisory lock, taken here and held to the commit, serializes the
        feed's writers (and only them, at the very end of their transactions, so it cannot deadlock with row locks).
        """
        changes = self._s.changes
        if not changes:
            return
        if not self._s.is_sqlite:
            self._s.raw(f"SELECT pg_advisory_xact_lock({_FEED_LOCK})")
        now = time.time()
        cursor = self._s.raw_cursor()
        cursor.executemany(self._s.sql.insert_change, [(c.kind, c.entity, c.key_id, now) for c in changes])

    def purge(self, before: float) -> int:
        """Forget change-feed rows written before `before`: always a prefix of the feed, and never its newest row.

        Readers detect that they missed purged rows by the oldest row left (api/changes.py): that test is sound
        only if what is deleted is a prefix, which a cut by time alone would not be (nodes' clocks differ).
        """
        seq = t.changes.c.seq
        # `seq + 0`: read the time index, not the rows newest first until one is old enough (SQLite's shortcut).
        cut = self._s.conn.execute(select(func.max(seq + 0)).where(t.changes.c.changed_at < before)).scalar()
        newest = self._s.conn.execute(select(func.max(seq))).scalar()
        if cut is None or newest is None:
            return 0
        result = self._s.conn.execute(delete(t.changes).where(seq <= min(cut, newest - 1)))
        return result.rowcount or 0

"""The change feed, followed by every process: the one way its caches learn that the store changed.

Every transaction that changes a grant, key, alias, account, principal, access key or identity policy appends
rows to the store's `changes` table in the same transaction (`tx.feed`). Each process has one `ChangeFeed`:

- at the start of every request, `catch_up` reads the rows it has not seen and tells every listener (the grant
  view, the read cache, the identity-policy cache, the key ring, the credentials cache) — on SQLite only when
  `PRAGMA data_version` says another connection committed something (~5 µs), so a change made by any worker is
  seen by the very next request of every worker; on PostgreSQL when `refresh_interval` has passed since the last
  read (0: before every request), which bounds how long another node can be behind;
- on PostgreSQL over an interval, before a grant token's grant is looked up, unless it was read during this pass
  of the event loop (`read_in_this_pass`): a token stops at once on every node when its grant is revoked;
- the process's own commits reach the listeners at once, before the response (`committed`);
- a background task reads the feed every few seconds, so an idle process does not fall far behind;
- the maintenance pass deletes rows older than an hour, always a prefix of the feed. A process that finds the
  oldest row newer than the one after the last it read has missed some: every listener then forgets
  everything (`reset`) and reloads on demand. No process can keep a revoked grant or a deleted access key
  because it slept through the purge.

Listeners implement `changed(change)` and `reset()`; they must take care that a value they load while a change
is being applied is not cached after it (see `caches.Lru.put_if_current`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from trent.api.caches import MISSING, Lru
from trent.domain.ids import key_ref
from trent.domain.keys import Key
from trent.storage.reader import FastReader
from trent.storage.session import CHANGE_ACCOUNT, CHANGE_ALIAS, CHANGE_KEY, CHANGE_PRINCIPAL, Change

_ROWS_PER_READ = 5000


class Listener(Protocol):
    def changed(self, change: Change) -> None: ...

    def reset(self) -> None: ...


class ChangeFeed:
    def __init__(
        self, reader: FastReader, *, refresh_interval: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._reader = reader
        self._clock = clock
        self.refresh_interval = refresh_interval
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._local = threading.local()  # the data_version this thread last saw (SQLite)
        self._last_seq: int | None = None
        self._last_read = float("-inf")
        #: Passes of the server's event loop, counted by the server (`TrentApp`); None where no loop counts them
        #: (a command, a test), and then `read_in_this_pass` reads every time.
        self.pass_number: int | None = None
        #: The pass in which the last complete read began.
        self._read_in_pass: int | None = None
        #: Gaps found (rows purged before this process read them): each one emptied every cache.
        self.gaps = 0

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def lag(self) -> float:
        """Seconds since this process was last known to be current with the store (for metrics): since the feed
        was last read, or since SQLite last said that nothing had changed."""
        return max(0.0, self._clock() - self._last_read)

    def catch_up(self) -> None:
        """Bring every listener up to date if the store may have changed: call at the start of a request."""
        if self.refresh_interval > 0:
            if self._clock() - self._last_read >= self.refresh_interval:
                self.read()
            return
        version = self._reader.data_version()
        if version is not None:
            if version == getattr(self._local, "version", None):
                self._last_read = self._clock()  # nothing was committed since the last read: current now
                return
            # Noted before reading: a commit during the read moves it again, and the next request reads again.
            self._local.version = version
        self.read()

    def next_pass(self) -> None:
        """A new pass of the event loop begins: the server calls this at the first check of every pass that serves
        requests (`TrentApp._catch_up`), before that check reads anything."""
        self.pass_number = (self.pass_number or 0) + 1

    def read_in_this_pass(self) -> None:
        """Make sure the feed was read during this pass of the event loop, whatever `refresh_interval` says.

        What a request of this pass may rely on (the argument of `TrentApp._catch_up`): every step run in a pass
        was queued before the pass began, so its request's bytes had arrived, and whatever its client had been
        told was committed, before any read made during the pass. Outside a server's loop, it reads every time.
        """
        if self.pass_number is None or self._read_in_pass != self.pass_number:
            self.read()

    def read(self) -> None:
        """Read every row not seen yet and pass it on; detect rows purged before they were read."""
        with self._lock:
            now = self._clock()
            started_in_pass = self.pass_number
            if self._last_seq is None:
                # A new process has nothing cached: it starts from the feed's current end.
                self._last_seq = self._reader.last_change()
                self._last_read = now
                self._read_in_pass = started_in_pass
                return
            start = self._last_seq
            # Almost always one statement: the rows after `start` and the oldest row left, in one snapshot.
            oldest, rows = self._reader.changes_and_oldest(start, _ROWS_PER_READ)
            far_behind = False
            while True:
                for seq, kind, entity, key_id in rows:
                    # Marked read once every listener has it: a listener that fails (its store read, say) makes the
                    # read fail, and the next read passes the row on again rather than skip it.
                    self._tell(Change(kind, entity, key_id))
                    self._last_seq = seq
                if len(rows) < _ROWS_PER_READ:
                    break
                far_behind = True
                rows = self._reader.changes_after(self._last_seq, _ROWS_PER_READ)
            if far_behind:  # read in several snapshots: the oldest row again, after the last rows
                oldest = self._reader.oldest_change()
            # Purges delete a prefix of the feed, so the oldest row left being newer than `start + 1` means rows
            # after `start` may be gone unread.
            if oldest is not None and oldest > start + 1:
                self.gaps += 1
                for listener in self._listeners:
                    listener.reset()
            self._last_read = now
            self._read_in_pass = started_in_pass

    def committed(self, changes: Sequence[Change]) -> None:
        """This process's own changes, just committed: every listener hears of them before the response."""
        for change in changes:
            self._tell(change)

    def _tell(self, change: Change) -> None:
        for listener in self._listeners:
            listener.changed(change)


class ReadCache:
    """The point reads of every request — keys, alias targets, whether accounts and principals exist — kept
    per process, including "there is none" answers.

    Invalidated by the change feed: a `key` change forgets that key, an `alias` change that alias, an `account`
    or `principal` change that one; a gap forgets everything.
    """

    def __init__(self, reader: FastReader, max_entries: int = 50_000, max_key_bytes: int = 256 * 1024 * 1024) -> None:
        self._reader = reader
        # Keys carry their policy (up to 32 KB): bounded by size as well as count.
        self._keys: Lru[str, Key | None] = Lru(
            max_entries, max_weight=max_key_bytes, weigh=lambda key: 512 + (len(key.policy) if key else 0)
        )
        self._aliases: Lru[tuple[str, str, str], str | None] = Lru(max_entries)
        self._accounts: Lru[str, bool] = Lru(max_entries)
        self._principals: Lru[str, bool] = Lru(max_entries)

    def get_key_by_ref(self, ref: str) -> Key | None:
        """The key the store names `ref` (`trent.domain.ids.key_ref`), in whatever account and Region."""
        key = self._keys.get(ref, MISSING)
        if key is MISSING:
            generation = self._keys.generation
            key = self._reader.get_key_by_ref(ref)
            self._keys.put_if_current(ref, key, generation)
        return key  # type: ignore[no-any-return]

    def get_key(self, account: str, region: str, key_id: str) -> Key | None:
        key = self.get_key_by_ref(key_ref(key_id, region))
        return key if key is not None and key.account == account and key.region == region else None

    def alias_target(self, account: str, region: str, alias_name: str) -> str | None:
        name = (account, region, alias_name)
        target = self._aliases.get(name, MISSING)
        if target is MISSING:
            generation = self._aliases.generation
            target = self._reader.alias_target(account, region, alias_name)
            self._aliases.put_if_current(name, target, generation)
        return target  # type: ignore[no-any-return]

    def account_exists(self, account: str) -> bool:
        return self._exists(self._accounts, account, self._reader.account_exists)

    def principal_exists(self, arn: str) -> bool:
        """Whether a user or role with this ARN exists (account roots are principals too)."""
        return self._exists(self._principals, arn, self._reader.principal_exists)

    @staticmethod
    def _exists(cache: Lru[str, bool], name: str, load: Callable[[str], bool]) -> bool:
        exists = cache.get(name)
        if exists is None:
            generation = cache.generation
            exists = load(name)
            cache.put_if_current(name, exists, generation)
        return bool(exists)

    def changed(self, change: Change) -> None:
        if change.kind == CHANGE_KEY:
            self._keys.pop(change.entity)
        elif change.kind == CHANGE_ALIAS:
            account, region, alias_name = change.entity.split(":", 2)
            self._aliases.pop((account, region, alias_name))
        elif change.kind == CHANGE_ACCOUNT:
            self._accounts.pop(change.entity)
        elif change.kind == CHANGE_PRINCIPAL:
            self._principals.pop(change.entity)

    def reset(self) -> None:
        for cache in (self._keys, self._aliases, self._accounts, self._principals):
            cache.clear()

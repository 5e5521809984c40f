"""When each access key was last used (IAM's GetAccessKeyLastUsed), without a write per request.

Each process notes the last use of every access key it authenticates, in memory, and writes what it noted every
`interval` seconds from the batch thread (never on the request path), one row per key, so a key that signs a
thousand requests a second costs one update a minute. AWS itself reports the last use to within hours.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

from trent.storage.store import Store

log = logging.getLogger("trent.key_usage")
#: How often noted uses are written, and the precision of LastUsedDate.
WRITE_INTERVAL_SECONDS = 60.0
#: Keys noted between two writes at most: beyond, uses are dropped until the next write (the count is bounded by
#: the keys that exist, but a flood of distinct valid keys must not grow memory without bound).
MAX_NOTED = 100_000
#: Uses written per transaction: a write of 100,000 keys at once holds the writer for a long time and allocates its
#: parameters all at once, memory the allocator keeps for good once requests' objects are interleaved with it.
WRITE_BATCH = 1_000


class KeyUsage:
    def __init__(self, store: Store, clock: Callable[[], float], interval: float = WRITE_INTERVAL_SECONDS) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._noted: dict[str, tuple[float, str, str]] = {}
        self._written: dict[str, float] = {}  # access key ID -> the use last written, to skip rewriting it
        self._lock = threading.Lock()
        self._last_write = 0.0

    def note(self, access_key_id: str, region: str, service: str) -> None:
        """A request signed with `access_key_id` was authenticated (on the request path: a dict assignment)."""
        now = self._clock()
        written = self._written.get(access_key_id)
        if written is not None and now - written < self._interval:
            return  # its last use is already written to within the interval
        if len(self._noted) < MAX_NOTED or access_key_id in self._noted:
            # The scope's Region and service are a few names for all callers, but each request parses its own
            # copies: interned, 100,000 noted keys hold ~11 MB less.
            self._noted[access_key_id] = (now, sys.intern(region), sys.intern(service))

    def write(self, *, force: bool = False) -> int:
        """Write the uses noted since the last write (from the batch thread); returns how many."""
        now = self._clock()
        if not force and now - self._last_write < self._interval:
            return 0
        with self._lock:
            noted, self._noted = self._noted, {}
            self._last_write = now
        if not noted:
            return 0
        uses = [(key, *use) for key, use in noted.items()]
        written = 0
        try:
            for start in range(0, len(uses), WRITE_BATCH):
                batch = uses[start : start + WRITE_BATCH]
                with self._store.transaction() as tx:
                    tx.identities.record_uses(batch)
                written += len(batch)
        except Exception:
            log.warning("could not record the last use of %d access keys", len(uses) - written, exc_info=True)
        # Only uses written within the interval can spare a note: the others are forgotten (this bounds the map
        # by the keys used in the last interval, at most MAX_NOTED).
        self._written = {key: when for key, when in self._written.items() if now - when < self._interval}
        self._written.update((key, when) for key, when, _, _ in uses[:written])
        return written

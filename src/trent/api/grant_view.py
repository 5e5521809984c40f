"""Each process's view of grants, refreshed from the store's change feed.

AWS KMS is eventually consistent for grants: a new grant may not be usable at once without its token,
and a retired or revoked grant may keep working for a moment. Trent makes that real instead of
simulating it with sleeps:

- every process keeps the grants of the keys it has consulted, indexed by grantee;
- every create, retire and revoke appends a row to `grant_changes`; a process reads the rows it has not
  seen when its view is older than `refresh_interval` (0 = before every use: strongly consistent), and
  re-reads the grants they name;
- a grant is usable without a token once `propagation_delay` has passed since its creation, and a deleted
  grant stays usable until the delay has passed since its deletion (tombstones are kept that long);
- a grant token is looked up in the shared store when the view does not have its grant yet, so tokens
  work at once on every process and every node.

The same mechanism keeps several nodes over one database consistent within the refresh interval.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from trent.domain.grants import Grant
from trent.storage.reader import FastReader

_CHANGES_PER_READ = 5000
#: Tombstones are kept a little longer than the delay so a slow reader still sees the deletion.
_TOMBSTONE_MARGIN = 5.0


class _KeyGrants:
    __slots__ = ("by_grantee", "by_id")

    def __init__(self) -> None:
        self.by_id: dict[str, Grant] = {}
        self.by_grantee: dict[str, dict[str, Grant]] = defaultdict(dict)

    def put(self, grant: Grant) -> None:
        old = self.by_id.get(grant.grant_id)
        if old is not None and old.grantee_principal is not None:
            self.by_grantee[old.grantee_principal].pop(grant.grant_id, None)
        self.by_id[grant.grant_id] = grant
        grantee = grant.grantee_principal or grant.grantee_service_principal
        if grantee is not None:
            self.by_grantee[grantee][grant.grant_id] = grant

    def drop(self, grant_id: str) -> None:
        old = self.by_id.pop(grant_id, None)
        grantee = None if old is None else (old.grantee_principal or old.grantee_service_principal)
        if grantee is not None:
            self.by_grantee[grantee].pop(grant_id, None)


class GrantView:
    def __init__(
        self,
        reader: FastReader,
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = 0.0,
        propagation_delay: float = 0.0,
    ) -> None:
        self._reader = reader
        self._clock = clock
        self.refresh_interval = refresh_interval
        self.propagation_delay = propagation_delay
        self._keys: dict[str, _KeyGrants] = {}
        self._tombstones: deque[tuple[float, str, str]] = deque()
        self._last_seq: int | None = None
        self._last_refresh = float("-inf")
        self._lock = threading.RLock()

    # --- reading ---------------------------------------------------------------------------------------
    def usable_grants(self, key_id: str, grantees: tuple[str, ...]) -> list[Grant]:
        """Grants on `key_id` naming one of `grantees` that are usable without a token now."""
        now = self._clock()
        with self._lock:
            self._maybe_refresh(now)
            key_grants = self._load(key_id, now)
            found = []
            for grantee in grantees:
                for grant in key_grants.by_grantee.get(grantee, {}).values():
                    if grant.usable_at(now, self.propagation_delay):
                        found.append(grant)
            return found

    def grant_for_token(self, grant_id: str) -> Grant | None:
        """The grant a (verified) token names, from this view or else from the shared store."""
        with self._lock:
            for key_grants in self._keys.values():
                grant = key_grants.by_id.get(grant_id)
                if grant is not None:
                    return grant
        return self._reader.grant(grant_id)

    @property
    def lag(self) -> float:
        """Seconds since the view last read the change feed (for metrics)."""
        return max(0.0, self._clock() - self._last_refresh)

    # --- keeping up ------------------------------------------------------------------------------------
    def apply(self, grant: Grant) -> None:
        """A change this process made itself: visible here at once, before any refresh."""
        with self._lock:
            key_grants = self._keys.get(grant.key_id)
            if key_grants is not None:
                self._put(key_grants, grant)

    def _put(self, key_grants: _KeyGrants, grant: Grant) -> None:
        key_grants.put(grant)
        if grant.deleted_at is not None:
            self._tombstones.append((grant.deleted_at, grant.key_id, grant.grant_id))

    def refresh(self) -> None:
        with self._lock:
            self._refresh(self._clock())

    def _maybe_refresh(self, now: float) -> None:
        if now - self._last_refresh >= self.refresh_interval:
            self._refresh(now)

    def _refresh(self, now: float) -> None:
        if self._last_seq is None:
            # Start from the feed's current end; keys are loaded whole when first used.
            self._last_seq = self._reader.last_grant_change()
            self._last_refresh = now
            return
        while True:
            changes = self._reader.grant_changes(self._last_seq, _CHANGES_PER_READ)
            for seq, grant_id, key_id in changes:
                self._last_seq = seq
                key_grants = self._keys.get(key_id)
                if key_grants is None:
                    continue  # not loaded here: it will be read whole when first used
                grant = self._reader.grant(grant_id)
                if grant is None:
                    key_grants.drop(grant_id)
                else:
                    self._put(key_grants, grant)
            if len(changes) < _CHANGES_PER_READ:
                break
        self._last_refresh = now
        self._expire_tombstones(now)

    def _load(self, key_id: str, now: float) -> _KeyGrants:
        key_grants = self._keys.get(key_id)
        if key_grants is None:
            if self._last_seq is None:
                self._refresh(now)
            key_grants = _KeyGrants()
            for _, grant in self._reader.grants_of_key(key_id, now - self.propagation_delay - _TOMBSTONE_MARGIN):
                self._put(key_grants, grant)
            self._keys[key_id] = key_grants
        return key_grants

    def _expire_tombstones(self, now: float) -> None:
        horizon = now - self.propagation_delay - _TOMBSTONE_MARGIN
        while self._tombstones and self._tombstones[0][0] < horizon:
            _, key_id, grant_id = self._tombstones.popleft()
            key_grants = self._keys.get(key_id)
            grant = None if key_grants is None else key_grants.by_id.get(grant_id)
            if key_grants is not None and grant is not None and grant.deleted_at is not None:
                key_grants.drop(grant_id)

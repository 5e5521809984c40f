"""Each process's view of grants, kept current by the change feed (`api/changes.py`).

AWS KMS is eventually consistent for grants: a new grant may not be usable at once without its token,
and a retired or revoked grant may keep working for a moment. Trent makes that real instead of
simulating it with sleeps:

- every process keeps the grants of the keys it has consulted, indexed by grantee;
- every create, retire and revoke is a `grant` row of the change feed; the feed's listener re-reads the grant
  it names (a `key` change, or a gap in the feed, drops the key's grants, or all of them, to be read again);
- a grant is usable without a token once `propagation_delay` has passed since its creation, and a deleted
  grant stays usable until the delay has passed since its deletion (tombstones are kept that long);
- grant tokens do not go through the view: the grant a token names is read from the store, so a token works
  at once on every process and every node, and stops at once when its grant is retired or revoked.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from trent.domain.grants import Grant
from trent.storage.reader import FastReader
from trent.storage.session import CHANGE_GRANT, CHANGE_KEY, Change

#: Tombstones are kept a little longer than the delay so a slow reader still sees the deletion.
_TOMBSTONE_MARGIN = 5.0


class _KeyGrants:
    __slots__ = ("by_grantee", "by_id")

    def __init__(self) -> None:
        self.by_id: dict[str, Grant] = {}
        self.by_grantee: dict[str, dict[str, Grant]] = defaultdict(dict)

    def put(self, grant: Grant) -> None:
        self.drop(grant.grant_id)
        self.by_id[grant.grant_id] = grant
        grantee = grant.grantee_principal or grant.grantee_service_principal
        if grantee is not None:
            self.by_grantee[grantee][grant.grant_id] = grant

    def drop(self, grant_id: str) -> None:
        old = self.by_id.pop(grant_id, None)
        grantee = None if old is None else (old.grantee_principal or old.grantee_service_principal)
        if grantee is not None:
            by_grantee = self.by_grantee[grantee]
            by_grantee.pop(grant_id, None)
            if not by_grantee:
                del self.by_grantee[grantee]


class GrantView:
    def __init__(
        self,
        reader: FastReader,
        *,
        clock: Callable[[], float] = time.time,
        propagation_delay: float = 0.0,
    ) -> None:
        self._reader = reader
        self._clock = clock
        self.propagation_delay = propagation_delay
        self._keys: dict[str, _KeyGrants] = {}
        self._tombstones: deque[tuple[float, str, str]] = deque()
        self._lock = threading.RLock()
        #: Moves on every change applied, so a key loaded meanwhile is not kept with what it read before.
        self._generation = 0

    # --- reading ---------------------------------------------------------------------------------------
    def usable_grants(self, key_id: str, grantees: tuple[str, ...]) -> list[Grant]:
        """Grants on `key_id` naming one of `grantees` that are usable without a token now."""
        now = self._clock()
        key_grants = self._load(key_id, now)
        found = []
        with self._lock:
            for grantee in grantees:
                for grant in key_grants.by_grantee.get(grantee, {}).values():
                    if grant.usable_at(now, self.propagation_delay):
                        found.append(grant)
        return found

    def grant_for_token(self, grant_id: str) -> Grant | None:
        """The grant a verified token names, read from the store: tokens must see retirements at once."""
        return self._reader.grant(grant_id)

    # --- keeping up ------------------------------------------------------------------------------------
    def apply(self, grant: Grant) -> None:
        """A change this process made itself: visible here at once, before any refresh."""
        with self._lock:
            self._generation += 1
            key_grants = self._keys.get(grant.key_id)
            if key_grants is not None:
                self._put(key_grants, grant)

    def changed(self, change: Change) -> None:
        """A row of the change feed."""
        if change.kind == CHANGE_KEY:
            with self._lock:
                self._generation += 1
                self._keys.pop(change.entity, None)
            return
        if change.kind != CHANGE_GRANT or change.key_id is None:
            return
        with self._lock:
            self._generation += 1
            if change.key_id not in self._keys:
                return  # not loaded here: it will be read whole when first used
        grant = self._reader.grant(change.entity)
        with self._lock:
            self._generation += 1
            key_grants = self._keys.get(change.key_id)
            if key_grants is None:
                return
            if grant is None:
                key_grants.drop(change.entity)
            else:
                self._put(key_grants, grant)
            self._expire_tombstones(self._clock())

    def reset(self) -> None:
        """The feed had a gap: forget every grant; keys are read again when next used."""
        with self._lock:
            self._generation += 1
            self._keys.clear()
            self._tombstones.clear()

    def _put(self, key_grants: _KeyGrants, grant: Grant) -> None:
        key_grants.put(grant)
        if grant.deleted_at is not None:
            self._tombstones.append((grant.deleted_at, grant.key_id, grant.grant_id))

    def _load(self, key_id: str, now: float) -> _KeyGrants:
        key_grants = self._keys.get(key_id)
        if key_grants is not None:
            return key_grants
        generation = self._generation
        loaded = _KeyGrants()
        for _, grant in self._reader.grants_of_key(key_id, now - self.propagation_delay - _TOMBSTONE_MARGIN):
            self._put(loaded, grant)
        with self._lock:
            if generation == self._generation:
                self._keys[key_id] = loaded
        return loaded

    def _expire_tombstones(self, now: float) -> None:
        horizon = now - self.propagation_delay - _TOMBSTONE_MARGIN
        while self._tombstones and self._tombstones[0][0] < horizon:
            _, key_id, grant_id = self._tombstones.popleft()
            key_grants = self._keys.get(key_id)
            grant = None if key_grants is None else key_grants.by_id.get(grant_id)
            if key_grants is not None and grant is not None and grant.deleted_at is not None:
                key_grants.drop(grant_id)

"""Each process's view of grants, kept current by the change feed (`api/changes.py`).

AWS KMS is eventually consistent for grants: a new grant may not be usable at once without its token,
and a retired or revoked grant may keep working for a moment. Trent makes that real instead of
simulating it with sleeps:

- every process keeps, for each (key, grantee) it has been asked about, the grants of that key naming that
  grantee: read through the store's (key_id, grantee_principal) index, so a grantee of a key with 50,000 grants
  reads its own few, and the view holds at most `max_slots` such sets (least recently used go first, and are
  read again when next needed);
- every create, retire and revoke is a `grant` row of the change feed; the feed's listener re-reads the grant
  it names (a `key` change, or a gap in the feed, drops the key's grants, or all of them, to be read again);
- a grant is usable without a token once `propagation_delay` has passed since its creation, and a deleted
  grant stays usable until the delay has passed since its deletion (tombstones are kept that long);
- a grant token works at once on every process and every node, and stops at once when its grant is retired or
  revoked, propagation delay or not. So the grant a token names is read from the store, unless the feed is read
  before every request (SQLite; PostgreSQL with `grant_refresh_interval = 0`): then the view keeps it by ID and
  forgets it when the feed names it (a `grant` change), or its key (a `key` change), or has a gap. Over
  PostgreSQL with an interval, another node's revocation reaches the feed's reader late, so nothing is kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from trent.domain.grants import Grant
from trent.storage.reader import FastReader
from trent.storage.session import CHANGE_GRANT, CHANGE_KEY, Change

#: Tombstones are kept a little longer than the delay so a slow reader still sees the deletion.
_TOMBSTONE_MARGIN = 5.0
#: (key, grantee) grant sets a process keeps by default.
DEFAULT_MAX_SLOTS = 100_000

_Slot = dict[str, Grant]  # grant ID -> grant, for one (key, grantee)


class GrantView:
    def __init__(
        self,
        reader: FastReader,
        *,
        clock: Callable[[], float] = time.time,
        propagation_delay: float = 0.0,
        max_slots: int = DEFAULT_MAX_SLOTS,
        tokens_follow_feed: bool = False,
        read_feed_in_this_pass: Callable[[], None] | None = None,
    ) -> None:
        """`tokens_follow_feed`: the change feed is read before every request, so grants named by tokens may be
        kept until it says they changed (see the module's docstring). Otherwise `read_feed_in_this_pass`, if
        given, is called before a token's grant is looked up (`ChangeFeed.read_in_this_pass`): the grants named by
        tokens are then kept too, and the feed is read once per pass of the event loop that has a token to
        check, instead of the store once per token; without it, each token's grant is read from the store."""
        self._reader = reader
        self._clock = clock
        self.propagation_delay = propagation_delay
        self._max_slots = max_slots
        #: (key ref, grantee) -> that grantee's grants on that key, least recently used first.
        self._slots: OrderedDict[tuple[str, str], _Slot] = OrderedDict()
        #: key ref -> the grantees whose slots are held, so that a key's change finds them.
        self._grantees: dict[str, set[str]] = {}
        self._tombstones: deque[tuple[float, str, str, str]] = deque()
        self._lock = threading.RLock()
        #: Moves on every change applied, so a slot loaded meanwhile is not kept with what it read before.
        self._generation = 0
        self._tokens_follow_feed = tokens_follow_feed
        self._read_feed_in_this_pass = read_feed_in_this_pass
        #: Grants named by tokens, by grant ID, least recently used first (only when `tokens_follow_feed`).
        self._token_grants: OrderedDict[str, Grant] = OrderedDict()
        #: key ref -> the IDs of its grants in `_token_grants`, so that a key's change finds them.
        self._token_grants_of_key: dict[str, set[str]] = {}

    # --- reading ---------------------------------------------------------------------------------------
    def usable_grants(self, key_ref: str, grantees: tuple[str, ...]) -> list[Grant]:
        """Grants on the key `key_ref` names, naming one of `grantees` that are usable without a token now."""
        now = self._clock()
        delay = self.propagation_delay
        with self._lock:  # nearly always: every grantee's set is held, and one lock serves them all
            slots = [self._slots.get((key_ref, grantee)) for grantee in grantees]
            if None not in slots:
                for grantee in grantees:
                    self._slots.move_to_end((key_ref, grantee))
                return [grant for slot in slots for grant in slot.values() if grant.usable_at(now, delay)]  # type: ignore[union-attr]
        found: list[Grant] = []
        for grantee in grantees:
            slot = self._slot(key_ref, grantee, now)
            with self._lock:
                found.extend(grant for grant in slot.values() if grant.usable_at(now, delay))
        return found

    def grant_for_token(self, grant_id: str) -> Grant | None:
        """The grant a verified token names, as the store has it now: tokens must see retirements at once."""
        if not self._tokens_follow_feed:
            if self._read_feed_in_this_pass is None:
                return self._reader.grant(grant_id)
            self._read_feed_in_this_pass()  # every change committed before this request's bytes came is applied
        with self._lock:
            grant = self._token_grants.get(grant_id)
            if grant is not None:
                self._token_grants.move_to_end(grant_id)
                return grant
            generation = self._generation
        grant = self._reader.grant(grant_id)
        if grant is None:
            return None  # not kept: a token of a purged grant (or of another store) reads the store each time
        with self._lock:
            if generation != self._generation:
                return grant  # something changed while it was read: use it once, keep nothing
            self._token_grants[grant_id] = grant
            self._token_grants_of_key.setdefault(grant.key_ref, set()).add(grant_id)
            while len(self._token_grants) > self._max_slots:
                _, old = self._token_grants.popitem(last=False)
                self._forget_token_grant_index(old)
        return grant

    # --- keeping up ------------------------------------------------------------------------------------
    def apply(self, grant: Grant) -> None:
        """A change this process made itself: visible here at once, before any refresh."""
        with self._lock:
            self._generation += 1
            self._forget_token_grant(grant.grant_id)
            self._put_if_held(grant)

    def changed(self, change: Change) -> None:
        """A row of the change feed."""
        if change.kind == CHANGE_KEY:
            with self._lock:
                self._generation += 1
                for grantee in self._grantees.pop(change.entity, ()):
                    self._slots.pop((change.entity, grantee), None)
                for grant_id in self._token_grants_of_key.pop(change.entity, ()):
                    self._token_grants.pop(grant_id, None)
            return
        if change.kind != CHANGE_GRANT:
            return
        with self._lock:
            self._generation += 1
            self._forget_token_grant(change.entity)
            if change.key_id is None:
                return
            if change.key_id not in self._grantees:
                return  # nothing of this key is held here: it is read when first needed
        grant = self._reader.grant(change.entity)
        with self._lock:
            self._generation += 1
            # Forget it wherever it is held, then hold it as it is now: purged grants go, and a grant whose grantee
            # changed (its principal was deleted: it names the unique ID now) leaves the old grantee's set.
            for grantee in self._grantees.get(change.key_id, ()):
                slot = self._slots.get((change.key_id, grantee))
                if slot is not None:
                    slot.pop(change.entity, None)
            if grant is not None:
                self._put_if_held(grant)
            self._expire_tombstones(self._clock())

    def reset(self) -> None:
        """The feed had a gap: forget every grant; slots are read again when next used."""
        with self._lock:
            self._generation += 1
            self._slots.clear()
            self._grantees.clear()
            self._tombstones.clear()
            self._token_grants.clear()
            self._token_grants_of_key.clear()

    # --- internals -------------------------------------------------------------------------------------
    def _forget_token_grant(self, grant_id: str) -> None:
        grant = self._token_grants.pop(grant_id, None)
        if grant is not None:
            self._forget_token_grant_index(grant)

    def _forget_token_grant_index(self, grant: Grant) -> None:
        held = self._token_grants_of_key.get(grant.key_ref)
        if held is not None:
            held.discard(grant.grant_id)
            if not held:
                del self._token_grants_of_key[grant.key_ref]

    def _put_if_held(self, grant: Grant) -> None:
        grantee = grant.grantee_principal
        slot = None if grantee is None else self._slots.get((grant.key_ref, grantee))
        if slot is None:
            return
        slot[grant.grant_id] = grant
        if grant.deleted_at is not None:
            self._tombstones.append((grant.deleted_at, grant.key_ref, grantee or "", grant.grant_id))

    def _slot(self, key_ref: str, grantee: str, now: float) -> _Slot:
        name = (key_ref, grantee)
        with self._lock:
            slot = self._slots.get(name)
            if slot is not None:
                self._slots.move_to_end(name)
                return slot
            generation = self._generation
        loaded: _Slot = {}
        deleted_since = now - self.propagation_delay - _TOMBSTONE_MARGIN
        for _, grant in self._reader.grants_of_grantee(key_ref, grantee, deleted_since):
            loaded[grant.grant_id] = grant
        with self._lock:
            if generation != self._generation:
                return loaded  # something changed while it was read: use it once, keep nothing
            self._slots[name] = loaded
            self._grantees.setdefault(key_ref, set()).add(grantee)
            for grant in loaded.values():
                if grant.deleted_at is not None:
                    self._tombstones.append((grant.deleted_at, key_ref, grantee, grant.grant_id))
            while len(self._slots) > self._max_slots:
                (old_key, old_grantee), _ = self._slots.popitem(last=False)
                held = self._grantees.get(old_key)
                if held is not None:
                    held.discard(old_grantee)
                    if not held:
                        del self._grantees[old_key]
        return loaded

    def _expire_tombstones(self, now: float) -> None:
        horizon = now - self.propagation_delay - _TOMBSTONE_MARGIN
        while self._tombstones and self._tombstones[0][0] < horizon:
            _, key_id, grantee, grant_id = self._tombstones.popleft()
            slot = self._slots.get((key_id, grantee))
            grant = None if slot is None else slot.get(grant_id)
            if slot is not None and grant is not None and grant.deleted_at is not None:
                del slot[grant_id]

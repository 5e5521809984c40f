"""A process's view of grants (`api/grant_view.py`) over a real store: what it serves by grantee, how the change
feed's rows keep it current, AWS's propagation delay, and tokens read past it."""

from __future__ import annotations

import dataclasses

from tests.unit.test_repositories import ACCOUNT, KEY_ID, a_grant, with_key
from trent.api.grant_view import GrantView
from trent.storage.session import CHANGE_GRANT, CHANGE_KEY, Change
from trent.storage.store import Store

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def insert(store: Store, *grants: object) -> None:
    with store.transaction() as tx:
        for grant in grants:
            tx.grants.insert(grant)  # type: ignore[arg-type]


def test_it_serves_the_grants_that_name_a_grantee(memory_store: Store) -> None:
    with_key(memory_store)
    alice, bob = a_grant("a" * 64), dataclasses.replace(a_grant("b" * 64), grantee_principal=BOB)
    insert(memory_store, alice, bob)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [alice]
    assert sorted(g.grant_id for g in view.usable_grants(KEY_ID, (ALICE, BOB))) == ["a" * 64, "b" * 64]
    assert view.usable_grants(KEY_ID, ("arn:aws:iam::999999999999:root",)) == []


def test_a_revocation_reaches_a_view_through_the_change_feed_only(memory_store: Store) -> None:
    with_key(memory_store)
    grant = a_grant("a" * 64)
    insert(memory_store, grant)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]  # loaded now
    with memory_store.transaction() as tx:
        tx.grants.delete(grant, 1_900_000_000.0)
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]  # the view has not read the feed yet
    view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))
    assert view.usable_grants(KEY_ID, (ALICE,)) == []
    assert view.grant_for_token(grant.grant_id) is not None  # tokens read the store: they see the tombstone
    assert view.grant_for_token(grant.grant_id).deleted_at is not None  # type: ignore[union-attr]


def test_a_grant_whose_grantee_was_deleted_leaves_the_old_grantees_set(memory_store: Store) -> None:
    """Deleting a principal renames its grants' grantee to its unique ID: the set held for the old ARN must lose
    them (found by tests/e2e/test_iam.py: a new user of the same name kept the old one's grant)."""
    with_key(memory_store)
    grant = a_grant("a" * 64)
    insert(memory_store, grant)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]
    with memory_store.transaction() as tx:
        assert tx.grants.forget_principal(ALICE, "AIDAOLDALICE") == 1
    *_, (_, kind, entity, key_ref) = memory_store.reader.changes_after(0, 1000)  # the change feed's last row
    assert (kind, entity) == (CHANGE_GRANT, grant.grant_id)
    view.changed(Change(kind, entity, key_ref))
    assert view.usable_grants(KEY_ID, (ALICE,)) == []
    assert [g.grantee_principal for g in view.usable_grants(KEY_ID, ("AIDAOLDALICE",))] == ["AIDAOLDALICE"]


def test_a_key_change_or_a_gap_drops_what_the_view_holds(memory_store: Store) -> None:
    with_key(memory_store)
    first = a_grant("a" * 64)
    insert(memory_store, first)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [first]
    second = a_grant("b" * 64)
    insert(memory_store, second)  # a change the view is not told of...
    view.changed(Change(CHANGE_KEY, KEY_ID, KEY_ID))  # ...but the key's change makes it read the key again
    assert len(view.usable_grants(KEY_ID, (ALICE,))) == 2
    insert(memory_store, a_grant("c" * 64))
    view.reset()  # the feed had a gap
    assert len(view.usable_grants(KEY_ID, (ALICE,))) == 3


def test_grants_propagate_after_the_delay_and_linger_as_long_after_deletion(memory_store: Store) -> None:
    with_key(memory_store)
    grant = a_grant("a" * 64)  # created at 1_800_000_000
    insert(memory_store, grant)
    clock = Clock(grant.creation_date + 1.0)
    view = GrantView(memory_store.reader, clock=clock, propagation_delay=5.0)
    assert view.usable_grants(KEY_ID, (ALICE,)) == []  # not yet propagated
    clock.now = grant.creation_date + 5.0
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]
    with memory_store.transaction() as tx:
        tx.grants.delete(grant, clock.now)
    view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))
    assert [g.grant_id for g in view.usable_grants(KEY_ID, (ALICE,))] == [grant.grant_id]  # still propagating
    clock.now += 5.0
    assert view.usable_grants(KEY_ID, (ALICE,)) == []


def test_a_grant_made_by_this_process_is_seen_at_once(memory_store: Store) -> None:
    with_key(memory_store)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == []
    grant = a_grant("a" * 64)
    insert(memory_store, grant)
    view.apply(grant)
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]


def test_the_view_holds_a_bounded_number_of_grantee_sets_and_reads_an_evicted_one_again(memory_store: Store) -> None:
    with_key(memory_store)
    grantees = [f"arn:aws:iam::{ACCOUNT}:user/u{i}" for i in range(3)]
    grants = [dataclasses.replace(a_grant(f"{i}" * 64), grantee_principal=g) for i, g in enumerate(grantees)]
    insert(memory_store, *grants)
    view = GrantView(memory_store.reader, clock=Clock(1_900_000_000.0), max_slots=2)
    for grant, grantee in zip(grants, grantees, strict=True):
        assert view.usable_grants(KEY_ID, (grantee,)) == [grant]
    assert len(view._slots) == 2 and (KEY_ID, grantees[0]) not in view._slots  # the least recently used went
    with memory_store.transaction() as tx:
        tx.grants.delete(grants[0], 1_900_000_000.0)  # a change the view is not told of: it holds nothing of u0
    assert view.usable_grants(KEY_ID, (grantees[0],)) == []  # read again, as it is now


def test_a_grantee_reads_only_its_own_grants_of_a_key(memory_store: Store) -> None:
    with_key(memory_store)
    others = [
        dataclasses.replace(a_grant(f"{i:064x}"), grantee_principal=f"arn:aws:iam::{ACCOUNT}:user/o{i}")
        for i in range(50)
    ]
    mine = a_grant("f" * 64)
    insert(memory_store, *others, mine)
    reads: list[int] = []
    reader = memory_store.reader
    original = reader.grants_of_grantee

    def counting(key_id: str, grantee: str, deleted_since: float) -> list[tuple[int, object]]:
        rows = original(key_id, grantee, deleted_since)
        reads.append(len(rows))
        return rows  # type: ignore[return-value]

    reader.grants_of_grantee = counting  # type: ignore[method-assign]
    view = GrantView(reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [mine]
    assert reads == [1]  # one grant read, not 51


class CountingReader:
    """The store's reader, counting the point reads of grants that tokens cause."""

    def __init__(self, reader: object) -> None:
        self._reader = reader
        self.grant_reads = 0

    def grant(self, grant_id: str) -> object:
        self.grant_reads += 1
        return self._reader.grant(grant_id)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._reader, name)


def test_over_an_interval_a_token_reads_its_grant_from_the_store_every_time(memory_store: Store) -> None:
    """PostgreSQL nodes read the feed every grant_refresh_interval: another node's revocation would come late."""
    with_key(memory_store)
    grant = a_grant("a" * 64)
    insert(memory_store, grant)
    reader = CountingReader(memory_store.reader)
    view = GrantView(reader, clock=Clock(1_900_000_000.0))  # type: ignore[arg-type]
    for _ in range(3):
        assert view.grant_for_token(grant.grant_id) == grant
    assert reader.grant_reads == 3
    with memory_store.transaction() as tx:
        tx.grants.delete(grant, 1_900_000_000.0)
    revoked = view.grant_for_token(grant.grant_id)  # no feed read in between: the store says it at once
    assert revoked is not None and revoked.deleted_at is not None


def test_when_the_feed_is_read_before_every_request_a_token_grant_is_kept_until_the_feed_names_it(
    memory_store: Store,
) -> None:
    with_key(memory_store)
    grant, other = a_grant("a" * 64), a_grant("b" * 64)
    insert(memory_store, grant, other)
    reader = CountingReader(memory_store.reader)
    view = GrantView(reader, clock=Clock(1_900_000_000.0), tokens_follow_feed=True)  # type: ignore[arg-type]
    assert view.grant_for_token(grant.grant_id) == grant
    assert view.grant_for_token(grant.grant_id) == grant
    assert view.grant_for_token(other.grant_id) == other
    assert reader.grant_reads == 2

    with memory_store.transaction() as tx:
        tx.grants.delete(grant, 1_900_000_000.0)
    view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))  # what the feed says before the next request
    revoked = view.grant_for_token(grant.grant_id)
    assert revoked is not None and revoked.deleted_at is not None
    assert view.grant_for_token(other.grant_id) == other  # another grant's change does not touch it
    assert reader.grant_reads == 3

    view.changed(Change(CHANGE_KEY, KEY_ID, KEY_ID))  # its key changed: read again
    assert view.grant_for_token(other.grant_id) == other
    assert reader.grant_reads == 4
    view.reset()  # a gap in the feed: read again
    assert view.grant_for_token(other.grant_id) == other
    assert reader.grant_reads == 5


def test_a_token_grant_read_while_a_change_is_applied_is_not_kept(memory_store: Store) -> None:
    """The read may predate the change: kept, it would outlive the revocation the feed just applied."""
    with_key(memory_store)
    grant = a_grant("a" * 64)
    insert(memory_store, grant)
    view: GrantView

    class RacingReader(CountingReader):
        def grant(self, grant_id: str) -> object:
            found = super().grant(grant_id)  # read before the revocation...
            if self.grant_reads == 1:
                with memory_store.transaction() as tx:
                    tx.grants.delete(grant, 1_900_000_000.0)
                view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))  # ...applied before it is kept
            return found

    reader = RacingReader(memory_store.reader)
    view = GrantView(reader, clock=Clock(1_900_000_000.0), tokens_follow_feed=True)  # type: ignore[arg-type]
    assert view.grant_for_token(grant.grant_id) == grant  # this request's read, used once
    revoked = view.grant_for_token(grant.grant_id)
    assert revoked is not None and revoked.deleted_at is not None


def test_token_grants_are_bounded_least_recently_used_first(memory_store: Store) -> None:
    with_key(memory_store)
    grants = [a_grant(c * 64) for c in "abc"]
    insert(memory_store, *grants)
    reader = CountingReader(memory_store.reader)
    view = GrantView(reader, clock=Clock(1_900_000_000.0), max_slots=2, tokens_follow_feed=True)  # type: ignore[arg-type]
    for grant in grants:
        view.grant_for_token(grant.grant_id)
    assert reader.grant_reads == 3
    view.grant_for_token(grants[2].grant_id)  # kept
    view.grant_for_token(grants[0].grant_id)  # the oldest: forgotten, read again
    assert reader.grant_reads == 4
    view.changed(Change(CHANGE_KEY, KEY_ID, KEY_ID))
    assert reader.grant_reads == 4

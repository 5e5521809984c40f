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


def test_it_serves_the_grants_that_name_a_grantee(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    alice, bob = a_grant("a" * 64), dataclasses.replace(a_grant("b" * 64), grantee_principal=BOB)
    insert(sqlite_store, alice, bob)
    view = GrantView(sqlite_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [alice]
    assert sorted(g.grant_id for g in view.usable_grants(KEY_ID, (ALICE, BOB))) == ["a" * 64, "b" * 64]
    assert view.usable_grants(KEY_ID, ("arn:aws:iam::999999999999:root",)) == []


def test_a_revocation_reaches_a_view_through_the_change_feed_only(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    grant = a_grant("a" * 64)
    insert(sqlite_store, grant)
    view = GrantView(sqlite_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]  # loaded now
    with sqlite_store.transaction() as tx:
        tx.grants.delete(grant, 1_900_000_000.0)
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]  # the view has not read the feed yet
    view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))
    assert view.usable_grants(KEY_ID, (ALICE,)) == []
    assert view.grant_for_token(grant.grant_id) is not None  # tokens read the store: they see the tombstone
    assert view.grant_for_token(grant.grant_id).deleted_at is not None  # type: ignore[union-attr]


def test_a_key_change_or_a_gap_drops_what_the_view_holds(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    first = a_grant("a" * 64)
    insert(sqlite_store, first)
    view = GrantView(sqlite_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == [first]
    second = a_grant("b" * 64)
    insert(sqlite_store, second)  # a change the view is not told of...
    view.changed(Change(CHANGE_KEY, KEY_ID, KEY_ID))  # ...but the key's change makes it read the key again
    assert len(view.usable_grants(KEY_ID, (ALICE,))) == 2
    insert(sqlite_store, a_grant("c" * 64))
    view.reset()  # the feed had a gap
    assert len(view.usable_grants(KEY_ID, (ALICE,))) == 3


def test_grants_propagate_after_the_delay_and_linger_as_long_after_deletion(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    grant = a_grant("a" * 64)  # created at 1_800_000_000
    insert(sqlite_store, grant)
    clock = Clock(grant.creation_date + 1.0)
    view = GrantView(sqlite_store.reader, clock=clock, propagation_delay=5.0)
    assert view.usable_grants(KEY_ID, (ALICE,)) == []  # not yet propagated
    clock.now = grant.creation_date + 5.0
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]
    with sqlite_store.transaction() as tx:
        tx.grants.delete(grant, clock.now)
    view.changed(Change(CHANGE_GRANT, grant.grant_id, KEY_ID))
    assert [g.grant_id for g in view.usable_grants(KEY_ID, (ALICE,))] == [grant.grant_id]  # still propagating
    clock.now += 5.0
    assert view.usable_grants(KEY_ID, (ALICE,)) == []


def test_a_grant_made_by_this_process_is_seen_at_once(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    view = GrantView(sqlite_store.reader, clock=Clock(1_900_000_000.0))
    assert view.usable_grants(KEY_ID, (ALICE,)) == []
    grant = a_grant("a" * 64)
    insert(sqlite_store, grant)
    view.apply(grant)
    assert view.usable_grants(KEY_ID, (ALICE,)) == [grant]

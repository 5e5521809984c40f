"""The process's caches and the change feed that keeps them exact: reused while nothing changes, forgotten at the
change — made by this process at once, by another at its next catch-up — and forgotten whole after a gap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.services import services_for
from trent.api import aliases
from trent.api import keys as key_api
from trent.api.context import RequestContext, Services
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.domain.identities import Caller
from trent.domain.keys import KeyState
from trent.storage.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores over one database: two processes, as far as connections and caches go."""
    url, root_key = f"sqlite:///{tmp_path / 'trent.db'}", RootKey(generate_root_key())
    first = Store(url, root_key)
    first.migrate()
    with first.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
    second = Store(url, root_key)
    yield first, second
    first.dispose()
    second.dispose()


CTX = RequestContext(caller=Caller.account_root(ACCOUNT, "AKIA"), region=REGION, request_id="r")


def new_key(services: Services) -> str:
    key_id: str = key_api.create_key(services, CTX, {})["KeyMetadata"]["KeyId"]
    return key_id


def test_a_key_is_read_once_while_nothing_changes(stores: tuple[Store, Store]) -> None:
    services = services_for(stores[0])
    key_id = new_key(services)
    services.changes.catch_up()  # reads back its own change (and forgets the key again): a request's first step
    first = services.reads.get_key(ACCOUNT, REGION, key_id)
    services.changes.catch_up()  # nothing has changed since: the next request keeps it
    assert first is not None and first is services.reads.get_key(ACCOUNT, REGION, key_id)
    assert services.reads.get_key_by_ref(key_id) is first
    assert services.reads.get_key("111111111111", REGION, key_id) is None  # another account's ID space
    assert services.reads.get_key(ACCOUNT, "eu-west-1", key_id) is None


def test_this_process_sees_its_own_change_at_once(stores: tuple[Store, Store]) -> None:
    services = services_for(stores[0])
    key_id = new_key(services)
    assert services.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    key_api.disable_key(services, CTX, {"KeyId": key_id})
    # No catch-up: the commit itself told the caches.
    assert services.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]


def test_another_process_sees_a_change_at_its_next_catch_up(stores: tuple[Store, Store]) -> None:
    writer, reader = services_for(stores[0]), services_for(stores[1])
    key_id = new_key(writer)
    reader.changes.catch_up()
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    key_api.disable_key(writer, CTX, {"KeyId": key_id})
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    reader.changes.catch_up()  # what every request does first
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]


def test_unknown_keys_and_aliases_are_remembered_until_created(stores: tuple[Store, Store]) -> None:
    writer, reader = services_for(stores[0]), services_for(stores[1])
    key_id = new_key(writer)
    reader.changes.catch_up()
    assert reader.reads.alias_target(ACCOUNT, REGION, "alias/app") is None
    assert reader.reads.get_key(ACCOUNT, REGION, UNKNOWN) is None
    aliases.create_alias(writer, CTX, {"AliasName": "alias/app", "TargetKeyId": key_id})
    other = new_key(writer)
    reader.changes.catch_up()
    assert reader.reads.alias_target(ACCOUNT, REGION, "alias/app") == key_id
    assert reader.reads.get_key(ACCOUNT, REGION, other) is not None
    aliases.update_alias(writer, CTX, {"AliasName": "alias/app", "TargetKeyId": other})
    reader.changes.catch_up()
    assert reader.reads.alias_target(ACCOUNT, REGION, "alias/app") == other
    aliases.delete_alias(writer, CTX, {"AliasName": "alias/app"})
    reader.changes.catch_up()
    assert reader.reads.alias_target(ACCOUNT, REGION, "alias/app") is None


def test_a_process_that_missed_purged_rows_forgets_everything(stores: tuple[Store, Store]) -> None:
    """The purge-gap regression: rows deleted before a process read them must not leave it with stale entries."""
    writer, reader = services_for(stores[0]), services_for(stores[1])
    key_id = new_key(writer)
    reader.changes.catch_up()
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    key_api.disable_key(writer, CTX, {"KeyId": key_id})
    new_key(writer)  # a newer row, so that the purge may take the disable's row (it never takes the newest)
    with writer.store.transaction() as tx:
        assert tx.feed.purge(before=float("inf")) >= 1
    gaps = reader.changes.gaps
    reader.changes.catch_up()
    assert reader.changes.gaps == gaps + 1
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]


def test_the_purge_keeps_the_newest_row_and_deletes_a_prefix(stores: tuple[Store, Store]) -> None:
    services = services_for(stores[0])
    for _ in range(3):
        new_key(services)
    with services.store.transaction() as tx:
        newest = services.store.reader.last_change()
        tx.feed.purge(before=float("inf"))
    assert services.store.reader.oldest_change() == newest == services.store.reader.last_change()


def test_with_a_refresh_interval_the_feed_is_read_when_it_has_passed(stores: tuple[Store, Store]) -> None:
    """PostgreSQL nodes (no cheap change signal) read the feed every `refresh_interval` seconds."""
    writer = services_for(stores[0])
    reader = services_for(stores[1])
    now = [1000.0]
    reader.changes._clock = lambda: now[0]
    reader.changes.refresh_interval = 1.0
    reader.changes.read()
    key_id = new_key(writer)
    assert reader.reads.get_key(ACCOUNT, REGION, key_id) is not None
    key_api.disable_key(writer, CTX, {"KeyId": key_id})
    now[0] += 0.5
    reader.changes.catch_up()
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    now[0] += 0.6
    reader.changes.catch_up()
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]


def test_caches_are_bounded_by_size_as_well_as_count() -> None:
    from trent.api.caches import Lru, PolicyCache

    cache: Lru[str, str] = Lru(100, max_weight=10, weigh=len)
    for name in ("a", "b", "c"):
        cache.put(name, "xxxx")
    assert len(cache) == 2 and cache.weight == 8 and cache.get("a") is None
    cache.put("big", "x" * 11)  # heavier than the whole cache: not kept (nor anything else)
    assert len(cache) == 0 and cache.weight == 0
    policies = PolicyCache(max_bytes=1_000_000)
    statement = '{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Sid": "%s"}'
    for index in range(50):
        policies.get('{"Statement": [%s]}' % (statement % ("s" * 5000 + str(index))), name="p", kind="identity")
    assert 0 < policies._parsed.weight <= 1_000_000 < 50 * 5000 * 12  # a parsed policy counts over 12x its text


def test_the_default_bounds_keep_twenty_thousand_active_callers_policies() -> None:
    """Issue 21: with 20,000 users calling in turn, each with a policy of its own, every cache on the way emptied
    before its entry came round again (the identity-policy cache held ~11,700 such principals), so every request
    read and parsed its caller's policies again. With the defaults, the second round reads nothing."""
    import json

    from trent.api.caches import CacheSizes, IdentityPolicies, PolicyCache
    from trent.edge.auth import Authenticator

    sizes = CacheSizes()
    users = 20_000

    def document(user: int) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": f"Useuser{user}",
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                        "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
                    },
                    {"Sid": "NoDeletion", "Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
                ],
            }
        )

    class CountingReader:
        reads = 0

        def identity_policies(self, arn: str) -> list[tuple[str, str]]:
            self.reads += 1
            return [("own", document(int(arn.rsplit("user", 1)[1])))]

    reader = CountingReader()
    megabytes = sizes.megabytes * 1024 * 1024
    cache = IdentityPolicies(
        reader,  # type: ignore[arg-type]
        PolicyCache(max_entries=sizes.policies, max_bytes=megabytes),
        max_entries=sizes.identity_policies,
        max_bytes=megabytes,
    )
    arns = [f"arn:aws:iam::111122223333:user/user{user}" for user in range(users)]
    first_round = [cache.of(arn)[0] for arn in arns]
    assert reader.reads == users
    assert [cache.of(arn)[0] for arn in arns] == first_round
    assert reader.reads == users  # nothing read (or parsed) again
    # The SigV4 signing keys of as many callers are kept too (four HMACs each otherwise).
    authenticator = Authenticator(None, dev_mode=False, default_account="111122223333")  # type: ignore[arg-type]
    assert authenticator._verifier._cache_size == sizes.credentials >= users


def test_the_feed_lag_is_staleness_not_idle_time(sqlite_store: Store) -> None:
    """trent_grant_view_lag_seconds: an idle SQLite process that finds nothing committed is current, lag 0; it
    grows only while the process does not know (issue: the metric grew while the server was idle)."""
    from trent.api.changes import ChangeFeed

    now = [1_000.0]
    feed = ChangeFeed(sqlite_store.reader, clock=lambda: now[0])
    feed.read()
    feed.catch_up()
    now[0] += 3600  # an hour idle
    assert feed.lag == 3600
    feed.catch_up()  # nothing committed: known current now
    assert feed.lag == 0


def test_cache_sizes_come_from_the_configuration(sqlite_store: Store) -> None:
    """cache_* settings size every cache of a process (issue: caches sized in the configuration)."""
    from trent.bootstrap import cache_sizes, services_for
    from trent.config import Settings

    settings = Settings(cache_keys=3, cache_grant_sets=5, cache_key_material=7, cache_decisions=11, cache_policies=13)
    services = services_for(sqlite_store, markers_key=b"m" * 32, tokens_key=b"t" * 32, sizes=cache_sizes(settings))
    assert services.reads._keys._max == 3  # the wiring is what is tested
    assert services.grants._max_slots == 5
    assert services.keyring._max == 7
    assert services.decisions._max == 11
    assert services.policies._parsed._max == 13
    # And they evict gradually: the fourth key read pushes out the least recently used one only.
    for key in ("a", "b", "c", "d"):
        services.reads._keys.put(key, None)
    assert [services.reads._keys.get(k, "gone") for k in ("a", "b", "c", "d")] == ["gone", None, None, None]


def test_over_an_interval_a_tokens_grant_is_read_with_the_feed_once_per_pass(stores: tuple[Store, Store]) -> None:
    """PostgreSQL nodes read the feed every `refresh_interval`, but a grant token must see a revocation at once:
    a token's grant is kept, and the feed read, once per pass of the event loop that checks a token."""
    from trent.api import grants as grant_api
    from trent.bootstrap import services_for as build

    writer = services_for(stores[0])
    reader = build(stores[1], markers_key=b"k" * 32, tokens_key=b"t" * 32, refresh_interval=60.0)
    key_id = new_key(writer)
    grantee = "arn:aws:iam::000000000000:root"
    grant_id = grant_api.create_grant(
        writer, CTX, {"KeyId": key_id, "GranteePrincipal": grantee, "Operations": ["Decrypt"]}
    )["GrantId"]
    reads: list[str] = []
    real_grant = stores[1].reader.grant

    def counted(grant: str) -> object:
        reads.append(grant)
        return real_grant(grant)

    stores[1].reader.grant = counted  # type: ignore[method-assign]
    try:
        view = reader.grants
        # No loop counts passes (a command, a test): every lookup reads the feed, so it is exact at once.
        assert view.grant_for_token(grant_id).deleted_at is None  # type: ignore[union-attr]
        grant_api.revoke_grant(writer, CTX, {"KeyId": key_id, "GrantId": grant_id})
        assert view.grant_for_token(grant_id).deleted_at is not None  # type: ignore[union-attr]

        other = grant_api.create_grant(
            writer, CTX, {"KeyId": key_id, "GranteePrincipal": grantee, "Operations": ["Decrypt"]}
        )["GrantId"]
        reader.changes.next_pass()  # a server's loop counts passes from here on
        reads.clear()
        assert view.grant_for_token(other).deleted_at is None  # type: ignore[union-attr]
        assert view.grant_for_token(other).deleted_at is None  # type: ignore[union-attr]
        assert reads == [other]  # kept: the feed was read in this pass and named nothing since
        grant_api.revoke_grant(writer, CTX, {"KeyId": key_id, "GrantId": other})
        # Within the same pass the feed is not read again: every request of this pass arrived before the revocation.
        assert view.grant_for_token(other).deleted_at is None  # type: ignore[union-attr]
        reader.changes.next_pass()
        assert view.grant_for_token(other).deleted_at is not None  # type: ignore[union-attr]
        assert reads == [other, other]

        # A read between passes (the background reader) counts for nothing after the next pass's first check.
        third = grant_api.create_grant(
            writer, CTX, {"KeyId": key_id, "GranteePrincipal": grantee, "Operations": ["Decrypt"]}
        )["GrantId"]
        reader.changes.next_pass()
        assert view.grant_for_token(third).deleted_at is None  # type: ignore[union-attr]
        reader.changes.read()  # idle: the background reader, stamped with this pass
        grant_api.revoke_grant(writer, CTX, {"KeyId": key_id, "GrantId": third})  # ...and its client is told
        reader.changes.next_pass()  # the first check of the pass that serves the client's next request
        assert view.grant_for_token(third).deleted_at is not None  # type: ignore[union-attr]
    finally:
        del stores[1].reader.grant  # type: ignore[method-assign]


def test_the_feed_and_its_oldest_row_come_in_one_snapshot(database_store: Store) -> None:
    services = services_for(database_store)
    with database_store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
    first = database_store.reader.last_change()
    keys = [new_key(services) for _ in range(3)]
    oldest, rows = database_store.reader.changes_and_oldest(first, 2)
    assert oldest == database_store.reader.oldest_change()
    assert rows == database_store.reader.changes_after(first, 2) and len(rows) == 2
    assert rows[0][0] > first and rows[0][0] < rows[1][0]
    assert {row[2] for row in database_store.reader.changes_after(first, 100)} >= set(keys)
    with database_store.transaction() as tx:
        tx.feed.purge(before=float("inf"))
    newest = database_store.reader.last_change()
    assert database_store.reader.changes_and_oldest(newest, 10) == (newest, [])


def test_a_row_a_listener_failed_on_is_passed_on_again(stores: tuple[Store, Store]) -> None:
    writer, reader = services_for(stores[0]), services_for(stores[1])
    key_id = new_key(writer)
    reader.changes.catch_up()
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    key_api.disable_key(writer, CTX, {"KeyId": key_id})

    class Failing:
        calls = 0

        def changed(self, change: object) -> None:
            Failing.calls += 1
            if Failing.calls == 1:
                raise OSError("the store went away while the row was applied")

        def reset(self) -> None:
            pass

    reader.changes._listeners.insert(0, Failing())
    with pytest.raises(OSError):
        reader.changes.read()
    reader.changes.read()  # the row again, to every listener
    assert Failing.calls >= 2
    assert reader.reads.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]

"""The fast reader's cache of keys and aliases: reused while nothing changes, dropped at the first change."""

from __future__ import annotations

import dataclasses
import threading
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


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Services, RequestContext, str]:
    store = Store(f"sqlite:///{tmp_path / 'trent.db'}", RootKey(generate_root_key()))
    store.migrate()
    with store.transaction() as tx:
        tx.add_account(ACCOUNT, 0.0)
    services = services_for(store)
    ctx = RequestContext(caller=Caller.account_root(ACCOUNT, "AKIA"), region=REGION, request_id="r")
    key_id = key_api.create_key(services, ctx, {})["KeyMetadata"]["KeyId"]
    return services, ctx, key_id


def test_a_key_is_read_once_while_nothing_changes(setup: tuple[Services, RequestContext, str]) -> None:
    services, _, key_id = setup
    reader = services.store.reader
    first = reader.get_key(ACCOUNT, REGION, key_id)
    assert first is not None and first is reader.get_key(ACCOUNT, REGION, key_id)


def test_a_change_made_elsewhere_is_seen_by_the_very_next_read(setup: tuple[Services, RequestContext, str]) -> None:
    services, ctx, key_id = setup
    reader = services.store.reader
    assert reader.get_key(ACCOUNT, REGION, key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    key_api.disable_key(services, ctx, {"KeyId": key_id})
    assert reader.get_key(ACCOUNT, REGION, key_id).state is KeyState.DISABLED  # type: ignore[union-attr]
    # Any commit empties the cache, even one that does not touch the key: the check is cheap, the rule simple.
    before = reader.get_key(ACCOUNT, REGION, key_id)
    event = {"event_id": "e", "event_time": 0.0, "event_name": "X", "record": "{}"}
    services.audit.enqueue(event | dict.fromkeys(("account_id", "principal_arn", "key_arn", "error_code")))
    assert services.audit.flush() == 1
    after = reader.get_key(ACCOUNT, REGION, key_id)
    assert after == before and after is not before


def test_the_lookup_by_key_id_alone_is_cached_and_exact_too(setup: tuple[Services, RequestContext, str]) -> None:
    """Decrypt finds its key by the ID in the ciphertext: the same rules as the lookup by account and region."""
    services, ctx, key_id = setup
    reader = services.store.reader
    first = reader.get_key_by_id(key_id)
    assert first is not None and first is reader.get_key_by_id(key_id)
    key_api.disable_key(services, ctx, {"KeyId": key_id})
    assert reader.get_key_by_id(key_id).state is KeyState.DISABLED  # type: ignore[union-attr]
    key_api.schedule_key_deletion(services, ctx, {"KeyId": key_id, "PendingWindowInDays": 7})
    assert reader.get_key_by_id(key_id).state is KeyState.PENDING_DELETION  # type: ignore[union-attr]
    assert reader.get_key_by_id("00000000-0000-4000-8000-000000000000") is None


def test_unknown_keys_and_aliases_appear_once_created(setup: tuple[Services, RequestContext, str]) -> None:
    services, ctx, key_id = setup
    reader = services.store.reader
    assert reader.alias_target(ACCOUNT, REGION, "alias/app") is None
    aliases.create_alias(services, ctx, {"AliasName": "alias/app", "TargetKeyId": key_id})
    assert reader.alias_target(ACCOUNT, REGION, "alias/app") == key_id
    assert reader.get_key(ACCOUNT, REGION, "00000000-0000-4000-8000-000000000000") is None
    new_id = key_api.create_key(services, ctx, {})["KeyMetadata"]["KeyId"]
    assert reader.get_key(ACCOUNT, REGION, new_id) is not None


def test_each_thread_has_its_own_cache_and_sees_changes(setup: tuple[Services, RequestContext, str]) -> None:
    services, ctx, key_id = setup
    reader = services.store.reader
    seen: list[KeyState] = []

    def read() -> None:
        key = reader.get_key(ACCOUNT, REGION, key_id)
        assert key is not None
        seen.append(key.state)

    read()
    key_api.disable_key(services, ctx, {"KeyId": key_id})
    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    read()
    assert seen == [KeyState.ENABLED, KeyState.DISABLED, KeyState.DISABLED]


def test_postgresql_readers_do_not_cache(setup: tuple[Services, RequestContext, str]) -> None:
    services, _, key_id = setup
    reader = services.store.reader
    reader._can_cache = False  # what a PostgreSQL engine sets: it has no cheap change signal
    first = reader.get_key(ACCOUNT, REGION, key_id)
    second = reader.get_key(ACCOUNT, REGION, key_id)
    assert first == second and first is not second
    assert dataclasses.asdict(first) == dataclasses.asdict(second)  # type: ignore[arg-type]

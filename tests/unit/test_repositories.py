"""Each repository of the unit of work, on SQLite and on PostgreSQL: what it writes is what it reads back, what it
must refuse it refuses, what it changes it records for the change feed, and no secret reaches a row bare."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from tests.fake_store import MemoryStore
from trent.domain.errors import KMSInvalidStateException
from trent.domain.grants import Constraints, Grant
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.domain.keys import Key, KeyMaterial, KeyState
from trent.domain.keyspec import KeyUsage
from trent.storage.session import CHANGE_ACCESS_KEY, CHANGE_ALIAS, CHANGE_GRANT, CHANGE_KEY, Change, StoreConflict
from trent.storage.store import Store

ACCOUNT, REGION = "111122223333", "us-east-1"
KEY_ID = "0f0e0d0c-0b0a-4908-8706-050403020100"
SECRET_MATERIAL = bytes(range(32))


def a_key(key_id: str = KEY_ID) -> Key:
    return Key(
        key_id=key_id,
        account=ACCOUNT,
        region=REGION,
        spec_name="SYMMETRIC_DEFAULT",
        usage=KeyUsage.ENCRYPT_DECRYPT,
        state=KeyState.ENABLED,
        description="d",
        creation_date=1_800_000_000.0,
        origin="AWS_KMS",
        policy='{"Version": "2012-10-17", "Statement": []}',
        current_version=1,
    )


def material(version: int = 1, key_id: str = KEY_ID) -> KeyMaterial:
    return KeyMaterial(key_id, version, f"{version:064x}", 1_800_000_000.0, None, SECRET_MATERIAL)


def a_grant(grant_id: str, name: str | None = None, retiring: str | None = None) -> Grant:
    return Grant(
        grant_id=grant_id,
        key_id=KEY_ID,
        key_account=ACCOUNT,
        key_region=REGION,
        operations=frozenset({"Decrypt", "Encrypt"}),
        issuing_account=ACCOUNT,
        creation_date=1_800_000_000.0,
        name=name,
        grantee_principal=f"arn:aws:iam::{ACCOUNT}:user/alice",
        retiring_principal=retiring,
        constraints=Constraints(subset={"Dept": "IT"}),
    )


def with_key(store: Store) -> None:
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
        tx.keys.insert(a_key(), material())


def raw_bytes(store: Store, table: str) -> bytes:
    if isinstance(store, MemoryStore):
        return store.raw_bytes(table)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
    return b"".join(
        value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row if value is not None
    )


# --- keys ------------------------------------------------------------------------------------------------------------
def test_a_key_reads_back_as_written_and_its_material_is_stored_wrapped(store: Store) -> None:
    with_key(store)
    with store.transaction(write=False) as tx:
        assert tx.keys.get(ACCOUNT, REGION, KEY_ID) == a_key()
        assert tx.keys.get("999999999999", REGION, KEY_ID) is None  # another account's key is not this one
        assert tx.keys.get(ACCOUNT, "eu-west-1", KEY_ID) is None
        assert tx.keys.material(KEY_ID, 1) == material()
        assert tx.keys.material(KEY_ID, 2) is None
        assert [tuple(v)[:4] for v in tx.keys.material_versions(KEY_ID)] == [(1, f"{1:064x}", 1_800_000_000.0, None)]
    stored_row = raw_bytes(store, "key_materials")
    assert f"{1:064x}".encode() in stored_row and SECRET_MATERIAL not in stored_row


def test_a_key_update_is_optimistic(store: Store) -> None:
    with_key(store)
    with store.transaction() as tx:
        old = tx.keys.get(ACCOUNT, REGION, KEY_ID, for_update=True)
        assert old is not None
        stored = tx.keys.update(old, dataclasses.replace(old, description="new"))
    assert stored.description == "new" and stored.version == old.version + 1
    with pytest.raises(KMSInvalidStateException), store.transaction() as tx:
        tx.keys.update(old, dataclasses.replace(old, description="stale"))  # `old` is a version behind
    with store.transaction(write=False) as tx:
        assert tx.keys.get(ACCOUNT, REGION, KEY_ID) == stored


def test_deleting_a_key_deletes_what_hangs_on_it_and_records_its_aliases(store: Store) -> None:
    with_key(store)
    with store.transaction() as tx:
        tx.aliases.insert(ACCOUNT, REGION, "alias/a", KEY_ID, 1.0)
        tx.tags.put(KEY_ID, {"k": "v"})
        assert tx.grants.reserve_slot(KEY_ID, 10)
        tx.grants.insert(a_grant("g" * 64))
    with store.transaction() as tx:
        tx.keys.delete(KEY_ID)
        changes = list(tx.changes)
    assert Change(CHANGE_ALIAS, f"{ACCOUNT}:{REGION}:alias/a", KEY_ID) in changes
    assert Change(CHANGE_KEY, KEY_ID, KEY_ID) in changes
    with store.transaction(write=False) as tx:
        assert tx.keys.get(ACCOUNT, REGION, KEY_ID) is None
        assert tx.keys.material(KEY_ID, 1) is None
        assert tx.aliases.get(ACCOUNT, REGION, "alias/a") is None
        assert tx.tags.of_key(KEY_ID) == {}
        assert tx.grants.get("g" * 64) is None


def test_keys_page_in_key_id_order_within_an_account_and_region(store: Store) -> None:
    ids = [f"0000000{i}-0000-4000-8000-000000000000" for i in range(5)]
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
        for key_id in reversed(ids):
            tx.keys.insert(a_key(key_id), material(key_id=key_id))
    with store.transaction(write=False) as tx:
        first = tx.keys.page(ACCOUNT, REGION, None, 2)
        rest = tx.keys.page(ACCOUNT, REGION, first[-1].key_id, 10)
        assert [k.key_id for k in first + rest] == ids
        assert tx.keys.page("999999999999", REGION, None, 10) == []


# --- aliases and tags ------------------------------------------------------------------------------------------------
def test_an_alias_is_unique_in_its_account_and_region(store: Store) -> None:
    with_key(store)
    with store.transaction() as tx:
        tx.aliases.insert(ACCOUNT, REGION, "alias/b", KEY_ID, 1.0)
        tx.aliases.insert(ACCOUNT, REGION, "alias/a", KEY_ID, 2.0)
        with pytest.raises(StoreConflict):
            tx.aliases.insert(ACCOUNT, REGION, "alias/a", KEY_ID, 3.0)
    with store.transaction() as tx:
        tx.aliases.update(ACCOUNT, REGION, "alias/a", KEY_ID, 4.0)
    with store.transaction(write=False) as tx:
        alias = tx.aliases.get(ACCOUNT, REGION, "alias/a")
        assert alias is not None and (alias.created, alias.updated, alias.key_id) == (2.0, 4.0, KEY_ID)
        assert tx.aliases.target(ACCOUNT, REGION, "alias/b") == KEY_ID
        assert tx.aliases.target(ACCOUNT, "eu-west-1", "alias/b") is None
        assert [a.name for a in tx.aliases.page(ACCOUNT, REGION, None, None, 10)] == ["alias/a", "alias/b"]
        assert [a.name for a in tx.aliases.page(ACCOUNT, REGION, KEY_ID, "alias/a", 10)] == ["alias/b"]
        assert tx.aliases.names_for_key(KEY_ID) == ["alias/a", "alias/b"]
        assert tx.aliases.count_for_key(KEY_ID) == 2
    with store.transaction() as tx:
        tx.aliases.delete(ACCOUNT, REGION, "alias/b")
    with store.transaction(write=False) as tx:
        assert tx.aliases.names_for_key(KEY_ID) == ["alias/a"]


def test_tags_are_added_replaced_and_removed(store: Store) -> None:
    with_key(store)
    with store.transaction() as tx:
        tx.tags.put(KEY_ID, {"b": "1", "a": "2"})
        tx.tags.put(KEY_ID, {"b": "3"})
        tx.tags.put(KEY_ID, {})
    with store.transaction() as tx:
        assert tx.tags.of_key(KEY_ID) == {"a": "2", "b": "3"}
        tx.tags.delete(KEY_ID, ["a", "missing"])
    with store.transaction(write=False) as tx:
        assert tx.tags.of_key(KEY_ID) == {"b": "3"}


# --- grants ----------------------------------------------------------------------------------------------------------
def test_a_grant_reads_back_as_written_and_deleting_it_twice_does_nothing_the_second_time(store: Store) -> None:
    with_key(store)
    grant = a_grant("a" * 64, name="n", retiring=f"arn:aws:iam::{ACCOUNT}:user/bob")
    with store.transaction() as tx:
        assert tx.grants.reserve_slot(KEY_ID, 10)
        tx.grants.insert(grant)
        assert list(tx.changes)[-1] == Change(CHANGE_GRANT, grant.grant_id, KEY_ID)
    with store.transaction() as tx:
        assert tx.grants.get(grant.grant_id) == grant
        assert tx.grants.active_named(KEY_ID, "n") == [grant]
        assert [g for _, g in tx.grants.retirable(REGION, grant.retiring_principal or "", 0, 10)] == [grant]
        assert tx.grants.delete(grant, 5.0)
        assert not tx.grants.delete(grant, 6.0)
    with store.transaction() as tx:
        tombstone = tx.grants.get(grant.grant_id)
        assert tombstone is not None and tombstone.deleted_at == 5.0
        assert tx.grants.active_named(KEY_ID, "n") == []
        assert tx.grants.retirable(REGION, grant.retiring_principal or "", 0, 10) == []
        assert tx.grants.purge(deleted_before=5.0) == 0
        assert tx.grants.purge(deleted_before=5.5) == 1
        assert tx.grants.get(grant.grant_id) is None
        assert tx.keys.with_most_grants(10) == []  # the slot was given back


def test_grant_slots_stop_at_the_limit(store: Store) -> None:
    with_key(store)
    with store.transaction() as tx:
        assert [tx.grants.reserve_slot(KEY_ID, 3) for _ in range(4)] == [True, True, True, False]
        assert tx.keys.with_most_grants(1) == [(a_key().arn, 3)]


# --- identities ------------------------------------------------------------------------------------------------------
def test_an_account_is_created_once_with_its_root(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.identities.add_account(ACCOUNT, 1.0)
        assert not tx.identities.add_account(ACCOUNT, 2.0)
    with store.transaction(write=False) as tx:
        root = tx.identities.get_principal(f"arn:aws:iam::{ACCOUNT}:root")
        assert root is not None and root.type is PrincipalType.ROOT and root.created == 1.0
        assert tx.identities.list_accounts() == [ACCOUNT]


def test_principals_and_their_access_keys_and_policies(store: Store) -> None:
    user = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, PrincipalType.USER, "alice", "AIDAX", None, 3.0)
    secret = "s3cr3t-" + "x" * 33
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
        tx.identities.add_principal(user)
        with pytest.raises(StoreConflict):
            tx.identities.add_principal(user)
        tx.identities.add_access_key(AccessKey("AKIAEXAMPLE", user.arn, secret, 3.0))
        tx.identities.put_policy(user.arn, "p", '{"a": 1}')
        tx.identities.put_policy(user.arn, "p", '{"a": 2}')
    stored_row = raw_bytes(store, "access_keys")
    assert b"AKIAEXAMPLE" in stored_row and secret.encode() not in stored_row
    with store.transaction() as tx:
        assert tx.identities.get_principal(user.arn) == user
        assert [p.arn for p in tx.identities.list_principals()] == [f"arn:aws:iam::{ACCOUNT}:root", user.arn]
        stored = tx.identities.get_access_key("AKIAEXAMPLE")
        assert stored is not None and stored.secret == secret and stored.principal_arn == user.arn
        assert tx.identities.access_key_ids(user.arn) == ["AKIAEXAMPLE"]
        assert tx.identities.policies(user.arn) == {"p": '{"a": 2}'}
        assert tx.identities.delete_policy(user.arn, "p") and not tx.identities.delete_policy(user.arn, "p")
        assert tx.identities.delete_access_key("AKIAEXAMPLE")
        assert Change(CHANGE_ACCESS_KEY, "AKIAEXAMPLE") in tx.changes
    with store.transaction(write=False) as tx:
        assert tx.identities.get_access_key("AKIAEXAMPLE") is None
        assert tx.identities.policies(user.arn) == {}


def test_expired_sessions_are_deleted_and_long_term_keys_kept(store: Store) -> None:
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
        root = f"arn:aws:iam::{ACCOUNT}:root"
        tx.identities.add_access_key(AccessKey("AKIALONG", root, "a" * 40, 0.0))
        tx.identities.add_access_key(AccessKey("ASIAOLD", root, "b" * 40, 0.0, b"h" * 32, "s", 10.0))
        tx.identities.add_access_key(AccessKey("ASIANEW", root, "c" * 40, 0.0, b"i" * 32, "s", 30.0))
    with store.transaction() as tx:
        assert tx.identities.delete_expired_sessions(20.0) == 1
    with store.transaction(write=False) as tx:
        assert tx.identities.get_access_key("ASIAOLD") is None
        assert tx.identities.get_access_key("ASIANEW") is not None
        assert tx.identities.access_key_ids(root) == ["AKIALONG"]  # sessions are not listed as the user's keys


# --- the change feed and meta ----------------------------------------------------------------------------------------
def test_the_feed_gets_a_transactions_changes_at_its_commit_and_purges_only_a_prefix(store: Store) -> None:
    with_key(store)
    for i in range(3):
        with store.transaction() as tx:
            tx.tags.put(KEY_ID, {"k": str(i)})  # tags are not cached: nothing recorded
            tx.aliases.insert(ACCOUNT, REGION, f"alias/{i}", KEY_ID, float(i))
    last = store.reader.last_change()
    rows = store.reader.changes_after(0, 100)
    assert [(kind, entity) for _, kind, entity, _ in rows[-3:]] == [
        (CHANGE_ALIAS, f"{ACCOUNT}:{REGION}:alias/{i}") for i in range(3)
    ]
    with store.transaction() as tx:
        assert tx.feed.purge(before=float("inf")) == len(rows) - 1  # never the newest row
    assert store.reader.oldest_change() == last == store.reader.last_change()


def test_meta_facts_are_written_once(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.meta.get("default_account") is None
        tx.meta.put("default_account", b"123456789012")
    with store.transaction(write=False) as tx:
        assert tx.meta.get("default_account") == b"123456789012"

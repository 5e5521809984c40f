"""Rotating the root key (storage/rotation.py, api/root_key.py) on SQLite and PostgreSQL: a new version wraps at once,
the re-wrap moves every stored secret under it and resumes where it stopped, retiring is refused while anything is
left under an old version, and after it nothing wrapped under a retired version unwraps."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from tests.unit.services import services_for
from tests.unit.test_repositories import ACCOUNT, KEY_ID, REGION, a_key, material
from trent.api import root_key
from trent.crypto.rootkey import (
    RootKey,
    RootKeyError,
    RootKeyVersions,
    generate_root_key,
    version_prefix,
    wrapped_version,
)
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.storage import rotation
from trent.storage.imports import ImportParameters
from trent.storage.store import Store

USER = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, PrincipalType.USER, "alice", "AIDAALICE", None, 1.0)


def populate(store: Store, keys: int = 5, access_keys: int = 3) -> dict[str, bytes]:
    """Keys with material, access keys, and an import wrapping key; returns what each secret must unwrap to."""
    expected: dict[str, bytes] = {}
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, 0.0)
        tx.identities.add_principal(USER)
        for n in range(keys):
            key_id = KEY_ID if n == 0 else f"{n:08d}-0b0a-4908-8706-050403020100"
            secret = bytes([n]) * 32
            tx.keys.insert(a_key(key_id), dataclasses.replace(material(1, key_id), material=secret))
            expected[f"material {key_id}"] = secret
        for n in range(access_keys):
            tx.identities.add_access_key(AccessKey(f"AKIA{n:016d}", USER.arn, f"secret-{n}", 2.0))
            expected[f"access key AKIA{n:016d}"] = f"secret-{n}".encode()
        tx.imports.add(ImportParameters("token", KEY_ID, "RSAES_OAEP_SHA_256", "RSA_2048", b"pkcs8", 9e9), keep=10)
        expected["import token"] = b"pkcs8"
    return expected


def unwrapped(store: Store) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with store.transaction(write=False) as tx:
        for key in tx.keys.page(ACCOUNT, REGION, None, 100):
            stored = tx.keys.material(key.ref, 1)
            assert stored is not None and stored.material is not None
            found[f"material {key.key_id}"] = stored.material
        for access_key_id in tx.identities.access_key_ids(USER.arn):
            access_key = tx.identities.get_access_key(access_key_id)
            assert access_key is not None
            found[f"access key {access_key_id}"] = access_key.secret.encode()
        parameters = tx.imports.get("token", KEY_ID)
        assert parameters is not None
        found["import token"] = parameters.private_key
    return found


def versions_of(store: Store) -> dict[int, int]:
    """How many stored secrets are wrapped under each version."""
    return {
        entry["version"]: sum(entry["wrapped"].values())
        for entry in root_key.status(store)["versions"]
        if sum(entry["wrapped"].values())
    }


def finish(store: Store, rows: int = 2) -> int:
    """Run the re-wrap to its end in batches of `rows`; returns how many batches it took."""
    batches = 0
    while True:
        step = rotation.rewrap_batch(store, rows=rows)
        batches += 1
        if step is None or step.finished is not None:
            return batches


def test_a_rotation_wraps_new_secrets_at_once_and_rewraps_the_old_ones_in_batches(database_store: Store) -> None:
    store = database_store
    expected = populate(store)
    assert versions_of(store) == {0: 9}
    started = root_key.rotate(store)
    assert (started.target_version, started.total) == (1, 9)
    with store.transaction() as tx:  # a secret written now is under the new version already
        tx.identities.add_access_key(AccessKey("AKIANEW0000000000000", USER.arn, "new-secret", 3.0))
    expected["access key AKIANEW0000000000000"] = b"new-secret"
    assert versions_of(store) == {0: 9, 1: 1}
    assert unwrapped(store) == expected  # both versions unwrap meanwhile
    assert finish(store, rows=2) > 5
    assert versions_of(store) == {1: 10}
    assert unwrapped(store) == expected
    current = root_key.progress(store)
    assert current is not None and current.finished is not None and current.fraction == 1.0
    assert rotation.rewrap_batch(store) is None  # nothing left to do


def test_retiring_is_refused_while_anything_is_left_under_an_old_version(database_store: Store) -> None:
    store = database_store
    expected = populate(store)
    root_key.rotate(store)
    rotation.rewrap_batch(store, rows=3)  # part of the way only
    with pytest.raises(root_key.RetireRefused, match="still wrapped under an older root-key version"):
        root_key.retire_old(store)
    assert unwrapped(store) == expected  # the refusal changed nothing
    finish(store)
    assert root_key.retire_old(store) == [0]
    assert root_key.retire_old(store) == []
    assert unwrapped(store) == expected
    status = root_key.status(store)
    assert [(v["version"], v["retired"] is not None, v["newest"]) for v in status["versions"]] == [
        (0, True, False),
        (1, False, True),
    ]


def test_a_value_under_a_retired_version_no_longer_unwraps_anywhere(database_store: Store) -> None:
    store = database_store
    populate(store, keys=1, access_keys=1)
    with store.transaction() as tx:  # keep a copy of a value wrapped under version 0
        old = tx.identities._s.conn.execute(sa.text("SELECT secret_wrapped FROM access_keys")).scalar_one()
    assert wrapped_version(bytes(old)) == 0
    other_process = Store(store.url, store.root_key)  # it has unwrapped under version 0 before the retirement
    other_services = services_for(other_process)
    assert unwrapped(other_process)
    assert other_process.root_key_versions.knows(0)
    root_key.rotate(store)
    finish(store)
    root_key.retire_old(store)
    # Put the old value back, as a restored backup or an attacker with write access to the database might.
    with store.transaction() as tx:
        tx.identities._s.conn.execute(sa.text("UPDATE access_keys SET secret_wrapped = :old"), {"old": bytes(old)})
    for process in (store, other_process):
        if process is other_process:
            other_services.changes.catch_up()  # the retirement reaches it through the change feed
            assert not other_process.root_key_versions.knows(0)
        with pytest.raises(RootKeyError, match="retired"), process.transaction(write=False) as tx:
            tx.identities.get_access_key("AKIA0000000000000000")
    other_process.dispose()


def test_a_second_rotation_overtakes_an_unfinished_one_and_the_newest_version_wins(database_store: Store) -> None:
    store = database_store
    expected = populate(store)
    root_key.rotate(store)
    rotation.rewrap_batch(store, rows=4)
    second = root_key.rotate(store)
    assert second.target_version == 2
    finish(store)
    assert versions_of(store) == {2: 9}
    assert unwrapped(store) == expected
    assert root_key.retire_old(store) == [0, 1]
    assert unwrapped(store) == expected


def test_another_process_wraps_under_the_new_version_without_hearing_of_it(database_store: Store) -> None:
    """The version to wrap under is read in each transaction: a process that has not read the change feed yet does
    not wrap under the version before (which retirement would then strand)."""
    store = database_store
    populate(store, keys=1, access_keys=0)
    other_process = Store(store.url, store.root_key)
    with other_process.transaction() as tx:
        tx.identities.add_access_key(AccessKey("AKIABEFORE0000000000", USER.arn, "before", 3.0))
    root_key.rotate(store)
    with other_process.transaction() as tx:
        tx.identities.add_access_key(AccessKey("AKIAAFTER00000000000", USER.arn, "after", 3.0))
    with store.transaction(write=False) as tx:
        rows = dict(
            tx.identities._s.conn.execute(sa.text("SELECT access_key_id, secret_wrapped FROM access_keys")).all()
        )
    assert wrapped_version(bytes(rows["AKIABEFORE0000000000"])) == 0
    assert wrapped_version(bytes(rows["AKIAAFTER00000000000"])) == 1
    other_process.dispose()


def test_rotation_and_retirement_are_audited_without_secrets(database_store: Store) -> None:
    store = database_store
    populate(store, keys=2, access_keys=1)
    root_key.rotate(store)
    root_key.rewrap(store)
    root_key.retire_old(store)
    with store.transaction(write=False) as tx:
        names = [record for _, record in tx.audit.events()]
    operator_events = [json.loads(record) for record in names if '"trent.admin"' in record]
    assert [event["eventName"] for event in operator_events] == [
        "RotateRootKey",
        "RootKeyRewrapFinished",
        "RetireRootKeyVersions",
    ]
    assert operator_events[2]["serviceEventDetails"] == {"retiredVersions": [0]}
    assert not any("secret-0" in record for record in names)


def test_a_header_pointing_at_another_version_does_not_authenticate() -> None:
    versions = RootKeyVersions(RootKey(generate_root_key()))
    versions.allow_root_key()
    versions.learn(1, versions.wrap_data_key(1, generate_root_key()))
    versions.learn(2, versions.wrap_data_key(2, generate_root_key()))
    blob = versions.wrap(1, b"secret", b"aad")
    assert blob.startswith(version_prefix(1)) and versions.unwrap(blob, b"aad") == b"secret"
    with pytest.raises(RootKeyError):
        versions.unwrap(version_prefix(2) + blob[5:], b"aad")  # the other version's key, and its name in the aad
    with pytest.raises(RootKeyError):
        versions.unwrap(blob, b"other aad")
    with pytest.raises(RootKeyError):
        versions.learn(3, versions.wrap_data_key(4, generate_root_key()))  # a data key bound to another version
    versions.forget()
    with pytest.raises(RootKeyError):
        versions.unwrap(blob, b"aad")  # forgotten: the store is asked again (and says whether it is retired)
    with pytest.raises(RootKeyError, match="malformed"):
        wrapped_version(b"\x07abc")


# --- replacing the root key itself ----------------------------------------------------------------------------------
def test_the_root_key_itself_is_replaced_online_and_the_old_one_then_opens_nothing(database_store: Store) -> None:
    store = database_store  # the command's process, with the current root key
    store.write_root_key_check()  # as `trent init` does
    expected = populate(store)
    old_node = Store(store.url, store.root_key)  # a node still running with the old root key
    assert old_node.check_root_key()
    old_services = services_for(old_node)
    tokens_key = store.derived_key(b"grant-tokens")
    new_key = RootKey(generate_root_key())
    started = root_key.replace(store, new_key)
    assert started.target_version == 1
    with pytest.raises(root_key.RotationRefused):
        root_key.rotate(store)  # one thing at a time
    with pytest.raises(root_key.RotationRefused):
        root_key.replace(store, RootKey(generate_root_key()))
    # A node given the new root key before the re-wrap has finished starts, and refuses (cleanly) what is still
    # under the old root key; the old node keeps working meanwhile.
    early = Store(store.url, new_key)
    assert early.check_root_key() and early.root_key_versions.role == "current"
    with pytest.raises(RootKeyError), early.transaction(write=False) as tx:
        tx.identities.get_access_key("AKIA0000000000000000")
    early.dispose()
    assert unwrapped(old_node) == expected
    finish(store)
    new_node = Store(store.url, new_key)
    assert new_node.check_root_key() and new_node.root_key_versions.role == "current"
    assert unwrapped(new_node) == expected
    assert unwrapped(old_node) == expected
    # The keys derived from the old root key are kept: tokens and markers made before work after.
    assert new_node.derived_key(b"grant-tokens") == tokens_key == old_node.derived_key(b"grant-tokens")
    assert new_node.derived_key(b"markers") == store.root_key.derive(b"markers")
    assert root_key.retire_old(new_node) == [0]
    assert unwrapped(new_node) == expected
    old_services.changes.catch_up()  # the retirement reaches the old node: its root key opens nothing any more
    with pytest.raises(RootKeyError), old_node.transaction(write=False) as tx:
        tx.identities.get_access_key("AKIA0000000000000000")
    with pytest.raises(RootKeyError, match="does not match this store"):
        Store(store.url, store.root_key).check_root_key()  # and it cannot start again
    old_node.dispose()
    new_node.dispose()


def test_a_replacement_with_the_root_key_it_replaces_is_refused(database_store: Store) -> None:
    with pytest.raises(root_key.RotationRefused, match="not initialised"):
        root_key.replace(database_store, RootKey(generate_root_key()))
    database_store.write_root_key_check()
    populate(database_store, keys=1, access_keys=0)
    with pytest.raises(root_key.RotationRefused, match="is the current one"):
        root_key.replace(database_store, RootKey(database_store.root_key._key))
    assert versions_of(database_store) == {0: 2}


def test_a_root_key_that_cannot_be_used_now_is_a_retryable_error_not_a_fallback(database_store: Store) -> None:
    """An HSM that stops answering while the server runs: the request that needs it gets DependencyTimeoutException
    (retryable), and nothing is unwrapped some other way."""
    from trent.crypto.rootkey import RootKeyUnavailable
    from trent.domain.errors import DependencyTimeoutException

    store = database_store
    expected = populate(store)
    root_key.rotate(store)
    finish(store)

    class AwayHsm:
        held_in_hsm = True

        def __init__(self, key: RootKey) -> None:
            self.key = key
            self.away = False

        def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
            return self.key.wrap(plaintext, aad)

        def unwrap(self, blob: bytes, aad: bytes) -> bytes:
            if self.away:
                raise RootKeyUnavailable("the HSM did not unwrap (DeviceRemoved)")
            return self.key.unwrap(blob, aad)

        def derive(self, purpose: bytes, length: int = 32) -> bytes:
            return self.key.derive(purpose, length)

    hsm = AwayHsm(store.root_key)  # type: ignore[arg-type]
    node = Store(store.url, hsm)  # type: ignore[arg-type]
    hsm.away = True
    with pytest.raises(DependencyTimeoutException, match="HSM did not answer"), node.transaction() as tx:
        tx.identities.get_access_key("AKIA0000000000000000")
    hsm.away = False  # back: the next request works
    assert unwrapped(node) == expected
    node.dispose()

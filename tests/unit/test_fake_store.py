"""The fake store (tests/fake_store.py) holds to the real one: the same repositories with the same signatures, and a
scenario that calls every public method of every repository and of the fast reader, run on the fake and on each
database, gives the same answers, step by step.

The scenario covers the cases where a fake most easily goes wrong: ordering and pagination, tombstones, limits,
optimistic updates, renames across columns, purges that keep a prefix, and what each call records for the change
feed."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_store import (
    MemoryAliases,
    MemoryAudit,
    MemoryConsole,
    MemoryFeed,
    MemoryGrants,
    MemoryIdentities,
    MemoryImports,
    MemoryKeys,
    MemoryMeta,
    MemoryReader,
    MemoryStore,
    MemoryTags,
)
from tests.server import create_database, drop_database, postgres_admin_url
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.domain.grants import Constraints, Grant, operations_mask
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.domain.keys import Key, KeyMaterial, KeyState
from trent.domain.keyspec import KeyUsage
from trent.storage.aliases import AliasRepository
from trent.storage.audit import AuditRepository
from trent.storage.console import ConsoleSession, ConsoleSessionRepository
from trent.storage.feed import ChangeFeedRepository
from trent.storage.grants import GrantRepository
from trent.storage.identities import IdentityRepository
from trent.storage.imports import ImportParameters, ImportParametersRepository
from trent.storage.keys import KeyRepository
from trent.storage.reader import FastReader
from trent.storage.store import MetaRepository, Store
from trent.storage.tags import TagRepository

PAIRS = [
    (KeyRepository, MemoryKeys),
    (AliasRepository, MemoryAliases),
    (TagRepository, MemoryTags),
    (GrantRepository, MemoryGrants),
    (IdentityRepository, MemoryIdentities),
    (AuditRepository, MemoryAudit),
    (ChangeFeedRepository, MemoryFeed),
    (ImportParametersRepository, MemoryImports),
    (MetaRepository, MemoryMeta),
    (ConsoleSessionRepository, MemoryConsole),
    (FastReader, MemoryReader),
]
ACCOUNT, OTHER, REGION = "111122223333", "444455556666", "us-east-1"
T0 = 1_800_000_000.0
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(("real", "fake"), PAIRS, ids=[real.__name__ for real, _ in PAIRS])
def test_the_fake_has_every_method_of_the_real_repository_with_its_signature(real: type, fake: type) -> None:
    real_methods, fake_methods = public_methods(real), public_methods(fake)
    assert set(fake_methods) == set(real_methods)
    for name, signature in real_methods.items():
        assert list(fake_methods[name].parameters) == list(signature.parameters), name
        for parameter in signature.parameters.values():
            twin = fake_methods[name].parameters[parameter.name]
            assert (twin.kind, twin.default) == (parameter.kind, parameter.default), f"{name}({parameter.name})"


# --- the scenario ---------------------------------------------------------------------------------------------------
def a_key(key_id: str, *, account: str = ACCOUNT, region: str = REGION, **changes: Any) -> Key:
    key = Key(
        key_id=key_id,
        account=account,
        region=region,
        spec_name="SYMMETRIC_DEFAULT",
        usage=KeyUsage.ENCRYPT_DECRYPT,
        state=KeyState.ENABLED,
        description=f"key {key_id}",
        creation_date=T0,
        origin="AWS_KMS",
        policy='{"Version": "2012-10-17", "Statement": []}',
        current_version=1,
    )
    return dataclasses.replace(key, **changes)


def a_material(ref: str, version: int, **changes: Any) -> KeyMaterial:
    return dataclasses.replace(
        KeyMaterial(ref, version, f"{version:064x}", T0 + version, None, bytes([version]) * 32), **changes
    )


def a_grant(grant_id: str, key_id: str, **changes: Any) -> Grant:
    grant = Grant(
        grant_id=grant_id,
        key_id=key_id,
        key_account=ACCOUNT,
        key_region=REGION,
        operations=frozenset({"Decrypt"}),
        issuing_account=ACCOUNT,
        creation_date=T0,
        grantee_principal=f"arn:aws:iam::{ACCOUNT}:user/alice",
    )
    return dataclasses.replace(grant, **changes)


def user(name: str, account: str = ACCOUNT, kind: PrincipalType = PrincipalType.USER) -> Principal:
    prefix = "user" if kind is PrincipalType.USER else "role"
    return Principal(f"arn:aws:iam::{account}:{prefix}/{name}", account, kind, name, f"AID{name.upper()}", None, T0)


def an_event(n: int, **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": f"e{n:04d}",
        "event_time": T0 + n,
        "event_name": "Encrypt" if n % 2 else "Decrypt",
        "account_id": ACCOUNT if n % 3 else OTHER,
        "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/u{n % 4}",
        "key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k{n % 2}",
        "error_code": "AccessDeniedException" if n % 5 == 0 else None,
        "record": f'{{"n": {n}}}',
    }
    return {**event, **changes}


class Recorder:
    """Calls repository methods by name, noting each answer (or the error class it raised) and each name."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, Any]] = []
        self.called: set[tuple[str, str]] = set()

    def __call__(self, repository: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        owner = next(real.__name__ for real, fake in PAIRS if isinstance(repository, real | fake))
        self.called.add((owner, method))
        try:
            answer = getattr(repository, method)(*args, **kwargs)
        except Exception as exc:  # the class of the error is part of the answer
            self.answers.append((f"{owner}.{method}", f"raised {type(exc).__name__}"))
            raise
        self.answers.append((f"{owner}.{method}", answer))
        return answer


def scenario(store: Store) -> Recorder:
    call = Recorder()
    plain, mrk_primary = "0f0e0d0c-0b0a-4908-8706-050403020100", f"{MRK}/{REGION}"
    with store.transaction() as tx:
        call(tx.meta, "put", "fact", b"value")
        call(tx.identities, "add_account", ACCOUNT, T0)
        call(tx.identities, "add_account", ACCOUNT, T0)  # False: exists
        call(tx.identities, "add_account", OTHER, T0)
        for key_id in (plain, "1f0e0d0c-0b0a-4908-8706-050403020100", "00000000-0000-4000-8000-000000000000"):
            call(tx.keys, "insert", a_key(key_id), a_material(key_id, 1))
        call(tx.keys, "insert", a_key(MRK, primary_region=REGION), a_material(mrk_primary, 1))
        call(
            tx.keys, "insert", a_key(MRK, region="eu-west-1", primary_region=REGION), a_material(f"{MRK}/eu-west-1", 1)
        )
        call(tx.keys, "insert", a_key(MRK, account=OTHER, region="ap-south-1"), None)
        call(tx.keys, "add_material", a_material(plain, 2, import_state="IMPORTED", valid_to=T0 + 50))
        call(tx.keys, "add_material", a_material(plain, 3, material=None, import_state="PENDING_IMPORT"))
        assert tx.changes  # what the feed will get at the commit
    call.answers.append(("commit", None))
    with store.transaction() as tx:
        call(tx.meta, "get", "fact")
        call(tx.meta, "get", "nothing")
        key = call(tx.keys, "get", ACCOUNT, REGION, plain, for_update=True)
        call(tx.keys, "get", OTHER, REGION, plain)
        call(tx.keys, "get", ACCOUNT, "eu-west-1", plain)
        updated = call(tx.keys, "update", key, dataclasses.replace(key, description="new", state=KeyState.DISABLED))
        with pytest.raises(Exception):  # noqa: B017 - the error class is compared between stores
            call(tx.keys, "update", key, dataclasses.replace(key, description="stale"))
        call(tx.keys, "update", updated, dataclasses.replace(updated, rotation_enabled=True, next_rotation_date=T0))
        call(tx.keys, "related", ACCOUNT, MRK)
        call(tx.keys, "set_primary_region", ACCOUNT, MRK, "eu-west-1")
        call(tx.keys, "related", ACCOUNT, MRK)
        call(tx.keys, "page", ACCOUNT, REGION, None, 2)
        call(tx.keys, "page", ACCOUNT, REGION, plain, 10)
        call(tx.keys, "due", T0 + 1)
        call(tx.keys, "material", plain, 2)
        call(tx.keys, "material", plain, 9)
        call(tx.keys, "put_material", a_material(plain, 3, import_state="IMPORTED", valid_to=T0 + 10))
        call(tx.keys, "put_material", a_material(plain, 9))  # no such version: nothing stored
        call(tx.keys, "mark_rotated", plain, 2, T0 + 7, "ON_DEMAND")
        call(tx.keys, "material_versions", plain)
        call(tx.keys, "expired_materials", T0 + 20)
        call(tx.keys, "expired_materials", T0 + 100, 1)
        call(tx.keys, "delete_material", plain, 3)
        call(tx.keys, "material_versions", plain)
        # aliases and tags
        call(tx.aliases, "insert", ACCOUNT, REGION, "alias/b", plain, T0)
        call(tx.aliases, "insert", ACCOUNT, REGION, "alias/a", plain, T0)
        call(tx.aliases, "insert", ACCOUNT, REGION, "alias/mrk", MRK, T0)
        with pytest.raises(Exception):  # noqa: B017
            call(tx.aliases, "insert", ACCOUNT, REGION, "alias/a", MRK, T0)
        call(tx.aliases, "update", ACCOUNT, REGION, "alias/b", MRK, T0 + 1)
        call(tx.aliases, "get", ACCOUNT, REGION, "alias/b")
        call(tx.aliases, "target", ACCOUNT, REGION, "alias/mrk")
        call(tx.aliases, "target", ACCOUNT, REGION, "alias/none")
        call(tx.aliases, "count_for_key", plain)
        call(tx.aliases, "page", ACCOUNT, REGION, None, None, 2)
        call(tx.aliases, "page", ACCOUNT, REGION, mrk_primary, "alias/a", 10)
        call(tx.aliases, "names_for_key", mrk_primary)
        call(tx.aliases, "delete", ACCOUNT, REGION, "alias/a")
        call(tx.tags, "put", plain, {"b": "2", "a": "1"})
        call(tx.tags, "put", plain, {"a": "one"})
        call(tx.tags, "put", plain, {})
        call(tx.tags, "delete", plain, ["b", "missing"])
        call(tx.tags, "of_key", plain)
        # grants
        other_key = "1f0e0d0c-0b0a-4908-8706-050403020100"
        call(tx.grants, "reserve_slot", plain, 2)
        call(tx.grants, "reserve_slot", plain, 2)
        call(tx.grants, "reserve_slot", plain, 2)  # False: at the limit
        call(tx.grants, "insert", a_grant("g1", plain, name="n", retiring_principal=f"arn:aws:iam::{ACCOUNT}:user/bob"))
        call(
            tx.grants,
            "insert",
            a_grant("g2", plain, name="n", parent_grant_id="g1", operations=frozenset({"Encrypt", "Decrypt"})),
        )
        call(tx.grants, "insert", a_grant("g3", other_key, constraints=Constraints(subset={"a": "b"})))
        call(
            tx.grants,
            "insert",
            a_grant(
                "g4",
                other_key,
                parent_grant_id="g3",
                grantee_principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s1",
                retiring_principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s2",
            ),
        )
        call(tx.grants, "get", "g2")
        call(tx.grants, "get", "nope")
        call(tx.grants, "active_named", plain, "n")
        call(tx.grants, "delete", a_grant("g1", plain), T0 + 5)
        call(tx.grants, "delete", a_grant("g1", plain), T0 + 6)  # False: gone already
        call(tx.grants, "active_named", plain, "n")
        call(tx.keys, "grant_counts", [plain, other_key, "missing"])
        call(tx.keys, "with_most_grants", 5)
        call(tx.grants, "retirable", REGION, f"arn:aws:iam::{ACCOUNT}:user/bob", 0, 10)
        call(tx.grants, "retirable", REGION, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s2", 0, 10)
        call(tx.grants, "lineage", plain)
        call(tx.grants, "delegations", other_key)
        call(tx.grants, "of_account", ACCOUNT, REGION)
        call(tx.grants, "of_account", ACCOUNT, REGION, before_seq=3, limit=1)
        call(tx.grants, "of_account", ACCOUNT, REGION, grantee=f"arn:aws:iam::{ACCOUNT}:user/alice")
        call(tx.grants, "of_account", ACCOUNT, REGION, operation_mask=operations_mask(frozenset({"Encrypt"})))
        call(tx.grants, "forget_principal", f"arn:aws:iam::{ACCOUNT}:user/alice", "AIDAALICE")
        call(tx.grants, "forget_role_sessions", f"arn:aws:iam::{ACCOUNT}:role/r", "AROAR")
        call(tx.grants, "lineage", other_key)
        call(tx.grants, "purge", T0 + 5)  # nothing yet: deleted at T0 + 5
        call(tx.grants, "purge", T0 + 6)
        call(tx.grants, "lineage", plain)
        # identities
        alice, role = user("alice"), user("r", kind=PrincipalType.ROLE)
        call(tx.identities, "account_exists", ACCOUNT)
        call(tx.identities, "account_exists", "999999999999")
        call(tx.identities, "list_accounts")
        call(tx.identities, "add_principal", alice)
        call(tx.identities, "add_principal", role)
        call(tx.identities, "add_principal", user("Bob"))
        with pytest.raises(Exception):  # noqa: B017
            call(tx.identities, "add_principal", alice)
        call(tx.identities, "get_principal", alice.arn, for_update=True)
        call(tx.identities, "get_principal", "arn:aws:iam::1:user/none")
        call(tx.identities, "list_principals")
        call(tx.identities, "principals_page", ACCOUNT, PrincipalType.USER, None, 1)
        call(tx.identities, "principals_page", ACCOUNT, PrincipalType.USER, "Bob", 5)
        call(tx.identities, "name_taken", ACCOUNT, PrincipalType.USER, "ALICE")
        call(tx.identities, "name_taken", ACCOUNT, PrincipalType.ROLE, "alice")
        call(tx.identities, "set_trust_policy", role.arn, '{"trust": 1}')
        call(tx.identities, "put_tags", alice.arn, {"team": "x", "cost": "y"})
        call(tx.identities, "put_tags", alice.arn, {})
        call(tx.identities, "delete_tags", alice.arn, ["cost"])
        call(tx.identities, "tags", alice.arn)
        call(tx.identities, "add_access_key", AccessKey("AKIA2", alice.arn, "secret-2", T0 + 2))
        call(tx.identities, "add_access_key", AccessKey("AKIA1", alice.arn, "secret-1", T0 + 1))
        call(tx.identities, "add_access_key", AccessKey("ASIA1", role.arn, "s", T0, b"h" * 32, "s1", T0 + 60))
        call(tx.identities, "add_access_key", AccessKey("ASIA2", role.arn, "s", T0, b"i" * 32, "s2", T0 + 600))
        call(tx.identities, "get_access_key", "AKIA1")
        call(tx.identities, "get_access_key", "AKIANONE")
        call(tx.identities, "access_keys_of", alice.arn)
        call(tx.identities, "access_key_ids", role.arn)
        call(tx.identities, "set_access_key_status", "AKIA1", "Inactive")
        call(tx.identities, "record_uses", [("AKIA1", T0 + 9, REGION, "kms"), ("AKIANONE", T0, REGION, "kms")])
        call(tx.identities, "record_uses", [("AKIA1", T0 + 8, "eu-west-1", "iam")])  # older: ignored
        call(tx.identities, "record_uses", [])
        call(tx.identities, "last_used", "AKIA1")
        call(tx.identities, "last_used", "AKIA2")
        call(tx.identities, "delete_expired_sessions", T0 + 100)
        call(tx.identities, "delete_access_key", "AKIA2")
        call(tx.identities, "delete_access_key", "AKIA2")
        call(tx.identities, "put_policy", alice.arn, "b", "{}")
        call(tx.identities, "put_policy", alice.arn, "a", '{"v": 1}')
        call(tx.identities, "put_policy", alice.arn, "a", '{"v": 2}')
        call(tx.identities, "policies", alice.arn)
        call(tx.identities, "delete_policy", alice.arn, "b")
        call(tx.identities, "delete_policy", alice.arn, "b")
        call(tx.identities, "delete_principal", role.arn)
        call(tx.identities, "get_access_key", "ASIA2")
        # audit
        call(tx.audit, "insert", [an_event(n) for n in range(1, 31)])
        call(tx.audit, "events")
        call(tx.audit, "events", since=T0 + 10, limit=5)
        call(tx.audit, "events", until=T0 + 5, errors_only=True)
        call(tx.audit, "events", key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1", after_seq=10, limit=3)
        call(tx.audit, "events", principal_arn=f"arn:aws:iam::{ACCOUNT}:user/u2", event_name="Decrypt")
        call(tx.audit, "events", since=T0 + 1000)
        call(tx.audit, "newest", ACCOUNT, limit=4)
        call(tx.audit, "newest", ACCOUNT, before_seq=20, errors_only=True, since=T0 + 2, until=T0 + 25)
        call(tx.audit, "newest", OTHER, key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k0", event_name="Encrypt")
        call(tx.audit, "newest", ACCOUNT, principal_arn=f"arn:aws:iam::{ACCOUNT}:user/u1")
        call(tx.audit, "purge_before", T0 + 3)
        call(tx.audit, "purge_beyond", 100)
        call(tx.audit, "purge_beyond", 20)
        call(tx.audit, "events", limit=3)
        # import parameters and console sessions
        for n in range(4):
            parameters = ImportParameters(f"t{n}", plain, "RSAES_OAEP_SHA_256", "RSA_2048", b"pk%d" % n, T0 + 10 * n)
            call(tx.imports, "add", parameters, keep=2)
        call(tx.imports, "get", "t3", plain)
        call(tx.imports, "get", "t3", other_key)
        call(tx.imports, "get", "t0", plain)
        call(tx.imports, "purge", T0 + 25)
        call(tx.imports, "get", "t2", plain)
        sessions = [
            (b"s1", ConsoleSession(alice.arn, "AKIA1", "c1", T0, T0 + 1, "AIDALICE")),
            (b"s2", ConsoleSession(alice.arn, None, "c2", T0, T0 + 2, "AIDALICE")),
            (b"s3", ConsoleSession(f"arn:aws:iam::{ACCOUNT}:user/Bob", "AKIAB", "c3", T0, T0 + 3, "AIDBOB")),
            (b"s4", ConsoleSession(f"arn:aws:iam::{ACCOUNT}:user/Bob", None, "c4", T0, T0 + 30, "AIDBOB")),
        ]
        for token_hash, session in sessions:
            call(tx.console, "add", token_hash, session)
        call(tx.console, "touch", b"s2", T0 + 20)
        call(tx.console, "get", b"s2")
        call(tx.console, "delete", b"s2")
        call(tx.console, "delete", b"s2")
        call(tx.console, "end_for_access_key", "AKIA1")
        call(tx.console, "get", b"s1")
        call(tx.console, "purge_idle", T0 + 10)
        call(tx.console, "end_for_principal", f"arn:aws:iam::{ACCOUNT}:user/Bob")
        call(tx.console, "get", b"s4")
        call(tx.keys, "delete", mrk_primary)
        call(tx.keys, "get", ACCOUNT, REGION, MRK)
        call(tx.aliases, "count_for_key", mrk_primary)
        call.answers.append(("changes", list(tx.changes)))
    # the fast reader sees what was committed
    reader = store.reader
    call(reader, "get_key", ACCOUNT, REGION, plain)
    call(reader, "get_key", OTHER, REGION, plain)
    call(reader, "get_key_by_ref", f"{MRK}/eu-west-1")
    call(reader, "alias_target", ACCOUNT, REGION, "alias/b")
    call(reader, "alias_target", ACCOUNT, REGION, "alias/a")
    call(reader, "account_exists", OTHER)
    call(reader, "principal_exists", f"arn:aws:iam::{ACCOUNT}:user/alice")
    call(reader, "principal_exists", f"arn:aws:iam::{ACCOUNT}:role/r")
    version = call(reader, "data_version")
    call.answers.pop()  # SQLite counts commits of other connections; PostgreSQL has none: not comparable
    assert version is None or isinstance(version, int)
    call(reader, "grants_of_grantee", plain, "AIDAALICE", T0)
    call(reader, "grants_of_grantee", plain, "AIDAALICE", T0 + 100)
    call(reader, "list_grants", other_key, 0, 10)
    call(reader, "list_grants", other_key, 0, 10, grant_id="g4")
    call(reader, "list_grants", other_key, 0, 10, grantee="AIDAALICE")
    call(reader, "grant", "g4")
    call(reader, "identity_policies", f"arn:aws:iam::{ACCOUNT}:user/alice")
    changes = call(reader, "changes_after", 0, 1000)
    call(reader, "changes_after", 3, 2)
    call(reader, "changes_and_oldest", 3, 2)
    call(reader, "changes_and_oldest", 0, 1000)
    call(reader, "last_change")
    call(reader, "oldest_change")
    call(reader, "reset")
    with store.transaction() as tx:
        call(tx.feed, "purge", 0.0)  # nothing that old
        call(tx.feed, "purge", float("inf"))  # everything but the newest row
        call(tx.feed, "write")
    call(reader, "oldest_change")
    call(reader, "changes_and_oldest", 0, 10)
    assert len(changes) > 50
    return call


def _stores(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    yield "memory", MemoryStore(RootKey(generate_root_key()))  # type: ignore[misc]
    sqlite = Store(f"sqlite:///{tmp_path / 'trent.db'}", RootKey(generate_root_key()))
    sqlite.migrate()
    yield "sqlite", sqlite
    sqlite.dispose()
    admin_url = postgres_admin_url()
    if admin_url is not None:
        url, name = create_database(admin_url)
        postgres = Store(url, RootKey(generate_root_key()))
        postgres.migrate()
        try:
            yield "postgresql", postgres
        finally:
            postgres.dispose()
            drop_database(admin_url, name)


def test_every_method_answers_on_the_fake_as_on_each_database(tmp_path: Path) -> None:
    runs: dict[str, Recorder] = {}
    for name, store in _stores(tmp_path):
        runs[name] = scenario(store)
    fake = runs.pop("memory")
    every_method = {(real.__name__, name) for real, _ in PAIRS for name in public_methods(real)}
    assert every_method - fake.called == set()  # the scenario calls them all
    assert runs, "SQLite at least"
    for name, run in runs.items():
        for step, (expected, answer) in enumerate(zip(run.answers, fake.answers, strict=True)):
            assert answer == expected, (
                f"step {step}: {expected[0]} on {name} answered {expected[1]!r}, the fake {answer[1]!r}"
            )


def test_a_transaction_that_raises_leaves_the_fake_as_it_was() -> None:
    store = MemoryStore(RootKey(generate_root_key()))
    heard: list[Any] = []
    store.on_commit = heard.append
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, T0)
        raise RuntimeError
    with store.transaction(write=False) as tx:
        assert not tx.identities.account_exists(ACCOUNT)
    assert heard == [] and store.reader.last_change() == 0
    with store.transaction() as tx:
        tx.identities.add_account(ACCOUNT, T0)
    assert store.reader.account_exists(ACCOUNT) and len(heard) == 1 and store.reader.last_change() == 2

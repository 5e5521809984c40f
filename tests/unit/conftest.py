"""The stores unit tests run on: a fresh SQLite file each, and the same on PostgreSQL where one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_store import MemoryStore
from tests.server import create_database, drop_database, postgres_admin_url
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.storage.store import Store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'trent.db'}", RootKey(generate_root_key()))
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def memory_store() -> Store:
    """The fake store (tests/fake_store.py): the unit of work over dicts, for tests of handlers and caches."""
    return MemoryStore(RootKey(generate_root_key()))  # type: ignore[return-value]


def _store(kind: str, tmp_path: Path, *, migrate: bool = True) -> Iterator[Store]:
    if kind == "memory":
        yield MemoryStore(RootKey(generate_root_key()))  # type: ignore[misc]
        return
    name = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'trent.db'}"
    else:
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
        url, name = create_database(admin_url)
    store = Store(url, RootKey(generate_root_key()))
    if migrate:
        store.migrate()
    try:
        yield store
    finally:
        store.dispose()
        if name is not None:
            drop_database(postgres_admin_url() or "", name)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each database (PostgreSQL: a database of its own, dropped afterwards), and the fake
    store, which must behave as they do (what the repository tests hold it to)."""
    yield from _store(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each database, for tests of what only a database does (SQL, plans, locks)."""
    yield from _store(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on each database with no schema yet (tests of migrations)."""
    yield from _store(request.param, tmp_path, migrate=False)

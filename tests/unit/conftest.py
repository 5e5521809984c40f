"""The stores unit tests run on: a fresh SQLite file each, and the same on PostgreSQL where one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import create_database, drop_database, postgres_admin_url
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.storage.store import Store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'trent.db'}", RootKey(generate_root_key()))
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each database (PostgreSQL: a database of its own, dropped afterwards)."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'trent.db'}"
    else:
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
        url, name = create_database(admin_url)
    store = Store(url, RootKey(generate_root_key()))
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()
        if name is not None:
            drop_database(postgres_admin_url() or "", name)

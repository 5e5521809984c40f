"""`Store.migrate`: Alembic brings a store to the newest revision; a store already there is opened without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import alembic.command
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.server import create_database, drop_database, postgres_admin_url
from trent.crypto.rootkey import RootKey, generate_root_key
from trent.storage.store import HEAD_REVISION, MIGRATIONS_DIR, Store


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'trent.db'}"
    else:
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
        url, name = create_database(admin_url)
    store = Store(url, RootKey(generate_root_key()))
    try:
        yield store
    finally:
        store.dispose()
        if name is not None:
            drop_database(postgres_admin_url() or "", name)


def test_the_head_revision_is_alembics_head() -> None:
    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == HEAD_REVISION


def test_a_new_store_is_migrated_to_the_head(empty_store: Store) -> None:
    assert empty_store.schema_revision() is None
    empty_store.migrate()
    assert empty_store.schema_revision() == HEAD_REVISION
    with empty_store.transaction(write=False) as tx:
        assert tx.meta.get("root_key_check") is None  # the tables are there and answer


def test_a_store_at_the_head_is_opened_without_alembic(empty_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_store.migrate()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Alembic ran on a store already at the head")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    empty_store.migrate()
    assert empty_store.schema_revision() == HEAD_REVISION


def test_a_store_at_an_older_revision_is_brought_to_the_head(empty_store: Store) -> None:
    config = _alembic_config()
    with empty_store.engine.connect() as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, "0014")
        conn.commit()
    assert empty_store.schema_revision() == "0014"
    empty_store.migrate()
    assert empty_store.schema_revision() == HEAD_REVISION

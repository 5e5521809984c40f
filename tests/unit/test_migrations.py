"""`Store.migrate`: Alembic brings a store to the newest revision; a store already there is opened without it."""

from __future__ import annotations

import alembic.command
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from trent.storage.store import HEAD_REVISION, MIGRATIONS_DIR, Store


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def test_the_head_revision_is_alembics_head() -> None:
    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == HEAD_REVISION


def test_a_new_store_is_migrated_to_the_head(empty_database_store: Store) -> None:
    assert empty_database_store.schema_revision() is None
    empty_database_store.migrate()
    assert empty_database_store.schema_revision() == HEAD_REVISION
    with empty_database_store.transaction(write=False) as tx:
        assert tx.meta.get("root_key_check") is None  # the tables are there and answer


def test_a_store_at_the_head_is_opened_without_alembic(
    empty_database_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_database_store.migrate()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Alembic ran on a store already at the head")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    empty_database_store.migrate()
    assert empty_database_store.schema_revision() == HEAD_REVISION


def test_a_store_at_an_older_revision_is_brought_to_the_head(empty_database_store: Store) -> None:
    config = _alembic_config()
    with empty_database_store.engine.connect() as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, "0014")
        conn.commit()
    assert empty_database_store.schema_revision() == "0014"
    empty_database_store.migrate()
    assert empty_database_store.schema_revision() == HEAD_REVISION

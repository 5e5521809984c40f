from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import TrentServer, create_database, drop_database, postgres_admin_url

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "postgresql" and postgres_admin_url() is None:
        pytest.skip("PostgreSQL tests need TRENT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
    return kind


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Iterator[TrentServer]:
    """One live server shared by the API tests of a session, on each store: the API suite runs on both."""
    admin_url = postgres_admin_url()
    database = None
    store_url = None
    if store_kind == "postgresql":
        assert admin_url is not None
        store_url, database = create_database(admin_url)
    trent = TrentServer(tmp_path_factory.mktemp(f"shared-{store_kind}") / "data", store_url=store_url)
    trent.init()
    trent.start()
    yield trent
    trent.stop()
    if database is not None and admin_url is not None:
        drop_database(admin_url, database)


@pytest.fixture(scope="session")
def kms(server: TrentServer) -> Any:
    return server.client("kms")


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[TrentServer]:
    """A server of its own, for tests that restart it or change its settings."""
    trent = TrentServer(tmp_path / "data")
    yield trent
    trent.stop()

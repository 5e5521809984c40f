from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import TrentServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    """One live server (SQLite store) shared by the API tests of a session."""
    trent = TrentServer(tmp_path_factory.mktemp("shared") / "data")
    trent.init()
    trent.start()
    yield trent
    trent.stop()


@pytest.fixture(scope="session")
def kms(server: TrentServer) -> Any:
    return server.client("kms")


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[TrentServer]:
    """A server of its own, for tests that restart it or change its settings."""
    trent = TrentServer(tmp_path / "data")
    yield trent
    trent.stop()

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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


SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass
class SoftHsmToken:
    """A SoftHSM2 token of its own: the URI of a root key in it, and the environment that finds the token."""

    uri: str
    env: dict[str, str]
    pin_file: Path


#: Tokens made for each test process before its PKCS#11 library starts (SoftHSM2 reads its token directory once).
SOFTHSM_TOKENS = 12


@pytest.fixture(scope="session")
def softhsm_tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[str]]:
    """One SoftHSM2 token directory per test process, with fresh tokens that tests take one each: the library
    reads its configuration and token directory once per process."""
    if not Path(SOFTHSM_LIBRARY).exists() or shutil.which("softhsm2-util") is None:
        pytest.skip("the HSM tests need SoftHSM2: apt-get install softhsm2 (.ci/run does)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    labels = [f"trent-{uuid.uuid4().hex[:12]}" for _ in range(SOFTHSM_TOKENS)]
    for label in labels:
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", "4321", "--so-pin", "8765"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
    os.environ["SOFTHSM2_CONF"] = str(conf)  # this process's library, and the servers the tests start
    return env, labels


@pytest.fixture
def softhsm(softhsm_tokens: tuple[dict[str, str], list[str]], tmp_path: Path) -> SoftHsmToken:
    """A fresh SoftHSM2 token of its own, its PIN in a 0600 file."""
    env, labels = softhsm_tokens
    if not labels:
        pytest.fail(f"more than {SOFTHSM_TOKENS} HSM tests in one process: raise SOFTHSM_TOKENS")
    label = labels.pop()
    pin_file = tmp_path / "hsm.pin"
    pin_file.write_text("4321\n")
    pin_file.chmod(0o600)
    uri = f"pkcs11:token={label};object=trent-root-key?module-path={SOFTHSM_LIBRARY}&pin-source=file:{pin_file}"
    return SoftHsmToken(uri, env, pin_file)

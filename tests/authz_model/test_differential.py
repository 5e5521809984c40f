"""Trent's authorization against the independent model (`model.py`), on random worlds and call sequences:

- in process: the handlers over a real store, at volume (`make test`: 20,000 calls; `make soak`: 1,000,000);
- live: boto3 against `trent serve --workers 2` on SQLite and two nodes on PostgreSQL (`make test`: 2,000 calls
  each; `make soak`: 100,000), where the caches and the change feed between processes are in play too;
- with hypothesis' random source, so that a divergence shrinks to a small world and few calls.

Every divergence found becomes a named regression test (tests/security/). Reproduce a run with
TRENT_AUTHZ_SEED; change the volume with TRENT_AUTHZ_CALLS / TRENT_AUTHZ_LIVE_CALLS.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.authz_model.differential import Driver, Generator, Tally, run_sequence
from tests.authz_model.drivers import InProcessDriver, LiveDriver
from tests.server import TrentServer, create_database, drop_database, postgres_admin_url

SOAK = bool(os.environ.get("TRENT_SOAK"))
SEED = int(os.environ.get("TRENT_AUTHZ_SEED", "20261207"))
CALLS = int(os.environ.get("TRENT_AUTHZ_CALLS", 1_000_000 if SOAK else 20_000))
LIVE_CALLS = int(os.environ.get("TRENT_AUTHZ_LIVE_CALLS", 100_000 if SOAK else 2_000))
CALLS_PER_WORLD = 25


def run(driver: Driver, calls: int, seed: str) -> Tally:
    tally = Tally()
    started = time.monotonic()
    world = 0
    while tally.calls < calls and not tally.divergences:
        run_sequence(
            driver, Generator(random.Random(f"{seed}:{world}")), min(CALLS_PER_WORLD, calls - tally.calls), tally
        )
        world += 1
    print(f"\n{seed}: {world} worlds, {tally} in {time.monotonic() - started:.0f} s")
    print(f"allowed/denied per operation: {tally.coverage()}")
    return tally


def assert_no_divergence(tally: Tally) -> None:
    assert not tally.divergences, "\n".join(str(d) for d in tally.divergences[:5])


def test_the_handlers_decide_as_the_model(tmp_path: Path) -> None:
    driver = InProcessDriver(tmp_path)
    try:
        tally = run(driver, CALLS, f"in-process:{SEED}")
    finally:
        driver.close()
    assert_no_divergence(tally)
    # The generator must reach every outcome, or the comparison proves little.
    assert tally.allowed > tally.calls // 10 and tally.denied > tally.calls // 10 and tally.lockouts > 0


_shrinking_driver: list[InProcessDriver] = []


@settings(max_examples=60 if not SOAK else 2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(rnd=st.randoms(use_true_random=False))
def test_a_divergence_shrinks_to_a_small_case(tmp_path_factory: pytest.TempPathFactory, rnd: random.Random) -> None:
    if not _shrinking_driver:
        _shrinking_driver.append(InProcessDriver(tmp_path_factory.mktemp("shrinking")))
    tally = Tally()
    run_sequence(_shrinking_driver[0], Generator(rnd), 12, tally)
    assert_no_divergence(tally)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    trent = TrentServer(tmp_path_factory.mktemp("differential") / "data", extra_args=["--workers", "2"])
    trent.init()
    trent.start()
    yield trent
    trent.stop()


def test_the_live_server_with_two_workers_decides_as_the_model(workers: TrentServer) -> None:
    driver = LiveDriver([workers], seed=SEED)
    try:
        tally = run(driver, LIVE_CALLS, f"live-workers:{SEED}")
    finally:
        driver.close()
    assert_no_divergence(tally)


def test_two_live_nodes_on_postgresql_decide_as_the_model(tmp_path: Path) -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("the two-node comparison needs PostgreSQL: set TRENT_TEST_POSTGRES_URL")
    url, name = create_database(admin_url)
    root_key = base64.b64encode(os.urandom(32)).decode()
    nodes = []
    try:
        for node in ("a", "b"):
            trent = TrentServer(
                tmp_path / node,
                store_url=url,
                env={"TRENT_ROOT_KEY": root_key},
                # Read the change feed before every request: the model is strongly consistent. (The bound with a
                # refresh interval is tested in tests/security/test_caches.py.)
                extra_args=["--grant-refresh-interval", "0"],
            )
            trent.init()
            nodes.append(trent.start())
        driver = LiveDriver(nodes, seed=SEED)
        try:
            tally = run(driver, LIVE_CALLS, f"live-nodes:{SEED}")
        finally:
            driver.close()
    finally:
        for trent in nodes:
            trent.stop()
        drop_database(admin_url, name)
    assert_no_divergence(tally)

"""Crash safety (reliability issue): the server is killed with SIGKILL at random moments under concurrent load
from several clients, restarted each time, and then checked against the clients' journal: every acknowledged
write is present, every acknowledged retire/revoke stays gone, nothing unacknowledged is half-present, and every
ciphertext Encrypt returned decrypts. On SQLite and on PostgreSQL.

`make test` runs it small (20 kills per store). TRENT_SOAK=1 runs ten times as many kills; TRENT_CRASH_SEED
replays a run's kill moments and operation choices (the interleaving of the clients differs). The figures are
printed in a line starting with "CRASH-SAFETY SUMMARY" (see them with `pytest -s` or `-rP`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import (
    ACCOUNT,
    GRANTEE_USER,
    OPERATIONS,
    ApiVerifier,
    Call,
    Checks,
    CrashLoop,
    Journal,
    KeyAttempt,
    LoadClient,
    LoadControl,
    Outcome,
    calls_across_kills,
    check_store_against_journal,
    check_store_invariants,
    kms_client,
    store_engine,
)
from tests.server import TrentServer, create_database, drop_database, postgres_admin_url

SOAK = os.environ.get("TRENT_SOAK") == "1"
KILLS = 200 if SOAK else 20
CLIENTS = 4


@pytest.fixture
def crash_server(store_kind: str, tmp_path: Path) -> Iterator[TrentServer]:
    """A server of its own on a fresh store (a fresh PostgreSQL database, dropped afterwards)."""
    admin_url = postgres_admin_url()
    store_url = database = None
    if store_kind == "postgresql":
        assert admin_url is not None
        store_url, database = create_database(admin_url)
    server = TrentServer(tmp_path / "data", store_url=store_url)
    try:
        yield server
    finally:
        server.stop()
        if database is not None and admin_url is not None:
            drop_database(admin_url, database)


def check_invariants(server: TrentServer, checks: Checks, when: str) -> None:
    engine = store_engine(server)
    try:
        check_store_invariants(engine, checks, when)
    finally:
        engine.dispose()


@pytest.mark.timeout(7200 if SOAK else 300)
def test_sigkill_under_load_loses_nothing_acknowledged(store_kind: str, crash_server: TrentServer) -> None:
    began = time.monotonic()
    seed = int(os.environ.get("TRENT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash-safety on {store_kind}: seed {seed} (TRENT_CRASH_SEED={seed} replays it), {KILLS} kills")
    server = crash_server
    server.init()
    grantee = server.admin("user", "create", ACCOUNT, GRANTEE_USER)
    server.start()

    # A first key, made before the load: it also tells what the default key policy is.
    admin = kms_client(server)
    probe = admin.create_key(Description="crash-key-probe")
    probe_key = probe["KeyMetadata"]
    initial_policy = admin.get_key_policy(KeyId=probe_key["KeyId"], PolicyName="default")["Policy"]
    journal = Journal()
    probe_call = Call("CreateKey", 0.0, 0.0, Outcome.ACKED, probe)
    journal.add_key(KeyAttempt("crash-key-probe", probe_call, probe_key["KeyId"], probe_key["Arn"]))

    checks = Checks()
    control = LoadControl()
    clients = [LoadClient(i, server, journal, grantee["Arn"], seed + 1 + i, control) for i in range(CLIENTS)]

    def stop_clients() -> None:
        control.stop.set()
        for client in clients:
            client.join(timeout=60)

    loop = CrashLoop(
        server,
        journal,
        control,
        random.Random(seed),
        KILLS,
        after_kill=lambda number: check_invariants(server, checks, f"after kill {number}"),
    )
    load_began = time.monotonic()
    for client in clients:
        client.start()
    try:
        loop.run(last=stop_clients)
    finally:
        control.stop.set()
    load_seconds = time.monotonic() - load_began
    for client in clients:
        assert not client.is_alive(), f"{client.name} did not stop"
        assert client.failure is None, f"{client.name} failed:\n{client.failure}"

    # The store as the last crash left it: everything in it was asked for, acknowledged writes are all there.
    engine = store_engine(server)
    try:
        findings = check_store_against_journal(engine, journal, checks)
    finally:
        engine.dispose()

    # The restarted server serves everything acknowledged, and what it authorizes agrees with what it lists.
    server.start()
    ApiVerifier(
        server,
        journal,
        checks,
        (grantee["AccessKeyId"], grantee["SecretAccessKey"]),
        initial_policy,
    ).run(findings.unacknowledged_keys)
    server.stop()
    check_invariants(server, checks, "after a clean stop")

    for call in journal.calls:
        checks.check(
            "client: one attempt per request",
            call.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) == 0,
            f"{call.operation} was retried",
        )
        checks.check(
            "client: no request of the load refused",
            call.outcome is not Outcome.REJECTED,
            f"{call.operation} was refused with {call.error}",
        )
    outcomes = journal.outcomes()
    for operation in OPERATIONS:
        checks.check(
            "client: each operation acknowledged at least once",
            outcomes[operation][Outcome.ACKED] > 0,
            f"no {operation} was acknowledged: the run exercised nothing",
        )
    total_seconds = time.monotonic() - began

    print("checks made, by kind:")
    for kind, count in sorted(checks.made.items()):
        print(f"  {count:7d}  {kind}")
    print("errors seen by the clients:", dict(journal.errors().most_common()) or "none")
    print("requests under way at a kill ended:", dict(calls_across_kills(journal, loop.kill_times).most_common()))
    print("unacknowledged writes found applied:", dict(findings.unacknowledged_applied) or "none")
    acked = " ".join(f"{operation}={outcomes[operation][Outcome.ACKED]}" for operation in OPERATIONS)
    unknown = " ".join(f"{operation}={outcomes[operation][Outcome.UNKNOWN]}" for operation in OPERATIONS)
    rejected = sum(counts[Outcome.REJECTED] for counts in outcomes.values())
    cut = sum(call.cut for call in journal.calls)
    print(
        f"CRASH-SAFETY SUMMARY store={store_kind} seed={seed} kills={loop.done} "
        f"(during writes={loop.during_writes}, requests cut={cut}, "
        f"unacknowledged writes applied={sum(findings.unacknowledged_applied.values())}) clients={CLIENTS} "
        f"load={load_seconds:.1f}s downtime={loop.downtime:.1f}s total={total_seconds:.1f}s | "
        f"acknowledged: {acked} | unknown: {unknown} | rejected={rejected} | "
        f"ciphertexts={len(journal.ciphertexts)} checks={checks.total} failures={len(checks.failures)}"
    )
    assert loop.done >= KILLS
    assert not checks.failures, f"seed {seed}: {checks.report()}"

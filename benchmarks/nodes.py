"""On-demand benchmark: the read path (Encrypt, Decrypt, Decrypt by grant token on a key with one grant and on a
key with 50,000) against one node over SQLite, one node over PostgreSQL and two nodes over one PostgreSQL, each
measured in the same run (wrk replaying pre-signed requests).

    python benchmarks/nodes.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--duration 8]

For every deployment and operation it prints requests/s, latency, and CPU per request: the nodes' own (every
process of each node) and PostgreSQL's (every `postgres` process of the machine), then each PostgreSQL figure as
a ratio of the SQLite node's. Each node runs with one worker, so "two nodes" also means two processes; on a
2-core machine that hosts the load generator and the database too, the figures show what a node costs over each
store and that nodes share one database correctly, not how far a fleet of real machines scales.

Decrypt by grant is Decrypt by a user whose only permission is a grant, naming it by its token (as a client that
was just given the grant does); the 49,999 other grants on the second key are seeded straight into the store,
spread over 5,000 other grantees.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grants import ACCOUNT, GRANTEES, GRANTS, presign, seed_grants, wrk
from trent_process import TrentProcess

OPERATIONS = ("Encrypt", "Decrypt", "Decrypt by grant, 1 grant", f"Decrypt by grant, {GRANTS:,} grants")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU accounting ---------------------------------------------------------------------------------------------
def _stat(pid: str) -> tuple[str, int, int] | None:
    """(name, parent pid, user + system ticks) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, _, rest = text.partition(" (")[2].rpartition(")")
    fields = rest.split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_seconds(roots: list[int]) -> tuple[float, float]:
    """(CPU of the processes `roots` and their descendants, CPU of every PostgreSQL process), in seconds."""
    table = {pid: stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(int(pid))
    nodes = 0
    pending = list(roots)
    while pending:
        pid = pending.pop()
        stat = table.get(str(pid))
        if stat is not None:
            nodes += stat[2]
        pending.extend(children.get(pid, []))
    database = sum(ticks for name, _, ticks in table.values() if name == "postgres")
    return nodes / CLOCK_TICKS, database / CLOCK_TICKS


# --- setup --------------------------------------------------------------------------------------------------------
def _engine_url(url: str | None, node: TrentProcess) -> str:
    if url is None:
        return f"sqlite:///{node.data / 'trent.db'}"
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def request_pools(nodes: list[TrentProcess], store: str | None) -> dict[str, list[list[Any]]]:
    """For each operation, a pool of pre-signed requests per node."""
    admin_credentials = nodes[0].credentials()
    admin = nodes[0].client(*admin_credentials)
    user = nodes[0].admin("user", "create", ACCOUNT, f"bench-{uuid.uuid4().hex[:6]}")
    user_credentials = (user["AccessKeyId"], user["SecretAccessKey"])
    plaintexts = [os.urandom(1024) for _ in range(16)]

    def ciphertexts(key: str) -> list[dict[str, Any]]:
        return [
            {"CiphertextBlob": base64.b64encode(admin.encrypt(KeyId=key, Plaintext=p)["CiphertextBlob"]).decode()}
            for p in plaintexts
        ]

    key = admin.create_key()["KeyMetadata"]["KeyId"]
    crowded = admin.create_key()["KeyMetadata"]["KeyId"]
    seed_grants(_engine_url(store, nodes[0]), crowded, GRANTS - 1, GRANTEES)  # the caller's own grant is the last
    documents: dict[str, tuple[tuple[str, str], str, list[dict[str, Any]]]] = {
        "Encrypt": (
            admin_credentials,
            "Encrypt",
            [{"KeyId": key, "Plaintext": base64.b64encode(p).decode()} for p in plaintexts],
        ),
        "Decrypt": (admin_credentials, "Decrypt", ciphertexts(key)),
    }
    for operation, key_id in ((OPERATIONS[2], key), (OPERATIONS[3], crowded)):
        token = admin.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Decrypt"])["GrantToken"]
        bodies = [{**body, "GrantTokens": [token]} for body in ciphertexts(key_id)]
        documents[operation] = (user_credentials, "Decrypt", bodies)
    return {
        operation: [presign(node.endpoint, credentials, target, bodies) for node in nodes]
        for operation, (credentials, target, bodies) in documents.items()
    }


# --- measuring ----------------------------------------------------------------------------------------------------
@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    node_us: float  # CPU of the nodes per request
    database_us: float  # CPU of PostgreSQL per request


def measure(nodes: list[TrentProcess], pools: list[list[Any]], duration: float, connections: int) -> Result:
    """Every node under load at once, `connections` in all."""
    for node, pool in zip(nodes, pools, strict=True):
        wrk(node.endpoint, pool, 2, max(1, connections // len(nodes)))  # warm up
    results: list[dict[str, Any]] = [{} for _ in nodes]

    def run(index: int) -> None:
        results[index] = wrk(nodes[index].endpoint, pools[index], duration, max(1, connections // len(nodes)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(nodes))]
    roots = [node.process.pid for node in nodes]
    nodes_before, database_before = cpu_seconds(roots)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    nodes_after, database_after = cpu_seconds(roots)
    requests = sum(r["requests"] for r in results)
    return Result(
        rps=sum(r["rps"] for r in results),
        p50_ms=max(r["p50_us"] for r in results) / 1000,
        p99_ms=max(r["p99_us"] for r in results) / 1000,
        non_2xx=sum(r["non_2xx"] for r in results),
        node_us=(nodes_after - nodes_before) / requests * 1e6,
        database_us=(database_after - database_before) / requests * 1e6,
    )


def deployment(label: str, store: str | None, count: int, root_key: str, args: argparse.Namespace) -> dict[str, Result]:
    nodes = [TrentProcess(store=store, env={"TRENT_ROOT_KEY": root_key}) for _ in range(count)]
    try:
        pools = request_pools(nodes, store)
        time.sleep(1.5)  # every node's feed reader has seen the grants
        results = {}
        for operation in OPERATIONS:
            results[operation] = measure(nodes, pools[operation], args.duration, args.connections)
            r = results[operation]
            print(
                f"{label:26s} {operation:32s} {r.rps:8,.0f} req/s  p99 {r.p99_ms:6.2f} ms  "
                f"node {r.node_us:5.0f} µs + PostgreSQL {r.database_us:4.0f} µs a request  non-2xx {r.non_2xx}",
                flush=True,
            )
        return results
    finally:
        for node in nodes:
            node.stop()


def fresh_database(url: str) -> str:
    database = f"trent_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
    return database


def drop_database(url: str, database: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("TRENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    root_key = base64.b64encode(os.urandom(32)).decode()
    table: dict[str, dict[str, Result]] = {}
    for label, on_postgres, count in (
        ("1 node, SQLite", False, 1),
        ("1 node, PostgreSQL", True, 1),
        ("2 nodes, one PostgreSQL", True, 2),
    ):
        database = fresh_database(args.postgres) if on_postgres else None
        store = args.postgres.rpartition("/")[0] + "/" + database if database else None
        try:
            table[label] = deployment(label, store, count, root_key, args)
        finally:
            if database is not None:
                drop_database(args.postgres, database)
    baseline = table["1 node, SQLite"]
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration:.0f}s in all (split between the nodes), 1 KiB, SigV4\n")
    print(
        "| operation | deployment | requests/s | p50 ms | p99 ms | non-2xx | node CPU µs/req | PostgreSQL CPU µs/req "
        "| SQLite node's req/s ÷ this | this CPU ÷ SQLite node's |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for operation in OPERATIONS:
        base = baseline[operation]
        for label, results in table.items():
            r = results[operation]
            slower = base.rps / r.rps if r.rps else float("inf")
            costlier = (r.node_us + r.database_us) / (base.node_us + base.database_us)
            print(
                f"| {operation} | {label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.non_2xx} "
                f"| {r.node_us:.0f} | {r.database_us:.0f} | {slower:.2f}x | {costlier:.2f}x |"
            )


if __name__ == "__main__":
    main()

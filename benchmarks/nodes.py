"""On-demand benchmark: the Decrypt-by-grant load against one node over SQLite, one node over PostgreSQL and
two nodes over one PostgreSQL, side by side (wrk replaying pre-signed requests).

    python benchmarks/nodes.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--duration 10]

Each node runs with one worker, so "two nodes" also means two processes; on a 2-core machine that hosts the
load generator too, the figures show that nodes share one database correctly and what it costs, not how far a
fleet of real machines scales.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boto3
from botocore.config import Config
from grants import ACCOUNT, presign, wrk
from trent_process import TrentProcess


def scenario(nodes: list[TrentProcess], duration: float, connections: int) -> dict[str, float]:
    """Set up a key, a grant to a user and a ciphertext, then run Decrypt-by-grant on every node at once."""
    admin = boto3.client(
        "kms",
        endpoint_url=nodes[0].endpoint,
        region_name="us-east-1",
        aws_access_key_id=nodes[0].credentials()[0],
        aws_secret_access_key=nodes[0].credentials()[1],
        config=Config(retries={"max_attempts": 1}),
    )
    user = nodes[0].admin("user", "create", ACCOUNT, f"bench-{uuid.uuid4().hex[:6]}")
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    admin.create_grant(KeyId=key, GranteePrincipal=user["Arn"], Operations=["Decrypt"])
    blob = admin.encrypt(KeyId=key, Plaintext=os.urandom(1024))["CiphertextBlob"]
    body = {"CiphertextBlob": base64.b64encode(blob).decode()}
    pools = [presign(n.endpoint, (user["AccessKeyId"], user["SecretAccessKey"]), "Decrypt", [body] * 4) for n in nodes]
    time.sleep(1.5)  # let every node's grant view catch up
    for node, pool in zip(nodes, pools, strict=True):
        wrk(node.endpoint, pool, 2, connections)  # warm up
    results: list[dict[str, Any]] = [{} for _ in nodes]

    def run(index: int) -> None:
        results[index] = wrk(nodes[index].endpoint, pools[index], duration, connections // len(nodes))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "rps": sum(r["rps"] for r in results),
        "p50_ms": max(r["p50_us"] for r in results) / 1000,
        "p99_ms": max(r["p99_us"] for r in results) / 1000,
        "non_2xx": sum(r["non_2xx"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("TRENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    root_key = base64.b64encode(os.urandom(32)).decode()
    rows = []
    for label, store, count in (
        ("1 node, SQLite", None, 1),
        ("1 node, PostgreSQL", "pg", 1),
        ("2 nodes, one PostgreSQL", "pg", 2),
    ):
        database = None
        url = None
        if store == "pg":
            database = f"trent_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
            url = args.postgres.rpartition("/")[0] + "/" + database
        nodes = [TrentProcess(store=url, env={"TRENT_ROOT_KEY": root_key}) for _ in range(count)]
        try:
            rows.append((label, scenario(nodes, args.duration, args.connections)))
        finally:
            for node in nodes:
                node.stop()
            if database is not None:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # type: ignore[arg-type]
    print(f"\nDecrypt authorized by a grant, 1 KiB; wrk -t2 -c{args.connections} -d{args.duration:.0f}s in all\n")
    print("| deployment | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for label, stats in rows:
        print(
            f"| {label} | {stats['rps']:.0f} | {stats['p50_ms']:.2f} | {stats['p99_ms']:.2f} | {stats['non_2xx']:.0f} |"
        )


if __name__ == "__main__":
    main()

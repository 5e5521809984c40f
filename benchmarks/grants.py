"""On-demand benchmark of grants at scale, over HTTP with SigV4 (wrk replaying pre-signed requests).

    python benchmarks/grants.py [--duration 10] [--connections 16] [--workers 2] [--only create]

1. Decrypt authorized by a grant, on a key with one grant versus a key with 50,000 grants spread over
   5,000 grantees (the caller holds 10 of them). Target: within 1.5x.
2. ListGrants (100 per page) of the first page versus page 500, the last of 50,000 grants: over HTTP and
   inside the server (the handler alone). Target: within 1.5x.
3. CreateGrant throughput on one node. Target: at least 500 requests/s (AWS's quota is 50/s).

The 50,000 grants are seeded straight into the store (as the issue allows); everything measured goes
through the API. Requires `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from trent_process import REGION, TrentProcess

HERE = Path(__file__).resolve().parent
LUA = HERE / "kms.lua"
ACCOUNT = "000000000000"
GRANTS = 50_000
GRANTEES = 5_000


def presign(endpoint: str, credentials: tuple[str, str], target: str, bodies: list[dict[str, Any]]) -> list[Any]:
    pool = []
    for body in bodies:
        data = json.dumps(body).encode()
        request = AWSRequest(
            method="POST",
            url=endpoint + "/",
            data=data,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
        )
        SigV4Auth(Credentials(*credentials), "kms", REGION).add_auth(request)
        headers = {name: str(value) for name, value in request.headers.items()}
        headers["Host"] = endpoint.removeprefix("http://")  # the canonical host the signature covers
        pool.append({"headers": headers, "body": data.decode()})
    return pool


def check(endpoint: str, pool: list[Any]) -> None:
    """Each pooled request must succeed once before it is replayed: a benchmark of errors is worthless."""
    import http.client

    host, port = endpoint.removeprefix("http://").split(":")
    for item in pool[:1]:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", "/", body=item["body"].encode(), headers=item["headers"])
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"pre-signed request failed: {response.status} {body[:300]!r}")


def wrk(endpoint: str, pool: list[Any], duration: float, connections: int) -> dict[str, Any]:
    check(endpoint, pool)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write("return " + _lua(pool))
        pool_file = handle.name
    try:
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "-s", str(LUA), endpoint],
            capture_output=True,
            text=True,
            env={**os.environ, "BENCH_POOL": pool_file},
            check=True,
        )
    finally:
        os.unlink(pool_file)
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    stats: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def _lua(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    return json.dumps(value)


def seed_grants(url: str, key_id: str, count: int, grantees: int, extra_for: str = "", extra: int = 0) -> None:
    """`count` grants on the key over `grantees` grantees, `extra` of them to `extra_for` (Encrypt only), straight
    into the store at the SQLAlchemy `url`."""
    engine = sa.create_engine(url)
    now = time.time()
    rows = []
    for i in range(count):
        grantee = extra_for if i < extra else f"arn:aws:iam::{ACCOUNT}:user/grantee-{i % grantees}"
        rows.append(
            {
                "grant_id": secrets.token_hex(32),
                "key_id": key_id,
                "key_account": ACCOUNT,
                "key_region": REGION,
                "grantee_principal": grantee,
                "issuing_account": ACCOUNT,
                "operations": 2,
                "creation_date": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO grants (grant_id, key_id, key_account, key_region, grantee_principal, issuing_account, "
                "operations, creation_date) VALUES (:grant_id, :key_id, :key_account, :key_region, "
                ":grantee_principal, :issuing_account, :operations, :creation_date)"
            ),
            rows,
        )
        conn.execute(
            sa.text("UPDATE keys SET grant_count = grant_count + :n WHERE key_id = :k"), {"n": count, "k": key_id}
        )
        if url.startswith("postgresql"):
            conn.execute(sa.text("ANALYZE grants"))  # as autovacuum would after a bulk load
    engine.dispose()


def create_grant_throughput(
    server: TrentProcess, kms: Any, admin_credentials: tuple[str, str], user: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    target_key = kms.create_key()["KeyMetadata"]["KeyId"]
    pool = presign(
        server.endpoint,
        admin_credentials,
        "CreateGrant",
        [{"KeyId": target_key, "GranteePrincipal": user["Arn"], "Operations": ["Decrypt"]}] * 4,
    )
    wrk(server.endpoint, pool, 2, args.connections)  # warm-up
    return wrk(server.endpoint, pool, args.duration, args.connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    parser.add_argument("--only", choices=["create"], help="measure CreateGrant throughput only (no seeding)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    server = TrentProcess(workers=args.workers, env={"TRENT_SQLITE_SYNCHRONOUS": args.sqlite_synchronous})
    try:
        admin_credentials = server.credentials()
        kms = server.client(*admin_credentials)
        user = server.admin("user", "create", ACCOUNT, "grantee-user")
        user_credentials = (user["AccessKeyId"], user["SecretAccessKey"])
        if args.only == "create":
            create = create_grant_throughput(server, kms, admin_credentials, user, args)
            print(f"CreateGrant: {create['rps']:.0f} requests/s (target >= 500), p50 {create['p50_us'] / 1000:.2f} ms")
            return
        small = kms.create_key()["KeyMetadata"]["KeyId"]
        large = kms.create_key()["KeyMetadata"]["KeyId"]
        for key_id in (small, large):
            kms.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Decrypt"])
        seed_grants(f"sqlite:///{server.data / 'trent.db'}", large, GRANTS - 1, GRANTEES, user["Arn"], 9)
        blobs = {k: kms.encrypt(KeyId=k, Plaintext=os.urandom(1024))["CiphertextBlob"] for k in (small, large)}
        rows = []

        # 1. Decrypt by grant.
        decrypt = {}
        for label, key_id in (("1 grant on the key", small), ("50,000 grants on the key", large)):
            pool = presign(
                server.endpoint,
                user_credentials,
                "Decrypt",
                [{"CiphertextBlob": base64.b64encode(blobs[key_id]).decode()}] * 4,
            )
            wrk(server.endpoint, pool, 2, args.connections)  # warm-up: loads the key's grants into each view
            decrypt[label] = wrk(server.endpoint, pool, args.duration, args.connections)
            rows.append((f"Decrypt by grant, {label}", decrypt[label]))
        ratio_decrypt = decrypt["1 grant on the key"]["rps"] / decrypt["50,000 grants on the key"]["rps"]

        # 2. ListGrants, page 1 versus page 500.
        marker = None
        for _ in range(499):
            page = kms.list_grants(KeyId=large, Limit=100, **({"Marker": marker} if marker else {}))
            marker = page["NextMarker"]
        last = kms.list_grants(KeyId=large, Limit=100, Marker=marker)
        assert len(last["Grants"]) == 100 and not last["Truncated"], "page 500 should be the last full page"
        listing = {}
        for label, body in (
            ("page 1", {"KeyId": large, "Limit": 100}),
            ("page 500", {"KeyId": large, "Limit": 100, "Marker": marker}),
        ):
            pool = presign(server.endpoint, admin_credentials, "ListGrants", [body] * 4)
            listing[label] = wrk(server.endpoint, pool, args.duration, args.connections)
            rows.append((f"ListGrants (100 per page) {label} of 500", listing[label]))
        ratio_list = listing["page 500"]["p50_us"] / listing["page 1"]["p50_us"]
        in_process = handler_times(server.data, large, marker)

        # 3. CreateGrant throughput.
        create = create_grant_throughput(server, kms, admin_credentials, user, args)
        rows.append(("CreateGrant", create))

        print(
            f"\nTrent, {args.workers} workers, SQLite (synchronous={args.sqlite_synchronous}); "
            f"wrk -t2 -c{args.connections} -d{args.duration:.0f}s\n"
        )
        print("| measurement | requests/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        for label, stats in rows:
            print(
                f"| {label} | {stats['rps']:.0f} | {stats['p50_us'] / 1000:.2f} | {stats['p99_us'] / 1000:.2f} "
                f"| {stats['non_2xx']} |"
            )
        print(f"\nDecrypt: 1-grant key / 50,000-grant key throughput = {ratio_decrypt:.2f}x (target <= 1.5x)")
        print(f"ListGrants over HTTP: page 500 / page 1 p50 = {ratio_list:.2f}x (target <= 1.5x)")
        print(
            f"ListGrants handler alone: page 1 {in_process[0]:.0f} us, page 500 {in_process[1]:.0f} us, "
            f"ratio {in_process[1] / in_process[0]:.2f}x"
        )
        print(f"CreateGrant: {create['rps']:.0f} requests/s (target >= 500)")
    finally:
        server.stop()


def handler_times(data: Path, key_id: str, marker: str) -> tuple[float, float]:
    """Microseconds of the ListGrants handler for page 1 and page 500, in this process."""
    from trent.api import grants
    from trent.api.context import RequestContext
    from trent.bootstrap import build_services, build_store
    from trent.config import Settings
    from trent.domain.identities import Caller

    settings = Settings(data_dir=data)
    store = build_store(settings)
    services = build_services(settings, store)
    ctx = RequestContext(caller=Caller.account_root(ACCOUNT, "bench"), region=REGION, request_id="bench")
    first = {"KeyId": key_id, "Limit": 100}
    later = {"KeyId": key_id, "Limit": 100, "Marker": marker}
    results = []
    for request in (first, later):
        grants.list_grants(services, ctx, request)
        results.append(
            min(timeit.repeat(lambda r=request: grants.list_grants(services, ctx, r), number=50, repeat=5)) / 50 * 1e6
        )
    store.dispose()
    return results[0], results[1]


if __name__ == "__main__":
    main()

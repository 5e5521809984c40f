"""Memory stays flat under a long mixed load: every worker's RSS after 1,000,000 requests is within 10 % of what
it was after 100,000 (`make soak`); `make test` runs the same with 10,000 and 60,000.

The load is wrk replaying SigV4-signed requests (`benchmarks/kms.lua`, the pool re-signed before every run, a
signature being good for five minutes): Encrypt, Decrypt, Decrypt by a grantee with a grant token, GenerateDataKey
and DescribeKey, on the product's default number of workers (one per usable core).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server import REGION, TrentServer

SOAK = os.environ.get("TRENT_SOAK") == "1"
FIRST, TOTAL = (100_000, 1_000_000) if SOAK else (10_000, 60_000)
LUA_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kms.lua"
#: Requests per wrk run: a run must end well within the five minutes a signature is good for.
RUN_SECONDS = 60


def worker_rss_kib(server_pid: int) -> dict[int, int]:
    """VmRSS of every worker process of `trent serve` (uvicorn's children), by pid."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    rss = {}
    for pid in map(int, children):
        if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
            continue  # multiprocessing's helper, not a worker
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            rss[pid] = int(match.group(1))
    return rss


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Wrk:
    def __init__(self, server: TrentServer, pool_path: Path) -> None:
        self.server = server
        self.pool_path = pool_path
        self.requests: list[tuple[str, bytes, tuple[str, str]]] = []

    def add(self, target: str, document: dict[str, object], credentials: tuple[str, str]) -> None:
        self.requests.append((target, json.dumps(document).encode(), credentials))

    def _write_pool(self) -> None:
        lines = ["return {"]
        for target, body, (access_key, secret_key) in self.requests:
            request = AWSRequest(
                method="POST",
                url=self.server.endpoint + "/",
                data=body,
                headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
            )
            SigV4Auth(Credentials(access_key, secret_key), "kms", REGION).add_auth(request)
            headers = {name: str(value) for name, value in request.headers.items()}
            headers["Host"] = f"127.0.0.1:{self.server.port}"
            fields = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
            lines.append(f"  {{headers = {{{fields}}}, body = {lua_string(body.decode())}}},")
        lines.append("}")
        self.pool_path.write_text("\n".join(lines) + "\n")

    def run(self, seconds: int) -> dict[str, int]:
        self._write_pool()
        output = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(LUA_SCRIPT), self.server.endpoint + "/"],
            env={**os.environ, "BENCH_POOL": str(self.pool_path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(line for line in output.splitlines() if line.startswith("BENCH_RESULT "))
        result: dict[str, int] = json.loads(line.removeprefix("BENCH_RESULT "))
        return result

    def send(self, requests: int, rate: float) -> int:
        """About `requests` more requests, in runs of at most RUN_SECONDS; the number sent."""
        sent = 0
        while sent < requests:
            seconds = max(1, min(RUN_SECONDS, round((requests - sent) / rate)))
            result = self.run(seconds)
            assert result["non_2xx"] == 0 and result["connect"] + result["read"] + result["timeout"] == 0, result
            sent += result["requests"]
        return sent


@pytest.mark.serial  # a long load: run alone (make test runs these after the others)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install wrk; .ci/run installs it)")
def test_every_workers_memory_is_flat_from_a_hundred_thousand_requests_to_a_million(tmp_path: Path) -> None:
    server = TrentServer(tmp_path / "data", workers=None)  # the default: one worker per usable core
    server.init()
    server.start()
    try:
        admin = server.admin_credentials()
        kms = server.client("kms")
        iam = server.client("iam")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        user = iam.create_user(UserName="grantee")["User"]
        access = iam.create_access_key(UserName="grantee")["AccessKey"]
        grantee = (access["AccessKeyId"], access["SecretAccessKey"])
        token = kms.create_grant(KeyId=key, GranteePrincipal=user["Arn"], Operations=["Decrypt"])["GrantToken"]
        plaintext = base64.b64encode(os.urandom(1024)).decode()
        wrk = Wrk(server, tmp_path / "pool.lua")
        for n in range(8):
            context = {"n": str(n)}
            blob = kms.encrypt(KeyId=key, Plaintext=os.urandom(512), EncryptionContext=context)["CiphertextBlob"]
            blob_text = base64.b64encode(blob).decode()
            wrk.add("Encrypt", {"KeyId": key, "Plaintext": plaintext, "EncryptionContext": context}, admin)
            wrk.add("Decrypt", {"CiphertextBlob": blob_text, "EncryptionContext": context}, admin)
            wrk.add(
                "Decrypt",
                {"CiphertextBlob": blob_text, "EncryptionContext": context, "GrantTokens": [token]},
                grantee,
            )
            wrk.add("GenerateDataKey", {"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": context}, admin)
            wrk.add("DescribeKey", {"KeyId": key, "GrantTokens": [token] * (n % 2)}, admin)
        assert server.process is not None
        pid = server.process.pid

        warmup = wrk.run(5)
        rate = warmup["requests"] / 5
        sent = warmup["requests"] + wrk.send(FIRST - warmup["requests"], rate)
        after_first = worker_rss_kib(pid)
        sent += wrk.send(TOTAL - sent, rate)
        after_total = worker_rss_kib(pid)
    finally:
        server.stop()

    print(
        f"MEMORY: {sent:,} requests at ~{rate:,.0f}/s; worker RSS after {FIRST:,}: "
        f"{sorted(v // 1024 for v in after_first.values())} MiB; after {sent:,}: "
        f"{sorted(v // 1024 for v in after_total.values())} MiB"
    )
    assert len(after_first) == (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    assert after_total.keys() == after_first.keys()  # no worker was replaced meanwhile
    for worker, first in after_first.items():
        assert after_total[worker] <= first * 1.10, f"worker {worker}: {first} KiB -> {after_total[worker]} KiB"

"""Sustained mixed load at 80% of measured capacity: p99 latency stays bounded and memory stays flat.

`make test` runs it for 30 s; `make soak` (TRENT_SOAK=1) for 10 minutes. Requests are signed once with
botocore and replayed (a signature is valid for 5 minutes; the soak re-signs every minute), so the load
generator costs little next to the server.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import threading
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server import REGION, TrentServer

SOAK = os.environ.get("TRENT_SOAK") == "1"
DURATION = 600.0 if SOAK else 30.0
THREADS = 4


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Load:
    def __init__(self, server: TrentServer, bodies: list[tuple[str, bytes]]) -> None:
        self.server = server
        self.bodies = bodies
        self.access_key, self.secret_key = server.admin_credentials()
        self.signed: list[tuple[bytes, dict[str, str]]] = []
        self.sign()

    def sign(self) -> None:
        signed = []
        for target, body in self.bodies:
            request = AWSRequest(
                method="POST",
                url=self.server.endpoint + "/",
                data=body,
                headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
            )
            SigV4Auth(Credentials(self.access_key, self.secret_key), "kms", REGION).add_auth(request)
            signed.append((body, dict(request.prepare().headers.items())))
        self.signed = signed

    def run(self, seconds: float, rate: float | None) -> tuple[list[float], int]:
        """Send for `seconds` (at `rate` requests/s in all, or as fast as possible); (latencies, errors)."""
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + seconds
        interval = THREADS / rate if rate else 0.0

        def worker(offset: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            mine: list[float] = []
            index = offset
            next_send = time.monotonic()
            last_sign = time.monotonic()
            while time.monotonic() < deadline:
                if interval:
                    pause = next_send - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    next_send += interval
                if SOAK and offset == 0 and time.monotonic() - last_sign > 60:
                    self.sign()
                    last_sign = time.monotonic()
                body, headers = self.signed[index % len(self.signed)]
                index += 1
                started = time.perf_counter()
                try:
                    connection.request("POST", "/", body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except OSError:
                    ok = False
                    connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                mine.append(time.perf_counter() - started)
                if not ok:
                    with lock:
                        errors[0] += 1
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return latencies, errors[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@pytest.mark.serial  # measures time: run alone (make test runs these after the others)
def test_sustained_mixed_load(fresh_server: TrentServer) -> None:
    fresh_server.init()
    fresh_server.start()
    kms = fresh_server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"p" * 1024, EncryptionContext={"a": "b"})["CiphertextBlob"]
    plaintext = base64.b64encode(b"p" * 1024).decode()
    bodies = [
        ("Encrypt", json.dumps({"KeyId": key, "Plaintext": plaintext, "EncryptionContext": {"a": "b"}}).encode()),
        (
            "Decrypt",
            json.dumps({"CiphertextBlob": base64.b64encode(blob).decode(), "EncryptionContext": {"a": "b"}}).encode(),
        ),
        ("GenerateDataKey", json.dumps({"KeyId": key, "KeySpec": "AES_256"}).encode()),
        ("DescribeKey", json.dumps({"KeyId": key}).encode()),
    ]
    load = Load(fresh_server, bodies)
    load.run(2.0, None)  # warm up
    assert fresh_server.process is not None
    pid = fresh_server.process.pid
    latencies, errors = load.run(5.0, None)
    capacity = len(latencies) / 5.0
    assert errors == 0
    rss_start = rss_kib(pid)
    latencies, errors = load.run(DURATION, capacity * 0.8)
    rss_end = rss_kib(pid)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    achieved = len(latencies) / DURATION
    print(
        f"LOAD SUMMARY: capacity {capacity:.0f} req/s, ran {DURATION:.0f} s at {achieved:.0f} req/s "
        f"({len(latencies)} requests, {errors} errors), p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
        f"RSS {rss_start / 1024:.1f} MiB -> {rss_end / 1024:.1f} MiB"
    )
    assert errors == 0
    assert achieved >= capacity * 0.6  # the server kept up with the offered load
    assert p99 < 0.25, f"p99 {p99 * 1000:.1f} ms"
    assert rss_end - rss_start < 64 * 1024, f"RSS grew from {rss_start} KiB to {rss_end} KiB"

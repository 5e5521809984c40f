"""Several worker processes over one SQLite store."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server import TrentServer


def worker_of(answer: dict[str, Any]) -> str:
    """The process that answered: a request ID is a per-process prefix and a 12-digit counter."""
    request_id: str = answer["ResponseMetadata"]["RequestId"]
    return request_id[:-12]


def test_two_workers_serve_one_store_consistently(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "data", extra_args=["--workers", "2"])
    trent.init()
    trent.start()
    try:
        serving: set[str] = set()  # the workers that answered, by the process prefix of their request IDs

        def create(i: int) -> str:
            kms = trent.client("kms")
            answer = kms.create_key(Description=f"k{i}")
            serving.add(worker_of(answer))
            key_id: str = answer["KeyMetadata"]["KeyId"]
            kms.disable_key(KeyId=key_id)
            return key_id

        with ThreadPoolExecutor(8) as pool:
            created = set(pool.map(create, range(40)))
        assert len(created) == 40
        for _ in range(200):  # fresh connections until the kernel has handed one to the other worker too
            if len(serving) >= 2:
                break
            serving.add(worker_of(trent.client("kms").list_keys(Limit=1)))
        assert len(serving) == 2, "only one worker served: this test would pass without the second"
        kms = trent.client("kms")
        listed = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}
        assert created <= listed
        # Whichever worker answers, every key is seen in the state the other worker left it in.
        for key_id in created:
            assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
        # Metrics add up every worker's samples, whichever worker serves /metrics: the serving worker's up to the
        # scrape, the other's as of its last batch (every audit_flush_interval, 0.25 s by default).
        import urllib.request

        def created_keys_counted() -> float:
            with urllib.request.urlopen(trent.endpoint + "/metrics", timeout=10) as response:
                text = response.read().decode()
            line = next(
                x for x in text.splitlines() if x.startswith('trent_requests_total{code="ok",operation="CreateKey"}')
            )
            return float(line.split()[-1])

        counted = created_keys_counted()
        deadline = time.monotonic() + 5
        while counted < 40.0 and time.monotonic() < deadline:
            time.sleep(0.1)
            counted = created_keys_counted()
        assert counted == 40.0
    finally:
        trent.stop()


def test_a_key_change_is_seen_by_every_worker_on_the_next_request(tmp_path: Path) -> None:
    """Each worker caches keys and aliases; a change made through one worker must stop the other at once."""
    trent = TrentServer(tmp_path / "data", extra_args=["--workers", "2"])
    trent.init()
    trent.start()
    try:
        admin = trent.client("kms")
        key_id = admin.create_key()["KeyMetadata"]["KeyId"]
        other_id = admin.create_key()["KeyMetadata"]["KeyId"]
        admin.create_alias(AliasName="alias/app", TargetKeyId=key_id)
        # Fresh clients open fresh connections, which the kernel spreads over both workers: warm both caches.
        clients = [trent.client("kms") for _ in range(16)]

        def encrypt_all(key: str) -> list[str]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda c: c.encrypt(KeyId=key, Plaintext=b"x")["KeyId"], clients))

        assert set(encrypt_all("alias/app")) == {f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"}
        admin.disable_key(KeyId=key_id)
        for client in clients:
            with pytest.raises(ClientError) as caught:
                client.encrypt(KeyId=key_id, Plaintext=b"x")
            assert caught.value.response["Error"]["Code"] == "DisabledException"
        admin.update_alias(AliasName="alias/app", TargetKeyId=other_id)
        assert set(encrypt_all("alias/app")) == {f"arn:aws:kms:us-east-1:000000000000:key/{other_id}"}
    finally:
        trent.stop()


def test_a_server_started_without_a_worker_count_uses_every_usable_core(tmp_path: Path) -> None:
    from trent.config import usable_cores

    trent = TrentServer(tmp_path / "data", workers=None)  # as `make serve` and `trent serve` start it
    trent.init()
    trent.start()
    try:
        expected = usable_cores()
        serving: set[str] = set()  # the processes that answer, by their request IDs' prefix
        for _ in range(300):
            serving.add(worker_of(trent.client("kms").list_keys(Limit=1)))
        assert len(serving) == expected
    finally:
        trent.stop()

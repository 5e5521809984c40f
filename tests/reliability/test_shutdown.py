"""Graceful shutdown: SIGTERM under load finishes in-flight requests and loses no acknowledged write."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.server import TrentServer


def test_sigterm_under_load_loses_no_acknowledged_write(fresh_server: TrentServer) -> None:
    fresh_server.init()
    fresh_server.start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        kms: Any = fresh_server.client("kms")
        while not stop.is_set():
            try:
                key_id = kms.create_key(Description="before-sigterm")["KeyMetadata"]["KeyId"]
            except (ClientError, BotoCoreError):
                continue  # refused or cut off: not acknowledged, so nothing is promised
            with lock:
                acknowledged.append(key_id)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    assert fresh_server.process is not None
    fresh_server.process.send_signal(signal.SIGTERM)
    fresh_server.process.wait(timeout=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert "Traceback" not in fresh_server.log()
    assert acknowledged, "no write was acknowledged before the shutdown"

    fresh_server.process = None
    fresh_server.start()
    kms = fresh_server.client("kms")
    present = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}
    missing = [key_id for key_id in acknowledged if key_id not in present]
    assert not missing, f"{len(missing)} acknowledged keys lost"
    for key_id in acknowledged[-5:]:
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "before-sigterm"

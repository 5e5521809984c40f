"""Health, readiness, metrics, structured logs and configuration of a running server."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.server import TrentServer
from trent.config import usable_cores


def get(server: TrentServer, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(server.endpoint + path, timeout=10) as response:
        return response.status, response.read().decode()


def test_health_ready_and_metrics(server: TrentServer, kms: Any) -> None:
    assert get(server, "/health") == (200, '{"status":"ok"}')
    assert get(server, "/ready") == (200, '{"status":"ok"}')
    key = kms.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::000000000000:user/admin", Operations=["Encrypt"]
    )
    status, text = get(server, "/metrics")
    assert status == 200
    assert 'trent_requests_total{code="ok",operation="Encrypt"}' in text
    assert 'trent_request_seconds_bucket{le="0.005",operation="Encrypt"}' in text
    assert "trent_store_transaction_seconds_count" in text
    assert f'trent_key_grants{{key="{key["Arn"]}"}} 1.0' in text
    assert "trent_grant_view_lag_seconds" in text


def test_a_person_with_curl_learns_what_the_endpoint_is_and_the_view_lag_measures_staleness(
    server: TrentServer,
) -> None:
    import urllib.error

    status, text = get(server, "/")
    assert status == 200 and "AWS KMS API" in text and "docs/" in text
    try:
        get(server, "/nothing-here")
        raise AssertionError("an unknown path answered 200")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and "AWS KMS API" in exc.read().decode()
    head = urllib.request.Request(server.endpoint + "/health", method="HEAD")
    with urllib.request.urlopen(head, timeout=10) as response:
        assert response.status == 200 and response.read() == b""
    time.sleep(2.5)  # idle: nothing changes; the view is current all the same
    _, metrics = get(server, "/metrics")
    [lag] = [line for line in metrics.splitlines() if line.startswith("trent_grant_view_lag_seconds")]
    assert float(lag.split()[-1]) < 1.0, lag


def test_request_logs_are_json_lines_without_secrets(server: TrentServer, kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"log-me-not-0123456789")
    deadline = time.monotonic() + 5  # the line is written just after the response is sent
    while True:
        events = []
        for line in server.log().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        encrypts = [e for e in events if e.get("operation") == "Encrypt" and e.get("key_arn") == key["Arn"]]
        if encrypts or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert encrypts, "no JSON log event for the Encrypt request"
    event = encrypts[-1]
    assert {"time", "level", "request_id", "operation", "principal", "key_arn", "outcome", "duration_ms"} <= set(event)
    assert event["outcome"] == "ok" and event["principal"] == "arn:aws:iam::000000000000:user/admin"
    assert "log-me-not-0123456789" not in server.log()


def test_init_writes_a_commented_config_and_config_show_masks_secrets(tmp_path: Path) -> None:
    trent = TrentServer(tmp_path / "cfg")
    trent.init()
    config = (trent.data_dir / "trent.toml").read_text()
    for name in ("host", "port", "store", "log_level", "grant_propagation_delay", "audit_retention_days"):
        assert f"\n{name} = " in config
        assert config.split(f"\n{name} = ")[0].rstrip().splitlines()[-1].startswith("# ")
    # The worker count is left to the machine the server runs on: a commented default, not a setting.
    assert f"\n# workers = {usable_cores()}\n" in config and "\nworkers = " not in config
    shown = json.loads(trent.trent("config", "show", "--data-dir", str(trent.data_dir)).stdout)
    assert shown["port"] == trent.port  # typed: a number, as in the file
    assert isinstance(shown["dev"], bool) and isinstance(shown["regions"], list)
    trent.env["TRENT_STORE"] = "postgresql://user:hunter2@db.example/trent"
    shown = json.loads(trent.trent("config", "show", "--data-dir", str(trent.data_dir)).stdout)
    assert "hunter2" not in json.dumps(shown) and shown["store"] == "postgresql://***@db.example/trent"
    trent.env["TRENT_PORT"] = "not-a-port"
    result = trent.trent("config", "show", "--data-dir", str(trent.data_dir), check=False)
    assert result.returncode != 0 and "TRENT_PORT: port has an invalid value" in result.stderr

# ruff: noqa: E501 - the attacker and victim scripts are embedded as text
"""On-demand measurement of the denial-of-service attacks (docs/reliability.md, "Attacks on availability"):
for each, a victim's DescribeKey throughput before, during and after the attack, the workers' memory before and
after, how much the store grew, and whether a worker was lost. Each attack runs against a fresh
`trent serve --workers 2` (real SigV4); the victim and the attacker are processes of their own.

    python benchmarks/attacks.py [--seconds 6] [--only NAME ...]

Run it on two checkouts (PYTHONPATH=<checkout>/src) to compare code before and after a change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import TrentServer

VICTIM = textwrap.dedent(
    """
    import sys, time, boto3
    from botocore.config import Config
    endpoint, key, access, secret, seconds = sys.argv[1:6]
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access,
                       aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
    done, failed, deadline = 0, 0, time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            kms.describe_key(KeyId=key)
            done += 1
        except Exception:
            failed += 1
    print(done / float(seconds), failed)
    """
)

ATTACKER = textwrap.dedent(
    """
    import json, os, socket, sys, time, boto3
    from botocore.config import Config
    endpoint, port, key, access, secret, seconds, attack = sys.argv[1:8]
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access,
                       aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}, read_timeout=300))
    deadline, sent, slowest = time.monotonic() + float(seconds), 0, 0.0
    held = []
    big_head = b"POST / HTTP/1.1\\r\\nHost: x\\r\\nUser-Agent: " + b"u" * (16 << 20) + b"\\r\\n\\r\\n"
    big_context = {"x": "a" * 1_000_000}
    operations = ["x"] * 200_000  # about 800 KB: under the 1 MiB body cap
    def call(fn, *args, **kwargs):
        global slowest
        started = time.monotonic()
        try:
            fn(*args, **kwargs)
        except Exception:
            pass
        slowest = max(slowest, time.monotonic() - started)
    while time.monotonic() < deadline:
        sent += 1
        if attack == "wildcard":
            call(kms.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext=big_context)
        elif attack == "variable":
            call(kms.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext={"x": os.urandom(4000).hex()})
        elif attack in ("user-agent", "region"):
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
            if attack == "user-agent":
                head = big_head
            else:
                credential = "AKIA/20261207/" + os.urandom(1 << 19).hex() + "/kms/aws4_request"
                head = ("POST / HTTP/1.1\\r\\nHost: x\\r\\nX-Amz-Date: 20261207T000000Z\\r\\nAuthorization: AWS4-HMAC-SHA256 "
                        f"Credential={credential}, SignedHeaders=host, Signature={'0' * 64}\\r\\n\\r\\n").encode()
            try:
                s.sendall(head); s.recv(100)
            except OSError:
                pass
            s.close()
        elif attack == "operations":
            call(kms.create_grant, KeyId=key, GranteePrincipal="arn:aws:iam::000000000000:root", Operations=operations)
        elif attack == "refused-context":
            call(kms.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext=big_context)
        elif attack == "policies":
            policy = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
                                                "Sid": os.urandom(16000).hex()}]})
            call(kms.create_key, Policy=policy)
        elif attack == "slowloris":
            while len(held) < 1500 and time.monotonic() < deadline:
                try:
                    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
                    s.sendall(b"POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1048575\\r\\n\\r\\n" + b"a" * 1_048_000)
                    held.append(s)
                except OSError:
                    break
            time.sleep(0.2)
    print(sent, slowest)
    """
)


def worker_pids(server: TrentServer) -> list[int]:
    assert server.process is not None
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.process.pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def attack_audit_bytes(server: TrentServer) -> int:
    """Bytes of audit records of everything but the victim's DescribeKey calls."""
    import sqlite3

    with sqlite3.connect(server.data_dir / "trent.db") as db:
        row = db.execute("SELECT COALESCE(SUM(LENGTH(record)), 0) FROM audit_events WHERE event_name != 'DescribeKey'")
        return int(row.fetchone()[0])


def victim(server: TrentServer, key: str, seconds: float) -> subprocess.Popen[str]:
    access, secret = server.admin_credentials()
    return subprocess.Popen(
        [sys.executable, "-c", VICTIM, server.endpoint, key, access, secret, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


def run(name: str, seconds: float, root: Path) -> dict[str, Any]:
    server = TrentServer(root / name, extra_args=["--workers", "2"])
    server.init()
    server.start()
    try:
        kms = server.client("kms")
        victim_key = kms.create_key()["KeyMetadata"]["Arn"]
        target = victim_key
        access, secret = server.admin_credentials()
        if name in ("wildcard", "variable"):
            pattern = "*" + "a" * 31_000 + "b" if name == "wildcard" else "*${kms:EncryptionContext:x}b"
            statements = [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                    "Condition": {"StringLike": {"kms:EncryptionContext:x": pattern}},
                },
            ]
            target = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))[
                "KeyMetadata"
            ]["Arn"]
        if name == "policies":  # a caller with no permission at all
            user = server.admin("user", "create", "000000000000", "nobody")
            access, secret = user["AccessKeyId"], user["SecretAccessKey"]
        time.sleep(1)
        pids = worker_pids(server)
        rss_before, audit_before = rss_mb(pids), attack_audit_bytes(server)
        before = float(victim(server, victim_key, seconds).communicate()[0].split()[0])
        attacker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                ATTACKER,
                server.endpoint,
                str(server.port),
                target,
                access,
                secret,
                str(seconds),
                name,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        during_process = victim(server, victim_key, seconds)
        during_out = during_process.communicate(timeout=seconds * 40)[0].split()
        sent, slowest = attacker.communicate(timeout=seconds * 60)[0].split()
        time.sleep(2)
        after = float(victim(server, victim_key, seconds).communicate(timeout=seconds * 40)[0].split()[0])
        restarts = server.log().count("died")
        time.sleep(0.5)  # the last audit batch
        return {
            "attack": name,
            "before": round(before),
            "during": round(float(during_out[0])),
            "during_failed": int(during_out[1]),
            "after": round(after),
            "rss_before_mb": round(rss_before),
            "rss_after_mb": round(rss_mb(worker_pids(server))),
            "audit_bytes_per_attack": round((attack_audit_bytes(server) - audit_before) / max(1, int(sent))),
            "attack_requests": int(sent),
            "slowest_attack_s": round(float(slowest), 2),
            "workers_lost": restarts,
        }
    finally:
        server.stop()


ATTACKS = ["wildcard", "variable", "user-agent", "operations", "refused-context", "policies", "slowloris", "region"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--only", nargs="*", default=ATTACKS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(
            "| attack | victim req/s before | during | after | RSS MB before → after | audit bytes per attack | "
            "attack requests | slowest s | workers lost |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name in args.only:
            r = run(name, args.seconds, Path(directory))
            print(
                f"| {r['attack']} | {r['before']} | {r['during']} ({r['during_failed']} failed) | {r['after']} | "
                f"{r['rss_before_mb']} → {r['rss_after_mb']} | {r['audit_bytes_per_attack']} | {r['attack_requests']} | "
                f"{r['slowest_attack_s']} | {r['workers_lost']} |",
                flush=True,
            )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

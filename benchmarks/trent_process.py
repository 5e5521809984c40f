"""A Trent server in a temporary directory, for the benchmarks that drive it with boto3 and wrk."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

BIN = Path(sys.executable).parent
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TrentProcess:
    """`trent init` and `trent serve` in a fresh directory (data in `data/`, server log in `server.log`).

    `store`: a database URL (default: SQLite in the data directory); `env`: extra TRENT_* variables, given to
    every `trent` command (a shared TRENT_ROOT_KEY lets several nodes serve one database).
    """

    def __init__(self, *, workers: int = 1, store: str | None = None, env: dict[str, str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="trent-bench-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        store_args = ["--store", store] if store else []
        self._run("init", "--data-dir", str(self.data), "--port", str(self.port), *store_args)
        serve = ["serve", "--data-dir", str(self.data), "--port", str(self.port), "--workers", str(workers)]
        with (self.dir / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [BIN / "trent", *serve, "--log-level", "warning", *store_args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self.env,
            )
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"trent did not start; see {self.dir / 'server.log'}")

    def _run(self, *args: str) -> str:
        command = [str(BIN / "trent"), *args]
        return subprocess.run(command, check=True, capture_output=True, text=True, env=self.env).stdout

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def credentials(self) -> tuple[str, str]:
        """The administrator's access key pair written by `trent init`."""
        lines = (self.data / "credentials").read_text().splitlines()
        values = dict(line.split(" = ", 1) for line in lines if " = " in line)
        return values["aws_access_key_id"], values["aws_secret_access_key"]

    def admin(self, *args: str) -> Any:
        return json.loads(self._run("admin", "--data-dir", str(self.data), *args))

    def client(self, access_key: str, secret_key: str) -> Any:
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 1}),
        )

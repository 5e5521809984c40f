"""A real Trent server in a subprocess, for end-to-end tests through boto3 and the AWS CLI."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TrentServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        dev: bool = False,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        store_url: str | None = None,
        workers: int | None = 1,
    ) -> None:
        self.data_dir = data_dir
        #: The database URL; None for the default SQLite store in the data directory.
        self.store_url = store_url
        self.port = free_port()
        self.dev = dev
        self.extra_args = extra_args or []
        #: Worker processes, unless `extra_args` say; None for the product's default (one per usable core).
        #: One by default here: each test says when it needs more, and the suite stays fast on two cores.
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self, *args: str, spawn: bool = False) -> subprocess.CompletedProcess[str]:
        """`trent init` of this server's data directory: the command itself, in this process (as `admin_run`),
        unless `spawn` (the tests of `trent init` as a user runs it, and HSM tests, which keep PKCS#11 out of
        the test process)."""
        command = ["init", "--data-dir", str(self.data_dir), "--port", str(self.port), *self._store_args(), *args]
        if spawn:
            return self.trent(*command)
        return self._run_in_process(command, check=True)

    def _store_args(self) -> list[str]:
        return ["--store", self.store_url] if self.store_url else []

    @property
    def database_url(self) -> str:
        """A SQLAlchemy URL of the server's store, for tests that seed or inspect it directly."""
        if self.store_url:
            return self.store_url.replace("postgresql://", "postgresql+psycopg://", 1)
        return f"sqlite:///{self.data_dir / 'trent.db'}"

    def trent(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trent", *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=check,
            timeout=120,
        )

    def admin_run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `trent admin ARGS` on this server's data directory and store — the command itself, in this
        process (a few ms, where a `python -m trent` process costs ~0.6 s; the CLI's own tests spawn it)."""
        return self._run_in_process(["admin", "--data-dir", str(self.data_dir), *self._store_args(), *args], check)

    def _run_in_process(self, command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        from click.testing import CliRunner

        from trent.cli import main

        overrides = {name: value for name, value in self.env.items() if name.startswith("TRENT_")}
        result = CliRunner().invoke(main, command, env=overrides, catch_exceptions=False)
        completed = subprocess.CompletedProcess(command, result.exit_code, result.stdout, result.stderr)
        if check and result.exit_code != 0:
            raise subprocess.CalledProcessError(result.exit_code, command, result.stdout, result.stderr)
        return completed

    def admin(self, *args: str) -> Any:
        import json

        return json.loads(self.admin_run(*args).stdout)

    def audit_output(self, *args: str) -> str:
        """What `trent admin audit ARGS` prints once the calls made so far are written: calls that change
        nothing are audited in batches every `audit_flush_interval` (0.25 s)."""
        time.sleep(0.6)
        return self.admin_run("audit", *args).stdout

    def audit_events(self, *args: str) -> list[dict[str, Any]]:
        import json

        # JSON lines end at "\n" only: str.splitlines() would also split inside a string at U+2028, U+0085, ...
        return [json.loads(line) for line in self.audit_output(*args).split("\n") if line.strip()]

    def start(self) -> TrentServer:
        command = [
            sys.executable,
            "-m",
            "trent",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            *self._store_args(),
            *self.extra_args,
        ]
        if self.workers is not None and "--workers" not in self.extra_args:
            command += ["--workers", str(self.workers)]
        if self.dev:
            command.append("--dev")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trent serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"trent serve did not become healthy:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- clients -------------------------------------------------------------------------------------
    def admin_credentials(self) -> tuple[str, str]:
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]

    def client(
        self,
        service: str = "kms",
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str = REGION,
        **config: Any,
    ) -> Any:
        if access_key is None:
            access_key, secret_key = self.admin_credentials()
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
        )


def postgres_admin_url() -> str | None:
    """The PostgreSQL the tests may use (TRENT_TEST_POSTGRES_URL), or None."""
    return os.environ.get("TRENT_TEST_POSTGRES_URL") or None


def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh, empty database for one server: (its URL, its name)."""
    import uuid

    import psycopg

    name = f"trent_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

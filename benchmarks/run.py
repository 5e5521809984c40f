"""On-demand benchmark: Trent against moto's server, Encrypt/Decrypt of 1 KiB, Decrypt by grant and GenerateDataKey.

Both servers run on this machine on free ports of 127.0.0.1, started here in temporary directories and
stopped at the end. The load generator is `wrk` (install it with `apt-get install wrk`) replaying a pool
of requests pre-signed with botocore's SigV4Auth, so the client costs a few microseconds per request
rather than boto3's ~700. Signatures are made afresh right before every wrk invocation (warm-up and
measurement alike): a SigV4 signature is accepted for five minutes, so a phase must stay shorter.

    python benchmarks/run.py [--duration 15] [--connections 32] [--threads 2] [--quick] [--workers 2,1]
                             [--operations Encrypt,Decrypt,Decrypt-by-grant,GenerateDataKey] [--rounds 1] [--no-moto]
                             [--bare] [--log-level info] [--settle 120] [--retries 3] [--profile DIR]
                             [--json FILE]

`--bare` also measures the bare stack (benchmarks/bare_stack.py: uvicorn, Trent's SigV4 verifier, orjson and one
cached AES-GCM key, nothing else) with the same worker counts, and prints Trent's share of it ("vs bare stack").

Decrypt-by-grant is Decrypt of the same ciphertexts, with a grant token, by a user who holds no permission but a
grant (created with Trent's own IAM API, no identity policy; the key policy gives the user nothing): Trent reads the
grant the token names and decides on it. moto and the bare stack get the same request shape from their
administrator; they do not authorize on grants (moto ignores the token), which only flatters them.

Every server is started first and they are measured in turn, operation by operation (moto, then Trent, then the
bare stack, for Encrypt; then for Decrypt; ...): the figures a ratio compares are taken seconds apart. `--rounds N`
does all of it N times (the progress lines show every measurement) and the table shows, for each operation and
server, its round of median req/s, and ratios of those medians: on a shared machine whose speed drifts by ±15 % over
minutes, one slow moment then moves no ratio.

Every pooled request is sent once before its phase and must answer 200 with the expected fields; wrk
then counts responses with status >= 400 ("non-2xx") and socket errors, and both are in the table.
moto does not verify signatures; Trent verifies every one. The CPU time of the server, of wrk and of
the whole machine is read from /proc: a run during which other processes used the CPU is flagged, and
measured again after waiting for the machine to go quiet.

With --profile DIR, an extra Encrypt phase (not part of the table) runs against Trent with one worker
pinned to CPU 0 under `py-spy record` (pip install py-spy), and the functions with the most own CPU
time are printed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "kms.lua"
BIN = Path(sys.executable).parent
REGION = "us-east-1"
PLAINTEXT_BYTES = 1024
POOL_SIZE = 32
# A SigV4 signature is good for 5 minutes of server clock; keep each wrk run well inside that.
MAX_PHASE_SECONDS = 240
# Above this much CPU (percent of one core) used by neither the server nor wrk, a run is flagged.
OTHER_LOAD_WARNING_PERCENT = 10
OPERATIONS = ("Encrypt", "Decrypt", "Decrypt-by-grant", "GenerateDataKey")
#: The KMS operation each measured operation calls.
TARGETS = {"Decrypt-by-grant": "Decrypt"}
EXPECTED_FIELDS = {
    "Encrypt": ("CiphertextBlob", "KeyId"),
    "Decrypt": ("Plaintext", "KeyId"),
    "Decrypt-by-grant": ("Plaintext", "KeyId"),
    "GenerateDataKey": ("CiphertextBlob", "Plaintext", "KeyId"),
}


# --- servers -----------------------------------------------------------------------------------------
@dataclass
class Server:
    """A running server under test and what a client needs to reach it."""

    name: str
    port: int
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def stop(self) -> None:
        """Stop the server's process group (started in its own session, so uvicorn's workers go too)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=None if env is None else {**os.environ, **env},
        )


def _wait_until_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early; see {server.log_path}:\n{server.log_path.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not become ready within {timeout:.0f}s; see {server.log_path}")


def _read_credentials(path: Path) -> tuple[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """`command` restricted to the CPUs in `cpus` (a taskset list such as "0"), if given."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def start_trent(
    workdir: Path,
    workers: int,
    cpus: str | None = None,
    log_level: str = "info",
    env: dict[str, str] | None = None,
    name: str | None = None,
) -> Server:
    """`trent init` and `trent serve` in a data directory of their own; `env` is added to their environment."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"trent-{workers}w-", dir=workdir))
    port = free_port()
    trent = str(BIN / "trent")
    subprocess.run(
        [trent, "init", "--data-dir", str(data_dir), "--port", str(port)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
    access_key, secret_key = _read_credentials(data_dir / "credentials")
    log_path = data_dir / "server.log"
    command = [trent, "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", log_level]
    name = name or f"trent --workers {workers}" + ("" if log_level == "info" else f" --log-level {log_level}")
    server = Server(name, port, access_key, secret_key, _spawn(pinned(command, cpus), log_path, env), log_path)
    _wait_until_ready(server, "/health")
    return server


def start_bare(workdir: Path, workers: int) -> Server:
    """The bare stack (benchmarks/bare_stack.py) with `workers` processes: Trent's limit on this machine."""
    port = free_port()
    log_path = workdir / f"bare-{workers}.log"
    access_key, secret_key = "AKIABARESTACK0000000", secrets.token_urlsafe(30)
    command = [str(BIN / "uvicorn"), "--factory", "bare_stack:create_app", "--app-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    command += ["--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    os.environ.update(BARE_ACCESS_KEY=access_key, BARE_SECRET_KEY=secret_key)
    name = f"bare stack --workers {workers}"
    server = Server(name, port, access_key, secret_key, _spawn(command, log_path), log_path)
    _wait_until_ready(server, "/health")
    return server


def start_moto(workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / "moto.log"
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    server = Server("moto", port, "testing", "testing", _spawn(command, log_path), log_path)
    _wait_until_ready(server, "/moto-api/")
    return server


# --- requests ----------------------------------------------------------------------------------------
@dataclass
class Fixture:
    """A key on one server, ciphertexts of 1 KiB that this server made with it (for Decrypt), and a grantee's
    credentials with a grant token for Decrypt (on Trent a user whose only permission is the grant)."""

    key_id: str
    ciphertexts: list[bytes]
    grantee: tuple[str, str]
    grant_token: str


def make_fixture(server: Server) -> Fixture:
    client = server.client()
    key_id: str = client.create_key(Description="benchmark")["KeyMetadata"]["KeyId"]
    ciphertexts = [
        client.encrypt(KeyId=key_id, Plaintext=secrets.token_bytes(PLAINTEXT_BYTES))["CiphertextBlob"]
        for _ in range(POOL_SIZE)
    ]
    grantee, token = (server.access_key, server.secret_key), "no-grants-here"
    if server.name.startswith("trent"):
        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
        )
        user = iam.create_user(UserName=f"grantee-{secrets.token_hex(4)}")["User"]
        access_key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
        grantee = (access_key["AccessKeyId"], access_key["SecretAccessKey"])
        token = client.create_grant(KeyId=key_id, GranteePrincipal=user["Arn"], Operations=["Decrypt"])["GrantToken"]
    elif server.name.startswith("moto"):
        token = client.create_grant(
            KeyId=key_id, GranteePrincipal="arn:aws:iam::123456789012:user/grantee", Operations=["Decrypt"]
        )["GrantToken"]
    return Fixture(key_id, ciphertexts, grantee, token)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def request_bodies(operation: str, fixture: Fixture) -> list[bytes]:
    """POOL_SIZE distinct request bodies for one operation (distinct bodies give distinct signatures)."""
    if operation == "Encrypt":
        documents = [
            {"KeyId": fixture.key_id, "Plaintext": b64(secrets.token_bytes(PLAINTEXT_BYTES))} for _ in range(POOL_SIZE)
        ]
        return [json.dumps(d).encode() for d in documents]
    if operation == "Decrypt":
        return [json.dumps({"CiphertextBlob": b64(blob)}).encode() for blob in fixture.ciphertexts]
    if operation == "Decrypt-by-grant":
        return [
            json.dumps({"CiphertextBlob": b64(blob), "GrantTokens": [fixture.grant_token]}).encode()
            for blob in fixture.ciphertexts
        ]
    if operation == "GenerateDataKey":
        # Same request each time; a varying amount of JSON whitespace keeps the signatures distinct.
        return [
            f'{{"KeyId": "{fixture.key_id}",{" " * (i + 1)}"KeySpec": "AES_256"}}'.encode() for i in range(POOL_SIZE)
        ]
    raise ValueError(operation)


def sign(server: Server, operation: str, body: bytes, credentials: tuple[str, str] | None = None) -> dict[str, str]:
    """The headers of a POST / carrying `body`, signed with SigV4 for kms in us-east-1 at this moment (by the
    administrator unless `credentials` are given)."""
    target = TARGETS.get(operation, operation)
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
    )
    access_key, secret_key = credentials or (server.access_key, server.secret_key)
    SigV4Auth(Credentials(access_key, secret_key), "kms", REGION).add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    headers["Host"] = f"127.0.0.1:{server.port}"  # what the signer used as the canonical host
    return headers


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def write_pool(path: Path, pool: list[tuple[dict[str, str], bytes]]) -> None:
    """Write a Lua chunk returning the pre-signed requests, read by kms.lua."""
    lines = ["return {"]
    for headers, body in pool:
        fields = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        lines.append(f"  {{headers = {{{fields}}}, body = {_lua_string(body.decode())}}},")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def check_pool(server: Server, operation: str, pool: list[tuple[dict[str, str], bytes]]) -> None:
    """Send every pooled request once: a benchmark of error responses would be worthless."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for headers, body in pool:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{server.name} {operation}: HTTP {response.status}: {payload[:300]!r}")
            document = json.loads(payload)
            missing = [name for name in EXPECTED_FIELDS[operation] if name not in document]
            if missing:
                raise RuntimeError(f"{server.name} {operation}: response lacks {missing}: {payload[:300]!r}")
            expected = 32 if operation == "GenerateDataKey" else PLAINTEXT_BYTES
            if "Plaintext" in document and len(base64.b64decode(document["Plaintext"])) != expected:
                raise RuntimeError(f"{server.name} {operation}: the plaintext is not {expected} bytes")
    finally:
        conn.close()


# --- CPU accounting ----------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all but idle and iowait) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def wait_for_quiet(max_wait: float) -> bool:
    """Wait until a second passes with the machine (servers idle) nearly idle; False if it never does."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        if 100 * (machine_busy_seconds() - before) <= OTHER_LOAD_WARNING_PERCENT:
            return True
        if time.monotonic() > deadline:
            return False


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds: the server's processes (user, system), wrk, and the whole machine (busy)."""

    server_user: float
    server_system: float
    client: float
    machine_busy: float

    @classmethod
    def now(cls, server_pgid: int) -> CpuUsage:
        user = system = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # the process went away
            if int(fields[2]) == server_pgid:  # after the name: state ppid pgrp ... utime(11) stime(12)
                user += int(fields[11])
                system += int(fields[12])
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
        client = children.ru_utime + children.ru_stime
        return cls(user / CLOCK_TICKS, system / CLOCK_TICKS, client, machine_busy_seconds())

    def __sub__(self, other: CpuUsage) -> CpuUsage:
        return CpuUsage(
            self.server_user - other.server_user,
            self.server_system - other.server_system,
            self.client - other.client,
            self.machine_busy - other.machine_busy,
        )

    @property
    def other(self) -> float:
        """Busy CPU not spent by the server or wrk: other load on the machine, which skews a run."""
        return max(0.0, self.machine_busy - self.server_user - self.server_system - self.client)


# --- load generation ---------------------------------------------------------------------------------
@dataclass
class Measurement:
    operation: str
    server: str
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu: CpuUsage
    raw: dict[str, Any] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_request(self) -> float:
        """The server's CPU time (all its processes, user + system) per request, in microseconds."""
        return 1e6 * (self.cpu.server_user + self.cpu.server_system) / self.requests if self.requests else 0.0

    def percent_of_a_core(self, seconds: float) -> float:
        return 100 * seconds / self.seconds if self.seconds else 0.0


@dataclass
class LoadSettings:
    duration: int
    warmup: int
    connections: int
    threads: int
    cpus: str | None = None  # pin wrk to these CPUs (taskset list)


def run_wrk(url: str, pool_path: Path, seconds: int, load: LoadSettings) -> dict[str, Any]:
    command = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s", "--timeout", "10s"]
    command = pinned([*command, "-s", str(LUA_SCRIPT), url], load.cpus)
    env = {**os.environ, "BENCH_POOL": str(pool_path)}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=seconds + 60)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return result
    raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")


def measure(
    server: Server,
    operation: str,
    fixture: Fixture,
    workdir: Path,
    load: LoadSettings,
    during: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
) -> Measurement:
    """Warm up, then measure one operation against one server, each wrk run with fresh signatures."""
    pool_path = workdir / f"pool-{server.port}-{operation}.lua"

    def fresh_pool() -> None:
        credentials = fixture.grantee if operation == "Decrypt-by-grant" else None
        pool = [(sign(server, operation, body, credentials), body) for body in request_bodies(operation, fixture)]
        check_pool(server, operation, pool)
        write_pool(pool_path, pool)

    if load.warmup > 0:
        fresh_pool()
        run_wrk(server.endpoint + "/", pool_path, load.warmup, load)
    fresh_pool()
    with during() if during else contextlib.nullcontext():
        before = CpuUsage.now(server.process.pid)
        raw = run_wrk(server.endpoint + "/", pool_path, load.duration, load)
        cpu = CpuUsage.now(server.process.pid) - before
    return Measurement(
        operation=operation,
        server=server.name,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        cpu=cpu,
        raw=raw,
    )


def measure_undisturbed(
    server: Server, operation: str, fixture: Fixture, workdir: Path, load: LoadSettings, retries: int, settle: float
) -> Measurement:
    """Measure once the machine is quiet, and again (up to `retries` times) if other load showed up meanwhile."""
    for attempt in range(retries + 1):
        if not wait_for_quiet(settle):
            print(f"  (the machine did not go quiet within {settle:.0f}s; measuring anyway)", flush=True)
        m = measure(server, operation, fixture, workdir, load)
        disturbed = m.percent_of_a_core(m.cpu.other) > OTHER_LOAD_WARNING_PERCENT
        if not disturbed or attempt == retries:
            return m
        print(progress_line(m) + " -- measuring again", flush=True)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running(start: Callable[[], Server]) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.stop()


# --- profiling ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def py_spy(pid: int, output: Path, seconds: int, cpus: str | None) -> Iterator[None]:
    """Sample `pid` and its subprocesses (uvicorn's workers) with py-spy while the block runs."""
    py_spy_bin = shutil.which("py-spy") or str(BIN / "py-spy")
    command = [py_spy_bin, "record", "--pid", str(pid), "--subprocesses", "--nolineno", "--format", "raw"]
    command += ["--rate", "250", "--duration", str(seconds), "--output", str(output)]
    process = subprocess.Popen(pinned(command, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach before the load starts
    try:
        yield
    finally:
        _, stderr = process.communicate(timeout=seconds + 60)
        if process.returncode != 0:
            print(f"py-spy exited with {process.returncode}: {stderr.decode()[-500:]}", file=sys.stderr)


def _frame_name(frame: str) -> str:
    """'handle (trent/api/encryption.py)' from py-spy's 'handle (/long/path/trent/api/encryption.py)'."""
    name, _, location = frame.partition(" (")
    location = location.rstrip(")")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in location:
            location = location.split(marker, 1)[1]
            if marker == "/lib/python3":
                location = "stdlib:" + location.split("/", 1)[-1]
            break
    return f"{name} ({location})" if location else name


PROFILE_LINE = re.compile(r'^((?:process \d+:"[^"]*";)*)(.*) (\d+)$')
# Threads that wait on a pipe, which py-spy nevertheless reports as busy: uvicorn's health-check
# responder in each worker and multiprocessing's resource tracker.
BLOCKED_WAITERS = ("Process.always_pong", "resource_tracker")


def summarize_profile(path: Path, top: int = 10) -> str:
    """Own time per function, and inclusive time per Trent function, from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = excluded = 0
    for line in path.read_text().splitlines():
        match = PROFILE_LINE.match(line)
        if not match:
            continue
        processes, stack, count = match.group(1), match.group(2), int(match.group(3))
        if any(waiter in processes or waiter in stack for waiter in BLOCKED_WAITERS):
            excluded += count
            continue
        frames = [_frame_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            if "(trent/" in name:
                inclusive[name] += count
    if not total:
        return "no samples"
    out = [
        f"{total} busy samples at 250 Hz across the server's processes "
        f"({excluded} more from threads blocked on a pipe left out)",
        "",
        "Top functions by own time (time in C code counts for the Python function that called it):",
    ]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out += ["", "Trent functions by inclusive time:"]
    ranked = [(name, n) for name, n in inclusive.most_common() if n < total]  # not the entry point
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in ranked[: top + 5]]
    return "\n".join(out)


def profile_trent(workdir: Path, out_dir: Path, load: LoadSettings, settle: float) -> str:
    """An extra Encrypt run under py-spy; returns the summary.

    py-spy counts a thread as busy while it is runnable, so on a machine where the server and wrk compete
    for the CPUs, time spent preempted (typically right after a send() wakes wrk) would show up as time
    in whatever function was running. Trent therefore runs with one worker alone on CPU 0, and wrk and
    py-spy share CPU 1: the worker's busy samples are then its CPU time.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "trent-encrypt.raw.txt"
    seconds = min(load.duration, 10)
    profile_load = LoadSettings(seconds, load.warmup, load.connections, load.threads, cpus="1")
    with running(lambda: start_trent(workdir, 1, cpus="0")) as server:
        fixture = make_fixture(server)
        pid = server.process.pid
        wait_for_quiet(settle)
        m = measure(server, "Encrypt", fixture, workdir, profile_load, during=lambda: py_spy(pid, output, seconds, "1"))
    text = (
        f"Profile of Trent (1 worker on CPU 0; wrk and py-spy on CPU 1) under Encrypt: {m.rps:,.0f} req/s "
        f"and {m.server_us_per_request:,.0f} µs of server CPU per request while sampled; "
    ) + summarize_profile(output)
    (out_dir / "summary.txt").write_text(text + "\n")
    return text


# --- report ------------------------------------------------------------------------------------------
def _workers_of(server: str) -> str | None:
    match = re.search(r"--workers (\d+)", server)
    return match.group(1) if match else None


def medians(results: list[Measurement]) -> list[Measurement]:
    """One measurement per operation and server: the one of median req/s among its rounds (the lower middle one
    of an even number), in the order first measured."""
    rounds: dict[tuple[str, str], list[Measurement]] = {}
    for m in results:
        rounds.setdefault((m.operation, m.server), []).append(m)
    return [sorted(ms, key=lambda m: m.rps)[(len(ms) - 1) // 2] for ms in rounds.values()]


def format_table(results: list[Measurement]) -> str:
    """The table of the run: with several rounds, each operation and server's median round, and ratios of
    medians."""
    results = medians(results)
    moto = {m.operation: m.rps for m in results if m.server == "moto"}
    bare = {(m.operation, _workers_of(m.server)): m.rps for m in results if m.server.startswith("bare stack")}
    rows = [
        "| operation | server | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | vs moto | vs bare stack "
        "| server CPU µs/req | wrk CPU | other CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for operation in OPERATIONS:
        for m in (m for m in results if m.operation == operation):
            base = moto.get(operation)
            ratio = "1.0x" if m.server == "moto" else (f"{m.rps / base:.1f}x" if base else "-")
            limit = bare.get((operation, _workers_of(m.server)))
            share = f"{m.rps / limit:.2f}x" if limit and m.server.startswith("trent") else "-"
            rows.append(
                f"| {operation} | {m.server} | {m.rps:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.max_ms:.1f} "
                f"| {m.non_2xx} "
                f"| {m.socket_errors} | {ratio} | {share} | {m.server_us_per_request:,.0f} "
                f"| {m.percent_of_a_core(m.cpu.client):.0f}% | {m.percent_of_a_core(m.cpu.other):.0f}% |"
            )
    return "\n".join(rows)


def progress_line(m: Measurement) -> str:
    user_us, system_us = (1e6 * s / m.requests if m.requests else 0.0 for s in (m.cpu.server_user, m.cpu.server_system))
    line = (
        f"{m.operation:16} {m.server:18} {m.rps:9,.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms  "
        f"max {m.max_ms:6.1f} ms  "
        f"non-2xx {m.non_2xx}  socket errors {m.socket_errors}  server CPU/req {user_us:,.0f} µs user "
        f"+ {system_us:,.0f} µs system  wrk {m.percent_of_a_core(m.cpu.client):.0f}%"
    )
    other = m.percent_of_a_core(m.cpu.other)
    if other > OTHER_LOAD_WARNING_PERCENT:
        line += f"  WARNING: other processes used {other:.0f}% of a core during this run"
    return line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per operation and server")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load before each measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warm-up (a smoke run)")
    parser.add_argument("--workers", default="2,1", help="Trent worker counts to run, comma-separated")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="operations to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each operation per server")
    parser.add_argument("--no-moto", action="store_true", help="measure Trent only (no ratios)")
    parser.add_argument(
        "--bare", action="store_true", help="also measure the bare stack (benchmarks/bare_stack.py): Trent's limit"
    )
    parser.add_argument(
        "--log-level", default="info", help="Trent's log level (default info: as shipped, a line per request)"
    )
    parser.add_argument("--profile", type=Path, help="also profile Trent under Encrypt (py-spy) into this dir")
    parser.add_argument(
        "--retries", type=int, default=3, help="measure again when other processes used the CPU meanwhile"
    )
    parser.add_argument(
        "--settle", type=float, default=120, help="seconds to wait for an idle machine before each measurement"
    )
    parser.add_argument("--json", type=Path, help="write the measurements to this file as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3, 1
    args.operations = [op.strip() for op in args.operations.split(",") if op.strip()]
    unknown = set(args.operations) - set(OPERATIONS)
    if unknown or not args.operations:
        parser.error(f"--operations: choose from {', '.join(OPERATIONS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= args.duration + args.warmup <= MAX_PHASE_SECONDS:
        parser.error(f"--duration must keep each phase within {MAX_PHASE_SECONDS}s (signatures expire)")
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through `running`, which stops the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    load = LoadSettings(args.duration, args.warmup, args.connections, args.threads)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="trent-bench-") as tmp:
        workdir = Path(tmp)
        starters: list[Callable[[], Server]] = [] if args.no_moto else [functools.partial(start_moto, workdir)]
        starters += [
            functools.partial(start_trent, workdir, workers, log_level=args.log_level) for workers in worker_counts
        ]
        if args.bare:
            starters += [functools.partial(start_bare, workdir, workers) for workers in worker_counts]
        with contextlib.ExitStack() as stack:
            # Every server runs for the whole run (an idle one costs nothing measurable) and they are measured in
            # turn, operation by operation: the figures a ratio compares are taken seconds apart, not minutes,
            # on a machine whose speed drifts by ±15 % over minutes.
            servers = [stack.enter_context(running(start)) for start in starters]
            fixtures = [make_fixture(server) for server in servers]
            for _ in range(args.rounds):
                for operation in args.operations:
                    for server, fixture in zip(servers, fixtures, strict=True):
                        m = measure_undisturbed(server, operation, fixture, workdir, load, args.retries, args.settle)
                        results.append(m)
                        print(progress_line(m), flush=True)
        profile_text = profile_trent(workdir, args.profile, load, args.settle) if args.profile else None
    print()
    print(
        f"wrk -t{load.threads} -c{load.connections}, {load.duration}s measured after {load.warmup}s warm-up; "
        f"1 KiB plaintexts; SigV4-signed requests (verified by Trent, not by moto)"
    )
    print(format_table(results))
    if profile_text:
        print(f"\n{profile_text}")
    if args.json:
        rows = [asdict(m) | {"rps": m.rps, "server_us_per_request": m.server_us_per_request} for m in results]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    failed = [m for m in results if m.non_2xx or m.socket_errors or not m.requests]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

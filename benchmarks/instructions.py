"""On-demand: a request's cost in instructions, in process, under valgrind's callgrind.

Timings on a shared 2-core machine move by ±15 % from run to run; instruction counts of the same code agree within
about 2,000 a request. This is how each change to the request path is measured (docs/performance.md).

    python benchmarks/instructions.py [--operations Encrypt,Decrypt,Decrypt-by-grant] [--small 300] [--large 2300]

A `trent serve` with one worker makes the fixture of `benchmarks/run.py` (a key, ciphertexts, a grantee whose only
permission is a grant, and its token) and is stopped. Then, for each operation, the same data directory is opened
in process (`build_app`, as a worker does) and `TrentApp` is driven through ASGI, lifespan included, with requests
pre-signed by `run.py`'s helpers: once with `--small` requests and once with `--large`, each under
`valgrind --tool=callgrind`. The difference of the two totals divided by the difference of the counts is a
request's cost: start-up, the first requests' caches and shutdown cancel out. The batch thread (audit, request log)
is counted; the event loop yields after every request, so its timers (the audit flush) run as in a server.

SHA-256 counts for more under valgrind than on the CPU (valgrind hides the SHA extensions), alike for every
operation. uvicorn's HTTP parsing is not included: see `run.py` for the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: servers, fixtures, signing)

DEFAULT_OPERATIONS = ("Encrypt", "Decrypt", "Decrypt-by-grant")
REQUESTS_PER_PASS = 16


def prepare(workdir: Path) -> tuple[Path, run.Server, run.Fixture]:
    """A data directory holding the fixture; the server that made it is stopped."""
    with run.running(lambda: run.start_trent(workdir, 1, log_level="info")) as server:
        fixture = run.make_fixture(server)
        for operation in DEFAULT_OPERATIONS:
            run.check_pool(server, operation, sign_pool(server, fixture, operation))
    return Path(server.log_path).parent, server, fixture


def sign_pool(server: run.Server, fixture: run.Fixture, operation: str) -> list[tuple[dict[str, str], bytes]]:
    """Requests signed now: a signature is good for five minutes, so each operation's pool is signed before its
    runs."""
    credentials = fixture.grantee if operation == "Decrypt-by-grant" else None
    return [(run.sign(server, operation, body, credentials), body) for body in run.request_bodies(operation, fixture)]


async def _drive(data_dir: Path, pool_path: Path, count: int) -> None:
    from trent import logs
    from trent.config import load_settings
    from trent.edge import protocol
    from trent.edge.app import build_app

    settings = load_settings(environ={"TRENT_DATA_DIR": str(data_dir)})
    logs.configure(settings.log_level)
    app = build_app(settings)
    pool = [
        ([(name.lower().encode(), value.encode()) for name, value in headers.items()], body.encode())
        for headers, body in json.loads(pool_path.read_text())
    ]
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan_sent: list[dict[str, Any]] = []

    async def lifespan_send(message: dict[str, Any]) -> None:
        lifespan_sent.append(message)

    await lifespan.put({"type": "lifespan.startup"})
    lifespan_task = asyncio.create_task(app({"type": "lifespan"}, lifespan.get, lifespan_send))
    while not lifespan_sent:
        await asyncio.sleep(0)
    statuses: list[int] = []

    async def one(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
            protocol.BODY_COMPLETE: True,  # as Trent's HTTP protocol marks a request whose body has arrived
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    # A task per request, as uvicorn makes, and REQUESTS_PER_PASS of them in each pass of the event loop: under
    # load, strace counts one epoll_wait per ~28 requests of a worker (docs/performance.md).
    for start in range(0, count, REQUESTS_PER_PASS):
        batch = [pool[i % len(pool)] for i in range(start, min(count, start + REQUESTS_PER_PASS))]
        await asyncio.gather(*(one(headers, body) for headers, body in batch))
        await asyncio.sleep(0)  # the loop's timers (the audit flush) run between passes, as in a server
    await lifespan.put({"type": "lifespan.shutdown"})
    await lifespan_task
    failed = [status for status in statuses if status != 200]
    if failed or len(statuses) != count:
        raise SystemExit(f"{len(failed)} of {count} requests failed: statuses {sorted(set(failed))}")


def instructions(data_dir: Path, pool_path: Path, count: int, out: Path) -> int:
    """The instructions callgrind counts for the whole process driving `count` requests."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
    command += ["--drive", str(data_dir), str(pool_path), str(count)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"callgrind run failed:\n{completed.stderr[-3000:]}")
    match = re.search(r"^totals:\s+(\d+)", out.read_text(), re.MULTILINE) or re.search(
        r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE
    )
    if match is None:
        raise RuntimeError(f"no totals in {out}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", default=",".join(DEFAULT_OPERATIONS))
    parser.add_argument("--small", type=int, default=320)
    parser.add_argument("--large", type=int, default=2320)
    parser.add_argument("--keep", type=Path, help="keep the callgrind output of each large run in this directory")
    parser.add_argument("--drive", nargs=3, metavar=("DATA_DIR", "POOL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        data_dir, pool_path, count = args.drive
        # The event loop uvicorn runs Trent on (uvloop where it is installed, as it is with Trent's dependencies).
        try:
            import uvloop
        except ImportError:
            asyncio.run(_drive(Path(data_dir), Path(pool_path), int(count)))
        else:
            uvloop.run(_drive(Path(data_dir), Path(pool_path), int(count)))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is required: apt-get install -y valgrind", file=sys.stderr)
        return 2
    operations = [op for op in args.operations.split(",") if op]
    with tempfile.TemporaryDirectory(prefix="trent-instructions-") as tmp:
        workdir = Path(tmp)
        data_dir, server, fixture = prepare(workdir)
        print(f"{'operation':<18} {'instructions a request':>24}")
        for operation in operations:
            pool_path = workdir / f"pool-{operation}.json"
            pool = sign_pool(server, fixture, operation)
            pool_path.write_text(json.dumps([(headers, body.decode()) for headers, body in pool]))
            small = instructions(data_dir, pool_path, args.small, workdir / "small.out")
            large_out = (args.keep or workdir) / f"callgrind-{operation}.out"
            large = instructions(data_dir, pool_path, args.large, large_out)
            per_request = (large - small) / (args.large - args.small)
            print(f"{operation:<18} {per_request:>24,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

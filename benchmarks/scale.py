"""On-demand benchmark (issue 21, "cost flat in the size of the data"): how the cost of requests, audit queries,
/metrics and maintenance grows with the size of the store, a small store against a large one in one run.

    .venv/bin/python benchmarks/scale.py [--scale 1.0] [--store postgresql://postgres@127.0.0.1:5432/postgres]
                                         [--duration 8] [--warmup 2] [--connections 16] [--json FILE] [--keep]

The large store, at --scale 1 (the issue's sizes; --scale 0.01 for a quick run):

- 1,000,000 keys (symmetric, each with its own material wrapped under the root key);
- 1,049,900 grants: 10,000 keys with 100 grants each, and 49,900 grants on one more key;
- 1,000,000 audit events (Encrypt and Decrypt calls, all about the key the Encrypt load uses);
- 100,000 users, each with an access key and an identity policy of its own (a document naming the user).

The small store has the same shape with fixed, small counts (100 keys, 10 keys with 100 grants, 100 grants on the
heavy key, 1,000 audit events, 20 users). Both are populated the same way, straight into the database with SQL bulk
inserts (batches of 10,000 rows, SQLAlchemy Core `insert(table)`, one transaction per table) after `trent init`,
built with the project's own row mappers and wrapping: `key_values`, `grant_values`, `principal_values`,
`RootKey.wrap` with `material_aad` / `secret_aad`, audit rows from `AuditLog.row`, grant tokens from `GrantTokens`
with the server's derived key, ciphertexts from `blob.seal`. Building them through the API would take hours.

Then `trent serve --workers 1` runs on each store in turn (never both at once), and the same client load measures:

- Encrypt and Decrypt (1 KiB) of one key by the administrator;
- DescribeKey by alias, round-robin over the aliases of the grant-bearing keys (10,000 in the large store);
- Decrypt with a grant token, by the grantee, round-robin over the grant-bearing keys;
- ListGrants, the last page (100 per page) of the key with 49,900 grants;
- CreateGrant with a Name on that key (the first call creates the grant; the same call again is a retry, answered
  with the same grant, so the key stays under its 50,000-grant limit);
- authentication and authorization: Encrypt of 64 bytes by users in turn, round-robin over 20,000 users, each with
  its own access key and identity policy;
- the server's RSS (VmRSS of the worker; with one worker it is the `trent serve` process) once every grant-bearing
  key and every round-robin user has been touched, and then every user has called once (100,000 in the large
  store), and its peak (VmHWM);
- on the store as populated, right after the server starts: `trent admin audit --since T` where T is the time
  of the 10th newest event (the command in process, as tests/server.py's admin_run runs it, and its repository
  query alone), and the first page (1,000 events) of `trent admin audit --key K` as the command reads it, K being
  the key every stored event is about (the repository query: the command prints all matching events, page after
  page);
- a `/metrics` scrape (wall time seen by the client, median of 21), on the idle server right after it starts and
  again after the loads;
- one maintenance pass (`trent.api.maintenance.run_due_work` in this process, with the server's settings).

The load is wrk (`benchmarks/kms.lua`) replaying requests pre-signed with SigV4 (`-t2 -c16`, 8 s measured after
2 s of warm-up, signatures fresh for every run). Round-robin pools are sent once each (every answer must be 200)
before the warm-up, so the measurement is of a server that has seen its whole working set. For each load, the
figure compared is the server's CPU time per request (user + system of the worker, from /proc), which other load
on the shared machine disturbs less than requests per second; both are printed, with the CPU of the PostgreSQL
processes per request (with --store) and the CPU used by every other process ("other", percent of a core: above
10 % the run is measured once more).

Needs `wrk` (apt-get install wrk). With `--store`, the stores are two fresh PostgreSQL databases created on that
server (and dropped at the end unless --keep); otherwise SQLite files in a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.client
import itertools
import json
import math
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from run import CLOCK_TICKS, LoadSettings, machine_busy_seconds, py_spy, run_wrk, summarize_profile, wait_for_quiet
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from trent.api.audit import AuditDraft, AuditLog
from trent.api.identity import new_secret_key, random_id
from trent.api.unique import unique_id
from trent.config import Settings
from trent.crypto import blob
from trent.crypto.keygen import new_material_id
from trent.crypto.rootkey import WrappingKey
from trent.crypto.tokens import GrantTokens
from trent.domain.grants import Grant
from trent.domain.identities import Caller, Principal, PrincipalType, user_arn
from trent.domain.ids import new_key_id
from trent.domain.keys import ORIGIN_AWS_KMS, Key, KeyState, default_key_policy
from trent.domain.keyspec import KeyUsage
from trent.domain.policy import check_actions_exist, parse_policy
from trent.storage import tables as t
from trent.storage.identities import secret_aad
from trent.storage.keys import material_aad
from trent.storage.rows import ALIAS_COLUMNS, GRANT_INSERT_COLUMNS, grant_values, key_values, principal_values
from trent.storage.store import Store

BIN = Path(sys.executable).parent
ACCOUNT = "000000000000"  # `trent init`'s default account
REGION = "us-east-1"
BATCH = 10_000
POLICY_NAME = "kms-use"
CREATE_GRANT_NAME = "scale-benchmark"
OTHER_LOAD_WARNING_PERCENT = 10
SCRAPES = 21  # /metrics scrapes per measurement (the median is shown)
ENCRYPT = frozenset({"Encrypt"})
USER_AGENT = "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux lang/python#3.11.7 cfg/retry-mode#legacy"


# --- sizes ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    keys: int  # all keys, the ones below included
    grant_keys: int  # keys with `grants_per_key` grants each
    grants_per_key: int
    heavy_grants: int  # grants on the one heavy key (ListGrants, CreateGrant)
    events: int  # audit events, all about the benchmark key
    users: int  # users with an access key and an identity policy each
    round_robin_users: int  # the users the authorization load goes round

    def describe(self) -> str:
        grants = self.grant_keys * self.grants_per_key + self.heavy_grants
        return (
            f"{self.keys:,} keys; {grants:,} grants ({self.grant_keys:,} keys x {self.grants_per_key} + "
            f"{self.heavy_grants:,} on one key); {self.events:,} audit events; {self.users:,} users with an access "
            f"key and identity policy each (round-robin over {self.round_robin_users:,})"
        )


SMALL = Sizes(
    keys=100, grant_keys=10, grants_per_key=100, heavy_grants=100, events=1_000, users=20, round_robin_users=20
)


def large_sizes(scale: float) -> Sizes:
    def n(count: int, least: int) -> int:
        return max(least, round(count * scale))

    return Sizes(
        keys=n(1_000_000, 100),
        grant_keys=n(10_000, 10),
        grants_per_key=100,
        heavy_grants=max(100, round(499 * scale) * 100),  # whole pages of 100: the last page is a full one
        events=n(1_000_000, 1_000),
        users=n(100_000, 20),
        round_robin_users=n(20_000, 20),
    )


# --- populating the store ------------------------------------------------------------------------------------------
@dataclass
class Fixture:
    """What the client needs to load a populated store."""

    bench_key: str
    bench_arn: str
    ciphertexts: list[bytes]  # 1 KiB plaintexts under the bench key
    aliases: list[str]  # of the grant-bearing keys
    token_decrypts: list[tuple[bytes, str]]  # (ciphertext, grant token of the grantee) per grant-bearing key
    heavy_key: str
    grantee: tuple[str, str]
    grantee_arn: str
    users: list[tuple[str, str]]  # access key pairs of the round-robin users
    all_users: list[tuple[str, str]]  # access key pairs of every user


def identity_policy(name: str) -> str:
    """A user's own identity policy (one document per user, as inline policies are)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Use{name.replace('-', '')}",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
                },
                {"Sid": "NoDeletion", "Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
            ],
        }
    )


class Progress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"  [{self.label} {time.monotonic() - self.started:6.1f}s] {message}", flush=True)


def _bulk(conn: Any, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """executemany in batches of BATCH rows; returns the count."""
    count = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def populate(store: Store, sizes: Sizes, say: Progress) -> Fixture:
    root: WrappingKey = store.root_key
    tokens = GrantTokens(store.derived_key(b"grant-tokens"))  # as bootstrap.build_services gets it
    now = time.time()
    key_policy = default_key_policy(ACCOUNT)

    def new_key() -> tuple[Key, bytes]:
        key = Key(
            key_id=new_key_id(),
            account=ACCOUNT,
            region=REGION,
            spec_name="SYMMETRIC_DEFAULT",
            usage=KeyUsage.ENCRYPT_DECRYPT,
            state=KeyState.ENABLED,
            description="",
            creation_date=now,
            origin=ORIGIN_AWS_KMS,
            policy=key_policy,
            current_version=1,
        )
        return key, secrets.token_bytes(32)

    def material_row(key: Key, material: bytes) -> dict[str, Any]:
        # As KeyRepository._material_values writes a generated version 1.
        return {
            "key_id": key.ref,
            "version": 1,
            "material_id": new_material_id(),
            "created": now,
            "rotation_type": None,
            "wrapped": root.wrap(material, material_aad(key.ref, 1)),
            "import_state": None,
            "expiration_model": None,
            "valid_to": None,
            "description": None,
        }

    # Users: the round-robin ones first, then the grantee of the grant-bearing keys' first grants.
    names = [f"scale-u{i}" for i in range(sizes.users)]
    parse_policy(identity_policy(names[0]), name=POLICY_NAME, kind="identity")  # as put_identity_policy checks
    check_actions_exist(identity_policy(names[0]))
    users: list[tuple[Principal, str, str]] = []  # principal, access key ID, secret
    for name in [*names, "scale-grantee"]:
        principal = Principal(
            user_arn(ACCOUNT, name), ACCOUNT, PrincipalType.USER, name, random_id("AIDA", 21), None, now
        )
        users.append((principal, random_id("AKIA", 20), new_secret_key()))
    grantee, grantee_key, grantee_secret = users[-1]
    with store.engine.begin() as conn:
        _bulk(conn, t.principals, (principal_values(p) for p, _, _ in users))
        _bulk(
            conn,
            t.access_keys,
            (
                {
                    "access_key_id": key_id,
                    "principal_arn": p.arn,
                    # As IdentityRepository.add_access_key wraps it.
                    "secret_wrapped": root.wrap(secret.encode(), secret_aad(key_id)),
                    "created": now,
                    "session_token_hash": None,
                    "session_name": None,
                    "expiration": None,
                    "status": "Active",
                }
                for p, key_id, secret in users
            ),
        )
        _bulk(
            conn,
            t.identity_policies,
            (
                {"principal_arn": p.arn, "policy_name": POLICY_NAME, "document": identity_policy(p.name)}
                for p, _, _ in users[:-1]
            ),
        )
    say(f"{len(users):,} users, access keys and identity policies")

    # Keys: the bench key, the heavy key, the grant-bearing keys, then the rest.
    bench, bench_material = new_key()
    heavy, heavy_material = new_key()
    grant_keys = [new_key() for _ in range(sizes.grant_keys)]
    special = [(bench, bench_material, 0), (heavy, heavy_material, sizes.heavy_grants)]
    special += [(key, material, sizes.grants_per_key) for key, material in grant_keys]

    def all_keys() -> Iterator[tuple[Key, bytes, int]]:
        yield from special
        for _ in range(sizes.keys - len(special)):
            key, material = new_key()
            yield key, material, 0

    with store.engine.begin() as conn:
        key_batch: list[dict[str, Any]] = []
        material_batch: list[dict[str, Any]] = []
        for key, material, grant_count in all_keys():
            key_batch.append({**key_values(key), "grant_count": grant_count})
            material_batch.append(material_row(key, material))
            if len(key_batch) == BATCH:
                conn.execute(insert(t.keys), key_batch)
                conn.execute(insert(t.key_materials), material_batch)
                key_batch, material_batch = [], []
        if key_batch:
            conn.execute(insert(t.keys), key_batch)
            conn.execute(insert(t.key_materials), material_batch)
        aliases = [f"alias/scale-g{i}" for i in range(len(grant_keys))]
        alias_rows = [
            dict(zip(ALIAS_COLUMNS, (ACCOUNT, REGION, name, key.ref, now, now), strict=True))
            for name, (key, _) in zip(["alias/scale-bench", *aliases], [(bench, b""), *grant_keys], strict=True)
        ]
        _bulk(conn, t.aliases, iter(alias_rows))
    say(f"{sizes.keys:,} keys with their material, {len(alias_rows):,} aliases")

    # Grants: each grant-bearing key's first grant is the grantee's (Decrypt); the others name users in turn.
    token_decrypts: list[tuple[bytes, str]] = []

    def grant(key: Key, grantee_arn: str, operations: frozenset[str]) -> Grant:
        return Grant(
            grant_id=secrets.token_hex(32),
            key_id=key.key_id,
            key_account=ACCOUNT,
            key_region=REGION,
            operations=operations,
            issuing_account=ACCOUNT,
            creation_date=now,
            grantee_principal=grantee_arn,
        )

    def all_grants() -> Iterator[dict[str, Any]]:
        turn = itertools.cycle(range(sizes.users))
        for key, material in grant_keys:
            first = grant(key, grantee.arn, frozenset({"Decrypt"}))
            ciphertext = blob.seal(blob.sealing_key(material), key.key_id, 1, secrets.token_bytes(64), None)
            token_decrypts.append((ciphertext, tokens.mint(first.grant_id, key.key_id)))
            yield dict(zip(GRANT_INSERT_COLUMNS, grant_values(first), strict=True))
            for _ in range(sizes.grants_per_key - 1):
                other = grant(key, users[next(turn)][0].arn, frozenset({"Encrypt", "Decrypt"}))
                yield dict(zip(GRANT_INSERT_COLUMNS, grant_values(other), strict=True))
        for _ in range(sizes.heavy_grants):
            yield dict(
                zip(GRANT_INSERT_COLUMNS, grant_values(grant(heavy, users[next(turn)][0].arn, ENCRYPT)), strict=True)
            )

    with store.engine.begin() as conn:
        grants = _bulk(conn, t.grants, all_grants())
    say(f"{grants:,} grants")

    # Audit events: Encrypt and Decrypt calls on the bench key by the users in turn, over the last day.
    times = iter([now - 86400.0 + 86400.0 * i / sizes.events for i in range(sizes.events)])
    audit = AuditLog(store, clock=lambda: next(times))
    callers = [
        Caller(ACCOUNT, p.arn, PrincipalType.USER, p.unique_id, key_id, user_name=p.name) for p, key_id, _ in users
    ]

    def all_events() -> Iterator[dict[str, Any]]:
        for i in range(sizes.events):
            caller = callers[i % sizes.users]
            draft = AuditDraft(
                "Encrypt" if i % 2 else "Decrypt",
                request={"KeyId": bench.key_id, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                resources={bench.arn: ACCOUNT},
            )
            yield audit.row(
                draft,
                caller=caller,
                access_key_id=caller.access_key_id,
                region=REGION,
                request_id=unique_id(),
                source_ip="127.0.0.1",
                user_agent=USER_AGENT,
            )

    with store.engine.begin() as conn:
        events = _bulk(conn, t.audit_events, all_events())
    say(f"{events:,} audit events")

    bench_seal = blob.sealing_key(bench_material)
    return Fixture(
        bench_key=bench.key_id,
        bench_arn=bench.arn,
        ciphertexts=[blob.seal(bench_seal, bench.key_id, 1, secrets.token_bytes(1024), None) for _ in range(32)],
        aliases=aliases,
        token_decrypts=token_decrypts,
        heavy_key=heavy.key_id,
        grantee=(grantee_key, grantee_secret),
        grantee_arn=grantee.arn,
        users=[(key_id, secret) for _, key_id, secret in users[: sizes.round_robin_users]],
        all_users=[(key_id, secret) for _, key_id, secret in users[:-1]],  # all but the grantee
    )


def settle_store(store: Store) -> None:
    """What a store that grew by itself would have had time to do: SQLite checkpoints its WAL into the database
    file; PostgreSQL's autovacuum analyzes the new tables (done here at once, so that the plans do not change while
    the server is measured)."""
    with store.engine.connect() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def table_counts(store: Store) -> dict[str, int]:
    tables = (t.keys, t.key_materials, t.aliases, t.grants, t.audit_events, t.principals, t.access_keys)
    counts: dict[str, int] = {}
    with store.engine.connect() as conn:
        for table in (*tables, t.identity_policies):
            counts[table.name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return counts


def store_bytes(store: Store) -> int:
    if store.is_sqlite:
        database = Path(str(store.engine.url.database))
        return sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


# --- a server ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trent(*args: str) -> str:
    return subprocess.run([str(BIN / "trent"), *args], check=True, capture_output=True, text=True).stdout


def read_credentials(data: Path) -> tuple[str, str]:
    lines = (data / "credentials").read_text().splitlines()
    values = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return values["aws_access_key_id"], values["aws_secret_access_key"]


class Server:
    """`trent serve --workers 1` on a data directory (and store URL), until stopped."""

    def __init__(self, data: Path, store_url: str | None) -> None:
        self.data = data
        self.postgres = bool(store_url)
        self.store_url = store_url
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        store_args = ["--store", store_url] if store_url else []
        command = [str(BIN / "trent"), "serve", "--data-dir", str(data), "--port", str(self.port), "--workers", "1"]
        command += ["--log-level", "warning", *store_args]
        self.log = data / "server.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        for _ in range(600):
            if self.process.poll() is not None:
                raise RuntimeError(f"trent serve exited; see {self.log}:\n{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"trent serve did not start; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker (with one worker, the `trent serve` process and all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the worker, in MB."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(value.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def client(self, credentials: tuple[str, str]) -> Any:
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials[0],
            aws_secret_access_key=credentials[1],
            config=Config(retries={"max_attempts": 1}),
        )


# --- requests and load ---------------------------------------------------------------------------------------------
Request = tuple[dict[str, str], bytes]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign(server: Server, credentials: tuple[str, str], target: str, document: dict[str, Any]) -> Request:
    body = json.dumps(document).encode()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
    )
    SigV4Auth(Credentials(*credentials), "kms", REGION).add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    headers["Host"] = f"127.0.0.1:{server.port}"  # the canonical host the signature covers
    return headers, body


@dataclass
class Load:
    """One load: what to sign (called afresh before every run: signatures are good for 5 minutes)."""

    name: str
    make_pool: Callable[[], list[Request]]
    touch_all: bool = False  # send every request once before the warm-up (round-robin working sets)


def touch(server: Server, pool: list[Request], threads: int = 3) -> None:
    """Send each request once; every answer must be 200 (a benchmark of errors is worthless)."""
    failures: list[str] = []

    def work(part: list[Request]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            for headers, body in part:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {payload[:300]!r}")
                    return
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(pool[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"a pooled request failed: {failures[0]}")


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def write_pool(path: Path, pool: list[Request]) -> None:
    """The Lua chunk kms.lua reads, in functions of 500 entries (LuaJIT allows 65,536 constants per function)."""
    lines = ["local p = {}"]
    for start in range(0, len(pool), 500):
        lines.append("do local function chunk()")
        for headers, body in pool[start : start + 500]:
            fields = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
            lines.append(f"p[#p + 1] = {{headers = {{{fields}}}, body = {_lua_string(body.decode())}}}")
        lines.append("end chunk() end")
    lines.append("return p")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    non_2xx: int
    socket_errors: int
    database_us: float  # CPU of the PostgreSQL server's processes per request (0 on SQLite)
    database_reads: tuple[float, float]  # PostgreSQL transactions and rows fetched per request (0 on SQLite)
    other_percent: float  # CPU of other processes (not the server, wrk or PostgreSQL), percent of one core
    pool: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def database_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this machine (whoever they serve)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, rest = stat.read_text().partition(" (")[2].rpartition(")")
        except OSError:
            continue  # gone meanwhile
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def database_reads(url: str | None) -> tuple[int, int]:
    """Transactions ended and rows fetched in the server's PostgreSQL database so far ((0, 0) on SQLite)."""
    if url is None:
        return 0, 0
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback, tup_fetched FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run_load(
    server: Server,
    load: Load,
    settings: LoadSettings,
    workdir: Path,
    settle: float,
    retries: int,
    profile: Path | None = None,
    round_number: int = 0,
) -> LoadResult:
    pool_path = workdir / f"pool-{server.data.name}.lua"
    pool = load.make_pool()
    if load.touch_all and round_number == 0:
        started = time.monotonic()
        touch(server, pool)
        print(f"    touched {len(pool):,} pooled requests in {time.monotonic() - started:.1f}s", flush=True)
    else:
        touch(server, pool[:4])
    for attempt in range(retries + 1):
        pool = load.make_pool()  # fresh signatures
        write_pool(pool_path, pool)
        if not wait_for_quiet(settle):
            print(f"    (the machine did not go quiet within {settle:.0f}s; measuring anyway)", flush=True)
        if settings.warmup:
            run_wrk(server.endpoint + "/", pool_path, settings.warmup, settings)
        database = database_cpu_seconds if server.postgres else lambda: 0.0
        cpu_before, busy_before, db_before = server.cpu_seconds(), machine_busy_seconds(), database()
        reads_before = database_reads(server.store_url)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampled: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            slug = load.name.split(":")[0].replace(" ", "-").lower()
            output = profile / f"{server.data.name}-{slug}-{round_number}.txt"
            sampled = py_spy(server.process.pid, output, settings.duration, None)
        with sampled:
            raw = run_wrk(server.endpoint + "/", pool_path, settings.duration, settings)
        if profile is not None:
            print(f"    profile of {load.name}: {summarize_profile(output)}", flush=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = server.cpu_seconds() - cpu_before
        busy = machine_busy_seconds() - busy_before
        db = database() - db_before
        reads = [after - before for after, before in zip(database_reads(server.store_url), reads_before, strict=True)]
        wrk_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        seconds = raw["duration_us"] / 1e6
        result = LoadResult(
            name=load.name,
            requests=raw["requests"],
            seconds=seconds,
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            cpu_us=1e6 * cpu / raw["requests"] if raw["requests"] else 0.0,
            non_2xx=raw["non_2xx"],
            socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
            database_us=1e6 * db / raw["requests"] if raw["requests"] else 0.0,
            database_reads=(reads[0] / raw["requests"], reads[1] / raw["requests"]) if raw["requests"] else (0, 0),
            other_percent=100 * max(0.0, busy - cpu - wrk_cpu - db) / seconds if seconds else 0.0,
            pool=len(pool),
        )
        line = (
            f"    {load.name:44} {result.rps:8,.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
            f"server CPU {result.cpu_us:6,.0f} µs/req  non-2xx {result.non_2xx}  errors {result.socket_errors}  "
            + (f"database CPU {result.database_us:,.0f} µs/req  " if result.database_us else "")
            + (
                f"database transactions {result.database_reads[0]:.2f}/req, rows {result.database_reads[1]:.1f}/req  "
                if server.postgres
                else ""
            )
            + f"other {result.other_percent:.0f}%"
        )
        if result.other_percent > OTHER_LOAD_WARNING_PERCENT and attempt < retries:
            print(line + "  -- other load, measuring again", flush=True)
            continue
        print(line, flush=True)
        return result
    raise AssertionError("unreachable")


# --- one store -----------------------------------------------------------------------------------------------------
@dataclass
class StoreResult:
    label: str
    sizes: Sizes
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    populate_seconds: float = 0.0
    loads: dict[str, LoadResult] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def scrape(server: Server) -> int:
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=60) as response:
        return len(response.read())


def median_ms(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(runs):
        began = time.perf_counter()
        value = action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), value


def audit_timings(
    result: StoreResult, store: Store, command: list[str], bench_arn: str, runs: int, say: Progress
) -> None:
    """`trent admin audit --since` (the last 10 events) as a command in process and as its query, and the first
    page of `--key` (the query: the command prints every matching event, page after page)."""
    from click.testing import CliRunner

    from trent.cli import main as cli

    with store.engine.connect() as conn:
        newest = conn.execute(
            select(t.audit_events.c.event_time).order_by(t.audit_events.c.event_time.desc()).limit(1).offset(9)
        ).scalar_one()
    since = math.floor(newest * 1e6) / 1e6
    since_text = datetime.fromtimestamp(since, UTC).isoformat()
    runner = CliRunner()

    def audit_since() -> str:
        outcome = runner.invoke(cli, [*command, "--since", since_text])
        assert outcome.exit_code == 0, outcome.output
        return outcome.stdout

    result.timings_ms["audit --since (command, last 10 events)"], output = median_ms(audit_since, runs)
    result.notes["audit_since_events"] = len([line for line in output.split("\n") if line.strip()])

    def query(**filters: Any) -> Callable[[], int]:
        def run() -> int:
            with store.transaction(write=False) as tx:
                return len(tx.audit.events(after_seq=0, limit=1000, **filters))

        return run

    result.timings_ms["audit --since (query)"], _ = median_ms(query(since=since), runs)
    result.timings_ms["audit --key K, first page (query)"], rows = median_ms(query(key_arn=bench_arn), runs)
    with store.engine.connect() as conn:
        matching = conn.execute(
            select(func.count()).select_from(t.audit_events).where(t.audit_events.c.key_arn == bench_arn)
        ).scalar_one()
    result.notes["audit_key_first_page_rows"] = rows
    result.notes["audit_key_matching_events"] = int(matching)
    # A principal with few events (a user's, 10 in the large store): its first page probes every bucket of the
    # principal index (docs/architecture.md, "Storage").
    with store.engine.connect() as conn:
        principal = conn.execute(
            select(t.audit_events.c.principal_arn).order_by(t.audit_events.c.seq.desc()).limit(1)
        ).scalar_one()
        principal_events = conn.execute(
            select(func.count()).select_from(t.audit_events).where(t.audit_events.c.principal_arn == principal)
        ).scalar_one()
    name = "audit --principal P, first page (query), P with few events"
    result.timings_ms[name], principal_rows = median_ms(query(principal_arn=principal), runs)
    result.notes["audit_principal_first_page_rows"] = principal_rows
    result.notes["audit_principal_matching_events"] = int(principal_events)
    say(
        f"audit: --since matched {result.notes['audit_since_events']} events; --key first page {rows} of "
        f"{matching:,} matching"
    )


@dataclass
class OpenStore:
    """A populated store with its server running, and the loads to measure on it."""

    result: StoreResult
    server: Server
    settings: Settings
    fixture: Fixture
    loads: list[Load]
    say: Progress


def open_store(label: str, sizes: Sizes, workdir: Path, store_url: str | None, args: argparse.Namespace) -> OpenStore:
    """Populate a store, start `trent serve` on it and time the audit queries on it as populated."""
    from trent.bootstrap import build_store, load_root_key

    result = StoreResult(label, sizes)
    say = Progress(label)
    data = workdir / label
    store_args = ["--store", store_url] if store_url else []
    trent("init", "--data-dir", str(data), "--port", str(free_port()), *store_args)
    admin = read_credentials(data)
    settings = Settings(data_dir=data, store=store_url or "")
    store = Store(settings.store_url(), load_root_key(settings, create=False), sqlite_synchronous="normal")
    began = time.monotonic()
    fixture = populate(store, sizes, say)
    settle_store(store)
    result.populate_seconds = time.monotonic() - began
    store.dispose()
    say(f"populated in {result.populate_seconds:.0f}s; starting trent serve --workers 1")

    server = Server(data, store_url)
    try:
        rss, _ = server.memory_mb()
        result.notes["rss_mb_at_start"] = rss
        # Audit queries on the store as populated (the loads below add ~250,000 events of their own).
        store = build_store(settings)
        command = ["admin", "--data-dir", str(data), *store_args, "audit"]
        audit_timings(result, store, command, fixture.bench_arn, args.runs, say)
        store.dispose()
        result.timings_ms["/metrics scrape, idle server"], _ = median_ms(functools.partial(scrape, server), SCRAPES)
        kms = server.client(admin)
        # The last page of ListGrants on the heavy key: its marker, by paging through.
        marker, pages = None, 0
        while True:
            page = kms.list_grants(KeyId=fixture.heavy_key, Limit=100, **({"Marker": marker} if marker else {}))
            pages += 1
            if not page.get("Truncated"):
                break
            marker = page["NextMarker"]
        last_page = {"KeyId": fixture.heavy_key, "Limit": 100, **({"Marker": marker} if marker else {})}
        result.notes["list_grants_pages"] = pages
        result.notes["list_grants_last_page_size"] = len(page["Grants"])
        say(f"ListGrants on the heavy key: {pages} pages, the last of {len(page['Grants'])} grants")

        def encrypts() -> list[Request]:
            plaintexts = [secrets.token_bytes(1024) for _ in range(32)]
            return [
                sign(server, admin, "Encrypt", {"KeyId": fixture.bench_key, "Plaintext": b64(p)}) for p in plaintexts
            ]

        def decrypts() -> list[Request]:
            return [sign(server, admin, "Decrypt", {"CiphertextBlob": b64(c)}) for c in fixture.ciphertexts]

        def describes() -> list[Request]:
            return [sign(server, admin, "DescribeKey", {"KeyId": alias}) for alias in fixture.aliases]

        def token_decrypts() -> list[Request]:
            return [
                sign(server, fixture.grantee, "Decrypt", {"CiphertextBlob": b64(c), "GrantTokens": [token]})
                for c, token in fixture.token_decrypts
            ]

        def list_last_page() -> list[Request]:
            return [sign(server, admin, "ListGrants", last_page)] * 4

        def create_named_grant() -> list[Request]:
            document = {
                "KeyId": fixture.heavy_key,
                "GranteePrincipal": fixture.grantee_arn,
                "Operations": ["Decrypt"],
                "Name": CREATE_GRANT_NAME,
            }
            return [sign(server, admin, "CreateGrant", document)] * 4

        def users_in_turn() -> list[Request]:
            document = {"KeyId": fixture.bench_key, "Plaintext": b64(b"p" * 64)}
            return [sign(server, user, "Encrypt", document) for user in fixture.users]

        loads = [
            Load("Encrypt 1 KiB", encrypts),
            Load("Decrypt 1 KiB", decrypts),
            Load("DescribeKey by alias (round-robin)", describes, touch_all=True),
            Load("Decrypt with a grant token (round-robin)", token_decrypts, touch_all=True),
            Load("ListGrants, last page of the heavy key", list_last_page),
            Load("CreateGrant with a Name on the heavy key", create_named_grant),
            Load("Authn+authz: Encrypt by users in turn", users_in_turn, touch_all=True),
        ]
        if args.loads:
            loads = [load for load in loads if any(part.lower() in load.name.lower() for part in args.loads.split(","))]
    except BaseException:
        server.stop()
        raise
    return OpenStore(result, server, settings, fixture, loads, say)


def close_store(opened: OpenStore, args: argparse.Namespace) -> StoreResult:
    """Every user calls once, then the worker's memory, /metrics and a maintenance pass; the server stops."""
    from trent.api.maintenance import run_due_work
    from trent.bootstrap import build_services, build_store

    result, server, settings, fixture, say = opened.result, opened.server, opened.settings, opened.fixture, opened.say
    try:
        # Every principal calls once (100,000 in the large store), so that the caches have met them all.
        started = time.monotonic()
        document = {"KeyId": fixture.bench_key, "Plaintext": b64(b"p" * 64)}
        touch(server, [sign(server, user, "Encrypt", document) for user in fixture.all_users])
        say(f"every one of the {len(fixture.all_users):,} users called once ({time.monotonic() - started:.0f}s)")
        rss, hwm = server.memory_mb()
        result.notes["rss_mb_after_touching"] = rss
        result.notes["hwm_mb_after_touching"] = hwm
        say(f"worker RSS {rss:.0f} MB (peak {hwm:.0f} MB) after touching every grant-bearing key and user")

        store = build_store(settings)

        result.timings_ms["/metrics scrape, after the loads"], _ = median_ms(functools.partial(scrape, server), SCRAPES)

        services = build_services(settings, store)

        def maintenance() -> dict[str, int]:
            return run_due_work(
                services,
                audit_retention_days=settings.audit_retention_days,
                audit_max_events=settings.audit_max_events,
            )

        result.timings_ms["maintenance pass (run_due_work)"], done = median_ms(maintenance, args.runs)
        result.notes["maintenance_result"] = done
        store.dispose()
        result.notes["rss_mb_at_end"], result.notes["hwm_mb_at_end"] = server.memory_mb()
        for name, ms in result.timings_ms.items():
            say(f"{name}: {ms:.1f} ms (median)")
    finally:
        server.stop()
    store = build_store(settings)
    result.counts = table_counts(store)
    result.bytes = store_bytes(store)
    store.dispose()
    say(f"rows: {result.counts}; {result.bytes / 1e6:,.0f} MB")
    return result


def measure_stores(
    small: OpenStore, open_large: Callable[[], OpenStore], workdir: Path, args: argparse.Namespace
) -> tuple[StoreResult, StoreResult]:
    """Each load on both servers in turn, `args.rounds` times, small and large alternating which goes first
    (small-large, large-small, ...), so that a change in the machine's other load during the run falls on both
    alike. A store's figure for a load is its median round; the ratio is the median of the rounds' ratios."""
    try:
        large = open_large()
    except BaseException:
        small.server.stop()
        raise
    try:
        settings = LoadSettings(args.duration, args.warmup, args.connections, args.threads)
        for small_load, large_load in zip(small.loads, large.loads, strict=True):
            rounds: dict[str, list[LoadResult]] = {"small": [], "large": []}
            for number in range(args.rounds):
                order = (small, large) if number % 2 == 0 else (large, small)
                for opened in order:
                    load = small_load if opened is small else large_load
                    print(f"  {opened.result.label}, round {number + 1} of {args.rounds}:", flush=True)
                    rounds[opened.result.label].append(
                        run_load(
                            opened.server, load, settings, workdir, args.settle, args.retries, args.profile, number
                        )
                    )
            ratios = [b.cpu_us / s.cpu_us for s, b in zip(rounds["small"], rounds["large"], strict=True) if s.cpu_us]
            for opened in (small, large):
                measured = sorted(rounds[opened.result.label], key=lambda m: m.cpu_us)
                opened.result.loads[small_load.name] = measured[len(measured) // 2]
            large.result.notes.setdefault("round_ratios", {})[small_load.name] = [round(r, 3) for r in ratios]
            large.result.notes.setdefault("median_ratios", {})[small_load.name] = statistics.median(ratios)
            print(
                f"  {small_load.name}: large/small by round {', '.join(f'{r:.2f}x' for r in ratios)}; "
                f"median {statistics.median(ratios):.2f}x",
                flush=True,
            )
    finally:
        try:
            small_result = close_store(small, args)
        finally:
            large_result = close_store(large, args)
    return small_result, large_result


# --- PostgreSQL databases ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_databases(url: str, names: list[str], keep: bool) -> Iterator[list[str]]:
    """Fresh databases on the PostgreSQL server of `url` (whose database is used to create them)."""
    import psycopg

    base = make_url(url)
    admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    created = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            created.append(base.set(drivername="postgresql", database=name).render_as_string(hide_password=False))
    try:
        yield created
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- report --------------------------------------------------------------------------------------------------------
POINT_TARGET = 1.3
AUDIT_TARGET_MS = 50.0
RSS_TARGET_MB = 300.0


def report(small: StoreResult, large: StoreResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, s in small.loads.items():
        b = large.loads[name]
        ratio = large.notes.get("median_ratios", {}).get(name) or (b.cpu_us / s.cpu_us if s.cpu_us else math.inf)
        rows.append(
            {
                "measurement": f"{name}: server CPU per request",
                "small": f"{s.cpu_us:,.0f} µs ({s.rps:,.0f}/s)",
                "large": f"{b.cpu_us:,.0f} µs ({b.rps:,.0f}/s)",
                "ratio": ratio,
                "target": f"≤ {POINT_TARGET}x",
                "met": ratio <= POINT_TARGET,
            }
        )
    for name, s_ms in small.timings_ms.items():
        b_ms = large.timings_ms[name]
        audit = name.startswith("audit")
        rows.append(
            {
                "measurement": name,
                "small": f"{s_ms:,.1f} ms",
                "large": f"{b_ms:,.1f} ms",
                "ratio": b_ms / s_ms if s_ms else math.inf,
                "target": f"< {AUDIT_TARGET_MS:.0f} ms" if audit else "-",
                "met": b_ms < AUDIT_TARGET_MS if audit else None,
            }
        )
    s_rss, b_rss = small.notes["rss_mb_after_touching"], large.notes["rss_mb_after_touching"]
    rows.append(
        {
            "measurement": "worker RSS after touching every grant-bearing key (1 M grants) and every user",
            "small": f"{s_rss:,.0f} MB",
            "large": f"{b_rss:,.0f} MB",
            "ratio": b_rss / s_rss,
            "target": f"< {RSS_TARGET_MB:.0f} MB",
            "met": b_rss < RSS_TARGET_MB,
        }
    )
    return rows


def print_report(
    small: StoreResult, large: StoreResult, args: argparse.Namespace, backend: str
) -> list[dict[str, Any]]:
    print()
    load = f"wrk -t{args.threads} -c{args.connections}, {args.duration}s after {args.warmup}s warm-up"
    print(f"{backend}; trent serve --workers 1; {load}; {args.rounds} rounds per load and store, alternating")
    print("server CPU per request: each store's median round; large/small: the median of the rounds' ratios")
    for result in (small, large):
        print(f"{result.label}: {result.sizes.describe()}; {result.bytes / 1e6:,.0f} MB; rows {result.counts}")
    print()
    print("| measurement | small | large | large/small | target | met |")
    print("|---|---:|---:|---:|---|---|")
    rows = report(small, large)
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        figures = f"{row['small']} | {row['large']} | {row['ratio']:.2f}x"
        print(f"| {row['measurement']} | {figures} | {row['target']} | {met} |")
    print()
    print(
        "| load | store | req/s | p50 ms | p99 ms | server CPU µs/req | database CPU µs/req | non-2xx | socket errors "
        "| other CPU | pool |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in small.loads:
        for result in (small, large):
            m = result.loads[name]
            print(
                f"| {name} | {result.label} | {m.rps:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.cpu_us:,.0f} "
                f"| {m.database_us:,.0f} | {m.non_2xx} | {m.socket_errors} | {m.other_percent:.0f}% | {m.pool:,} |"
            )
    print()
    for result in (small, large):
        print(f"{result.label}: {json.dumps(result.notes)}")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's sizes (0.01: a quick run)")
    parser.add_argument("--store", help="a PostgreSQL URL: measure there (fresh databases) instead of SQLite")
    parser.add_argument("--duration", type=int, default=8, help="seconds measured per load")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each load is measured on each store, the stores alternating"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=5, help="runs of each in-process timing (the median is shown)")
    parser.add_argument("--settle", type=float, default=30, help="seconds to wait for a quiet machine before a load")
    parser.add_argument("--retries", type=int, default=1, help="measure a load again when other load showed up")
    parser.add_argument("--workdir", type=Path, help="where the data directories go (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and databases")
    parser.add_argument("--json", type=Path, help="write the results to this file as JSON")
    parser.add_argument("--loads", help="only the loads whose names contain one of these (comma-separated), e.g. authn")
    parser.add_argument("--profile", type=Path, help="record each measured load with py-spy into this directory")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0 < args.scale <= 1.0:
        parser.error("--scale must be in (0, 1]")
    if args.store and not args.store.startswith(("postgresql://", "postgres://")):
        parser.error("--store must be a postgresql:// URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    large = large_sizes(args.scale)
    workdir = Path(tempfile.mkdtemp(prefix="trent-scale-", dir=args.workdir))
    suffix = secrets.token_hex(3)
    backend = "PostgreSQL" if args.store else "SQLite"
    started = datetime.now(UTC)
    print(f"{started:%Y-%m-%d %H:%M} UTC; {backend}; data in {workdir}", flush=True)
    try:
        with (
            fresh_databases(args.store, [f"trent_scale_small_{suffix}", f"trent_scale_large_{suffix}"], args.keep)
            if args.store
            else contextlib.nullcontext([None, None])
        ) as urls:
            small_result, large_result = measure_stores(
                open_store("small", SMALL, workdir, urls[0], args),
                functools.partial(open_store, "large", large, workdir, urls[1], args),
                workdir,
                args,
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = print_report(small_result, large_result, args, backend)
    if args.json:
        document = {
            "started": started.isoformat(),
            "backend": backend,
            "scale": args.scale,
            "stores": [asdict(small_result), asdict(large_result)],
            "summary": rows,
        }
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
    failed = [m for r in (small_result, large_result) for m in r.loads.values() if m.non_2xx or m.socket_errors]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Crash-safety harness: concurrent clients keep a journal of what the server acknowledged while the server is
killed with SIGKILL at random moments; the journal is then checked against what the server and its store hold.

Every request ends in one of three outcomes, as its client saw it:

- ACKED: HTTP 200 and a whole result. Its effect must be durable.
- REJECTED: a 4xx error. Its effect must be absent (none is expected in this workload: each is a failure).
- UNKNOWN: the connection failed (the server was killed, or was down), a 5xx came back, or a 200 whose body the
  kill cut short. Its effect may be present or absent, but if present it must be whole.

Clients make exactly one attempt per request (a retry would blur what was acknowledged).
"""

from __future__ import annotations

import enum
import json
import random
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.pool import NullPool

from tests.server import REGION, TrentServer
from trent.storage import tables as t

ACCOUNT = "000000000000"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
GRANTEE_USER = "crash-grantee"
WRITE_OPERATIONS = ("CreateKey", "CreateGrant", "RetireGrant", "RevokeGrant", "PutKeyPolicy")
OPERATIONS = (*WRITE_OPERATIONS, "Encrypt")
#: Relative frequency of each operation in the load.
WEIGHTS = {"CreateKey": 1, "CreateGrant": 4, "RetireGrant": 1, "RevokeGrant": 1, "Encrypt": 4, "PutKeyPolicy": 2}
#: The operation sets grants are given; about half include Encrypt, which the grantee check relies on.
GRANT_OPERATION_SETS: tuple[tuple[str, ...], ...] = (
    ("Encrypt",),
    ("Decrypt",),
    ("Encrypt", "Decrypt"),
    ("Encrypt", "Decrypt", "GenerateDataKey"),
    ("DescribeKey",),
    ("Decrypt", "ReEncryptFrom", "ReEncryptTo"),
)
#: Longest wait of the crash loop for a write in flight before it kills the server anyway, in seconds.
IN_FLIGHT_WAIT = 2.0
#: Connection failures of requests that never reached the server (refused connections).
NOT_SENT_ERRORS = frozenset({"EndpointConnectionError"})
#: Members an acknowledgement must have; a response without them was cut short by a kill.
RESPONSE_MEMBERS = {"CreateKey": ("KeyMetadata",), "CreateGrant": ("GrantId",), "Encrypt": ("CiphertextBlob",)}


class Outcome(enum.Enum):
    ACKED = "acked"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass
class Call:
    """One request, and what its client learnt of it."""

    operation: str
    start: float
    end: float = 0.0
    outcome: Outcome = Outcome.UNKNOWN
    response: dict[str, Any] = field(default_factory=dict)
    #: The error code (an error response) or the exception class (a connection failure).
    error: str | None = None
    #: The HTTP status of an error response.
    status: int | None = None
    #: Whether botocore got as far as sending the request (tracked for writes only).
    sent: bool = False

    @property
    def acked(self) -> bool:
        return self.outcome is Outcome.ACKED

    @property
    def cut(self) -> bool:
        """Whether the connection broke while the request was being sent or answered (a kill cut it)."""
        return self.outcome is Outcome.UNKNOWN and self.status is None and self.error not in NOT_SENT_ERRORS

    @property
    def request_id(self) -> str | None:
        request_id: str | None = self.response.get("ResponseMetadata", {}).get("RequestId")
        return request_id


@dataclass
class KeyAttempt:
    description: str
    call: Call
    key_id: str | None = None
    arn: str | None = None


@dataclass
class GrantAttempt:
    name: str
    key: KeyAttempt
    operations: frozenset[str]
    call: Call
    grant_id: str | None = None
    #: The RetireGrant or RevokeGrant attempted on this grant, if any (at most one is).
    deletion: DeleteAttempt | None = None


@dataclass
class DeleteAttempt:
    grant: GrantAttempt
    call: Call


@dataclass
class PolicyAttempt:
    key: KeyAttempt
    sid: str
    document: str
    call: Call


@dataclass
class Ciphertext:
    key: KeyAttempt
    plaintext: bytes
    context: dict[str, str]
    blob: bytes


@dataclass
class LoadControl:
    """What the crash loop tells the clients: whether to stop, and whether the server is up."""

    stop: threading.Event = field(default_factory=threading.Event)
    up: threading.Event = field(default_factory=threading.Event)

    def wait_until_up(self) -> None:
        while not self.up.wait(0.1) and not self.stop.is_set():
            pass


class Journal:
    """What the clients asked for and what they were told, shared by all client threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writes_in_flight = 0
        self.calls: list[Call] = []
        self.keys: list[KeyAttempt] = []
        self.grants: list[GrantAttempt] = []
        self.deletions: list[DeleteAttempt] = []
        self.policies: list[PolicyAttempt] = []
        self.ciphertexts: list[Ciphertext] = []
        self._usable_keys: list[KeyAttempt] = []
        self._live_grants: list[GrantAttempt] = []

    def sent(self, call: Call) -> None:
        """The request has left its client (botocore's before-send)."""
        if call.operation in WRITE_OPERATIONS and not call.sent:
            call.sent = True
            with self._lock:
                self.writes_in_flight += 1

    def add_call(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            if call.sent:
                self.writes_in_flight -= 1

    def add_key(self, attempt: KeyAttempt) -> None:
        with self._lock:
            self.keys.append(attempt)
            if attempt.call.acked:
                self._usable_keys.append(attempt)

    def add_grant(self, attempt: GrantAttempt) -> None:
        with self._lock:
            self.grants.append(attempt)
            if attempt.call.acked:
                self._live_grants.append(attempt)

    def add_deletion(self, attempt: DeleteAttempt) -> None:
        with self._lock:
            self.deletions.append(attempt)

    def add_policy(self, attempt: PolicyAttempt) -> None:
        with self._lock:
            self.policies.append(attempt)

    def add_ciphertext(self, ciphertext: Ciphertext) -> None:
        with self._lock:
            self.ciphertexts.append(ciphertext)

    def pick_key(self, rng: random.Random) -> KeyAttempt | None:
        with self._lock:
            return rng.choice(self._usable_keys) if self._usable_keys else None

    def take_live_grant(self, rng: random.Random) -> GrantAttempt | None:
        """An acknowledged grant no client has tried to delete yet; it is no longer offered to others."""
        with self._lock:
            if not self._live_grants:
                return None
            index = rng.randrange(len(self._live_grants))
            self._live_grants[index], self._live_grants[-1] = self._live_grants[-1], self._live_grants[index]
            return self._live_grants.pop()

    def outcomes(self) -> dict[str, Counter[Outcome]]:
        counts: dict[str, Counter[Outcome]] = {operation: Counter() for operation in OPERATIONS}
        for call in self.calls:
            counts[call.operation][call.outcome] += 1
        return counts

    def errors(self) -> Counter[str]:
        return Counter(f"{call.operation}:{call.error}" for call in self.calls if call.error is not None)


def kms_client(server: TrentServer, credentials: tuple[str, str] | None = None, read_timeout: float = 30) -> Any:
    """A KMS client that makes exactly one attempt per call.

    Not `TrentServer.client`: botocore reads its `max_attempts=1` as one *retry*, and a retried CreateKey whose
    first attempt committed would make two keys where the journal knows of one.
    """
    access_key, secret_key = credentials or server.admin_credentials()
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=read_timeout
        ),
    )


def policy_document(sid: str) -> str:
    """A key policy that keeps the administrator in charge, told apart from the others by its Sid."""
    statement = {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": ADMIN_ARN}, "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class LoadClient(threading.Thread):
    """One client: random operations in a loop, each journalled with its outcome, until told to stop."""

    def __init__(
        self, index: int, server: TrentServer, journal: Journal, grantee_arn: str, seed: int, control: LoadControl
    ) -> None:
        super().__init__(name=f"crash-client-{index}", daemon=True)
        self.index = index
        self.server = server
        self.journal = journal
        self.grantee_arn = grantee_arn
        self.rng = random.Random(seed)
        self.control = control
        self.counter = 0
        self.failure: str | None = None  # a bug of the harness itself, reported by the test
        self.kms: Any = None
        self.current: Call | None = None

    def run(self) -> None:
        try:
            self.kms = kms_client(self.server)
            self.kms.meta.events.register("before-send.kms", self.before_send)
            operations, weights = list(WEIGHTS), list(WEIGHTS.values())
            while not self.control.stop.is_set():
                operation = self.rng.choices(operations, weights)[0]
                {
                    "CreateKey": self.create_key,
                    "CreateGrant": self.create_grant,
                    "RetireGrant": self.delete_grant,
                    "RevokeGrant": self.delete_grant,
                    "Encrypt": self.encrypt,
                    "PutKeyPolicy": self.put_key_policy,
                }[operation](operation)
        except Exception:
            self.failure = traceback.format_exc()

    def before_send(self, **_: Any) -> None:
        if self.current is not None:
            self.journal.sent(self.current)

    def unique(self, kind: str) -> str:
        self.counter += 1
        return f"crash-{kind}-{self.index}-{self.counter}"

    def call(self, operation: str, request: Callable[[], dict[str, Any]]) -> Call:
        call = self.current = Call(operation, time.monotonic())
        try:
            call.response = request()
            call.outcome = Outcome.ACKED
            if any(member not in call.response for member in RESPONSE_MEMBERS.get(operation, ())):
                # A 200 whose body the kill cut short: done by the server, but unknown to the client.
                call.outcome, call.error = Outcome.UNKNOWN, "IncompleteBody"
        except ClientError as exc:
            call.status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            call.error = exc.response.get("Error", {}).get("Code", "?")
            call.outcome = Outcome.UNKNOWN if call.status >= 500 else Outcome.REJECTED
        except BotoCoreError as exc:
            call.error = type(exc).__name__
            call.outcome = Outcome.UNKNOWN
        call.end = time.monotonic()
        self.journal.add_call(call)
        if call.outcome is Outcome.UNKNOWN:
            self.control.wait_until_up()  # rather than spin while the server is down
        return call

    def create_key(self, operation: str = "CreateKey") -> None:
        description = self.unique("key")
        call = self.call("CreateKey", lambda: self.kms.create_key(Description=description))
        attempt = KeyAttempt(description, call)
        if call.acked:
            attempt.key_id = call.response["KeyMetadata"]["KeyId"]
            attempt.arn = call.response["KeyMetadata"]["Arn"]
        self.journal.add_key(attempt)

    def create_grant(self, operation: str = "CreateGrant") -> None:
        key = self.journal.pick_key(self.rng)
        if key is None:
            self.create_key()
            return
        name = self.unique("grant")
        operations = self.rng.choice(GRANT_OPERATION_SETS)
        call = self.call(
            "CreateGrant",
            lambda: self.kms.create_grant(
                KeyId=key.arn,
                GranteePrincipal=self.grantee_arn,
                RetiringPrincipal=ADMIN_ARN,
                Operations=list(operations),
                Name=name,
            ),
        )
        attempt = GrantAttempt(name, key, frozenset(operations), call)
        if call.acked:
            attempt.grant_id = call.response["GrantId"]
        self.journal.add_grant(attempt)

    def delete_grant(self, operation: str) -> None:
        grant = self.journal.take_live_grant(self.rng)
        if grant is None:
            self.create_grant()
            return
        method = self.kms.retire_grant if operation == "RetireGrant" else self.kms.revoke_grant
        call = self.call(operation, lambda: method(KeyId=grant.key.arn, GrantId=grant.grant_id))
        grant.deletion = DeleteAttempt(grant, call)
        self.journal.add_deletion(grant.deletion)

    def encrypt(self, operation: str = "Encrypt") -> None:
        key = self.journal.pick_key(self.rng)
        if key is None:
            self.create_key()
            return
        plaintext = self.rng.randbytes(self.rng.randint(1, 64))
        context = {"client": str(self.index), "request": self.unique("encrypt")}
        call = self.call(
            "Encrypt", lambda: self.kms.encrypt(KeyId=key.key_id, Plaintext=plaintext, EncryptionContext=context)
        )
        if call.acked:
            self.journal.add_ciphertext(Ciphertext(key, plaintext, context, call.response["CiphertextBlob"]))

    def put_key_policy(self, operation: str = "PutKeyPolicy") -> None:
        key = self.journal.pick_key(self.rng)
        if key is None:
            self.create_key()
            return
        sid = self.unique("policy")
        document = policy_document(sid)
        call = self.call(
            "PutKeyPolicy", lambda: self.kms.put_key_policy(KeyId=key.key_id, PolicyName="default", Policy=document)
        )
        self.journal.add_policy(PolicyAttempt(key, sid, document, call))


class Checks:
    """Counts the checks made, by kind, and collects the failed ones (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.made: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failures: list[str] = []

    def check(self, kind: str, ok: bool, detail: str | Callable[[], str] = "") -> bool:
        with self._lock:
            self.made[kind] += 1
            if not ok:
                self.failed[kind] += 1
                self.failures.append(f"[{kind}] {detail() if callable(detail) else detail}")
        return ok

    @property
    def total(self) -> int:
        return sum(self.made.values())

    def report(self, limit: int = 40) -> str:
        """The failed checks: how many of each kind, then the first `limit` of them."""
        by_kind = "".join(f"  {count:6d} x {kind}\n" for kind, count in self.failed.most_common())
        return f"{len(self.failures)} checks failed:\n{by_kind}first ones:\n" + "\n".join(self.failures[:limit])


# --- the crash loop ------------------------------------------------------------------------------------------


@dataclass
class CrashLoop:
    """Kills the server `kills` times and starts it again.

    Each kill comes at a random moment: a random uptime, then the first moment a write has been sent (or the end
    of `IN_FLIGHT_WAIT`), then a random `lag`, so that kills land before, during and after the server's handling
    and commit of a write rather than mostly between requests.
    """

    server: TrentServer
    journal: Journal
    control: LoadControl
    rng: random.Random
    kills: int
    #: Bounds of the server's uptime before each kill, in seconds.
    uptime: tuple[float, float] = (0.1, 1.2)
    #: Bounds of the delay between a write's sending and the kill, in seconds.
    lag: tuple[float, float] = (0.0, 0.03)
    #: Called with the server dead, before each restart (the raw crashed state of the store).
    after_kill: Callable[[int], None] | None = None
    done: int = 0
    #: Kills made while a write was in flight.
    during_writes: int = 0
    downtime: float = 0.0
    kill_times: list[float] = field(default_factory=list)

    def kill(self) -> None:
        process = self.server.process
        assert process is not None and process.poll() is None, f"the server died by itself:\n{self.server.log()}"
        deadline = time.monotonic() + IN_FLIGHT_WAIT
        while self.journal.writes_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.0005)
        if self.journal.writes_in_flight > 0:
            time.sleep(self.rng.uniform(*self.lag))
        self.during_writes += self.journal.writes_in_flight > 0
        self.control.up.clear()
        self.kill_times.append(time.monotonic())
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.done += 1

    def run(self, *, last: Callable[[], None]) -> None:
        """Kill and restart; after the last kill, call `last` and leave the server dead."""
        self.control.up.set()
        for number in range(1, self.kills + 1):
            time.sleep(self.rng.uniform(*self.uptime))
            self.kill()
            went_down = time.monotonic()
            if number == self.kills:
                last()
            if self.after_kill is not None:
                self.after_kill(number)
            if number < self.kills:
                self.server.start()
                self.control.up.set()
                self.downtime += time.monotonic() - went_down


def calls_across_kills(journal: Journal, kill_times: Iterable[float]) -> Counter[str]:
    """How the requests that were under way at a kill ended: acked, or by which error."""
    outcomes: Counter[str] = Counter()
    for moment in kill_times:
        for call in journal.calls:
            if call.start < moment < call.end:
                outcomes[call.error or call.outcome.value] += 1
    return outcomes


# --- the store, read directly --------------------------------------------------------------------------------


def store_engine(server: TrentServer) -> Engine:
    return create_engine(server.database_url, poolclass=NullPool)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one snapshot. A killed server's PostgreSQL backend may still finish a
    COMMIT it had received, so the store can change under the checks even with the server dead."""
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def check_store_invariants(engine: Engine, checks: Checks, when: str) -> None:
    """Nothing half-present: every key has its material, every grant its key, its change-feed rows and its place
    in its key's grant count."""
    with snapshot(engine) as conn:
        materials = set(conn.execute(select(t.key_materials.c.key_id, t.key_materials.c.version)))
        keys = list(conn.execute(select(t.keys.c.key_id, t.keys.c.current_version, t.keys.c.grant_count)))
        grants = list(conn.execute(select(t.grants.c.grant_id, t.grants.c.key_id, t.grants.c.deleted_at)))
        changes: dict[str, int] = {
            grant_id: count
            for grant_id, count in conn.execute(
                select(t.changes.c.entity, func.count()).where(t.changes.c.kind == "grant").group_by(t.changes.c.entity)
            )
        }
    key_ids = {key_id for key_id, _, _ in keys}
    active: Counter[str] = Counter(key_id for _, key_id, deleted_at in grants if deleted_at is None)
    for key_id, version, grant_count in keys:
        checks.check(
            "store: key has the material of its current version",
            (key_id, version) in materials,
            f"{when}: key {key_id} has no key material version {version}",
        )
        checks.check(
            "store: key grant_count equals its active grants",
            grant_count == active[key_id],
            f"{when}: key {key_id} has grant_count {grant_count} but {active[key_id]} active grants",
        )
    for grant_id, key_id, deleted_at in grants:
        checks.check(
            "store: grant's key exists",
            key_id in key_ids,
            f"{when}: grant {grant_id} is on key {key_id}, which is absent",
        )
        expected_changes = 1 if deleted_at is None else 2
        checks.check(
            "store: grant has its change-feed rows",
            changes.get(grant_id, 0) >= expected_changes,
            f"{when}: grant {grant_id} ({'deleted' if deleted_at else 'active'}) has "
            f"{changes.get(grant_id, 0)} change-feed rows",
        )


@dataclass
class StoreFindings:
    #: (key ID, description) of the keys whose CreateKey was not acknowledged but which exist.
    unacknowledged_keys: list[tuple[str, str]] = field(default_factory=list)
    #: Unacknowledged writes that took effect, by operation.
    unacknowledged_applied: Counter[str] = field(default_factory=Counter)


def check_store_against_journal(engine: Engine, journal: Journal, checks: Checks) -> StoreFindings:
    """Every key and grant in the store is one the clients asked for, acknowledged ones are there, and every
    change has its audit event."""
    with snapshot(engine) as conn:
        stored_keys: dict[str, str] = {
            key_id: description for key_id, description in conn.execute(select(t.keys.c.key_id, t.keys.c.description))
        }
        stored_grants = {
            grant_id: (key_id, name, deleted_at)
            for grant_id, key_id, name, deleted_at in conn.execute(
                select(t.grants.c.grant_id, t.grants.c.key_id, t.grants.c.name, t.grants.c.deleted_at)
            )
        }
        audit = list(
            conn.execute(
                select(t.audit_events.c.event_name, t.audit_events.c.error_code, t.audit_events.c.record).where(
                    t.audit_events.c.event_name.in_(WRITE_OPERATIONS)
                )
            )
        )
    attempted_keys = {attempt.description: attempt for attempt in journal.keys}
    described: Counter[str] = Counter(stored_keys.values())
    findings = StoreFindings()
    for key_id, description in stored_keys.items():
        attempt = attempted_keys.get(description)
        checks.check(
            "store: key was asked for",
            attempt is not None and attempt.call.outcome is not Outcome.REJECTED,
            f"key {key_id} with description {description!r} was not created by a client (or was refused)",
        )
        checks.check(
            "store: key created once", described[description] == 1, f"{described[description]} keys are {description!r}"
        )
        if attempt is not None and attempt.call.outcome is Outcome.UNKNOWN:
            findings.unacknowledged_keys.append((key_id, description))
            findings.unacknowledged_applied["CreateKey"] += 1
    for attempt in journal.keys:
        if attempt.call.acked:
            checks.check(
                "store: acknowledged key present with its description",
                stored_keys.get(attempt.key_id or "") == attempt.description,
                f"acknowledged key {attempt.key_id} ({attempt.description!r}) is "
                f"{stored_keys.get(attempt.key_id or '')!r} in the store",
            )
    attempted_grants = {attempt.name: attempt for attempt in journal.grants}
    for grant_id, (key_id, name, _) in stored_grants.items():
        grant = attempted_grants.get(name or "")
        checks.check(
            "store: grant was asked for, on its key",
            grant is not None and grant.call.outcome is not Outcome.REJECTED and grant.key.key_id == key_id,
            f"grant {grant_id} named {name!r} on key {key_id} was not created so by a client",
        )
        if grant is not None and grant.call.outcome is Outcome.UNKNOWN:
            findings.unacknowledged_applied["CreateGrant"] += 1
    for grant in journal.grants:
        if grant.call.acked:
            stored = stored_grants.get(grant.grant_id or "")
            checks.check(
                "store: acknowledged grant present",
                stored is not None and stored[1] == grant.name,
                f"acknowledged grant {grant.grant_id} ({grant.name}) is absent from the store",
            )
            if grant.deletion is not None and grant.deletion.call.acked:
                checks.check(
                    "store: acknowledged retire/revoke left a tombstone",
                    stored is not None and stored[2] is not None,
                    f"grant {grant.grant_id} was deleted by an acknowledged {grant.deletion.call.operation} but is "
                    f"active in the store",
                )
            if grant.deletion is not None and grant.deletion.call.outcome is Outcome.UNKNOWN and stored and stored[2]:
                findings.unacknowledged_applied[grant.deletion.call.operation] += 1
    events: dict[str, tuple[str, str | None]] = {}
    audited_keys: set[str] = set()
    audited_grants: set[str] = set()
    audited_deletions: set[str] = set()
    for event_name, error_code, record in audit:
        event = json.loads(record)
        events[event.get("requestID", "")] = (event_name, error_code)
        if error_code is not None:
            continue
        if event_name == "CreateKey":
            audited_keys.add(event["responseElements"]["keyMetadata"]["keyId"])
        elif event_name == "CreateGrant":
            audited_grants.add(event["responseElements"]["grantId"])
        elif event_name in ("RetireGrant", "RevokeGrant"):
            audited_deletions.add((event.get("additionalEventData") or event.get("requestParameters") or {})["grantId"])
    # Whole, acknowledged or not: a change is in the store together with its audit event, or not at all.
    for key_id in stored_keys:
        checks.check(
            "store: key has its CreateKey audit event", key_id in audited_keys, f"key {key_id} was not audited"
        )
    for grant_id, (_, _, deleted_at) in stored_grants.items():
        checks.check(
            "store: grant has its CreateGrant audit event", grant_id in audited_grants, f"grant {grant_id} unaudited"
        )
        if deleted_at is not None:
            checks.check(
                "store: deleted grant has its RetireGrant/RevokeGrant audit event",
                grant_id in audited_deletions,
                f"the deletion of grant {grant_id} was not audited",
            )
    for call in journal.calls:
        if call.acked and call.operation in WRITE_OPERATIONS:
            checks.check(
                "store: acknowledged write has its audit event",
                events.get(call.request_id or "") == (call.operation, None),
                f"acknowledged {call.operation} (request {call.request_id}) has audit event "
                f"{events.get(call.request_id or '')}",
            )
    return findings


# --- the API, after the last restart -------------------------------------------------------------------------


def legal_policies(initial: str, attempts: Iterable[PolicyAttempt]) -> set[str]:
    """The key policies a key may hold after its PutKeyPolicy calls, acknowledged or not.

    A PUT that was refused never takes effect. Any other PUT may be the last one applied unless an acknowledged
    PUT began after it had ended (which then certainly came later). The initial policy stays legal while no PUT
    was acknowledged.
    """
    attempts = [attempt for attempt in attempts if attempt.call.outcome is not Outcome.REJECTED]
    acked = [attempt for attempt in attempts if attempt.call.acked]
    legal = {
        attempt.document for attempt in attempts if not any(later.call.start > attempt.call.end for later in acked)
    }
    if not acked:
        legal.add(initial)
    return legal


@dataclass
class ApiVerifier:
    """Checks, through the API of the restarted server, everything the journal says must hold."""

    server: TrentServer
    journal: Journal
    checks: Checks
    grantee_credentials: tuple[str, str]
    initial_policy: str
    threads: int = 4
    _local: threading.local = field(default_factory=threading.local)

    def admin(self) -> Any:
        if not hasattr(self._local, "admin"):
            self._local.admin = kms_client(self.server, read_timeout=60)
            self._local.grantee = kms_client(self.server, self.grantee_credentials, read_timeout=60)
        return self._local.admin

    def grantee(self) -> Any:
        self.admin()
        return self._local.grantee

    def run(self, unacknowledged_keys: list[tuple[str, str]]) -> None:
        grants_by_key: dict[str, list[GrantAttempt]] = {}
        for grant in self.journal.grants:
            grants_by_key.setdefault(grant.key.key_id or "", []).append(grant)
        policies_by_key: dict[str, list[PolicyAttempt]] = {}
        for policy in self.journal.policies:
            policies_by_key.setdefault(policy.key.key_id or "", []).append(policy)
        tasks: list[tuple[str, Callable[[], None]]] = []
        for key in self.journal.keys:
            if key.call.acked:
                key_id = key.key_id or ""
                check = partial(
                    self.check_key,
                    key_id,
                    key.description,
                    grants_by_key.get(key_id, []),
                    policies_by_key.get(key_id, []),
                )
                tasks.append((f"acknowledged key {key_id}", check))
        for key_id, description in unacknowledged_keys:
            tasks.append((f"unacknowledged key {key_id}", partial(self.check_key, key_id, description, [], [])))
        for ciphertext in self.journal.ciphertexts:
            tasks.append((f"ciphertext of key {ciphertext.key.key_id}", partial(self.check_ciphertext, ciphertext)))
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(lambda task: self.answered(*task), tasks))

    def answered(self, what: str, task: Callable[[], None]) -> None:
        """Run one task of checks; a request of it that fails is a failed check, not the end of the run."""
        try:
            task()
            failure = None
        except (ClientError, BotoCoreError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        self.checks.check("api: the checks' requests answered", failure is None, lambda: f"{what}: {failure}")

    def check_key(
        self, key_id: str, description: str, grants: list[GrantAttempt], policies: list[PolicyAttempt]
    ) -> None:
        kms = self.admin()
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.checks.check(
            "api: key describable with its description and enabled",
            (metadata["Description"], metadata["KeyState"]) == (description, "Enabled"),
            f"key {key_id}: {metadata['Description']!r} {metadata['KeyState']}, expected {description!r} Enabled",
        )
        sealed = kms.encrypt(KeyId=key_id, Plaintext=b"usable after the crashes")["CiphertextBlob"]
        self.checks.check(
            "api: key encrypts and decrypts",
            kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"usable after the crashes",
            f"key {key_id} does not round-trip",
        )
        policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
        legal = legal_policies(self.initial_policy, policies)
        self.checks.check(
            "api: key policy is a legal outcome of its PutKeyPolicy calls",
            policy in legal,
            lambda: f"key {key_id} has policy {policy!r}; legal: {sorted(legal)}",
        )
        self.check_grants(key_id, metadata["Arn"], grants)

    def check_grants(self, key_id: str, arn: str, grants: list[GrantAttempt]) -> None:
        listed: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"KeyId": key_id, "Limit": 100}
        while True:
            page = self.admin().list_grants(**request)
            listed.update((grant["GrantId"], grant) for grant in page["Grants"])
            if not page.get("Truncated"):
                break
            request["Marker"] = page["NextMarker"]
        by_name = {grant.name: grant for grant in grants}
        for grant_id, entry in listed.items():
            attempt = by_name.get(entry.get("Name", ""))
            expected = attempt is not None and attempt.call.outcome is not Outcome.REJECTED
            if attempt is not None and attempt.call.acked:
                expected = attempt.grant_id == grant_id
            self.checks.check(
                "api: listed grant was asked for, whole",
                expected
                and attempt is not None
                and (entry["KeyId"], set(entry["Operations"]), entry.get("RetiringPrincipal"))
                == (arn, set(attempt.operations), ADMIN_ARN),
                f"key {key_id} lists grant {entry} which no client created so",
            )
        for grant in grants:
            if not grant.call.acked:
                continue
            deletion = grant.deletion.call.outcome if grant.deletion is not None else None
            if deletion is None or deletion is Outcome.REJECTED:
                self.checks.check(
                    "api: acknowledged grant listed",
                    grant.grant_id in listed,
                    f"acknowledged grant {grant.grant_id} ({grant.name}) on key {key_id} is not listed",
                )
            elif deletion is Outcome.ACKED:
                assert grant.deletion is not None
                self.checks.check(
                    "api: acknowledged retire/revoke stays gone",
                    grant.grant_id not in listed,
                    f"grant {grant.grant_id} on key {key_id} is listed after an acknowledged "
                    f"{grant.deletion.call.operation}",
                )
        # The server's grant view (which authorizes) agrees with the store (which ListGrants reads).
        may_encrypt = any("Encrypt" in entry["Operations"] for entry in listed.values())
        try:
            self.grantee().encrypt(KeyId=arn, Plaintext=b"through a grant")
            allowed, error = True, None
        except ClientError as exc:
            allowed, error = False, exc.response.get("Error", {}).get("Code")
        self.checks.check(
            "api: grantee may encrypt exactly when a listed grant allows it",
            allowed == may_encrypt and error in (None, "AccessDeniedException"),
            f"grantee Encrypt with key {key_id}: allowed={allowed} ({error}), listed grants allow it: {may_encrypt}",
        )

    def check_ciphertext(self, ciphertext: Ciphertext) -> None:
        try:
            response = self.admin().decrypt(CiphertextBlob=ciphertext.blob, EncryptionContext=ciphertext.context)
            observed: tuple[Any, Any] = (response["Plaintext"], response["KeyId"])
        except ClientError as exc:
            observed = (exc.response.get("Error", {}).get("Code"), None)
        self.checks.check(
            "api: acknowledged ciphertext decrypts",
            observed == (ciphertext.plaintext, ciphertext.key.arn),
            f"ciphertext of key {ciphertext.key.key_id} {ciphertext.context} decrypts to {observed}",
        )

"""Hostile input against a live Trent, property-based.

Requests are generated for every operation of botocore's KMS model, both well typed (from the input shapes, with
values out of range, wrong enums, too long lists...) and hostile (wrong JSON types, missing and extra members, deep
nesting, invalid UTF-8, bodies over the 1 MiB cap, wrong Content-Type and X-Amz-Target, NaN, duplicate keys...).
They are signed with botocore's SigV4 and sent over a raw socket, so that malformed bodies reach the server as they
are. Every answer must be a success or a modeled AWS error (HTTP 400/413, ``{"__type": ..., "message"?: ...}``):
never a 500, a hang or a crash (``/health`` answers after every example). A rejected request must leave the store
exactly as it was: it is read through SQLAlchemy before and after every example.

``TRENT_SOAK=1`` multiplies the number of examples (by ``TRENT_SOAK_FACTOR``, 90 unless set: 1,116 examples per
store become about 100,000).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import botocore.model
import orjson
import pytest
import sqlalchemy as sa
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

from tests.server import REGION, TrentServer
from trent.storage import tables

# --- configuration ------------------------------------------------------------------------------------------------
SOAK = os.environ.get("TRENT_SOAK", "") not in ("", "0")
#: TRENT_FUZZ_TRACE=1 prints every case's outcome (with -s).
TRACE = bool(os.environ.get("TRENT_FUZZ_TRACE"))
SOAK_FACTOR = int(os.environ.get("TRENT_SOAK_FACTOR", "90")) if SOAK else 1


def examples(count: int) -> int:
    """An example count for a normal run, multiplied for soak runs."""
    return count * SOAK_FACTOR


def fuzz_settings(count: int) -> settings:
    """Hypothesis settings for ``count`` examples against a live server (times ``TRENT_SOAK_FACTOR`` in soak runs)."""
    return settings(
        max_examples=examples(count),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


MODEL = get_session().get_service_model("kms")
OPERATIONS: list[str] = list(MODEL.operation_names)
TARGET_PREFIX = "TrentService."
#: The server's body cap (max_request_bytes), checked before anything else.
BODY_LIMIT = 1024 * 1024
REQUEST_TIMEOUT = 30.0
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

#: Errors every AWS JSON service may answer besides the ones the KMS model lists.
COMMON_ERRORS = frozenset(
    {
        "ValidationException",
        "SerializationException",
        "UnknownOperationException",
        "AccessDeniedException",
        "UnsupportedOperationException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
        "RequestEntityTooLargeException",
        "ExpiredTokenException",
        "ThrottlingException",
        "InvalidClientTokenId",
    }
)
MODELED_ERRORS = frozenset(shape.name for shape in MODEL.error_shapes) | COMMON_ERRORS
SIGNATURE_ERRORS = frozenset(
    {
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
    }
)


# --- raw HTTP -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def document(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The ``__type`` of an error reply, or None for a success."""
        if self.status == 200:
            return None
        code = self.document().get("__type")
        return code if isinstance(code, str) else None


def exchange(
    port: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str = "POST",
    path: str = "/",
    chunked: bool = False,
    timeout: float = REQUEST_TIMEOUT,
    host: str | None = None,
) -> Reply:
    """Send one request over a fresh connection, exactly as given, and read the reply.

    The body is pumped from a thread while the reply is read, so that a server answering before it has read the
    whole body (as it does for oversized ones) is heard rather than deadlocked on. A reply that does not come
    within ``timeout`` seconds raises: a hang is a failure.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if chunked:
        step = 64 * 1024
        pieces = [b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step]) for i in range(0, len(body), step)]
        payload = b"".join(pieces) + b"0\r\n\r\n"
    else:
        payload = body
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:

        def pump() -> None:
            # The server may answer and close before reading everything.
            with contextlib.suppress(OSError):
                sock.sendall(head + payload)

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        sender.join(timeout)
        return Reply(response.status, response.getheader("content-type", ""), data)
    finally:
        sock.close()


def sign(
    port: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret_key: str,
    token: str | None = None,
    region: str = REGION,
    service: str = "kms",
    when: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers of a request signed like botocore signs it (``Host`` is left to :func:`exchange`)."""
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=dict(headers))
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    framing = ("host", "content-length", "transfer-encoding")
    return {name: value for name, value in request.prepare().headers.items() if name.lower() not in framing}


def kms_headers(operation: str) -> dict[str, str]:
    return {"Content-Type": JSON_CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation}


def check_healthy(server: TrentServer) -> None:
    with urllib.request.urlopen(server.endpoint + "/health", timeout=10) as response:
        assert response.status == 200, "the server no longer answers /health"


def check_modeled(reply: Reply, context: str) -> str:
    """Assert that a reply is a success or a modeled AWS error; return ``ok`` or the error code."""
    assert reply.status in (200, 400, 413), f"{context}: HTTP {reply.status} {reply.body[:500]!r}"
    assert reply.content_type == JSON_CONTENT_TYPE, f"{context}: content type {reply.content_type!r}"
    document = reply.document()
    assert isinstance(document, dict), f"{context}: {reply.body[:500]!r}"
    if reply.status == 200:
        return "ok"
    assert set(document) <= {"__type", "message"}, f"{context}: {document}"
    code = document.get("__type")
    assert code in MODELED_ERRORS, f"{context}: unmodeled error {document}"
    assert isinstance(document.get("message", ""), str), f"{context}: {document}"
    assert (reply.status == 413) == (code == "RequestEntityTooLargeException"), f"{context}: {reply.status} {code}"
    return str(code)


# --- the store ----------------------------------------------------------------------------------------------------
class StoreWatch:
    """Reads every table of a server's store, to prove that a rejected request changed nothing.

    Left out: the audit trail (every request is audited, rejected ones included) and what the maintenance loop
    may purge on its own while the tests run: STS sessions that expire, tombstones of retired grants and
    change-feed rows older than an hour (only rows younger than half an hour before the watch started are
    compared). A retired or revoked grant still shows: it leaves the set of live grants.
    """

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(database_url, poolclass=NullPool)
        self.since = time.time() - 1800

    def snapshot(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                if table is tables.audit_events:
                    continue
                query = sa.select(table)
                if table is tables.access_keys:
                    # When a key was last used changes with every request it signs, refused ones included, as in
                    # AWS (IAM's GetAccessKeyLastUsed): not a change made by the request.
                    used = {"last_used", "last_used_region", "last_used_service"}
                    columns = [c for c in table.c if c.name not in used]
                    query = sa.select(*columns).where(table.c.expiration.is_(None))
                elif table is tables.grants:
                    # Other tests leave tens of thousands of grants on the shared server: compare a summary
                    # (grants are only ever inserted, or marked deleted) rather than every row, per example.
                    query = sa.select(sa.func.count(), sa.func.max(table.c.seq)).where(table.c.deleted_at.is_(None))
                elif table is tables.changes:
                    query = sa.select(sa.func.count(), sa.func.max(table.c.seq)).where(table.c.changed_at >= self.since)
                result[table.name] = sorted(repr(tuple(row)) for row in conn.execute(query))
        return result

    def dispose(self) -> None:
        self.engine.dispose()


def describe_difference(before: Mapping[str, list[str]], after: Mapping[str, list[str]]) -> str:
    parts = []
    for name in before:
        gone = sorted(set(before[name]) - set(after[name]))
        new = sorted(set(after[name]) - set(before[name]))
        if gone or new:
            parts.append(f"{name}: -{gone[:3]} +{new[:3]}")
    return "; ".join(parts)


# --- bookkeeping --------------------------------------------------------------------------------------------------
@dataclass
class FuzzStats:
    cases: int = 0
    operations: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    stores: Counter[str] = field(default_factory=Counter)
    reported: bool = False


STATS = FuzzStats()


def report_line(config: pytest.Config, line: str) -> None:
    """Print a line to the terminal even while pytest captures output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line, flush=True)


def report_fuzz_summary(config: pytest.Config) -> None:
    """Print the fuzzing figures once (test_attacks prints them before its own summary, which comes last)."""
    if STATS.cases and not STATS.reported:
        STATS.reported = True
        report_line(config, f"FUZZ SUMMARY: {STATS.cases} cases, {len(STATS.operations)} operations")
        top = ", ".join(f"{code} {count}" for code, count in STATS.outcomes.most_common(12))
        stores = ", ".join(f"{store} {count}" for store, count in sorted(STATS.stores.items()))
        report_line(config, f"FUZZ DETAIL: per store: {stores}; outcomes: {top}")


@pytest.fixture(scope="session", autouse=True)
def fuzz_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report_fuzz_summary(request.config)


# --- the world the fuzzer aims at ---------------------------------------------------------------------------------
class FuzzWorld:
    """The live server under fuzzing, the admin's credentials and the values worth aiming at."""

    def __init__(
        self,
        server: TrentServer,
        store: str,
        watch: StoreWatch,
        credentials: tuple[str, str],
        strings: list[str],
        blobs: list[bytes],
        hints: dict[str, st.SearchStrategy[Any]],
    ) -> None:
        self.server = server
        self.store = store
        self.watch = watch
        self.access_key, self.secret_key = credentials
        self.strings = strings
        self.blobs = blobs
        self.hints = hints

    def __repr__(self) -> str:  # failure reports print the fixture: keep it short
        return f"FuzzWorld({self.store}, {self.server.endpoint})"

    def send(
        self,
        operation: str | None,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        auth: str | None = "signed",
        method: str = "POST",
        path: str = "/",
        chunked: bool = False,
    ) -> Reply:
        """Send a case; ``auth`` is ``signed``, None (unsigned) or a raw ``Authorization`` value."""
        fields = dict(kms_headers(operation) if headers is None and operation is not None else headers or {})
        if auth == "signed":
            fields = sign(self.server.port, body, fields, access_key=self.access_key, secret_key=self.secret_key)
        elif auth is not None:
            fields["Authorization"] = auth
            fields["X-Amz-Date"] = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return exchange(self.server.port, fields, body, method=method, path=path, chunked=chunked)

    def run_case(
        self,
        operation: str,
        body: bytes,
        *,
        expected: frozenset[str] | None = None,
        **options: Any,
    ) -> Reply:
        """One fuzz case: send it, check the reply, the server's health and, if rejected, the store."""
        before = self.watch.snapshot()
        reply = self.send(operation, body, **options)
        context = f"{operation} {options} body={body[:300]!r}{'...' if len(body) > 300 else ''}"
        outcome = check_modeled(reply, context)
        if expected is not None:
            assert outcome in expected, f"{context}: expected one of {sorted(expected)}, got {reply.body[:500]!r}"
        check_healthy(self.server)
        after = self.watch.snapshot()
        if outcome != "ok":
            assert after == before, f"{context}: rejected with {outcome} but the store changed: " + describe_difference(
                before, after
            )
        if TRACE:
            print(f"FUZZ CASE {operation}: {outcome} {reply.body[:200]!r}")
        STATS.cases += 1
        STATS.operations.add(operation)
        STATS.outcomes[outcome] += 1
        STATS.stores[self.store] += 1
        return reply


@pytest.fixture(scope="module")
def world(server: TrentServer, store_kind: str) -> Iterator[FuzzWorld]:
    kms = server.client("kms")
    suffix = uuid.uuid4().hex[:8]
    symmetric = kms.create_key(Description=f"fuzz target {suffix}")["KeyMetadata"]
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    alias = f"alias/fuzz-{suffix}"
    kms.create_alias(AliasName=alias, TargetKeyId=symmetric["KeyId"])
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"fuzz", EncryptionContext={"a": "b"})["CiphertextBlob"]
    admin_arn = "arn:aws:iam::000000000000:user/admin"
    grant = kms.create_grant(
        KeyId=symmetric["KeyId"], GranteePrincipal=admin_arn, Operations=["Encrypt", "Decrypt", "CreateGrant"]
    )
    signature = kms.sign(KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    mac = kms.generate_mac(KeyId=hmac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    key_ids = [key["KeyId"] for key in (symmetric, hmac_key, signing, rsa)]
    arns = [key["Arn"] for key in (symmetric, hmac_key, signing, rsa)]
    strings = [
        *key_ids,
        *arns,
        alias,
        f"arn:aws:kms:{REGION}:000000000000:{alias}",
        symmetric["Arn"].replace(REGION, "us-west-2"),
        symmetric["Arn"].replace("000000000000", "999999999999"),
        grant["GrantId"],
        grant["GrantToken"],
        admin_arn,
        "arn:aws:iam::000000000000:root",
        "alias/aws/ebs",
        "*",
        "",
        " ",
        "\x00",
        "\u202e\u0000\ufeff",
        "\ud800",
        "\U0001f511" * 8,
        "a" * 5000,
        "../../../../etc/passwd",
        "' OR '1'='1' --",
        "%s%n%x",
        "${jndi:ldap://127.0.0.1/x}",
        "ENCRYPT_DECRYPT",
        "SYMMETRIC_DEFAULT",
        "RSAES_OAEP_SHA_256",
        "ECDSA_SHA_256",
        "HMAC_SHA_256",
        '{"Version": "2012-10-17", "Statement": []}',
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", '
        '"Resource": "*", "Condition": {"StringLike": {"kms:CallerAccount": "*a*a*a*a*a*a*a*a*a*b"}}}]}',
        '{"Statement": NaN}',
        '{"Statement": 1, "Statement": 2}',
        "[" * 400 + "]" * 400,  # nested JSON below any recursion limit; deeper policies: see the xfail test below
    ]
    blobs = [blob, signature, mac, b"", b"\x00" * 32, os.urandom(64), blob[:-1], blob + b"\x00"]
    b64 = base64.b64encode
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "kms:*", "Resource": "*"}],
        }
    )
    key_names = st.sampled_from([*key_ids, *arns, alias, f"arn:aws:kms:{REGION}:000000000000:{alias}"])
    tag_text = st.text(st.characters(min_codepoint=0x30, max_codepoint=0x7A), min_size=1, max_size=8)
    hints: dict[str, st.SearchStrategy[Any]] = {
        **dict.fromkeys(["KeyId", "TargetKeyId", "DestinationKeyId", "SourceKeyId"], key_names),
        "AliasName": st.one_of(st.just(alias), st.from_regex(r"alias/fuzz-[a-z0-9]{1,8}", fullmatch=True)),
        "GranteePrincipal": st.sampled_from([admin_arn, "arn:aws:iam::000000000000:root"]),
        "RetiringPrincipal": st.sampled_from([admin_arn, "arn:aws:iam::000000000000:root"]),
        "GrantTokens": st.lists(st.just(grant["GrantToken"]), max_size=2),
        "GrantToken": st.just(grant["GrantToken"]),
        "GrantId": st.just(grant["GrantId"]),
        "CiphertextBlob": st.just(b64(blob).decode()),
        "Signature": st.just(b64(signature).decode()),
        "Mac": st.just(b64(mac).decode()),
        "EncryptionContext": st.sampled_from([{"a": "b"}, {}]),
        "SourceEncryptionContext": st.sampled_from([{"a": "b"}, {}]),
        "Policy": st.just(policy),
        "Limit": st.integers(min_value=1, max_value=100),
        "NumberOfBytes": st.integers(min_value=1, max_value=1024),
        "PendingWindowInDays": st.integers(min_value=7, max_value=30),
        "RotationPeriodInDays": st.integers(min_value=90, max_value=2560),
        "Tags": st.lists(st.fixed_dictionaries({"TagKey": tag_text, "TagValue": tag_text}), max_size=3),
        "TagKeys": st.lists(tag_text, min_size=1, max_size=3),
    }
    watch = StoreWatch(server.database_url)
    yield FuzzWorld(server, store_kind, watch, server.admin_credentials(), strings, blobs, hints)
    watch.dispose()


# --- strategies from the model ------------------------------------------------------------------------------------
INTEGER_EDGES = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 2**64, 10**30, -(10**30), 10**400]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


class ShapeStrategies:
    """Hypothesis strategies for the values of botocore shapes.

    ``clean`` strategies stay within the model's constraints and aim at the fuzz world's real keys, aliases,
    grants and ciphertexts (``hints``, by member name), so that requests get past validation into the handlers;
    the others are well typed but often out of bounds (too long, out of range, enums wrong, lists too long).
    """

    def __init__(
        self,
        strings: list[str],
        blobs: list[bytes],
        hints: Mapping[str, st.SearchStrategy[Any]],
        *,
        clean: bool,
    ) -> None:
        self.strings = strings
        self.blobs = blobs
        self.hints = hints
        self.clean = clean
        self._cache: dict[str, st.SearchStrategy[Any]] = {}

    def value(self, shape: botocore.model.Shape, depth: int = 0) -> st.SearchStrategy[Any]:
        if depth > 8:
            return st.none()
        cached = self._cache.get(shape.name)
        if cached is not None:
            return cached
        kind = shape.type_name
        strategy: st.SearchStrategy[Any]
        if kind == "structure":
            assert isinstance(shape, botocore.model.StructureShape)
            required = set(shape.required_members)
            members = {name: self._member(name, member, depth) for name, member in shape.members.items()}
            mandatory = {name: value for name, value in members.items() if name in required}
            optional = {name: value for name, value in members.items() if name not in required}
            if self.clean:
                # Aimed at success: the hinted optional members, and at most one other.
                hinted = {name: value for name, value in optional.items() if name in self.hints}
                others = {name: value for name, value in optional.items() if name not in self.hints}
                strategy = st.fixed_dictionaries(mandatory, optional=hinted)
                if others:
                    one_more = st.sampled_from(sorted(others)).flatmap(
                        lambda name: others[name].map(lambda value: {name: value})
                    )
                    strategy = st.builds(lambda a, b: {**a, **b}, strategy, st.one_of(st.just({}), one_more))
            else:
                strategy = st.fixed_dictionaries(mandatory, optional=optional)
        elif kind == "list":
            assert isinstance(shape, botocore.model.ListShape)
            strategy = self._list(shape, depth)
        elif kind == "map":
            assert isinstance(shape, botocore.model.MapShape)
            keys, values = self.value(shape.key, depth + 1), self.value(shape.value, depth + 1)
            strategy = st.dictionaries(keys, values, max_size=4)
            if not self.clean:
                big = st.dictionaries(st.text(max_size=6), st.text(max_size=6), min_size=60, max_size=80)
                strategy = st.one_of(strategy, big)
        elif kind == "string":
            strategy = self._string(shape)
        elif kind == "blob":
            strategy = self._blob(shape)
        elif kind in ("integer", "long"):
            strategy = self._integer(shape)
        elif kind == "boolean":
            strategy = st.booleans()
        elif kind == "timestamp":
            strategy = st.one_of(
                st.integers(min_value=-(10**12), max_value=10**12), st.floats(allow_nan=False, allow_infinity=False)
            )
        else:
            strategy = json_values
        self._cache[shape.name] = strategy
        return strategy

    def _member(self, name: str, shape: botocore.model.Shape, depth: int) -> st.SearchStrategy[Any]:
        generic = self.value(shape, depth + 1)
        hint = self.hints.get(name)
        if hint is None:
            return generic
        return hint if self.clean else st.one_of(hint, generic)

    def _list(self, shape: botocore.model.ListShape, depth: int) -> st.SearchStrategy[Any]:
        member = self.value(shape.member, depth + 1)
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
        low = low if isinstance(low, int) else 0
        if self.clean:
            return st.lists(member, min_size=low, max_size=max(low, min(high or 4, 4)), unique_by=json.dumps)
        options = [st.lists(member, max_size=min(high or 4, 4))] * 3
        if isinstance(high, int) and high < 64:
            options.append(st.lists(member, min_size=high + 1, max_size=high + 1))
        return st.one_of(options)

    def _string(self, shape: botocore.model.Shape) -> st.SearchStrategy[Any]:
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
        low = low if isinstance(low, int) else 0
        enum = list(getattr(shape, "enum", None) or [])
        if self.clean:
            if enum:
                return st.sampled_from(enum)
            bounded = min(high, low + 24) if isinstance(high, int) else low + 24
            return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=low, max_size=bounded)
        options: list[st.SearchStrategy[Any]] = [st.text(max_size=40), st.sampled_from(self.strings)]
        if enum:
            values = st.sampled_from(enum)
            options += [values, values, values, values.map(str.lower), values.map(lambda v: v + " ")]
        if isinstance(high, int) and high < 200_000:
            options.append(st.just("x" * (high + 1)))
        if low > 1:
            options.append(st.just("x" * (low - 1)))
        return st.one_of(options)

    def _blob(self, shape: botocore.model.Shape) -> st.SearchStrategy[Any]:
        low, high = int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 8192))
        if self.clean:
            return st.binary(min_size=max(low, 1), max_size=min(high, 64)).map(lambda b: base64.b64encode(b).decode())
        raw = st.one_of(
            st.binary(max_size=min(high, 256)),
            st.sampled_from(self.blobs),
            st.just(b"\x01" * (high + 1)),
        )
        valid = raw.map(lambda data: base64.b64encode(data).decode())
        invalid = st.sampled_from(
            ["!!!!", "YQ", "YQ=", "YQ===", "Y Q==", "ZZ==", "YWJj\n", "-_-_", "=", "\u00e9\u00e9==", "YWJjZA="]
        )
        return st.one_of(valid, valid, valid, invalid)

    def _integer(self, shape: botocore.model.Shape) -> st.SearchStrategy[Any]:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        in_range = st.integers(
            min_value=low if isinstance(low, int) else -5, max_value=high if isinstance(high, int) else 5000
        )
        if self.clean:
            return in_range
        options = [in_range, in_range, st.sampled_from(INTEGER_EDGES)]
        if isinstance(low, int):
            options.append(st.just(low - 1))
        if isinstance(high, int):
            options.append(st.just(high + 1))
        return st.one_of(options)

    def request(self, operation: str) -> st.SearchStrategy[dict[str, Any]]:
        shape = MODEL.operation_model(operation).input_shape
        return self.value(shape) if shape is not None else st.just({})


class RequestStrategies:
    """Whole request documents for an operation: valid-looking, out of bounds, or damaged."""

    def __init__(self, world: FuzzWorld) -> None:
        self.clean = ShapeStrategies(world.strings, world.blobs, world.hints, clean=True)
        self.rough = ShapeStrategies(world.strings, world.blobs, world.hints, clean=False)

    def request(self, operation: str) -> st.SearchStrategy[dict[str, Any]]:
        """Well typed: within the constraints three times out of four, out of bounds otherwise."""
        clean = self.clean.request(operation)
        return st.one_of(clean, clean, clean, self.rough.request(operation))

    def hostile_request(self, operation: str) -> st.SearchStrategy[Any]:
        """A request document of the right operation, damaged in one of many ways."""
        shape = MODEL.operation_model(operation).input_shape
        assert isinstance(shape, botocore.model.StructureShape)
        base = self.request(operation)
        members = list(shape.members)
        required = set(shape.required_members)

        def put(document: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
            return {**document, name: value}

        def nest(document: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
            value: Any = document.get(name, "x")
            for _ in range(depth):
                value = [value]
            return {**document, name: value}

        options: list[st.SearchStrategy[Any]] = [
            st.builds(put, base, st.sampled_from(members), json_values),  # wrong JSON types
            st.builds(put, base, st.sampled_from(members), json_values),
            st.builds(nest, base, st.sampled_from(members), st.sampled_from([1, 2, 50, 900])),
            base.map(lambda document: dict.fromkeys(document)),  # null everywhere
            st.builds(  # extra members, including near misses of the real ones
                lambda document, extra: {**extra, **document},
                base,
                st.dictionaries(
                    st.sampled_from([*(m.lower() for m in members), *(m + " " for m in members), "__type", "x"])
                    | st.text(max_size=10),
                    json_values,
                    min_size=1,
                    max_size=3,
                ),
            ),
            json_values.filter(lambda value: not isinstance(value, dict)),  # not an object at all
        ]
        if required:
            options.append(base.map(lambda document: {k: v for k, v in document.items() if k not in required}))
        return st.one_of(options)


def encode(document: Any, ascii_only: bool = True) -> bytes:
    """JSON the way a client would send it; lone surrogates become escapes (or, unescaped, invalid UTF-8)."""
    text = json.dumps(document, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


_strategies: dict[int, RequestStrategies] = {}


def strategies_of(world: FuzzWorld) -> RequestStrategies:
    key = id(world)
    if key not in _strategies:
        _strategies[key] = RequestStrategies(world)
    return _strategies[key]


# --- 1. well-typed requests for every operation -------------------------------------------------------------------
@pytest.mark.parametrize("operation", OPERATIONS)
@fuzz_settings(10)
@given(data=st.data())
def test_well_typed_requests(world: FuzzWorld, operation: str, data: st.DataObject) -> None:
    document = data.draw(strategies_of(world).request(operation), label="request")
    ascii_only = data.draw(st.booleans(), label="ascii")
    world.run_case(operation, encode(document, ascii_only))


# --- 2. damaged documents for every operation ---------------------------------------------------------------------
@pytest.mark.parametrize("operation", OPERATIONS)
@fuzz_settings(6)
@given(data=st.data())
def test_damaged_documents(world: FuzzWorld, operation: str, data: st.DataObject) -> None:
    document = data.draw(strategies_of(world).hostile_request(operation), label="request")
    world.run_case(operation, encode(document))


# --- 3. hostile bytes, headers and routes -------------------------------------------------------------------------
DEEP = [
    b"[" * 10_000 + b"]" * 10_000,
    b"[" * 100_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b'{"KeyId":' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b'{"GrantTokens":' + b"[" * 1_000 + b"]" * 1_000 + b"}",
    b'{"EncryptionContext":' + b'{"a":' * 1_000 + b'"b"' + b"}" * 1_001,
]
NON_FINITE = [
    b'{"Limit": NaN}',
    b'{"Limit": Infinity}',
    b'{"Limit": -Infinity}',
    b'{"NumberOfBytes": NaN}',
    b"NaN",
    b'{"Limit": 1e999}',
    b'{"Limit": ' + b"9" * 5_000 + b"}",
    b'{"Limit": -0}',
    b'{"Limit": 1.0}',
    b'{"Limit": 1e2}',
    b'{"NumberOfBytes": 0x10}',
]
DUPLICATES = [
    b'{"Limit": 1, "Limit": "x"}',
    b'{"Limit": "x", "Limit": 1}',
    b'{"KeyId": "a", "KeyId": "b", "KeyId": null}',
    b'{"NumberOfBytes": 1024, "NumberOfBytes": 1025}',
]
MALFORMED = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"x"',
    b"0",
    b"true",
    b"{",
    b"}",
    b"{} {}",
    b"{}x",
    b"{}\x00",
    b"\xef\xbb\xbf{}",
    b"{'Limit': 1}",
    b'{"Limit": 1,}',
    b'{"KeyId": "\\u0000"}',
    b'{"KeyId": "\\ud800"}',
    b'{"KeyId": "\\udfff\\ud800"}',
    b'{"KeyId": "\\x41"}',
    b'{"KeyId": "a\nb"}',
    b'{"KeyId": "\xed\xa0\x80"}',
    b'{"KeyId": "\xc0\xaf"}',
    b'{"KeyId": "\xff\xfe"}',
    b"\xff\xfe{\x00}\x00",
    b"{\x00}",
]
OVERSIZED = [
    b'{"Plaintext": "' + b"A" * BODY_LIMIT + b'"}',
    b"[" * (BODY_LIMIT + 1),
    b"x" * (3 * BODY_LIMIT),
]
UNKNOWN_TARGETS = [
    "TrentService.NoSuchOperation",
    "KMS.ListKeys",
    "trentservice.ListKeys",
    "TrentService.listKeys",
    "TrentService.",
    "TrentService",
    "",
    "TrentService.ListKeys,TrentService.ListKeys",
    "TrentService.List Keys",
    "TrentService..ListKeys",
    "AWSSecurityTokenServiceV20110615.GetCallerIdentity",
    "TrentService." + "A" * 6000,
    "TrentService.__init__",
    "TrentService.OPERATIONS",
]
CONTENT_TYPES = [
    JSON_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    "application/x-amz-json-1.0",
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/x-amz-json-1.1; charset=latin-1",
    "",
    None,
]
GARBAGE_AUTHORIZATIONS = [
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 ",
    "AWS4-HMAC-SHA256 Credential=",
    "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/2026010x/us-east-1/kms/aws4_request, SignedHeaders=, Signature=",
    "AWS4-HMAC-SHA256 Credential=" + "A" * 10_000 + "/20260101/us-east-1/kms/aws4_request",
    "AWS4-HMAC-SHA256 ,,,,,=,=",
    "AWS4-HMAC-SHA1 Credential=x",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "Basic YWRtaW46YWRtaW4=",
    "AWS AKIAEXAMPLE:c2lnbmF0dXJl",
]
METHODS_AND_PATHS = [("POST", "/")] * 12 + [
    ("GET", "/"),
    ("PUT", "/"),
    ("DELETE", "/"),
    ("POST", "/x"),
    ("POST", "//"),
    ("POST", "/?Action=GetCallerIdentity"),
    ("POST", "/%2e%2e/"),
    ("PATCH", "/health"),
]


def _target_validity(target: str | None) -> bool | None:
    """Whether the edge must route a target to an operation; None when either answer is right.

    Whether surrounding whitespace is part of a header value depends on the HTTP parser: a padded target may be
    routed or refused as unknown.
    """
    if target is None:
        return False
    stripped = target.strip(" \t")
    valid = stripped.startswith(TARGET_PREFIX) and stripped[len(TARGET_PREFIX) :] in OPERATIONS
    return None if valid and stripped != target else valid


def _is_json(body: bytes) -> bool:
    """Whether the edge parses a body (an empty one is an empty request)."""
    if not body:
        return True
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["deep", "finite", "dup", "malformed", "garbage", "utf8", "truncated", "big"]))
    if kind == "deep":
        return draw(st.sampled_from(DEEP))
    if kind == "finite":
        return draw(st.sampled_from(NON_FINITE))
    if kind == "dup":
        return draw(st.sampled_from(DUPLICATES))
    if kind == "malformed":
        return draw(st.sampled_from(MALFORMED))
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "utf8":
        bad = draw(st.binary(min_size=1, max_size=6).filter(lambda b: not _decodes(b)))
        member = draw(st.sampled_from([b"KeyId", b"AliasName", b"Description", b"x"]))
        return b'{"' + member + b'": "' + bad + b'"}'
    if kind == "truncated":
        document = draw(st.dictionaries(st.sampled_from(["KeyId", "Limit", "Marker"]), json_values, min_size=1))
        text = json.dumps(document).encode()
        return text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
    return draw(st.sampled_from(OVERSIZED))


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@fuzz_settings(160)
@given(data=st.data())
def test_hostile_bytes_headers_and_routes(world: FuzzWorld, data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    body = data.draw(st.one_of(raw_bodies(), strategies_of(world).hostile_request(operation).map(encode)), label="body")
    target: str | None = data.draw(
        st.one_of(
            st.just(TARGET_PREFIX + operation),
            st.just(TARGET_PREFIX + operation),
            st.just(f" {TARGET_PREFIX}{operation}\t"),
            st.sampled_from(UNKNOWN_TARGETS),
            st.none(),
        ),
        label="target",
    )
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    if target is None and content_type is not None and content_type.startswith("application/x-www-form"):
        content_type = JSON_CONTENT_TYPE  # no target and a form body is an STS request: not what this test is about
    auth: str | None = data.draw(
        st.one_of(
            st.just("signed"),
            st.just("signed"),
            st.just("signed"),
            st.none(),
            st.sampled_from(GARBAGE_AUTHORIZATIONS),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80),
        ),
        label="authorization",
    )
    method, path = data.draw(st.sampled_from(METHODS_AND_PATHS), label="route")
    chunked = data.draw(st.booleans(), label="chunked")
    headers: dict[str, str] = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if target is not None:
        headers["X-Amz-Target"] = target
    # What must come out, layer by layer: the body cap, the route, the signature, then the JSON.
    expected: frozenset[str] | None = None
    if len(body) > BODY_LIMIT:
        expected = frozenset({"RequestEntityTooLargeException"})
    elif method != "POST" or path.split("?", 1)[0] != "/" or _target_validity(target) is False:
        expected = frozenset({"UnknownOperationException"})
    elif _target_validity(target) is None:
        expected = None
    elif auth is None:
        expected = frozenset({"MissingAuthenticationTokenException"})
    elif auth != "signed" or "?" in path:
        # A query string is part of what SigV4 signs, and `sign` signs the path "/" without one.
        expected = SIGNATURE_ERRORS
    elif not _is_json(body):
        expected = frozenset({"SerializationException"})
    world.run_case(
        operation,
        body,
        expected=expected,
        headers=headers,
        auth=auth,
        method=method,
        path=path,
        chunked=chunked,
    )


# --- 4. deterministic cases the brief names explicitly ------------------------------------------------------------
NAMED_CASES: list[tuple[str, str, bytes, frozenset[str]]] = [
    ("10,000 nested lists", "ListKeys", DEEP[0], frozenset({"SerializationException"})),
    ("100,000 unclosed lists", "Encrypt", DEEP[1], frozenset({"SerializationException"})),
    ("10,000 nested objects", "CreateKey", DEEP[2], frozenset({"SerializationException"})),
    ("deep list in a string member", "DescribeKey", DEEP[3], frozenset({"SerializationException"})),
    ("deep list in a list member", "Encrypt", DEEP[4], frozenset({"SerializationException"})),
    ("deep object in a map member", "Encrypt", DEEP[5], frozenset({"SerializationException"})),
    ("invalid UTF-8", "DescribeKey", b'{"KeyId": "\xff\xfe"}', frozenset({"SerializationException"})),
    ("UTF-8 encoded surrogate", "DescribeKey", b'{"KeyId": "\xed\xa0\x80"}', frozenset({"SerializationException"})),
    ("NaN", "ListKeys", NON_FINITE[0], frozenset({"SerializationException"})),
    ("Infinity", "ListKeys", NON_FINITE[1], frozenset({"SerializationException"})),
    ("1e999", "ListKeys", NON_FINITE[5], frozenset({"SerializationException"})),
    ("empty body", "ListKeys", b"", frozenset({"ok"})),
    ("empty body, required members", "Encrypt", b"", frozenset({"ValidationException"})),
    # The last duplicate wins, as in most JSON parsers (and AWS's).
    ("duplicate keys, last one wrong", "ListKeys", DUPLICATES[0], frozenset({"SerializationException"})),
    ("duplicate keys, last one right", "ListKeys", DUPLICATES[1], frozenset({"ok"})),
    ("over 1 MiB", "Encrypt", OVERSIZED[0], frozenset({"RequestEntityTooLargeException"})),
    ("3 MiB of garbage", "Encrypt", OVERSIZED[2], frozenset({"RequestEntityTooLargeException"})),
    ("top-level array", "ListKeys", b"[]", frozenset({"SerializationException"})),
    ("wrong type", "ListKeys", b'{"Limit": "ten"}', frozenset({"SerializationException"})),
    ("integer over Java int", "ListKeys", b'{"Limit": 2147483648}', frozenset({"SerializationException"})),
    ("integer over 64 bits", "ListKeys", b'{"Limit": 18446744073709551616}', frozenset({"SerializationException"})),
    ("enum wrong", "CreateKey", b'{"KeySpec": "AES_512"}', frozenset({"ValidationException"})),
    (
        "list too long",
        "Encrypt",
        encode({"KeyId": "k", "Plaintext": "YQ==", "GrantTokens": ["t"] * 11}),
        frozenset({"ValidationException"}),
    ),
    ("bad base64", "Encrypt", b'{"KeyId": "k", "Plaintext": "YQ"}', frozenset({"SerializationException"})),
]


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [pytest.param(op, body, expected, id=name) for name, op, body, expected in NAMED_CASES],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_named_hostile_bodies(
    world: FuzzWorld, operation: str, body: bytes, expected: frozenset[str], chunked: bool
) -> None:
    world.run_case(operation, body, expected=expected, chunked=chunked)


@pytest.mark.parametrize(
    ("target", "content_type", "auth", "expected"),
    [
        pytest.param("TrentService.ListKeys", "text/plain", "signed", {"ok"}, id="plain-text-content-type"),
        pytest.param("TrentService.ListKeys", None, "signed", {"ok"}, id="no-content-type"),
        pytest.param("TrentService.Nope", JSON_CONTENT_TYPE, "signed", {"UnknownOperationException"}, id="unknown"),
        pytest.param(None, JSON_CONTENT_TYPE, "signed", {"UnknownOperationException"}, id="no-target"),
        pytest.param("KMS.ListKeys", JSON_CONTENT_TYPE, "signed", {"UnknownOperationException"}, id="wrong-prefix"),
        pytest.param(
            "TrentService.ListKeys", JSON_CONTENT_TYPE, None, {"MissingAuthenticationTokenException"}, id="unsigned"
        ),
    ],
)
def test_named_hostile_headers(
    world: FuzzWorld, target: str | None, content_type: str | None, auth: str | None, expected: set[str]
) -> None:
    headers = {name: value for name, value in (("Content-Type", content_type), ("X-Amz-Target", target)) if value}
    world.run_case("ListKeys", b"{}", expected=frozenset(expected), headers=headers, auth=auth)


# --- 5. a key policy nested deeper than Python's recursion limit --------------------------------------------------
POLICY_BOMBS = {
    "unclosed": "[" * 30_000,
    "balanced": "[" * 16_000 + "]" * 16_000,
    "in-statement": '{"Version": "2012-10-17", "Statement": ' + "[" * 15_000 + "]" * 15_000 + "}",
}


@pytest.mark.parametrize("operation", ["CreateKey", "PutKeyPolicy"])
@pytest.mark.parametrize("bomb", list(POLICY_BOMBS), ids=list(POLICY_BOMBS))
def test_deeply_nested_key_policy_is_malformed(world: FuzzWorld, operation: str, bomb: str) -> None:
    document: dict[str, Any] = {"Policy": POLICY_BOMBS[bomb]}
    if operation == "PutKeyPolicy":
        document["KeyId"] = world.strings[0]
    world.run_case(
        operation, encode(document), expected=frozenset({"MalformedPolicyDocumentException", "LimitExceededException"})
    )


# --- 6. hostile key policies, then requests that evaluate them -----------------------------------------------------
CONDITION_OPERATORS = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericLessThan",
    "NumericEquals",
    "DateGreaterThan",
    "DateLessThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotEquals",
    "Null",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringLike",
    "StringEqualsIfExists",
    "NumericGreaterThanIfExists",
    "NoSuchOperator",
    "",
]
CONDITION_KEYS = [
    "kms:CallerAccount",
    "kms:EncryptionContext:a",
    "kms:EncryptionContextKeys",
    "kms:EncryptionAlgorithm",
    "kms:KeySpec",
    "kms:ResourceAliases",
    "kms:GrantIsForAWSResource",
    "kms:ViaService",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:SecureTransport",
    "aws:PrincipalArn",
    "aws:PrincipalTag/team",
    "aws:ResourceTag/team",
    "aws:RequestTag/team",
    "aws:TagKeys",
    "aws:username",
    "aws:MultiFactorAuthAge",
    "bogus:key",
    "",
]
ADMIN_STATEMENT = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::000000000000:user/admin"},
    "Action": "kms:*",
    "Resource": "*",
}
policy_strings = st.one_of(
    st.sampled_from(
        [
            "*",
            "?",
            "b",
            "${aws:username}",
            "${aws:PrincipalAccount}-*",
            "${*}${?}${$}",
            "${unclosed",
            "127.0.0.1/32",
            "::1/128",
            "10.0.0.0/33",
            "not an ip",
            "2026-01-01T00:00:00Z",
            "yesterday",
            "1e400",
            "-0",
            "true",
            "TRUE",
            "arn:aws:kms:*:*:key/*",
            "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            "\u0000",
            "a" * 2000,
        ]
    ),
    st.text(max_size=12),
)
condition_values = st.one_of(
    policy_strings,
    st.lists(policy_strings, max_size=3),
    json_values,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([True, False, None, [], {}]),
)
VALID_PRINCIPALS = [
    "*",
    {"AWS": "*"},
    {"AWS": "000000000000"},
    {"AWS": "arn:aws:iam::000000000000:root"},
    {"AWS": ["arn:aws:iam::000000000000:user/*", "arn:aws:iam::111111111111:role/x"]},
    {"Service": "sqs.amazonaws.com"},
]
ODD_PRINCIPALS = [
    {"Federated": "cognito-identity.amazonaws.com"},
    {"CanonicalUser": "abc"},
    {"AWS": 123},
    {"AWS": []},
    {},
]
principals = st.one_of(*[st.sampled_from(VALID_PRINCIPALS)] * 6, st.sampled_from(ODD_PRINCIPALS), json_values)
actions = st.one_of(
    *[st.sampled_from(["kms:*", "kms:Encrypt", "kms:Encr*", "kms:?escribeKey", "*", ["kms:Encrypt", "kms:Decrypt"]])]
    * 6,
    st.sampled_from(["kms:", "s3:*", [], "KMS:ENCRYPT"]),
    json_values,
)
conditions = st.dictionaries(
    st.sampled_from(CONDITION_OPERATORS),
    st.dictionaries(st.sampled_from(CONDITION_KEYS), condition_values, min_size=1, max_size=3),
    min_size=1,
    max_size=3,
)
statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow"] * 5 + ["Deny"] * 3 + ["allow"]),
        "Principal": principals,
        "Action": actions,
        "Resource": st.one_of(*[st.sampled_from(["*", "arn:aws:kms:*:*:key/*", ["*"]])] * 6, json_values),
        "Condition": st.one_of(*[conditions] * 6, json_values),
    },
    optional={
        "Sid": st.text(max_size=10),
        "NotAction": actions,
        "NotResource": st.sampled_from(["*", "arn:aws:kms:us-east-1:000000000000:key/x"]),
    },
)
key_policies = st.builds(
    lambda version, extra, statement_list: {
        "Version": version,
        **extra,
        "Statement": [ADMIN_STATEMENT, *statement_list],
    },
    st.sampled_from(["2012-10-17"] * 6 + ["2008-10-17", "2099-01-01", 2012]),
    st.dictionaries(st.sampled_from(["Id", "Extra"]), st.text(max_size=5), max_size=1),
    st.lists(statements, min_size=1, max_size=3),
)


@fuzz_settings(60)
@given(policy=key_policies, bypass=st.booleans())
def test_hostile_key_policies_are_refused_or_evaluated_safely(
    world: FuzzWorld, policy: dict[str, Any], bypass: bool
) -> None:
    """Key policies with odd principals, actions, operators, condition keys and values: CreateKey either refuses
    them as modeled errors or stores them, and the requests that then evaluate them answer as modeled errors too."""
    document = {
        "Policy": json.dumps(policy),
        "BypassPolicyLockoutSafetyCheck": bypass,
        "Tags": [{"TagKey": "team", "TagValue": "fuzz"}],
    }
    reply = world.run_case("CreateKey", encode(document))
    if reply.status != 200:
        return
    key_id = reply.document()["KeyMetadata"]["KeyId"]
    context = {"a": "b"}
    for operation, request in [
        ("DescribeKey", {"KeyId": key_id}),
        ("Encrypt", {"KeyId": key_id, "Plaintext": "YQ==", "EncryptionContext": context}),
        ("GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}),
        (
            "CreateGrant",
            {"KeyId": key_id, "GranteePrincipal": "arn:aws:iam::000000000000:root", "Operations": ["Encrypt"]},
        ),
        ("GetKeyPolicy", {"KeyId": key_id}),
        ("ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": 7}),
    ]:
        world.run_case(operation, encode(request))


def test_the_store_watch_sees_a_change(world: FuzzWorld) -> None:
    """The oracle is not vacuous: an accepted request that changes the store shows in the snapshot."""
    kms = world.server.client("kms")
    key_id = kms.create_key(Description="watched")["KeyMetadata"]["KeyId"]
    # Its own alias and grant: the fuzz tests that ran before in this worker may have deleted the world's (an
    # accepted DeleteAlias or RevokeGrant is a change the oracle allows), which once left none to see.
    kms.create_alias(AliasName=f"alias/watched-{key_id[:8]}", TargetKeyId=key_id)
    kms.create_grant(KeyId=key_id, GranteePrincipal="arn:aws:iam::000000000000:root", Operations=["Encrypt"])
    before = world.watch.snapshot()
    assert before["keys"] and before["aliases"] and before["grants"]
    reply = world.send("TagResource", encode({"KeyId": key_id, "Tags": [{"TagKey": "watch", "TagValue": "me"}]}))
    assert reply.status == 200, reply.body
    after = world.watch.snapshot()
    assert after != before and "tags" in describe_difference(before, after)
    world.send("UntagResource", encode({"KeyId": key_id, "TagKeys": ["watch"]}))


def test_generators_cover_every_operation(world: FuzzWorld) -> None:
    """Every operation of the model has an input shape the strategies understand (no silent gaps)."""
    strategies = strategies_of(world)
    for operation in OPERATIONS:
        assert strategies.request(operation) is not None
        assert strategies.hostile_request(operation) is not None
    assert len(OPERATIONS) >= 50

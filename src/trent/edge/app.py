"""The ASGI application: one `POST /` for AWS JSON 1.1 (KMS) and the STS query protocol, plus health.

A thin ASGI callable on uvicorn, without a web framework: the request path is short and hot (see
docs/architecture.md). Handlers are synchronous and run on the event loop: each worker process serves
one request at a time against its own connection pool, and the store's operations are point reads and
short transactions.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import gc
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from trent.api.audit import AuditDraft
from trent.api.context import RequestContext, Services
from trent.api.handlers import HANDLERS, THREADED
from trent.api.maintenance import run_due_work
from trent.api.root_key import progress as rewrap_progress
from trent.api.unique import unique_id
from trent.bootstrap import build_services, build_store
from trent.config import Settings, load_settings
from trent.domain.errors import (
    InvalidSignatureException,
    KMSError,
    KMSInternalException,
    RequestEntityTooLargeException,
    RequestTimeoutException,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
    UnsupportedOperationException,
)
from trent.domain.identities import Caller
from trent.domain.operations import OPERATIONS
from trent.domain.regions import is_region_name
from trent.edge import iam, metrics, protocol, sts
from trent.edge.auth import Authenticator
from trent.edge.errors import json_error_body, query_error_code, status_of
from trent.edge.validation import RequestValidator, service_model
from trent.logs import RequestLog

if TYPE_CHECKING:
    from trent.console.app import Console

log = logging.getLogger("trent.request")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TARGET_PREFIX = "TrentService."
#: Bytes of body every request may hold while it arrives; beyond, it borrows from `body_buffer_bytes`.
SMALL_BODY = 64 * 1024
THROTTLED = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
#: How often an idle process reads the change feed in the background.
FEED_READ_SECONDS = 5.0
#: The Credential component of an Authorization header (not a "Credential=" inside another component's value).
_CLAIMED_CREDENTIAL_RE = re.compile(r"(?:^|[\s,])Credential=([^,]*)")
JSON_CONTENT_TYPE = b"application/x-amz-json-1.1"
XML_CONTENT_TYPE = b"text/xml"
_WHAT_THIS_IS = (
    b"This is Trent, a key management service that speaks the AWS KMS API.\n"
    b"Point an AWS SDK or the AWS CLI at this address (endpoint_url): KMS requests are POST / with "
    b"X-Amz-Target: TrentService.<Operation>; STS and IAM requests are form-encoded POST /, all signed with SigV4.\n"
    b"GET /health, /ready and /metrics are for operators. Documentation: README.md and docs/ in Trent's repository.\n"
)


def _bytes_to_base64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def _claimed_scope(headers: dict[str, str]) -> list[str]:
    """The parts of the SigV4 credential a request claims (access key, date, region, ...), unverified: for the
    audit of requests that failed authentication."""
    claimed = _CLAIMED_CREDENTIAL_RE.search(headers.get("authorization", ""))
    return claimed.group(1).strip().split("/")[:5] if claimed else []


def _access_key_id(headers: dict[str, str]) -> str | None:
    scope = _claimed_scope(headers)
    return scope[0][:128] if scope else None


def _claimed_region(headers: dict[str, str]) -> str:
    scope = _claimed_scope(headers)
    region = scope[2] if len(scope) > 2 else ""
    # A region outside the configured set is recorded too, if it looks like one: the event says what was tried.
    return region if is_region_name(region) else ""


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers by lowercase name, decoded as Latin-1, repeated ones joined with "," (in order)."""
    # ASGI servers give names in lowercase already; one comprehension serves every request without repeats.
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers
    headers = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _raw_path(scope: Scope) -> str:
    """The path as it was on the wire (still percent-encoded): what the client signed."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]


class ClientDisconnected(Exception):
    """The client closed the connection before its request's body had arrived."""


@dataclass(frozen=True)
class _QueryService:
    """What differs between the two services of the query protocol (`TrentApp._query`)."""

    name: str
    event_name: Callable[[dict[str, str]], str]
    read_only: Callable[[str], bool]
    handle: Callable[[Services, RequestContext, dict[str, str]], bytes]
    error_response: Callable[[KMSError, str], tuple[int, bytes]]
    #: What an event records of a request, from its form (STS); None: the handler records it (IAM).
    audited_parameters: Callable[[dict[str, str]], dict[str, Any]] | None
    #: Changes are audited in their own transaction (IAM), or queued with the batch (STS).
    audits_in_transaction: bool


class TrentApp:
    def __init__(self, settings: Settings, services: Services, authenticator: Authenticator) -> None:
        self.settings = settings
        self.services = services
        self.authenticator = authenticator
        self.validator = RequestValidator(service_model("kms"))
        iam_endpoint = iam.IamEndpoint()
        self._iam_service = _QueryService(
            "iam", iam.event_name, iam.read_only, iam_endpoint.handle, iam.error_response, None, True
        )
        self._sts_service = _QueryService(
            "sts", sts.event_name, sts.read_only, sts.handle, sts.error_response, sts.audited_parameters, False
        )
        #: The console is built at its first request (`_console_app`): it imports Jinja2 and the console's views,
        #: which a worker that only answers SDKs never needs.
        self.console_enabled = settings.console
        self._console_idle_seconds = settings.console_idle_minutes * 60.0
        self._console_region = settings.region
        self._console_instance: Console | None = None
        self._console_lock = threading.Lock()
        self._maintenance: asyncio.Task[None] | None = None
        self._audit_flusher: asyncio.Task[None] | None = None
        self._feed_reader: asyncio.Task[None] | None = None
        #: Body bytes beyond SMALL_BODY that requests of this worker are holding now (see _read_body).
        self._borrowed = 0
        self.request_log = RequestLog(log)
        #: The caches were brought up to date in this pass of the event loop (see _catch_up).
        self._current_in_this_pass = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = unique_id()
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD") and path in ("/health", "/ready"):
            await self._health(path, send, request_id, head=method == "HEAD")
            return
        if method == "GET" and path == "/metrics":
            # Staleness at the time of the scrape: an idle process that is current reports ~0, not its idle time.
            await asyncio.to_thread(self.services.changes.catch_up)
            metrics.GRANT_VIEW_LAG.set(self.services.changes.lag)
            metrics.CHANGE_FEED_GAPS.set(self.services.changes.gaps)
            # In a thread, as /ready's check: reading the store and every worker's metric files is blocking I/O.
            exposition = await asyncio.to_thread(metrics.render, self._top_keys, self._rewrap_progress)
            await self._send(send, 200, exposition, metrics.CONTENT_TYPE, request_id)
            return
        headers = _headers(scope["headers"])
        is_console = path == "/console" or path.startswith("/console/")
        if self.console_enabled and is_console:
            await self._console(scope, headers, receive, send, request_id)
            return
        looks_like_a_call = "x-amz-target" in headers or "authorization" in headers or "content-type" in headers
        if method in ("GET", "HEAD") and not looks_like_a_call:
            # A person with a browser or curl, not an SDK: say what this is.
            status = 200 if path == "/" else 404
            await self._send(send, status, b"" if method == "HEAD" else _WHAT_THIS_IS, b"text/plain", request_id)
            return
        try:
            body = await self._read_body(scope, receive, headers)
        except ClientDisconnected:
            return  # nobody to answer, and no call was made: not audited
        except KMSError as error:
            # The rest of the body may still arrive, or never: the connection is not reused.
            await self._send(send, status_of(error), json_error_body(error), JSON_CONTENT_TYPE, request_id, close=True)
            return
        if "x-amz-target" in headers or not headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            await self._kms(scope, headers, body, send, request_id)
        else:
            await self._query(scope, headers, body, send, request_id)

    # --- KMS: AWS JSON 1.1 ---------------------------------------------------------------------------
    async def _kms(self, scope: Scope, headers: dict[str, str], body: bytes, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        operation = "-"
        caller: Caller | None = None
        region = ""
        draft: AuditDraft | None = None
        client = scope.get("client")
        source_ip = client[0] if client else ""
        user_agent = headers.get("user-agent", "")
        result: dict[str, Any] | None = None
        # What the audit needs of a refusal, not the exception: kept in this frame, the exception and its traceback
        # would make a cycle with it, holding the body and everything parsed from it until a full pass of the
        # cyclic collector (a flood of 1 MB CreateGrant requests, each refused, grew a worker from 82 to over 300 MB).
        error_code: str | None = None
        error_message: str | None = None
        try:
            target = headers.get("x-amz-target", "")
            operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
            spec = OPERATIONS.get(operation)
            if scope["method"] != "POST" or scope["path"] != "/" or spec is None:
                raise UnknownOperationException()
            draft = AuditDraft(operation, read_only=spec.read_only)
            # Every cache this request reads (credentials, keys, policies, grants) is brought up to date first.
            self._catch_up()
            caller, auth = self.authenticator.authenticate(
                "POST", _raw_path(scope), scope["query_string"].decode("latin-1"), headers, body
            )
            region = auth.region
            self.services.key_usage.note(auth.access_key_id, region, auth.service)
            if auth.service != "kms":
                raise InvalidSignatureException("Credential should be scoped to correct service: 'kms'. ")
            request = self._parameters(operation, body)
            draft.request = request
            handler = HANDLERS.get(operation)
            if handler is None:
                raise UnsupportedOperationException(f"Trent does not support {operation} yet.")
            ctx = RequestContext(
                caller=caller,
                region=region,
                request_id=request_id,
                source_ip=source_ip,
                user_agent=user_agent,
                audit=draft,
            )
            if operation in THREADED:
                result = await asyncio.to_thread(handler, self.services, ctx, request)
            else:
                result = handler(self.services, ctx, request)
            payload = orjson.dumps(result, default=_bytes_to_base64)
            status = 200
            outcome = "ok"
        except KMSError as exc:
            status, payload, outcome = status_of(exc), json_error_body(exc), exc.code
            error_code, error_message = exc.code, exc.message
        except Exception:
            log.exception("internal error in %s (request %s)", operation, request_id)
            internal = KMSInternalException("An internal error occurred. The request ID is in the logs.")
            status, payload, outcome = 500, json_error_body(internal), internal.code
            error_code, error_message = internal.code, internal.message
        await self._send(send, status, payload, JSON_CONTENT_TYPE, request_id)
        elapsed = time.perf_counter() - started
        metrics.observe_request(operation if draft is not None else "unknown", outcome, elapsed)
        if draft is not None and (error_code is not None or not draft.recorded):
            self._audit(
                draft,
                caller,
                headers,
                region,
                request_id,
                source_ip,
                user_agent,
                response=result,
                error_code=error_code,
                error_message=error_message,
            )
        if self.request_log.enabled:
            self.request_log.record(
                request_id,
                operation,
                caller.arn if caller is not None else None,
                next(iter(draft.resources), None) if draft is not None else None,
                outcome,
                elapsed * 1000,
                source_ip,
            )

    def _parameters(self, operation: str, body: bytes) -> dict[str, Any]:
        """The request's parameters, parsed from its JSON body and validated.

        The parsed document lives only as long as this call (or, when it is refused, as long as the exception being
        handled), not as long as the request: a 1 MB body can parse into 200,000 objects filling a dozen pymalloc
        arenas, and any longer-lived object the rest of the request allocated while they were alive would land in
        those arenas and keep them from being returned to the system once they are freed (a flood of such requests
        left a worker 13 MB larger, for good).
        """
        try:
            document = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise SerializationException("Start of structure or map found where not expected.") from None
        return self.validator.validate(operation, document)

    # --- STS and IAM: the query protocol --------------------------------------------------------------------
    async def _query(self, scope: Scope, headers: dict[str, str], body: bytes, send: Send, request_id: str) -> None:
        """STS and IAM: the service is the one the credential scope names (verified with the signature)."""
        service = self._iam_service if _claimed_scope(headers)[3:4] == ["iam"] else self._sts_service
        client = scope.get("client")
        source_ip = client[0] if client else ""
        user_agent = headers.get("user-agent", "")
        draft = AuditDraft("-", event_source=f"{service.name}.amazonaws.com")
        caller: Caller | None = None
        region = ""
        error_code: str | None = None  # not the exception, as in _kms: it would make a cycle with this frame
        error_message: str | None = None
        failed = False
        try:
            params = sts.parse_form(body)
            draft.operation = service.event_name(params)
            draft.read_only = service.read_only(draft.operation)
            if service.audited_parameters is not None:
                draft.request = service.audited_parameters(params)
            self._catch_up()
            caller, auth = self.authenticator.authenticate(
                scope["method"], _raw_path(scope), scope["query_string"].decode("latin-1"), headers, body
            )
            region = auth.region
            self.services.key_usage.note(auth.access_key_id, region, auth.service)
            if auth.service != service.name:
                raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service.name}'. ")
            ctx = RequestContext(
                caller=caller,
                region=region,
                request_id=request_id,
                source_ip=source_ip,
                user_agent=user_agent,
                audit=draft if service.audits_in_transaction else None,
            )
            payload = service.handle(self.services, ctx, params)
            status = 200
        except KMSError as exc:
            failed, error_code, error_message = True, query_error_code(exc), exc.message
            status, payload = service.error_response(exc, request_id)
        except Exception:
            log.exception("internal error in %s (request %s)", service.name, request_id)
            internal = KMSInternalException("An internal error occurred.")
            failed, error_code, error_message = True, query_error_code(internal), internal.message
            status, payload = service.error_response(internal, request_id)
        await self._send(send, status, payload, XML_CONTENT_TYPE, request_id)
        # IAM changes are audited in their own transaction (draft.recorded). STS's AssumeRole, granted or refused,
        # is queued with the read-only batch: a crash in the next 0.25 s can lose its event (the credentials
        # themselves are stored); credentials are never audited.
        if failed or not draft.recorded:
            self._audit(
                draft,
                caller,
                headers,
                region,
                request_id,
                source_ip,
                user_agent,
                error_code=error_code,
                error_message=error_message,
            )

    async def _console(
        self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send, request_id: str
    ) -> None:
        try:
            body = await self._read_body(scope, receive, headers)
        except ClientDisconnected:
            return
        except KMSError as error:
            await self._send(send, status_of(error), error.code.encode(), b"text/plain", request_id, close=True)
            return
        client = scope.get("client")
        form: dict[str, str] = {}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            console = await asyncio.to_thread(self._console_app)
        except Exception:
            log.exception("the console could not be built (request %s)", request_id)
            await self._send(send, 500, b"InternalFailure", b"text/plain", request_id, close=True)
            return
        from trent.console.app import SECURITY_HEADERS, Page, Request, parse_cookies  # loaded by _console_app

        request = Request(
            method=scope["method"],
            path=scope["path"],
            query={k: v[-1] for k, v in urllib.parse.parse_qs(scope["query_string"].decode("latin-1")).items()},
            form=form,
            cookies=parse_cookies(headers.get("cookie", "")),
            origin=headers.get("origin"),
            fetch_site=headers.get("sec-fetch-site"),
            host=headers.get("host", ""),
            source_ip=client[0] if client else "",
            user_agent=headers.get("user-agent", ""),
            request_id=request_id,
        )
        self._catch_up()
        try:
            page = await asyncio.to_thread(console.respond, request)
        except Exception:
            log.exception("internal error in the console (request %s)", request_id)
            page = Page(500, b"An internal error occurred. The request ID is in the logs.", b"text/plain")
        response_headers = [
            (b"content-type", page.content_type),
            (b"content-length", str(len(page.body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
            *SECURITY_HEADERS,
            *page.headers,
        ]
        await send({"type": "http.response.start", "status": page.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": page.body})

    def _console_app(self) -> Console:
        """The console, built by the first request that needs it (in a worker thread: building it imports Jinja2)."""
        with self._console_lock:
            if self._console_instance is None:
                from trent.console.app import Console

                self._console_instance = Console(
                    self.services, self.validator, idle_seconds=self._console_idle_seconds, region=self._console_region
                )
            return self._console_instance

    def _audit(
        self,
        draft: AuditDraft,
        caller: Caller | None,
        headers: dict[str, str],
        region: str,
        request_id: str,
        source_ip: str,
        user_agent: str,
        *,
        response: dict[str, Any] | None = None,
        error_code: str | None,
        error_message: str | None,
    ) -> None:
        """Queue a call's event for the next audit batch (unauthenticated requests included)."""
        self.services.audit.enqueue_call(
            draft,
            caller=caller,
            access_key_id=caller.access_key_id if caller is not None else _access_key_id(headers),
            region=region or _claimed_region(headers),
            request_id=request_id,
            source_ip=source_ip,
            user_agent=user_agent,
            response=response,
            error_code=error_code,
            error_message=error_message,
        )

    # --- plumbing ------------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Bring every cache up to date with the store before a request reads them: once per pass of the event
        loop, not once per request (on SQLite each check is a `PRAGMA data_version` that gives up the GIL).

        Exact all the same. A pass runs the callbacks that were ready when it began; the callback that clears the
        flag is queued when the check is made, so every request step queued after the check (a request whose bytes
        arrived after it, above all one sent after a change it was told of) runs after the flag is cleared and
        checks again. A step that reuses the check was queued before it, so its request's bytes had arrived, and
        whatever its client had been told was committed, before the check was made.
        """
        if self._current_in_this_pass:
            return
        # A new pass, counted from this check: a read of the feed made before it (by the background reader, a
        # scrape of /metrics, a request of an earlier pass) no longer counts for the requests of this pass
        # (`ChangeFeed.read_in_this_pass`).
        self.services.changes.next_pass()
        self.services.changes.catch_up()
        self._current_in_this_pass = True
        asyncio.get_running_loop().call_soon(self._pass_over)

    def _pass_over(self) -> None:
        self._current_in_this_pass = False

    async def _read_body(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> bytes:
        """The request body, read within `body_timeout` and `max_request_bytes`.

        Every request may hold SMALL_BODY bytes while its body arrives (a KMS request is a few KiB); beyond that
        it borrows from the worker's `body_buffer_bytes`, and is refused with ThrottlingException (which clients
        retry) when that is spent. So 1,500 connections each holding a megabyte-minus-one body cost a bounded
        amount of memory, not 2 GB.
        """
        limit = self.settings.max_request_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestEntityTooLargeException(f"Request body must be at most {limit} bytes.")
        if scope.get(protocol.BODY_COMPLETE):
            # The whole body is already in the protocol's buffer (almost every request): nothing can make it wait.
            return await self._receive_body(receive, limit)
        try:
            # One deadline for the whole body (a timer, not a task per chunk as `asyncio.wait_for` makes).
            async with asyncio.timeout(self.settings.body_timeout):
                return await self._receive_body(receive, limit)
        except TimeoutError:
            raise RequestTimeoutException(
                f"The request body did not arrive within {self.settings.body_timeout:g} s."
            ) from None

    async def _receive_body(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = borrowed = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestEntityTooLargeException(f"Request body must be at most {limit} bytes.")
                if size > SMALL_BODY:
                    wanted = size - SMALL_BODY - borrowed
                    if self._borrowed + wanted > self.settings.body_buffer_bytes:
                        raise ThrottlingException(THROTTLED)
                    self._borrowed += wanted
                    borrowed += wanted
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            self._borrowed -= borrowed

    async def _send(
        self, send: Send, status: int, payload: bytes, content_type: bytes, request_id: str, *, close: bool = False
    ) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(payload)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _store_answers(self) -> None:
        with self.services.store.transaction(write=False) as tx:
            tx.identities.account_exists("000000000000")

    def _rewrap_progress(self) -> Any:
        return rewrap_progress(self.services.store)

    def _top_keys(self) -> list[tuple[str, int]]:
        with self.services.store.transaction(write=False) as tx:
            return tx.keys.with_most_grants(100)

    async def _health(self, path: str, send: Send, request_id: str, *, head: bool = False) -> None:
        status, body = 200, {"status": "ok"}
        if path == "/ready":
            try:
                await asyncio.to_thread(self._store_answers)
            except Exception as exc:  # the store is unreachable: not ready, say why
                status, body = 503, {"status": "unavailable", "reason": type(exc).__name__}
        await self._send(send, status, b"" if head else orjson.dumps(body), b"application/json", request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # What exists now (service models, policies, modules) lives as long as the process: keep it
                # out of the collector's full passes, which otherwise pause requests for tens of ms each.
                gc.collect()
                gc.freeze()
                self._maintenance = asyncio.create_task(self._maintenance_loop())
                self._audit_flusher = asyncio.create_task(self._audit_loop())
                self._feed_reader = asyncio.create_task(self._feed_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self._maintenance, self._audit_flusher, self._feed_reader):
                    if task is not None:
                        task.cancel()
                self.services.audit.flush()
                self.request_log.flush()
                self.services.key_usage.write(force=True)
                metrics.publish_requests()
                self.services.store.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _audit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.audit_flush_interval)
            # In a thread: the commit waits for the disk, and requests need not wait with it.
            await asyncio.to_thread(self._flush_records)

    def _flush_records(self) -> None:
        self.services.audit.flush()
        self.request_log.flush()
        self.services.key_usage.write()
        metrics.publish_requests()

    async def _feed_loop(self) -> None:
        # Requests read the feed when they need it; this keeps an idle process from falling far behind.
        interval = max(FEED_READ_SECONDS, self.services.changes.refresh_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.services.changes.read)
            except Exception:
                log.warning("reading the change feed failed; the next request retries", exc_info=True)
            _return_free_memory()

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                # In a thread: a pass waits for the write lock and the disk, and requests need not wait with it.
                done = await asyncio.to_thread(
                    run_due_work,
                    self.services,
                    audit_retention_days=self.settings.audit_retention_days,
                    audit_max_events=self.settings.audit_max_events,
                )
            except Exception:
                logging.getLogger("trent.maintenance").exception("maintenance pass failed")
                done = {}
            # A re-wrap after a root-key rotation goes on at once, a couple of seconds of batches per pass.
            await asyncio.sleep(0.5 if done.get("rewrap_unfinished") else self.settings.maintenance_interval)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None  # not glibc: nothing to tune


_LIBC = _libc()
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def _tune_malloc() -> None:
    """Request bodies and their copies (up to a megabyte each) get their own mappings, returned to the system
    when freed, instead of heap that a burst of large requests leaves behind: glibc raises its mapping threshold
    after the first large free unless it is set explicitly.

    Two heap arenas, not glibc's default of one per thread (up to eight per core) for the event loop, the thread
    pool and the batch thread: a worker after 1 M grants and 100,000 callers held 280 MB (peak 285) instead of
    290 (peak 309), docs/performance.md "How cost grows"."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 1024 * 1024)
        _LIBC.mallopt(_M_ARENA_MAX, 2)


def _return_free_memory() -> None:
    """Give the heap memory freed since (audit batches, responses) back to the system, so that a burst of requests
    does not leave a worker's RSS at its high-water mark."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def build_app(settings: Settings) -> TrentApp:
    _tune_malloc()
    store = build_store(settings, observe=metrics.STORE_LATENCY.observe)
    store.check_root_key()
    services = build_services(settings, store)
    authenticator = Authenticator(
        store,
        dev_mode=settings.dev,
        default_account=settings.default_account,
        max_skew_seconds=settings.max_signature_skew,
        changes=services.changes,
        regions=settings.regions,
        max_credentials=settings.cache_credentials,
    )
    return TrentApp(settings, services, authenticator)


def create_app() -> TrentApp:
    """Factory for uvicorn worker processes: settings come from the TRENT_* environment."""
    from trent import logs

    settings = load_settings(environ=dict(os.environ))
    logs.configure(settings.log_level)
    protocol.configure(max_header_bytes=settings.max_header_bytes, header_timeout=settings.header_timeout)
    return build_app(settings)

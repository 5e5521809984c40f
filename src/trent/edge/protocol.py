"""The HTTP/1.1 protocol Trent runs under uvicorn: uvicorn's httptools protocol, with the limits a server that
anyone can reach needs before any request reaches the application.

- The request head (request line and headers) is bounded in size (`max_header_bytes`): a 16 MiB User-Agent
  is refused with 431 while it arrives, not read, parsed, logged and audited.
- The request head must arrive within `header_timeout` seconds of the connection (or of the first byte of a
  next request on a kept-alive connection): connections that open and send nothing, or dribble a header a byte
  at a time, are answered 408 and closed.
- Idle kept-alive connections are closed after `keep_alive_timeout` (uvicorn's own timer); concurrent
  connections per worker are capped by uvicorn's `limit_concurrency` (503 beyond it); the body's own timeout is
  the application's (`TrentApp._read_body`), which needs no timer when the protocol has already seen the whole
  body: it says so in the request's scope (`BODY_COMPLETE`).

The limits are class attributes, set once per process by `configure` (each uvicorn worker process calls it
from its application factory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("trent.edge")


#: A key of the request's scope, set once the whole body has arrived.
BODY_COMPLETE = "trent.body_complete"


class _HeadTooLarge(httptools.HttpParserError):
    pass


class _OneWriteTransport:
    """The transport a response cycle writes through: its status line and headers are held until its body comes,
    so that a response leaves in one `write` (one system call) rather than two. What is held is written at the
    latest when the response completes (a HEAD response, or one without a body) or the connection is closed."""

    __slots__ = ("_held", "_on_response", "_transport")

    def __init__(self, transport: asyncio.Transport, on_response: Callable[[], None]) -> None:
        self._transport = transport
        self._on_response = on_response
        self._held: bytes | None = b""  # b"": nothing written yet; None: the head has gone out

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._transport.write(data)
        elif not held:
            if data[:10] == b"HTTP/1.1 1":  # an interim response (100 Continue): out at once; the head comes later
                self._transport.write(data)
                return
            self._held = bytes(data)  # the first write of a response is its head
        else:
            self._held = None
            self._transport.write(held + data)

    def flush(self) -> None:
        if self._held:
            self._transport.write(self._held)
        self._held = None

    def response_complete(self) -> None:
        self.flush()
        self._on_response()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Cheap on the request path: no method of its own per header and no timer per request (together they cost
    ~9 µs a request, measured with the bare stack of `benchmarks/`). The head's size is counted per chunk received
    while a head is incomplete, and exactly once it is complete; its deadline is a time kept per connection, checked
    by one timer that re-arms itself, created at most once per `header_timeout` on a busy connection."""

    max_header_bytes: ClassVar[int] = 16 * 1024
    header_timeout: ClassVar[float] = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refusal: tuple[int, str, str] | None = None
        #: Whether a request head is being received: from the connection, or the end of the previous request.
        self._in_head = True
        #: Bytes received in chunks that began while the head was incomplete (the last may carry body bytes).
        self._head_bytes = 0
        #: When the head being received must be complete; None while no head is pending.
        self._head_deadline: float | None = self.loop.time() + self.header_timeout
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_at(self._head_deadline, self._check_head_time)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counted = self._in_head
        if counted:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the same head and already over: refuse now rather than buffer more of it. (A head that ends in
        # this chunk is measured exactly in on_headers_complete.)
        if counted and self._in_head and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse_head()
            self.send_400_response("request head too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_deadline = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head_time)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_deadline = None
        size = len(self.url)
        for name, value in self.headers:
            size += len(name) + len(value) + 4  # ": " and CRLF
        if size > self.max_header_bytes:
            self._refuse_head()
            raise _HeadTooLarge("request head too large")  # uvicorn answers through send_400_response
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle is before:
            return  # no response cycle of its own (an upgrade uvicorn takes over)
        one_write = _OneWriteTransport(self.transport, cycle.on_response)
        cycle.transport = one_write  # type: ignore[assignment]
        cycle.on_response = one_write.response_complete

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # `self.scope` is the scope of the message being parsed, which is the one complete now (pipelined or not).
        self.scope[BODY_COMPLETE] = True  # type: ignore[literal-required]
        self._in_head = True  # the next request's head, whenever its first byte comes

    def _refuse_head(self) -> None:
        self._refusal = (
            431,
            "RequestHeaderFieldsTooLarge",
            f"The request line and headers must be at most {self.max_header_bytes} bytes.",
        )

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        status, code, message = self._refusal
        self._send_and_close(status, code, message)

    def _check_head_time(self) -> None:
        self._head_timer = None
        if self._head_deadline is None or self.transport.is_closing():
            return  # no head pending: the next request's first byte sets a deadline (and this timer) again
        remaining = self._head_deadline - self.loop.time()
        if remaining > 0:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head_time)
            return
        log.info("closing a connection whose request head did not arrive within %.0f s", self.header_timeout)
        self._send_and_close(
            408,
            "RequestTimeoutException",
            f"The request line and headers did not arrive within {self.header_timeout:g} s.",
        )

    def _send_and_close(self, status: int, code: str, message: str) -> None:
        body = orjson.dumps({"__type": code, "message": message})
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}.get(status, b"Bad Request")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()


def configure(*, max_header_bytes: int, header_timeout: float) -> type[BoundedHttpToolsProtocol]:
    """Set this process's limits; returns the protocol class for uvicorn's `http` option."""
    BoundedHttpToolsProtocol.max_header_bytes = max_header_bytes
    BoundedHttpToolsProtocol.header_timeout = header_timeout
    return BoundedHttpToolsProtocol

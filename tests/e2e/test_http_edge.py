"""The HTTP edge as clients other than the SDKs meet it: a response leaves in one write, and nothing of that
changes what goes on the wire (interim 100 Continue, HEAD, pipelining, keep-alive)."""

from __future__ import annotations

import socket
import time

from tests.server import TrentServer


def read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_an_expect_100_continue_request_gets_its_interim_response_before_it_sends_its_body(
    server: TrentServer,
) -> None:
    body = b'{"Limit": 1}'
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        interim = read_until(sock, b"\r\n\r\n", timeout=3)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(body)
        rest = interim.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n") + read_until(sock, b"}")
    # Unsigned: refused, with the whole response (status line, headers, body) after the interim one.
    assert rest.startswith(b"HTTP/1.1 400 "), rest
    assert b"MissingAuthenticationTokenException" in rest


def test_head_pipelined_and_kept_alive_requests_are_answered_whole_and_in_order(server: TrentServer) -> None:
    requests = (
        b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(requests)
        data = read_until(sock, b"This is Trent")
        assert data.count(b"HTTP/1.1 ") == 3, data
        head, get, missing = data.split(b"HTTP/1.1 ")[1:]
        assert head.startswith(b"200 ") and head.endswith(b"\r\n\r\n")  # a HEAD response: headers, no body
        assert get.startswith(b"200 ") and get.endswith(b'{"status":"ok"}')
        assert missing.startswith(b"404 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection is still usable
        again = read_until(sock, b'{"status":"ok"}')
        assert again.startswith(b"HTTP/1.1 200 ") and again.endswith(b'{"status":"ok"}')

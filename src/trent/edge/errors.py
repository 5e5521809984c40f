"""Rendering of errors on the wire: the one place that maps an error to an HTTP status and body."""

from __future__ import annotations

import orjson

from trent.domain.errors import (
    DependencyTimeoutException,
    KMSError,
    RequestEntityTooLargeException,
    RequestTimeoutException,
)


def status_of(error: KMSError) -> int:
    if isinstance(error, DependencyTimeoutException):
        return 503
    if isinstance(error, RequestEntityTooLargeException):
        return 413
    if isinstance(error, RequestTimeoutException):
        return 408
    # AWS answers every client error of the JSON protocol with 400 (docs/decisions.md D13).
    return 500 if error.fault else 400


def json_error_body(error: KMSError) -> bytes:
    body: dict[str, str] = {"__type": error.code}
    if error.message is not None:
        body["message"] = error.message
    return orjson.dumps(body)

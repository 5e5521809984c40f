"""Rendering of errors on the wire: the one place that maps an error to an HTTP status and body, for the JSON
protocol (KMS) and the Query protocol (STS)."""

from __future__ import annotations

from xml.sax.saxutils import escape

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


# --- the Query protocol (STS): its own codes and statuses for the errors both protocols share ---------------------
_QUERY_CODES = {
    "ValidationException": ("ValidationError", 400),
    "AccessDeniedException": ("AccessDenied", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    # IAM's own errors, with the statuses AWS answers them with.
    "NoSuchEntity": ("NoSuchEntity", 404),
    "EntityAlreadyExists": ("EntityAlreadyExists", 409),
    "DeleteConflict": ("DeleteConflict", 409),
    "LimitExceeded": ("LimitExceeded", 409),
    "MalformedPolicyDocument": ("MalformedPolicyDocument", 400),
}


def query_error_code(error: KMSError) -> str:
    """The code the Query protocol answers `error` with."""
    return _QUERY_CODES.get(error.code, (error.code, 0))[0]


def query_error_response(error: KMSError, namespace: str, request_id: str) -> tuple[int, bytes]:
    """The HTTP status and XML body of `error` in the Query protocol of the service whose namespace is given."""
    code, status = _QUERY_CODES.get(error.code, (error.code, 500 if error.fault else 400))
    kind = "Receiver" if error.fault else "Sender"
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(error.message or '')}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return status, body.encode()

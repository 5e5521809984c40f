"""Logging: JSON lines (one object per event) for machines, plain text when a person watches a terminal.

Request events carry request ID, operation, principal, key ARN, outcome and duration. Nothing secret is
ever passed to a logger: handlers log identifiers, never plaintext, keys, tokens or secret keys.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

_FIELDS = ("request_id", "operation", "principal", "key_arn", "outcome", "duration_ms", "source_ip")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                event[name] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, separators=(",", ":"))


def configure(level: str, *, json_lines: bool | None = None) -> None:
    """Log at `level` to stderr; JSON unless stderr is a terminal (or as `json_lines` says)."""
    use_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler = logging.StreamHandler()
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """`datetime.isoformat` of a whole second in UTC without its offset: lines of the same second share it."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class RequestLog:
    """The per-request log line ("Encrypt ok 0.4ms", with request ID, principal, key, outcome, duration), cheap on
    the request path: a request appends one tuple; `flush` (every audit_flush_interval, in a thread) formats the
    batch as the configured handler would and writes it in one call. Through `logging`, one line cost 17-23 % of
    the event loop (docs/performance.md). A crash can lose the last interval's lines; the audit trail keeps every
    call regardless."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._pending: list[tuple[float, str, str, str | None, str | None, str, float, str]] = []
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def record(
        self,
        request_id: str,
        operation: str,
        principal: str | None,
        key_arn: str | None,
        outcome: str,
        duration_ms: float,
        source_ip: str,
    ) -> None:
        self._pending.append((time.time(), request_id, operation, principal, key_arn, outcome, duration_ms, source_ip))

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        if not handlers:
            return 0
        handler = handlers[0]
        json_lines = isinstance(handler.formatter, JsonFormatter)
        text = "".join(self._line(entry, json_lines) for entry in batch)
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        finally:
            handler.release()
        return len(batch)

    def _line(self, entry: Sequence[object], json_lines: bool) -> str:
        created, request_id, operation, principal, key_arn, outcome, duration_ms, source_ip = entry
        assert isinstance(created, float) and isinstance(duration_ms, float)
        message = f"{operation or '-'} {outcome} {duration_ms:.1f}ms"
        if not json_lines:
            stamp = datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            return f"{stamp} INFO    {self._logger.name} {message}\n"
        # As datetime.fromtimestamp rounds (half to even, to the microsecond), then isoformat cuts to milliseconds.
        second = int(created)
        microseconds = round((created - second) * 1_000_000)
        if microseconds >= 1_000_000:
            second, microseconds = second + 1, microseconds - 1_000_000
        event: dict[str, object] = {
            "time": f"{_utc_second(second)}.{microseconds // 1000:03d}+00:00",
            "level": "info",
            "logger": self._logger.name,
            "message": message,
            "request_id": request_id,
        }
        if operation:
            event["operation"] = operation
        if principal is not None:
            event["principal"] = principal
        if key_arn is not None:
            event["key_arn"] = key_arn
        event["outcome"] = outcome
        event["duration_ms"] = round(duration_ms, 3)
        event["source_ip"] = source_ip
        return orjson.dumps(event).decode() + "\n"

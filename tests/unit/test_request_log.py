"""The request log's JSON lines (`trent.logs.RequestLog`): built by hand for speed, they must read exactly as the
straightforward construction (datetime's rounding, fields left out when empty) would write them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from trent.logs import RequestLog


def reference(entry: tuple[float, str, str, str | None, str | None, str, float, str]) -> str:
    created, request_id, operation, principal, key_arn, outcome, duration_ms, source_ip = entry
    event = {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": "trent.request",
        "message": f"{operation or '-'} {outcome} {duration_ms:.1f}ms",
        "request_id": request_id,
        "operation": operation or None,
        "principal": principal,
        "key_arn": key_arn,
        "outcome": outcome,
        "duration_ms": round(duration_ms, 3),
        "source_ip": source_ip,
    }
    return orjson.dumps({k: v for k, v in event.items() if v is not None}).decode() + "\n"


@given(
    created=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    operation=st.sampled_from(["Encrypt", "", "-"]),
    principal=st.none() | st.just("arn:aws:iam::000000000000:user/admin"),
    key_arn=st.none() | st.just("arn:aws:kms:us-east-1:000000000000:key/k"),
    duration_ms=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    source_ip=st.sampled_from(["", "127.0.0.1"]),
)
@example(
    created=1_796_000_000.9999996, operation="Encrypt", principal=None, key_arn=None, duration_ms=0.4, source_ip=""
)
@example(created=1_796_000_000.0004995, operation="", principal=None, key_arn=None, duration_ms=0.4, source_ip="")
def test_a_line_reads_as_the_plain_construction_writes_it(
    created: float, operation: str, principal: str | None, key_arn: str | None, duration_ms: float, source_ip: str
) -> None:
    entry = (created, "rid", operation, principal, key_arn, "ok", duration_ms, source_ip)
    assert RequestLog(logging.getLogger("trent.request"))._line(entry, True) == reference(entry)

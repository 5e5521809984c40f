"""How the edge reads a request's headers (`trent.edge.app._headers`): what SigV4 verification sees."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trent.edge.app import _headers

_NAMES = st.sampled_from([b"host", b"X-Amz-Date", b"x-amz-date", b"my-header", b"Content-Type", b"x-b"])
_VALUES = st.binary(max_size=12)


def test_repeated_headers_are_joined_in_order_whatever_their_case() -> None:
    raw = [(b"host", b"h"), (b"My-Header", b"a"), (b"x-b", b"\xe9"), (b"my-header", b"b"), (b"MY-HEADER", b"c")]
    assert _headers(raw) == {"host": "h", "my-header": "a,b,c", "x-b": "\xe9"}


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_headers_match_a_plain_reading(raw: list[tuple[bytes, bytes]]) -> None:
    expected: dict[str, list[str]] = {}
    for name, value in raw:
        expected.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    assert _headers(raw) == {name: ",".join(values) for name, values in expected.items()}

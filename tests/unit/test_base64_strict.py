"""Blob members are decoded with pybase64 (SIMD); Coral's strictness must not move: for every input, the edge's
check (`_BlobNode.check`) accepts and decodes exactly what `binascii.a2b_base64(strict_mode=True)` followed by
the canonical-tail check does."""

from __future__ import annotations

import base64
import binascii
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trent.domain.errors import ValidationException
from trent.edge.validation import RequestValidator, _canonical_tail, service_model

_VALIDATOR = RequestValidator(service_model("kms"))
_CHARS = string.ascii_letters + string.digits + "+/=" + " \n\t-_.\x00é\u2028"


def reference(value: str) -> bytes | None:
    """What the edge accepted before pybase64: strict binascii, then the canonical tail; None if refused."""
    try:
        data = binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        return None
    if value and value[-1] == "=" and not _canonical_tail(value):
        return None
    return data


def checked(value: str) -> bytes | None:
    try:
        request = _VALIDATOR.validate("Encrypt", {"KeyId": "k", "Plaintext": value})
    except ValidationException:
        return None
    except Exception as exc:  # a SerializationException: the value is not base64
        assert type(exc).__name__ == "SerializationException", exc
        return None
    data: bytes = request["Plaintext"]
    return data


def mutated(draw: st.DrawFn) -> str:
    encoded = base64.b64encode(draw(st.binary(min_size=1, max_size=40))).decode()
    position = draw(st.integers(0, len(encoded) - 1))
    return encoded[:position] + draw(st.sampled_from(_CHARS)) + encoded[position + 1 :]


@settings(max_examples=3000)
@given(
    st.one_of(
        st.text(alphabet=_CHARS, min_size=1, max_size=24),
        st.binary(min_size=1, max_size=40).map(lambda data: base64.b64encode(data).decode()),
        st.composite(mutated)(),
    )
)
@example("WMSS=")  # binascii strict accepts surplus padding after a whole quantum; both checks refuse it
@example("QR==")  # non-zero spare bits
@example("QUJD")
@example("QUI=")
def test_the_edge_decodes_blobs_exactly_as_strict_binascii_with_the_tail_check(value: str) -> None:
    assert checked(value) == reference(value)


@pytest.mark.parametrize("size", [1, 2, 3, 1024, 4096])
def test_valid_blobs_round_trip(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert checked(base64.b64encode(data).decode()) == data

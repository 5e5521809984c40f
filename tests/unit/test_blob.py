"""The ciphertext blob of symmetric keys: what it binds (key, material version, context) and that any change to it
fails the same uninformative way."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trent.crypto import blob

KEY_ID = "0f0e0d0c-0b0a-4908-8706-050403020100"
SEALING = blob.sealing_key(os.urandom(32))
contexts = st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)


@given(plaintext=st.binary(min_size=1, max_size=256), context=contexts, version=st.integers(1, 2**32 - 1))
def test_a_blob_opens_with_its_context_and_names_its_key_and_version(
    plaintext: bytes, context: dict[str, str] | None, version: int
) -> None:
    sealed = blob.seal(SEALING, KEY_ID, version, plaintext, context)
    assert blob.parse_header(sealed) == blob.BlobHeader(KEY_ID, version)
    assert blob.open_blob(SEALING, sealed, context) == plaintext
    assert len(sealed) == len(plaintext) + blob.OVERHEAD


@given(position=st.integers(0, blob.OVERHEAD + 15), bit=st.integers(0, 7))
def test_any_changed_bit_fails_to_open(position: int, bit: int) -> None:
    sealed = bytearray(blob.seal(SEALING, KEY_ID, 1, b"sixteen bytes!!!", {"a": "b"}))
    sealed[position] ^= 1 << bit
    with pytest.raises(blob.InvalidBlob):
        blob.open_blob(SEALING, bytes(sealed), {"a": "b"})


@pytest.mark.parametrize(
    "other",
    [None, {}, {"a": "B"}, {"A": "b"}, {"a": "b", "c": "d"}, {"ab": ""}],
)
def test_another_context_fails_to_open(other: dict[str, str] | None) -> None:
    sealed = blob.seal(SEALING, KEY_ID, 1, b"x", {"a": "b"})
    with pytest.raises(blob.InvalidBlob):
        blob.open_blob(SEALING, sealed, other)


def test_no_and_empty_contexts_are_the_same_context() -> None:
    assert blob.open_blob(SEALING, blob.seal(SEALING, KEY_ID, 1, b"x", None), {}) == b"x"


@given(first=contexts, second=contexts)
def test_distinct_contexts_never_encode_alike(first: dict[str, str] | None, second: dict[str, str] | None) -> None:
    if (first or {}) != (second or {}):
        assert blob.encode_context(first) != blob.encode_context(second)


def test_another_keys_material_fails_to_open_and_short_or_foreign_blobs_have_no_header() -> None:
    sealed = blob.seal(SEALING, KEY_ID, 1, b"x", None)
    with pytest.raises(blob.InvalidBlob):
        blob.open_blob(blob.sealing_key(os.urandom(32)), sealed, None)
    for bad in (b"", sealed[: blob.OVERHEAD - 1], b"\x03" + sealed[1:]):
        with pytest.raises(blob.InvalidBlob):
            blob.parse_header(bad)


def test_a_multi_region_keys_blob_names_it_and_its_format_byte_is_authenticated() -> None:
    multi_region_id = "mrk-" + "0123456789abcdef" * 2
    sealed = blob.seal(SEALING, multi_region_id, 3, b"secret", {"a": "b"})
    assert sealed[0] == blob.FORMAT_V1_MULTI_REGION
    assert blob.parse_header(sealed) == blob.BlobHeader(multi_region_id, 3)
    assert blob.open_blob(SEALING, sealed, {"a": "b"}) == b"secret"
    # The same 16 bytes read as a single-Region key's ID: another key, and the header is associated data.
    as_single_region = bytes([blob.FORMAT_V1]) + sealed[1:]
    assert blob.parse_header(as_single_region).key_id == "01234567-89ab-cdef-0123-456789abcdef"
    with pytest.raises(blob.InvalidBlob):
        blob.open_blob(SEALING, as_single_region, {"a": "b"})

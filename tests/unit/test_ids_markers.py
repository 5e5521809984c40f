"""Key identifiers and pagination markers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trent.domain.errors import InvalidArnException, InvalidMarkerException, NotFoundException
from trent.domain.ids import RefKind, parse_key_reference
from trent.domain.markers import MarkerCodec

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("raw", "kind", "name", "account"),
    [
        (KEY_ID, RefKind.KEY, KEY_ID, None),
        (f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}", RefKind.KEY, KEY_ID, "111122223333"),
        ("alias/my-key", RefKind.ALIAS, "alias/my-key", None),
        ("arn:aws:kms:us-east-1:111122223333:alias/my-key", RefKind.ALIAS, "alias/my-key", "111122223333"),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", RefKind.KEY, "mrk-1234abcd12ab34cd56ef1234567890ab", None),
    ],
)
def test_accepted_forms(raw: str, kind: RefKind, name: str, account: str | None) -> None:
    ref = parse_key_reference(raw, region="us-east-1", allow_alias=True)
    assert (ref.kind, ref.name, ref.account) == (kind, name, account)


def test_aliases_refused_where_not_supported() -> None:
    for raw in ("alias/x", "arn:aws:kms:us-east-1:111122223333:alias/x"):
        with pytest.raises(InvalidArnException, match=r"Key Aliases are not supported for this operation\."):
            parse_key_reference(raw, region="us-east-1", allow_alias=False)


def test_other_region_and_malformed() -> None:
    with pytest.raises(NotFoundException, match="Invalid arn eu-west-1"):
        parse_key_reference(f"arn:aws:kms:eu-west-1:111122223333:key/{KEY_ID}", region="us-east-1", allow_alias=True)
    for raw in ("fake-key-id", KEY_ID.upper(), f"{KEY_ID}x", "alias/"):
        with pytest.raises(NotFoundException, match="Invalid keyId"):
            parse_key_reference(raw, region="us-east-1", allow_alias=True)


@given(st.text(max_size=64))
def test_parser_raises_only_modeled_errors(raw: str) -> None:
    with contextlib.suppress(NotFoundException, InvalidArnException):
        parse_key_reference(raw, region="us-east-1", allow_alias=True)


@given(st.text(max_size=40), st.text(max_size=40))
def test_marker_round_trip(scope: str, position: str) -> None:
    codec = MarkerCodec(b"s" * 32)
    assert codec.decode("keys", scope, codec.encode("keys", scope, position)) == position


@given(st.text(min_size=1, max_size=40), st.data())
def test_marker_tampering_is_detected(position: str, data: st.DataObject) -> None:
    codec = MarkerCodec(b"s" * 32)
    marker = codec.encode("keys", "scope", position)
    index = data.draw(st.integers(0, len(marker) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    tampered = marker[:index] + replacement + marker[index + 1 :]
    if tampered == marker:
        return
    try:
        decoded = codec.decode("keys", "scope", tampered)
    except InvalidMarkerException:
        return
    # base64 can ignore low bits of the last character: the decoded position must then be unchanged.
    assert decoded == position


def test_marker_is_bound_to_its_list_and_scope() -> None:
    codec = MarkerCodec(b"s" * 32)
    marker = codec.encode("keys", "000000000000:us-east-1", "abc")
    with pytest.raises(InvalidMarkerException):
        codec.decode("aliases", "000000000000:us-east-1", marker)
    with pytest.raises(InvalidMarkerException):
        codec.decode("keys", "111111111111:us-east-1", marker)
    with pytest.raises(InvalidMarkerException):
        MarkerCodec(b"t" * 32).decode("keys", "000000000000:us-east-1", marker)

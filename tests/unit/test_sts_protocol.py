"""The STS Query protocol's pure parts (`edge/sts.py`, `edge/errors.py`): form parsing, what an audit event keeps
of a request, and how errors are worded on the wire."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from trent.domain.errors import (
    AccessDeniedException,
    InvalidSignatureException,
    KMSInternalException,
    ValidationException,
)
from trent.edge import sts
from trent.edge.errors import query_error_code


def test_a_form_keeps_the_last_value_of_a_repeated_field_and_refuses_bytes_that_are_not_text() -> None:
    assert sts.parse_form(b"Action=AssumeRole&RoleArn=a&RoleArn=b&Empty=") == {
        "Action": "AssumeRole",
        "RoleArn": "b",
        "Empty": "",
    }
    with pytest.raises(ValidationException):
        sts.parse_form(b"Action=\xff\xfe")


def test_an_event_is_named_after_its_action_only_when_it_looks_like_one() -> None:
    assert sts.event_name({"Action": "AssumeRole"}) == "AssumeRole"
    assert sts.event_name({"Action": "<script>"}) == "-"
    assert sts.event_name({"Action": "A" * 65}) == "-"
    assert sts.event_name({}) == "-"
    assert not sts.read_only("AssumeRole") and sts.read_only("GetCallerIdentity")


def test_an_audit_event_keeps_named_members_only() -> None:
    params = {
        "Action": "AssumeRole",
        "RoleArn": "arn:aws:iam::111122223333:role/r",
        "RoleSessionName": "s",
        "DurationSeconds": "900",
        "ExternalId": "e",
        "Policy": '{"secret": "policy text"}',
        "SerialNumber": "x",
        "TokenCode": "123456",
    }
    assert sts.audited_parameters(params) == {
        "RoleArn": "arn:aws:iam::111122223333:role/r",
        "RoleSessionName": "s",
        "DurationSeconds": 900,
        "ExternalId": "e",
    }
    assert sts.audited_parameters({"DurationSeconds": "9" * 20}) == {"DurationSeconds": "9" * 20}


@pytest.mark.parametrize(
    ("error", "code", "status", "kind"),
    [
        (AccessDeniedException("no"), "AccessDenied", 403, "Sender"),
        (InvalidSignatureException("bad"), "SignatureDoesNotMatch", 403, "Sender"),
        (ValidationException("v"), "ValidationError", 400, "Sender"),
        (KMSInternalException("x"), "KMSInternalException", 500, "Receiver"),
    ],
)
def test_errors_get_the_query_protocols_codes(error: object, code: str, status: int, kind: str) -> None:
    answer_status, body = sts.error_response(error, "req-1")  # type: ignore[arg-type]
    document = ElementTree.fromstring(body)
    namespace = {"s": sts.NAMESPACE}
    assert answer_status == status
    assert document.findtext("s:Error/s:Code", namespaces=namespace) == code
    assert document.findtext("s:Error/s:Type", namespaces=namespace) == kind
    assert document.findtext("s:RequestId", namespaces=namespace) == "req-1"
    assert query_error_code(error) == code  # type: ignore[arg-type]


def test_an_error_message_cannot_break_out_of_its_element() -> None:
    _, body = sts.error_response(ValidationException("</Message><Code>Owned</Code>"), "r")
    document = ElementTree.fromstring(body)
    assert document.findtext(f"{{{sts.NAMESPACE}}}Error/{{{sts.NAMESPACE}}}Code") == "ValidationError"

"""The audit row of a usual call (`_usual_row`, assembled from JSON made once per caller and request shape) is the
row the general path makes, character for character, whatever the call; and calls it does not serve go to the
general path."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trent.api import audit
from trent.api.audit import MAX_STRING, MAX_USER_AGENT, AuditDraft, AuditLog, _usual_row
from trent.domain.identities import Caller, PrincipalType
from trent.storage.store import Store

NOW = 1_765_000_000.25

texts = st.text(max_size=40)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts | st.binary(max_size=8)
members = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
requests = st.none() | st.dictionaries(
    st.sampled_from(
        ["KeyId", "Plaintext", "GrantTokens", "EncryptionContext", "Constraints", "Policy", "Tags", "Limit", "X"]
    ),
    members,
    max_size=6,
)
callers = st.none() | st.builds(
    Caller,
    account=st.sampled_from(["111122223333", "000000000000"]),
    arn=texts,
    type=st.sampled_from(list(PrincipalType)),
    user_id=texts,
    access_key_id=texts,
    role_arn=st.none() | texts,
    user_name=st.none() | texts,
)
resources = st.dictionaries(texts, st.sampled_from(["111122223333", "444455556666"]), max_size=2)


@pytest.fixture
def _fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "unique_id", lambda: "11111111-2222-4333-8444-555555555555")


def _rows(
    draft: AuditDraft, caller: Caller | None, access_key_id: str | None, user_agent: str, response: Any
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the usual path's row, the general path's); a request neither can serialize raises from both alike."""
    log = AuditLog(store=None, enabled=False, clock=lambda: NOW)  # type: ignore[arg-type]
    facts = log._facts(
        draft, caller, access_key_id, "eu-west-1", 'req-"1"', "10.0.0.1", user_agent, response, None, None
    )
    try:
        usual = _usual_row(*facts[:7], *facts[8:14])
    except TypeError:  # something JSON cannot hold (bytes in an encryption context, which validation refuses)
        with pytest.raises(TypeError):
            _general(facts)
        raise
    return usual, _general(facts)


def _general(facts: tuple[Any, ...]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "_usual_row", lambda *args: None)
        return audit._call_row(*facts)


@pytest.mark.usefixtures("_fixed_ids")
@settings(max_examples=400)
@given(
    operation=st.sampled_from(["Encrypt", "Decrypt", "CreateGrant", 'Weird"Op']),
    read_only=st.booleans(),
    request=requests,
    response=st.none() | st.dictionaries(st.sampled_from(["GrantId", "KeyId", "Plaintext", "List"]), members),
    caller=callers,
    access_key_id=st.none() | texts,
    user_agent=texts,
    keys=resources,
)
@example(
    operation="Decrypt",
    read_only=True,
    request={"CiphertextBlob": b"x", "GrantTokens": ["t"]},
    response={"Plaintext": b"p", "KeyId": "arn"},
    caller=Caller("111122223333", "arn:aws:iam::111122223333:user/u", PrincipalType.USER, "AIDA", "AKIA", None, "u"),
    access_key_id="AKIA",
    user_agent="Boto3/1.35",
    keys={"arn:aws:kms:eu-west-1:111122223333:key/k": "111122223333"},
)
def test_the_usual_row_is_the_general_row(
    operation: str,
    read_only: bool,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None,
    caller: Caller | None,
    access_key_id: str | None,
    user_agent: str,
    keys: dict[str, str],
) -> None:
    draft = AuditDraft(operation, read_only=read_only)
    draft.request = request
    for arn, account in keys.items():
        draft.add_key(arn, account)
    try:
        usual, general = _rows(draft, caller, access_key_id, user_agent, response)
    except TypeError:
        return  # neither path can serialize it (and both said so)
    if usual is None:  # only a field too long to be left unchecked goes to the general path
        fields = json.loads(general["record"])
        sizes = [len(orjson.dumps(fields[name])) for name in ("requestParameters", "responseElements")]
        assert max(sizes) > MAX_STRING
        return
    assert usual == general
    assert list(json.loads(usual["record"])) == list(json.loads(general["record"]))  # the same order of fields


@pytest.mark.usefixtures("_fixed_ids")
def test_calls_with_fields_over_a_bound_go_to_the_general_path() -> None:
    draft = AuditDraft("CreateKey", read_only=False)
    draft.request = {"Description": "d" * (MAX_STRING + 1)}
    assert _rows(draft, None, "AKIA", "ua", None)[0] is None
    draft.request = {"KeyId": "k"}
    assert _rows(draft, None, "AKIA", "u" * (MAX_USER_AGENT + 1), None)[0] is None
    usual, general = _rows(draft, None, "AKIA", "u" * MAX_USER_AGENT, None)
    assert usual == general


def test_refusals_and_additional_data_take_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("the usual path was taken")

    monkeypatch.setattr(audit, "_usual_row", refuse)
    log = AuditLog(store=None, enabled=False, clock=lambda: NOW)  # type: ignore[arg-type]
    draft = AuditDraft("Decrypt")
    common: dict[str, Any] = dict(
        caller=None, access_key_id="AKIA", region="us-east-1", request_id="r", source_ip="", user_agent=""
    )
    event = json.loads(log.row(draft, error_code="AccessDeniedException", error_message="no", **common)["record"])
    assert event["errorCode"] == "AccessDeniedException" and event["errorMessage"] == "no"
    draft.additional = {"grantId": "g"}
    assert json.loads(log.row(draft, **common)["record"])["additionalEventData"] == {"grantId": "g"}


CALLER = Caller("111122223333", "arn:aws:iam::111122223333:user/u", PrincipalType.USER, "AIDAU", "AKIAU", None, "u")
KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"


def _call(operation: str, request_id: str, **request: Any) -> AuditDraft:
    draft = AuditDraft(operation)
    draft.request = request
    draft.add_key(KEY, "111122223333")
    return draft


def _stored(store: Store) -> list[dict[str, Any]]:
    with store.transaction(write=False) as tx:
        return [json.loads(record) for _, record in tx.audit.events(limit=100)]


def test_queued_calls_are_built_at_the_flush_as_a_row_of_the_moment(store: Store) -> None:
    """Queued facts, rows queued built and refusals are written in the order they were queued, each event as `row`
    makes it at the moment of the call (its time, caller, members cleaned of secrets)."""
    log = AuditLog(store, clock=lambda: NOW)
    common: dict[str, Any] = dict(access_key_id="AKIAU", region="eu-west-1", source_ip="10.0.0.1", user_agent="ua")
    first = _call("Decrypt", "r1", CiphertextBlob=b"secret", GrantTokens=["token"], EncryptionContext={"a": "b"})
    log.enqueue_call(first, caller=CALLER, request_id="r1", **common)
    log.enqueue(log.row(_call("Encrypt", "r2", KeyId="k"), caller=CALLER, request_id="r2", **common))
    refused = _call("Decrypt", "r3", CiphertextBlob=b"x")
    log.enqueue_call(
        refused, caller=None, request_id="r3", error_code="AccessDeniedException", error_message="no", **common
    )
    assert log.flush() == 3
    assert log.flush() == 0  # nothing is written twice
    events = _stored(store)
    assert [event["requestID"] for event in events] == ["r1", "r2", "r3"]
    expected = log.row(first, caller=CALLER, request_id="r1", **common)
    assert {**events[0], "eventID": None} == {**json.loads(expected["record"]), "eventID": None}
    assert events[0]["requestParameters"] == {"encryptionContext": {"a": "b"}}  # no blob, no token
    assert "secret" not in json.dumps(events) and "token" not in json.dumps(events)
    assert events[2]["errorCode"] == "AccessDeniedException" and events[2]["userIdentity"] == {"accessKeyId": "AKIAU"}
    assert len({event["eventID"] for event in events}) == 3


def test_a_call_whose_row_cannot_be_built_is_dropped_and_the_others_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(store, clock=lambda: NOW)
    common: dict[str, Any] = dict(caller=CALLER, access_key_id="AKIAU", region="eu-west-1", source_ip="", user_agent="")
    # Validation lets no such value through; if a bug did, one event must not stop the trail.
    log.enqueue_call(_call("Encrypt", "bad", EncryptionContext={"k": b"\x00"}), request_id="bad", **common)
    log.enqueue_call(_call("Encrypt", "good", KeyId="k"), request_id="good", **common)
    assert log.flush() == 1
    assert [event["requestID"] for event in _stored(store)] == ["good"]
    assert "could not build the audit event of Encrypt (request bad)" in caplog.text


class _FailingOnce:
    """A store whose first write transaction fails, as a lost database would make it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failed = False

    def transaction(self, write: bool = True) -> Any:
        if not self.failed:
            self.failed = True
            raise OSError("the database is gone")
        return self.store.transaction(write=write)


def test_rows_a_failed_write_did_not_store_are_written_by_the_next_flush(store: Store) -> None:
    log = AuditLog(_FailingOnce(store), clock=lambda: NOW)  # type: ignore[arg-type]
    common: dict[str, Any] = dict(caller=CALLER, access_key_id="AKIAU", region="eu-west-1", source_ip="", user_agent="")
    log.enqueue_call(_call("Encrypt", "r1", KeyId="k"), request_id="r1", **common)
    log.enqueue_call(_call("Encrypt", "r2", KeyId="k"), request_id="r2", **common)
    assert log.flush() == 0
    log.enqueue_call(_call("Encrypt", "r3", KeyId="k"), request_id="r3", **common)
    assert log.flush() == 3
    assert [event["requestID"] for event in _stored(store)] == ["r1", "r2", "r3"]

"""The audit trail: every API call, success or failure, as a CloudTrail-shaped event (docs/compatibility.md,
"Audit events").

A call that changes something writes its event in the same transaction as the change, so an acknowledged
change always has its record. Calls that change nothing (Encrypt, Describe*, List*, refusals, …) are
buffered and written in batches every `flush_interval` seconds, so auditing does not put a disk write on
every cryptographic request; a crash can lose at most that interval of such records.

No secret reaches an event: request members that are blobs (plaintext, ciphertext, messages, signatures,
public keys) and grant tokens are left out, and so is every blob of a response; encryption contexts are
logged in clear, as AWS does.
"""

from __future__ import annotations

import collections
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from trent.api.unique import unique_id
from trent.domain.identities import Caller, PrincipalType
from trent.domain.keys import Key
from trent.storage.store import Store, Tx

log = logging.getLogger("trent.audit")

_NEVER_LOGGED = frozenset({"GrantTokens", "GrantToken", "SessionToken", "SecretAccessKey"})


#: Request members whose keys are the caller's own words (encryption contexts): logged as given, not camelCased.
_USER_MAPS = frozenset(
    {
        "EncryptionContext",
        "SourceEncryptionContext",
        "DestinationEncryptionContext",
        "EncryptionContextEquals",
        "EncryptionContextSubset",
    }
)
_BLOB_TYPES = (bytes, bytearray, memoryview)


@functools.lru_cache(maxsize=1024)
def _camel(name: str) -> str:
    """A model member name as CloudTrail writes it: ``KeyId`` -> ``keyId``."""
    return name[:1].lower() + name[1:] if name[:1].isupper() else name


def _clean(value: Any) -> Any:
    """Request or response members without secrets: blobs and tokens are dropped."""
    if isinstance(value, Mapping):
        return _clean_structure(value)
    if isinstance(value, list):
        return [_clean(member) for member in value if member is not None and not isinstance(member, _BLOB_TYPES)]
    return None if isinstance(value, _BLOB_TYPES) else value


_SCALARS = (str, int, float, bool)


def _clean_structure(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, member in value.items():
        if name in _NEVER_LOGGED:
            continue
        if type(member) in _SCALARS:  # most members; spares the slower ABC checks below
            out[_camel(name)] = member
            continue
        if member is None or isinstance(member, _BLOB_TYPES):
            continue
        if name in _USER_MAPS and isinstance(member, Mapping):
            out[_camel(name)] = dict(member)
        elif isinstance(member, Mapping | list):
            out[_camel(name)] = _clean(member)
        else:
            out[_camel(name)] = member
    return out


#: Bounds of one event's fields, so that the trail is sized by policy and not by what a caller sends: strings
#: (a key policy, an encryption-context value, a description) are cut to MAX_STRING characters, lists and maps to
#: MAX_ITEMS entries, a whole field to MAX_FIELD bytes of JSON (else it is left out); the event says "omitted".
MAX_USER_AGENT = 1024
MAX_ERROR_MESSAGE = 2048
MAX_STRING = 1024
MAX_ITEMS = 50
MAX_FIELD = 16 * 1024


class _Bound:
    """Cuts what is too long in one event, and remembers that it did."""

    __slots__ = ("omitted",)

    def __init__(self) -> None:
        self.omitted = False

    def text(self, value: str, limit: int) -> str:
        if len(value) <= limit:
            return value
        self.omitted = True
        return value[:limit]

    def field(self, value: Any) -> Any:
        if value is None or len(orjson.dumps(value)) <= MAX_STRING:
            return value  # nearly every field: nothing in it can be over a bound that matters
        bounded = self._value(value)
        if len(orjson.dumps(bounded)) > MAX_FIELD:
            self.omitted = True
            return None
        return bounded

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value, MAX_STRING)
        if isinstance(value, Mapping):
            if len(value) > MAX_ITEMS:
                self.omitted = True
            return {self.text(str(k), MAX_STRING): self._value(v) for k, v in list(value.items())[:MAX_ITEMS]}
        if isinstance(value, list | tuple):
            if len(value) > MAX_ITEMS:
                self.omitted = True
            return [self._value(v) for v in value[:MAX_ITEMS]]
        return value


@dataclass
class AuditDraft:
    """What one request's event is being built from; filled in as the request proceeds."""

    operation: str
    #: CloudTrail's readOnly (`trent.domain.operations`); a call that changes state has its responseElements.
    read_only: bool = True
    event_source: str = "kms.amazonaws.com"
    request: Mapping[str, Any] | None = None
    resources: dict[str, str] = field(default_factory=dict)  # key ARN -> account
    additional: dict[str, Any] | None = None
    recorded: bool = False

    def add_key(self, arn: str, account: str) -> None:
        self.resources[arn] = account


def user_identity(caller: Caller | None, access_key_id: str | None) -> dict[str, Any]:
    if caller is None:
        return {"accessKeyId": access_key_id} if access_key_id else {}
    return _caller_identity(caller)


@functools.lru_cache(maxsize=4096)
def _caller_identity(caller: Caller) -> dict[str, Any]:
    # Shared between events of the same caller: serialized, never modified.
    identity: dict[str, Any] = {
        "type": {PrincipalType.ROOT: "Root", PrincipalType.USER: "IAMUser"}.get(caller.type, "AssumedRole"),
        "principalId": caller.user_id,
        "arn": caller.arn,
        "accountId": caller.account,
        "accessKeyId": caller.access_key_id,
    }
    if caller.user_name is not None:
        identity["userName"] = caller.user_name
    if caller.role_arn is not None:
        identity["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": caller.user_id.split(":", 1)[0],
                "arn": caller.role_arn,
                "accountId": caller.account,
                "userName": caller.role_arn.rsplit("/", 1)[-1],
            }
        }
    return identity


def _row(
    event: Mapping[str, Any],
    now: float,
    *,
    account: str | None,
    key_arn: str | None,
    principal_arn: str | None = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """The `audit_events` row of an event: its record, and the columns it is found by."""
    return {
        "event_id": event["eventID"],
        "event_time": now,
        "event_name": event["eventName"],
        "account_id": account,
        "principal_arn": principal_arn,
        "key_arn": key_arn,
        "error_code": error_code,
        "record": orjson.dumps(event).decode(),
    }


def _call_row(
    now: float,
    operation: str,
    event_source: str,
    read_only: bool,
    parameters: Any,
    elements: Any,
    resources: Mapping[str, str],
    additional: Mapping[str, Any] | None,
    caller: Caller | None,
    access_key_id: str | None,
    region: str,
    request_id: str,
    source_ip: str,
    user_agent: str,
    error_code: str | None,
    error_message: str | None,
) -> dict[str, Any]:
    """The `audit_events` row of a call, from its facts (in the order `AuditLog.enqueue_call` keeps them):
    `parameters` and `elements` are the request's and the response's members as `_clean` leaves them."""
    if error_code is None and additional is None:
        row = _usual_row(
            now,
            operation,
            event_source,
            read_only,
            parameters,
            elements,
            resources,
            caller,
            access_key_id,
            region,
            request_id,
            source_ip,
            user_agent,
        )
        if row is not None:
            return row
    bound = _Bound()
    event: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": user_identity(caller, access_key_id),
        "eventTime": _event_time(int(now)),
        "eventSource": event_source,
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": bound.text(user_agent, MAX_USER_AGENT),
        "requestParameters": bound.field(parameters),
        "responseElements": bound.field(elements),
        "requestID": request_id,
        "eventID": unique_id(),
        "readOnly": read_only,
        "resources": [
            {"accountId": account, "type": "AWS::KMS::Key", "ARN": arn} for arn, account in resources.items()
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": caller.account if caller is not None else None,
        "eventCategory": "Management",
    }
    if additional:
        event["additionalEventData"] = bound.field(additional)
    if error_code is not None:
        event["errorCode"] = error_code
        if error_message:
            event["errorMessage"] = bound.text(error_message, MAX_ERROR_MESSAGE)
    if bound.omitted:
        event["omitted"] = True  # as CloudTrail marks an event whose fields it truncated
    return _row(
        event,
        now,
        account=event["recipientAccountId"],
        key_arn=next(iter(resources), None),
        principal_arn=caller.arn if caller is not None else None,
        error_code=error_code,
    )


def _usual_row(
    now: float,
    operation: str,
    event_source: str,
    read_only: bool,
    parameters: Any,
    elements: Any,
    resources: Mapping[str, str],
    caller: Caller | None,
    access_key_id: str | None,
    region: str,
    request_id: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any] | None:
    """The row of a call that succeeded with no additional data and whose fields are all within their bounds, as
    the rest of `_call_row` makes it, character for character; None for any other call.

    Assembled from JSON made once: what is the same for every call of one caller, operation, region, address and
    user agent (most of an event) is serialized once (`_event_frame`), and only the call's own fields here.
    """
    request_json = orjson.dumps(parameters)
    response_json = orjson.dumps(elements)
    if len(request_json) > MAX_STRING or len(response_json) > MAX_STRING:
        return None  # a field may have to be cut, which the general path does
    frame = _event_frame(caller, access_key_id, event_source, operation, region, source_ip, user_agent, read_only)
    if frame is None:
        return None
    head, middle, tail = frame
    event_id = unique_id()
    record = b"".join(
        (
            head,
            _event_time_json(int(now)),
            middle,
            request_json,
            b',"responseElements":',
            response_json,
            b',"requestID":',
            orjson.dumps(request_id),
            b',"eventID":',
            orjson.dumps(event_id),
            _READ_ONLY_JSON[read_only],
            _resources_json(tuple(resources.items())),
            tail,
        )
    )
    return {
        "event_id": event_id,
        "event_time": now,
        "event_name": operation,
        "account_id": caller.account if caller is not None else None,
        "principal_arn": caller.arn if caller is not None else None,
        "key_arn": next(iter(resources), None),
        "error_code": None,
        "record": record.decode(),
    }


_READ_ONLY_JSON = {True: b',"readOnly":true,"resources":', False: b',"readOnly":false,"resources":'}


@functools.lru_cache(maxsize=4096)
def _event_frame(
    caller: Caller | None,
    access_key_id: str | None,
    event_source: str,
    operation: str,
    region: str,
    source_ip: str,
    user_agent: str,
    read_only: bool,
) -> tuple[bytes, bytes, bytes] | None:
    """An event's JSON around its eventTime, request's fields and resources (see `_usual_row`); None when the user
    agent is over its bound. Immutable values in, bytes out: nothing to invalidate."""
    if len(user_agent) > MAX_USER_AGENT:
        return None
    head = b'{"eventVersion":"1.08","userIdentity":' + orjson.dumps(user_identity(caller, access_key_id))
    middle = orjson.dumps(
        {
            "eventSource": event_source,
            "eventName": operation,
            "awsRegion": region,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
        }
    )
    tail = orjson.dumps(
        {
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": caller.account if caller is not None else None,
            "eventCategory": "Management",
        }
    )
    return (
        head + b',"eventTime":',
        b"," + middle[1:-1] + b',"requestParameters":',
        b"," + tail[1:],
    )


@functools.lru_cache(maxsize=4)
def _event_time_json(second: int) -> bytes:
    return orjson.dumps(_event_time(second))


@functools.lru_cache(maxsize=4096)
def _resources_json(resources: tuple[tuple[str, str], ...]) -> bytes:
    return orjson.dumps([{"accountId": account, "type": "AWS::KMS::Key", "ARN": arn} for arn, account in resources])


#: What `AuditLog.flush` builds and writes together: a row already built, or the facts of a call (`_call_row`).
_Pending = dict[str, Any] | tuple[Any, ...]


class AuditLog:
    """The audit trail's writer. Calls that change state write their row in their own transaction (`row`, `write`);
    the others are queued (`enqueue_call`) and written in batches by `flush`, every `audit_flush_interval`, in the
    batch thread.

    A queued call keeps only the facts of its event (its request's and response's members already cleaned of
    secrets, `_clean`), and `flush` builds the rows of a batch together. Built one at a time on the event loop, right
    after the response's write, a row cost ~9 µs in a server (the code and data it touches have been pushed out of
    the CPU's caches by then); built in a batch, ~3 µs (docs/performance.md).
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, enabled: bool = True) -> None:
        self._store = store
        self._clock = clock
        self.enabled = enabled
        #: Appended to by the event loop and taken from by `flush`: a deque's append and popleft are atomic.
        self._pending: collections.deque[_Pending] = collections.deque()

    def _facts(
        self,
        draft: AuditDraft,
        caller: Caller | None,
        access_key_id: str | None,
        region: str,
        request_id: str,
        source_ip: str,
        user_agent: str,
        response: Mapping[str, Any] | None,
        error_code: str | None,
        error_message: str | None,
    ) -> tuple[Any, ...]:
        return (
            self._clock(),
            draft.operation,
            draft.event_source,
            draft.read_only,
            _clean(draft.request) if draft.request else None,
            _response_elements(draft, response),
            draft.resources,
            draft.additional,
            caller,
            access_key_id,
            region,
            request_id,
            source_ip,
            user_agent,
            error_code,
            error_message,
        )

    def row(
        self,
        draft: AuditDraft,
        *,
        caller: Caller | None,
        access_key_id: str | None,
        region: str,
        request_id: str,
        source_ip: str,
        user_agent: str,
        response: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """The `audit_events` row of a call, now."""
        return _call_row(
            *self._facts(
                draft,
                caller,
                access_key_id,
                region,
                request_id,
                source_ip,
                user_agent,
                response,
                error_code,
                error_message,
            )
        )

    def enqueue_call(
        self,
        draft: AuditDraft,
        *,
        caller: Caller | None,
        access_key_id: str | None,
        region: str,
        request_id: str,
        source_ip: str,
        user_agent: str,
        response: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record soon a call that changed nothing: its row is built and written with the next batch (`flush`).
        The draft must not change after this (its resources and additional data are kept as they are)."""
        if self.enabled:
            self._pending.append(
                self._facts(
                    draft,
                    caller,
                    access_key_id,
                    region,
                    request_id,
                    source_ip,
                    user_agent,
                    response,
                    error_code,
                    error_message,
                )
            )

    def service_event(self, name: str, key: Key, details: Mapping[str, Any]) -> dict[str, Any]:
        """The row of something the service did by itself (CloudTrail's AwsServiceEvent), about `key`."""
        now = self._clock()
        event = {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": key.account, "invokedBy": "AWS Internal"},
            "eventTime": _event_time(int(now)),
            "eventSource": "kms.amazonaws.com",
            "eventName": name,
            "awsRegion": key.region,
            "sourceIPAddress": "AWS Internal",
            "userAgent": "AWS Internal",
            "requestParameters": None,
            "responseElements": None,
            "eventID": unique_id(),
            "readOnly": False,
            "resources": [{"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}],
            "eventType": "AwsServiceEvent",
            "managementEvent": True,
            "recipientAccountId": key.account,
            "serviceEventDetails": dict(details),
            "eventCategory": "Management",
        }
        return _row(event, now, account=key.account, key_arn=key.arn)

    def operator_event(self, name: str, details: Mapping[str, Any]) -> dict[str, Any]:
        """The row of something an operator did to the service as a whole with `trent admin` (the root key's
        rotation and retirement): Trent's own event source, no account, no resource, no secrets in `details`."""
        now = self._clock()
        event: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": {"type": "Operator", "invokedBy": "trent admin"},
            "eventTime": _event_time(int(now)),
            "eventSource": "trent.admin",
            "eventName": name,
            "awsRegion": None,
            "sourceIPAddress": "localhost",
            "userAgent": "trent admin",
            "requestParameters": None,
            "responseElements": None,
            "eventID": unique_id(),
            "readOnly": False,
            "resources": [],
            "eventType": "TrentOperatorEvent",
            "managementEvent": True,
            "serviceEventDetails": dict(details),
            "eventCategory": "Management",
        }
        return _row(event, now, account=None, key_arn=None)

    @staticmethod
    def invoked_by(row: dict[str, Any], service: str) -> dict[str, Any]:
        """The row as the event a service wrote on the caller's behalf (UpdatePrimaryRegion's event in the new
        primary's Region): `userIdentity.invokedBy`, and no resources."""
        event = orjson.loads(row["record"])
        event["userIdentity"] = {**event["userIdentity"], "invokedBy": service}
        event["resources"] = []
        return {**row, "key_arn": None, "record": orjson.dumps(event).decode()}

    def write(self, tx: Tx, row: dict[str, Any]) -> None:
        """Record in the caller's transaction (calls that change state)."""
        if self.enabled:
            tx.audit.insert([row])

    def enqueue(self, row: dict[str, Any]) -> None:
        """Record soon (calls that change nothing, whose row is already built)."""
        if self.enabled:
            self._pending.append(row)

    def flush(self) -> int:
        """Build and write what is queued, in one transaction; returns the number of events written. Rows a failed
        write did not store are kept for the next flush; the facts of a row that cannot be built (a bug: validation
        lets nothing through that JSON cannot hold) are logged and dropped, so that one event cannot stop the trail."""
        pending = self._pending
        taken = [pending.popleft() for _ in range(len(pending))]
        if not taken:
            return 0
        rows = []
        for item in taken:
            if isinstance(item, dict):
                rows.append(item)
                continue
            try:
                rows.append(_call_row(*item))
            except Exception:
                operation, request_id = item[1], item[11]
                log.exception("could not build the audit event of %s (request %s): dropped", operation, request_id)
        try:
            with self._store.transaction() as tx:
                tx.audit.insert(rows)
        except Exception:
            log.exception("could not write %d audit events; they will be retried", len(rows))
            pending.extendleft(reversed(rows))
            return 0
        return len(rows)


@functools.lru_cache(maxsize=4)
def _event_time(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The key metadata a call's responseElements keep (other structures, such as lists of grants, are left out).
_LOGGED_METADATA = frozenset({"KeyMetadata", "ReplicaKeyMetadata"})


def _response_elements(draft: AuditDraft, response: Mapping[str, Any] | None) -> Any:
    # AWS logs responseElements for calls that change something (CreateKey's keyMetadata, CreateGrant's
    # grantId, ...); read-only calls, cryptographic operations included, have null.
    if response is None or draft.read_only:
        return None
    cleaned = _clean({k: v for k, v in response.items() if not isinstance(v, list | dict) or k in _LOGGED_METADATA})
    return cleaned or None

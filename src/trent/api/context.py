"""What every handler receives: the services of this process and the context of one request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from trent.api.audit import AuditDraft, AuditLog
from trent.api.grant_view import GrantView
from trent.api.keyring import KeyRing
from trent.crypto.tokens import GrantTokens
from trent.domain.identities import Caller
from trent.domain.markers import MarkerCodec
from trent.storage.store import Store


@dataclass(frozen=True, slots=True)
class Services:
    """Built once per process by `trent.bootstrap`."""

    store: Store
    markers: MarkerCodec
    clock: Callable[[], float]
    keyring: KeyRing
    grants: GrantView
    tokens: GrantTokens
    audit: AuditLog


class RequestContext(NamedTuple):
    caller: Caller
    region: str
    request_id: str
    source_ip: str = ""
    user_agent: str = ""
    #: The audit event being built for this request (None where nothing is audited, e.g. `trent admin`).
    audit: AuditDraft | None = None


Request = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Services, RequestContext, Request], Response]

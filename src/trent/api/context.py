"""What every handler receives: the services of this process and the context of one request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from trent.api.audit import AuditDraft, AuditLog
from trent.api.caches import IdentityPolicies, Lru, PolicyCache
from trent.api.changes import ChangeFeed, ReadCache
from trent.api.grant_view import GrantView
from trent.api.key_usage import KeyUsage
from trent.api.keyring import KeyRing
from trent.crypto.imports import ImportTokens
from trent.crypto.tokens import GrantTokens
from trent.domain.authz import Decision, PolicyRefusal
from trent.domain.identities import Caller
from trent.domain.markers import MarkerCodec
from trent.storage.store import Store, Tx


@dataclass(frozen=True, slots=True)
class Services:
    """Built once per process by `trent.bootstrap` (the only place that builds it); every cache of the process
    lives here (the table of them, and what invalidates each, is in docs/architecture.md)."""

    store: Store
    markers: MarkerCodec
    clock: Callable[[], float]
    keyring: KeyRing
    grants: GrantView
    tokens: GrantTokens
    #: Import tokens of GetParametersForImport, and the secret that derives imported materials' IDs.
    import_tokens: ImportTokens
    material_ids: bytes
    audit: AuditLog
    #: The change feed this process follows, and the caches it keeps exact.
    changes: ChangeFeed
    reads: ReadCache
    policies: PolicyCache
    identities: IdentityPolicies
    #: When each access key was last used (IAM's GetAccessKeyLastUsed), noted per request, written in batches.
    key_usage: KeyUsage
    #: The Regions this Trent serves (ReplicateKey makes replicas in these only).
    regions: tuple[str, ...]
    #: Decisions no condition can change (see `trent.api.authorize`), keyed by the policy objects they used.
    decisions: Lru[tuple[Any, ...], tuple[Any, Any, Decision | PolicyRefusal]]


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


def context_row(
    audit: AuditLog,
    ctx: RequestContext,
    *,
    response: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any] | None:
    """The audit row of a request, from its context; None when the request is not audited."""
    if ctx.audit is None:
        return None
    return audit.row(
        ctx.audit,
        caller=ctx.caller,
        access_key_id=ctx.caller.access_key_id,
        region=ctx.region,
        request_id=ctx.request_id,
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        response=response,
        error_code=error_code,
        error_message=error_message,
    )


def record_change(services: Services, tx: Tx, ctx: RequestContext, response: Mapping[str, Any] | None = None) -> None:
    """Write the request's audit event in `tx`, the transaction of the change it records."""
    row = context_row(services.audit, ctx, response=response)
    if row is not None and ctx.audit is not None:
        services.audit.write(tx, row)
        ctx.audit.recorded = True

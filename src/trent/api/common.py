"""Helpers every handler shares: resolving a key identifier, rendering KeyMetadata, paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from trent.api.authorize import GrantUse, authorize, request_alias_context
from trent.api.context import RequestContext, Services
from trent.domain.errors import AccessDeniedException, NotFoundException
from trent.domain.ids import RefKind, alias_arn, key_arn, parse_key_reference
from trent.domain.keys import Key, KeyState
from trent.domain.keyspec import CUSTOMER_MASTER_KEY_SPECS
from trent.storage.reader import FastReader
from trent.storage.store import Tx

T = TypeVar("T")

DEFAULT_PAGE = 100


#: Key management that only the key's own account may do (fact sheet §12: "X-acct: no"): a key policy that
#: gives another account these permissions has no effect, and that account is refused as if it said nothing.
SAME_ACCOUNT_ACTIONS = frozenset(
    {
        "kms:CreateAlias",
        "kms:UpdateAlias",
        "kms:EnableKey",
        "kms:DisableKey",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:ListKeyPolicies",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ListResourceTags",
        "kms:UpdateKeyDescription",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:RotateKeyOnDemand",
        "kms:ListKeyRotations",
    }
)


def resolve_key(
    source: Tx | FastReader,
    services: Services,
    ctx: RequestContext,
    raw: str,
    *,
    action: str | None,
    allow_alias: bool = False,
    for_update: bool = False,
    context: Mapping[str, Any] | None = None,
    grants: GrantUse | None = None,
    own_account_action: str | None = None,
) -> Key:
    """Find the key `raw` names, in the caller's region, and authorize `action` on it.

    `source` is the transaction of a handler that writes, or the store's fast reader for one that only reads.
    A bare key ID or alias name names a key of the caller's own account; another account's key needs its
    ARN, and is refused for the actions of SAME_ACCOUNT_ACTIONS (and for `own_account_action`, which callers
    that authorize in their own way name). `context` adds the operation's condition keys (kms:RequestAlias and
    the key's own are added here). With `action=None` nothing is authorized: for callers that authorize in
    their own way.

    :raises NotFoundException: for malformed identifiers, unknown keys and aliases, deleted keys.
    :raises AccessDeniedException: when no policy allows `action` on the key, or one denies it.
    """
    ref = parse_key_reference(raw, region=ctx.region, allow_alias=allow_alias)
    account = ref.account or ctx.caller.account
    if ref.kind is RefKind.ALIAS:
        target = source.alias_target(account, ctx.region, ref.name)
        if target is None:
            raise NotFoundException(f"Alias {alias_arn(ctx.region, account, ref.name)} is not found.")
        key_id = target
    else:
        key_id = ref.name
    if for_update:
        assert isinstance(source, Tx), "reading for update needs a transaction"
        key = source.get_key(account, ctx.region, key_id, for_update=True)
    else:
        key = source.get_key(account, ctx.region, key_id)
    if key is None or deletion_due(key, services.clock()):
        raise NotFoundException(f"Key '{key_arn(ctx.region, account, key_id)}' does not exist")
    if ctx.audit is not None:  # the event names the key even when a later check refuses the call
        ctx.audit.add_key(key.arn, key.account)
    refused_across = action if action in SAME_ACCOUNT_ACTIONS else own_account_action
    if refused_across is not None and key.account != ctx.caller.account:
        raise AccessDeniedException(
            f"User: {ctx.caller.arn} is not authorized to perform: {refused_across} on resource: {key.arn} "
            f"because no resource-based policy allows the {refused_across} action"
        )
    if action is not None:
        authorize(
            services, ctx, action, key=key, context={**request_alias_context(raw), **(context or {})}, grants=grants
        )
    return key


def deletion_due(key: Key, now: float) -> bool:
    # The sweeper deletes such keys soon; until it runs they must already look deleted.
    return key.state is KeyState.PENDING_DELETION and key.deletion_date is not None and key.deletion_date <= now


def key_metadata(key: Key, current_material_id: str | None) -> dict[str, Any]:
    """KeyMetadata with exactly the members AWS returns for this kind of key."""
    spec = key.spec
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.creation_date,
        "Enabled": key.enabled,
        "Description": key.description,
        "KeyUsage": str(key.usage),
        "KeyState": str(key.state),
    }
    if key.state is KeyState.PENDING_DELETION:
        metadata["DeletionDate"] = key.deletion_date
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    metadata["Origin"] = key.origin
    metadata["KeyManager"] = "CUSTOMER"
    if key.spec_name in CUSTOMER_MASTER_KEY_SPECS:
        metadata["CustomerMasterKeySpec"] = key.spec_name
    metadata["KeySpec"] = key.spec_name
    metadata.update({name: list(algs) for name, algs in spec.algorithms_for(key.usage).items()})
    metadata["MultiRegion"] = False
    if spec.is_symmetric and current_material_id is not None:
        metadata["CurrentKeyMaterialId"] = current_material_id
    return metadata


def page(
    services: Services,
    kind: str,
    scope: str,
    req: dict[str, Any],
    fetch: Callable[[str | None, int], Sequence[T]],
    position_of: Callable[[T], str],
    *,
    default_limit: int = DEFAULT_PAGE,
    max_limit: int = DEFAULT_PAGE,
) -> tuple[Sequence[T], dict[str, Any]]:
    """Fetch one page with `fetch(after, limit + 1)`; returns the items and the NextMarker/Truncated members."""
    limit = min(req.get("Limit", default_limit), max_limit)
    marker = req.get("Marker")
    after = services.markers.decode(kind, scope, marker) if marker is not None else None
    items = fetch(after, limit + 1)
    if len(items) > limit:
        items = items[:limit]
        return items, {
            "NextMarker": services.markers.encode(kind, scope, position_of(items[-1])),
            "Truncated": True,
        }
    return items, {"Truncated": False}

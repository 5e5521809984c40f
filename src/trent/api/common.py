"""Helpers every handler shares: rendering KeyMetadata, paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from trent.api.context import Services
from trent.domain.ids import key_arn
from trent.domain.keys import Key, KeyState
from trent.domain.keyspec import CUSTOMER_MASTER_KEY_SPECS

T = TypeVar("T")

DEFAULT_PAGE = 100


def key_metadata(
    key: Key,
    current_material_id: str | None,
    *,
    imported: Mapping[str, Any] | None = None,
    related: Sequence[Key] = (),
) -> dict[str, Any]:
    """KeyMetadata with exactly the members AWS returns for this kind of key. `imported` holds the members about
    imported material of an EXTERNAL key (`api.imports.imported_facts`); `related`, for a multi-Region key, the
    related keys that exist (itself included)."""
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
    elif key.state is KeyState.PENDING_REPLICA_DELETION:  # no date yet: it waits for its replicas
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    metadata["Origin"] = key.origin
    metadata["KeyManager"] = "CUSTOMER"
    if key.spec_name in CUSTOMER_MASTER_KEY_SPECS:
        metadata["CustomerMasterKeySpec"] = key.spec_name
    metadata["KeySpec"] = key.spec_name
    metadata.update({name: list(algs) for name, algs in spec.algorithms_for(key.usage).items()})
    metadata["MultiRegion"] = key.multi_region
    if spec.is_symmetric and current_material_id is not None:
        metadata["CurrentKeyMaterialId"] = current_material_id
    if imported:
        metadata.update(imported)
    if key.multi_region:
        metadata["MultiRegionConfiguration"] = multi_region_configuration(key, related)
    return metadata


def multi_region_configuration(key: Key, related: Sequence[Key]) -> dict[str, Any]:
    """The primary (named on every related key) and every replica of a multi-Region key."""
    primary_region = key.primary_region or key.region
    return {
        "MultiRegionKeyType": "PRIMARY" if key.is_primary else "REPLICA",
        "PrimaryKey": {"Arn": key_arn(primary_region, key.account, key.key_id), "Region": primary_region},
        "ReplicaKeys": [{"Arn": k.arn, "Region": k.region} for k in related if k.region != primary_region],
    }


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

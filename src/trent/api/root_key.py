"""The root key's rotation, as `trent admin root-key` and the server's maintenance drive it (docs/security.md,
"Rotating the root key"): a new version at once, the re-wrap of every stored secret in the background, the
retirement of the old versions when nothing is left under them. Each step is audited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from trent.api.audit import AuditLog
from trent.crypto.rootkey import WrappingKey
from trent.storage import rotation
from trent.storage.rotation import RetireRefused, RewrapProgress, RotationRefused
from trent.storage.store import Store

__all__ = [
    "RetireRefused",
    "RewrapProgress",
    "RotationRefused",
    "progress",
    "replace",
    "retire_old",
    "rewrap",
    "rotate",
    "status",
]


def _audit(store: Store, name: str, details: dict[str, Any]) -> None:
    log = AuditLog(store)
    with store.transaction() as tx:
        log.write(tx, log.operator_event(name, details))


def rotate(store: Store) -> RewrapProgress:
    """A new root-key version, used by every new wrap from now on; the re-wrap under it starts."""
    started = rotation.rotate(store)
    _audit(store, "RotateRootKey", {"newVersion": started.target_version, "secretsToRewrap": started.total})
    return started


def replace(store: Store, new_root_key: WrappingKey) -> RewrapProgress:
    """Replace the root key itself (run with the current one); the re-wrap under the new version starts."""
    started = rotation.replace(store, new_root_key)
    _audit(store, "ReplaceRootKey", {"newVersion": started.target_version, "secretsToRewrap": started.total})
    return started


def rewrap(
    store: Store,
    *,
    seconds: float | None = None,
    on_batch: Callable[[RewrapProgress], None] | None = None,
    pause: float = 0.0,
) -> RewrapProgress | None:
    """Carry the unfinished re-wrap on, batch after batch, until it has finished or `seconds` have passed; None
    when there is nothing to re-wrap. `pause` between batches leaves the store's write lock to others."""
    deadline = None if seconds is None else time.monotonic() + seconds
    current = None
    while deadline is None or time.monotonic() < deadline:
        step = rotation.rewrap_batch(store)
        if step is None:
            break
        current = step
        if on_batch is not None:
            on_batch(step)
        if step.finished is not None:
            _audit(
                store,
                "RootKeyRewrapFinished",
                {"version": step.target_version, "secretsProcessed": step.processed},
            )
            break
        if pause:
            time.sleep(pause)
    return current


def retire_old(store: Store) -> list[int]:
    """Retire every version before the newest. :raises RetireRefused: while anything is wrapped under one."""
    retired = rotation.retire_old(store)
    if retired:
        _audit(store, "RetireRootKeyVersions", {"retiredVersions": retired})
    return retired


def status(store: Store) -> dict[str, Any]:
    return rotation.status(store)


def progress(store: Store) -> RewrapProgress | None:
    """The newest re-wrap (None before the first rotation, and on the unit tests' fake store)."""
    return rotation.progress(store) if isinstance(store, Store) else None

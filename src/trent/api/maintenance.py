"""Background work: delete keys whose waiting period has ended, rotate keys whose rotation is due,
forget expired session credentials."""

from __future__ import annotations

import logging

from trent.api.context import Services
from trent.api.imports import expire_material
from trent.api.multi_region import replica_deleted
from trent.api.root_key import rewrap
from trent.api.rotation import rotate
from trent.domain.keys import KeyState
from trent.storage.store import Store

log = logging.getLogger("trent.maintenance")


#: Grant tombstones and change-feed rows are kept this long: longer than any refresh interval or propagation
#: delay. A process that has not read the feed for longer finds the gap and empties its caches (api/changes.py).
GRANT_HISTORY_SECONDS = 3600.0
#: Expired temporary credentials are forgotten this long after they expire.
EXPIRED_SESSION_GRACE_SECONDS = 86400.0
#: Seconds of one pass given to the re-wrap after a root-key rotation (in batches, each a short transaction); the
#: server runs the next pass at once while it has not finished (edge/app.py).
REWRAP_SECONDS_PER_PASS = 2.0


def run_due_work(services: Services, *, audit_retention_days: int = 0, audit_max_events: int = 0) -> dict[str, int]:
    """One pass; safe to run in several processes at once (each change re-checks under its own transaction)."""
    now = services.clock()
    deleted = rotated = 0
    with services.store.transaction(write=False) as tx:
        due = tx.keys.due(now)
    for candidate in due:
        with services.store.transaction() as tx:
            key = tx.keys.get(candidate.account, candidate.region, candidate.key_id, for_update=True)
            if key is None:
                continue
            if key.state is KeyState.PENDING_DELETION:
                if key.deletion_date is not None and key.deletion_date <= now:
                    tx.keys.delete(key.ref)
                    replica_deleted(tx, key, now)
                    deleted += 1
                    log.info("deleted key %s at the end of its waiting period", key.arn)
            elif key.is_replica:
                continue  # a replica rotates with its primary
            elif key.rotation_enabled and key.next_rotation_date is not None and key.next_rotation_date <= now:
                rotate(tx, key, now, on_demand=False)
                rotated += 1
                log.info("rotated key %s automatically", key.arn)
    expired_materials = _expire_imported_material(services, now)
    with services.store.transaction() as tx:
        purged_import_keys = tx.imports.purge(now)
        # Kept a day past their expiry, so that a late caller hears "expired" (and re-assumes the role)
        # rather than "invalid".
        expired = tx.identities.delete_expired_sessions(now - EXPIRED_SESSION_GRACE_SECONDS)
        history = now - max(GRANT_HISTORY_SECONDS, services.grants.propagation_delay * 2)
        purged_grants = tx.grants.purge(history)
        tx.feed.purge(history)
        purged_events = tx.audit.purge_before(now - audit_retention_days * 86400.0) if audit_retention_days else 0
        if audit_max_events:
            purged_events += tx.audit.purge_beyond(audit_max_events)
    rewrap_unfinished = _continue_rewrap(services)
    return {
        "rewrap_unfinished": int(rewrap_unfinished),
        "deleted": deleted,
        "rotated": rotated,
        "expired_sessions": expired,
        "purged_grants": purged_grants,
        "purged_audit_events": purged_events,
        "expired_key_materials": expired_materials,
        "purged_wrapping_keys": purged_import_keys,
    }


def _continue_rewrap(services: Services) -> bool:
    """Carry an unfinished re-wrap of the stored secrets on (after `trent admin root-key rotate`, whose own process
    may have been stopped); True while it has not finished."""
    if not isinstance(services.store, Store):
        return False  # the unit tests' fake store has no root-key versions
    progress = rewrap(services.store, seconds=REWRAP_SECONDS_PER_PASS, pause=0.002)
    if progress is not None and progress.finished is None:
        log.info(
            "re-wrap under root-key version %d: %d of %d", progress.target_version, progress.processed, progress.total
        )
        return True
    return False


def _expire_imported_material(services: Services, now: float) -> int:
    """Delete imported material at its ValidTo: its key goes to PendingImport (on whichever node gets there
    first; the others find nothing left to do), audited as AWS audits it, a service event."""
    with services.store.transaction(write=False) as tx:
        due = tx.keys.expired_materials(now)
    expired = 0
    for candidate, version in due:
        with services.store.transaction() as tx:
            key = tx.keys.get(candidate.account, candidate.region, candidate.key_id, for_update=True)
            if key is None:
                continue
            info = expire_material(tx, key, version)
            if info is None:
                continue
            details = {"keyId": key.arn} | ({"keyMaterialId": info.material_id} if key.spec.is_symmetric else {})
            services.audit.write(tx, services.audit.service_event("DeleteExpiredKeyMaterial", key, details))
            expired += 1
            log.info("deleted the expired key material of %s", key.arn)
    return expired

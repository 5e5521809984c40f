"""Background work: delete keys whose waiting period has ended, rotate keys whose rotation is due,
forget expired session credentials."""

from __future__ import annotations

import logging

from trent.api.context import Services
from trent.api.imports import expire_material
from trent.api.multi_region import replica_deleted
from trent.api.rotation import rotate
from trent.domain.keys import KeyState

log = logging.getLogger("trent.maintenance")


#: Grant tombstones and change-feed rows are kept this long: longer than any refresh interval or propagation
#: delay. A process that has not read the feed for longer finds the gap and empties its caches (api/changes.py).
GRANT_HISTORY_SECONDS = 3600.0
#: Expired temporary credentials are forgotten this long after they expire.
EXPIRED_SESSION_GRACE_SECONDS = 86400.0


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
    return {
        "deleted": deleted,
        "rotated": rotated,
        "expired_sessions": expired,
        "purged_grants": purged_grants,
        "purged_audit_events": purged_events,
        "expired_key_materials": expired_materials,
        "purged_wrapping_keys": purged_import_keys,
    }


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

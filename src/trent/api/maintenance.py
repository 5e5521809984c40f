"""Background work: delete keys whose waiting period has ended, rotate keys whose rotation is due,
forget expired session credentials."""

from __future__ import annotations

import logging

from trent.api.context import Services
from trent.api.rotation import rotate
from trent.domain.keys import KeyState

log = logging.getLogger("trent.maintenance")


def run_due_work(services: Services) -> dict[str, int]:
    """One pass; safe to run in several processes at once (each change re-checks under its own transaction)."""
    now = services.clock()
    deleted = rotated = 0
    with services.store.transaction(write=False) as tx:
        due = tx.keys_due(now)
    for candidate in due:
        with services.store.transaction() as tx:
            key = tx.get_key(candidate.account, candidate.region, candidate.key_id, for_update=True)
            if key is None:
                continue
            if key.state is KeyState.PENDING_DELETION:
                if key.deletion_date is not None and key.deletion_date <= now:
                    tx.delete_key(key.key_id)
                    deleted += 1
                    log.info("deleted key %s at the end of its waiting period", key.arn)
            elif key.rotation_enabled and key.next_rotation_date is not None and key.next_rotation_date <= now:
                rotate(tx, key, now, on_demand=False)
                rotated += 1
                log.info("rotated key %s automatically", key.arn)
    with services.store.transaction() as tx:
        expired = tx.delete_expired_sessions(now)
    return {"deleted": deleted, "rotated": rotated, "expired_sessions": expired}

"""Grants: a key's delegated permissions. A retired or revoked grant stays as a tombstone (`deleted_at`) until it
has propagated to every cache, then maintenance purges it."""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update

from trent.domain.grants import Grant
from trent.storage import tables as t
from trent.storage.rows import GRANT_COLUMNS, grant_from_tuple, grant_values
from trent.storage.session import CHANGE_GRANT, Session

_GRANT_SELECT = [getattr(t.grants.c, name.strip()) for name in GRANT_COLUMNS.split(",")]


class GrantRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def reserve_slot(self, key_ref: str, limit: int) -> bool:
        """Count one more grant on the key unless it has `limit` already (atomic on every database)."""
        return bool(self._s.raw(self._s.sql.reserve_grant_slot, (key_ref, limit)).rowcount == 1)

    def insert(self, grant: Grant) -> None:
        self._s.raw(self._s.sql.insert_grant, grant_values(grant))
        self._s.record(CHANGE_GRANT, grant.grant_id, grant.key_ref)

    def active_named(self, key_ref: str, name: str) -> list[Grant]:
        rows = self._s.raw(self._s.sql.active_grants_named, (key_ref, name)).fetchall()
        return [grant_from_tuple(row)[1] for row in rows]

    def get(self, grant_id: str) -> Grant | None:
        row = self._s.conn.execute(select(*_GRANT_SELECT).where(t.grants.c.grant_id == grant_id)).first()
        return None if row is None else grant_from_tuple(row)[1]

    def delete(self, grant: Grant, now: float) -> bool:
        """Retire or revoke: the grant becomes a tombstone. False if it was gone already."""
        if self._s.raw(self._s.sql.delete_grant, (now, grant.grant_id)).rowcount != 1:
            return False
        self._s.raw(self._s.sql.release_grant_slot, (grant.key_ref,))
        self._s.record(CHANGE_GRANT, grant.grant_id, grant.key_ref)
        return True

    def retirable(self, region: str, retiring_principal: str, after_seq: int, limit: int) -> list[tuple[int, Grant]]:
        """(seq, grant) of the active grants `retiring_principal` may retire, in creation order."""
        rows = self._s.conn.execute(
            select(*_GRANT_SELECT)
            .where(
                t.grants.c.key_region == region,
                t.grants.c.retiring_principal == retiring_principal,
                t.grants.c.deleted_at.is_(None),
                t.grants.c.seq > after_seq,
            )
            .order_by(t.grants.c.seq)
            .limit(limit)
        )
        return [grant_from_tuple(row) for row in rows]

    def lineage(self, key_ref: str) -> list[Grant]:
        """The key's active grants, and those of its retired or revoked grants (tombstones not purged yet) that
        are the parent of another of its grants, in creation order (`trent.api.lineage`): one query, on the key's
        index, with the key's own rows in a subquery."""
        c = t.grants.c
        parents = select(c.parent_grant_id).where(c.key_id == key_ref, c.parent_grant_id.is_not(None))
        rows = self._s.conn.execute(
            select(*_GRANT_SELECT)
            .where(c.key_id == key_ref, or_(c.deleted_at.is_(None), c.grant_id.in_(parents)))
            .order_by(c.seq)
        )
        return [grant_from_tuple(row)[1] for row in rows]

    def of_account(
        self,
        account: str,
        region: str,
        *,
        before_seq: int | None = None,
        grantee: str | None = None,
        operation_mask: int = 0,
        limit: int = 50,
    ) -> list[tuple[int, Grant]]:
        """(seq, grant) of the active grants on an account's keys in a Region, newest first (the console's list
        across keys): an index range, filtered by grantee and by operations (every bit of `operation_mask`)."""
        c = t.grants.c
        query = select(*_GRANT_SELECT).where(c.key_account == account, c.key_region == region, c.deleted_at.is_(None))
        if before_seq is not None:
            query = query.where(c.seq < before_seq)
        if grantee is not None:
            query = query.where(c.grantee_principal == grantee)
        if operation_mask:
            query = query.where(c.operations.op("&")(operation_mask) == operation_mask)
        rows = self._s.conn.execute(query.order_by(c.seq.desc()).limit(limit))
        return [grant_from_tuple(row) for row in rows]

    def delegations(self, key_ref: str) -> list[Grant]:
        """The key's grants that take part in a delegation — made through another grant, or another was made
        through them (active, or tombstones not purged yet) — in creation order: the lineage without the grants
        that stand alone, however many those are."""
        c = t.grants.c
        parents = select(c.parent_grant_id).where(c.key_id == key_ref, c.parent_grant_id.is_not(None))
        rows = self._s.conn.execute(
            select(*_GRANT_SELECT)
            .where(c.key_id == key_ref, or_(c.parent_grant_id.is_not(None), c.grant_id.in_(parents)))
            .order_by(c.seq)
        )
        return [grant_from_tuple(row)[1] for row in rows]

    def forget_principal(self, arn: str, unique_id: str) -> int:
        """A deleted principal's grants name it by its unique ID from now on, as AWS shows them: they stay, but a
        new principal of the same name is not their grantee or retiring principal. Returns how many changed."""
        c = t.grants.c
        changed = 0
        for column in (c.grantee_principal, c.retiring_principal):
            # In creation order, sorted here (an ORDER BY seq would walk the primary key instead of an index).
            found = self._s.conn.execute(select(c.seq, c.grant_id, c.key_id).where(column == arn)).all()
            rows = [(grant_id, key_ref) for _, grant_id, key_ref in sorted(found)]
            if rows:
                self._s.conn.execute(update(t.grants).where(column == arn).values({column.name: unique_id}))
            for grant_id, key_ref in rows:
                self._s.record(CHANGE_GRANT, grant_id, key_ref)
            changed += len(rows)
        return changed

    def forget_role_sessions(self, role_arn: str, role_id: str) -> int:
        """A deleted role's sessions, named in grants as `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, are named
        `ROLEID:SESSION` from now on (AWS's principal ID of a session): a new role of the same name gets nothing."""
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        prefix = f"arn:aws:sts::{account}:assumed-role/{name}/"
        c = t.grants.c
        changed = 0
        for column in (c.grantee_principal, c.retiring_principal):
            found = self._s.conn.execute(
                select(c.seq, c.grant_id, c.key_id, column).where(column >= prefix, column < prefix[:-1] + "0")
            ).all()
            rows = [(grant_id, key_ref, principal) for _, grant_id, key_ref, principal in sorted(found)]
            for grant_id, key_ref, principal in rows:
                session = principal[len(prefix) :]
                self._s.conn.execute(
                    update(t.grants).where(c.grant_id == grant_id).values({column.name: f"{role_id}:{session}"})
                )
                self._s.record(CHANGE_GRANT, grant_id, key_ref)
            changed += len(rows)
        return changed

    def purge(self, deleted_before: float) -> int:
        """Forget grant tombstones that have propagated everywhere."""
        result = self._s.conn.execute(delete(t.grants).where(t.grants.c.deleted_at < deleted_before))
        return result.rowcount or 0

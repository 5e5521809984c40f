"""Identities: accounts, their principals (roots, users, roles), access keys (secrets wrapped under the root key)
and the identity policies attached to principals."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.storage import tables as t
from trent.storage.rows import PRINCIPAL_COLUMNS, principal_from_tuple, principal_values
from trent.storage.session import (
    CHANGE_ACCESS_KEY,
    CHANGE_ACCOUNT,
    CHANGE_IDENTITY_POLICY,
    CHANGE_PRINCIPAL,
    Session,
    StoreConflict,
)

_PRINCIPAL_SELECT = [getattr(t.principals.c, name) for name in PRINCIPAL_COLUMNS]


def secret_aad(access_key_id: str) -> bytes:
    """What a secret's wrap is bound to: it cannot be moved to another access key."""
    return f"access-key:{access_key_id}".encode()


def hash_session_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class IdentityRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # --- accounts --------------------------------------------------------------------------------------------
    def account_exists(self, account: str) -> bool:
        query = select(t.accounts.c.account_id).where(t.accounts.c.account_id == account)
        return self._s.conn.execute(query).first() is not None

    def add_account(self, account: str, now: float) -> bool:
        """Create the account (and its root principal). False if it existed already."""
        if self.account_exists(account):
            return False
        self._s.conn.execute(insert(t.accounts).values(account_id=account, created=now))
        root = Principal(
            arn=f"arn:aws:iam::{account}:root",
            account=account,
            type=PrincipalType.ROOT,
            name="root",
            unique_id=account,
            trust_policy=None,
            created=now,
        )
        self._s.conn.execute(insert(t.principals).values(**principal_values(root)))
        self._s.record(CHANGE_ACCOUNT, account)
        self._s.record(CHANGE_PRINCIPAL, root.arn)
        return True

    def list_accounts(self) -> list[str]:
        return list(self._s.conn.execute(select(t.accounts.c.account_id).order_by(t.accounts.c.account_id)).scalars())

    # --- principals ------------------------------------------------------------------------------------------
    def add_principal(self, principal: Principal) -> None:
        """:raises StoreConflict: when a principal with this ARN exists."""
        try:
            with self._s.conn.begin_nested():
                self._s.conn.execute(insert(t.principals).values(**principal_values(principal)))
        except IntegrityError as exc:
            raise StoreConflict(principal.arn) from exc
        self._s.record(CHANGE_PRINCIPAL, principal.arn)

    def get_principal(self, arn: str, *, for_update: bool = False) -> Principal | None:
        """The principal, its row locked until the transaction ends with `for_update` (PostgreSQL; SQLite's
        writers are one at a time anyway): what counts its access keys must not race another that does."""
        query = select(*_PRINCIPAL_SELECT).where(t.principals.c.arn == arn)
        row = self._s.conn.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else principal_from_tuple(row)

    def list_principals(self) -> list[Principal]:
        rows = self._s.conn.execute(select(*_PRINCIPAL_SELECT).order_by(t.principals.c.arn))
        return [principal_from_tuple(row) for row in rows]

    def principals_page(self, account: str, kind: PrincipalType, after: str | None, limit: int) -> list[Principal]:
        """An account's users or roles by name, after the name `after` (an index range)."""
        c = t.principals.c
        query = select(*_PRINCIPAL_SELECT).where(c.account_id == account, c.type == str(kind))
        if after is not None:
            query = query.where(c.name > after)
        return [principal_from_tuple(row) for row in self._s.conn.execute(query.order_by(c.name).limit(limit))]

    def name_taken(self, account: str, kind: PrincipalType, name: str) -> str | None:
        """The name of the account's user (or role) that differs from `name` in case only, if one exists: IAM's
        names are unique whatever their case."""
        c = t.principals.c
        query = select(c.name).where(c.account_id == account, c.type == str(kind), func.lower(c.name) == name.lower())
        return self._s.conn.execute(query.limit(1)).scalar()

    def delete_principal(self, arn: str) -> None:
        """Delete a user or role with its tags (the caller has checked that no access key or policy is left).
        Every process forgets it, and whatever credentials it held, from the next request on."""
        self._s.conn.execute(delete(t.principal_tags).where(t.principal_tags.c.principal_arn == arn))
        # Sessions of a role go with it (their rows name the role).
        # In a fixed order (sorted here: an ORDER BY would make the database walk another index).
        for access_key_id in sorted(
            self._s.conn.execute(
                select(t.access_keys.c.access_key_id).where(t.access_keys.c.principal_arn == arn)
            ).scalars()
        ):
            self._s.record(CHANGE_ACCESS_KEY, access_key_id)
        self._s.conn.execute(delete(t.access_keys).where(t.access_keys.c.principal_arn == arn))
        self._s.conn.execute(delete(t.principals).where(t.principals.c.arn == arn))
        self._s.record(CHANGE_PRINCIPAL, arn)

    def set_trust_policy(self, arn: str, document: str) -> None:
        self._s.conn.execute(update(t.principals).where(t.principals.c.arn == arn).values(trust_policy=document))
        self._s.record(CHANGE_PRINCIPAL, arn)

    # --- principal tags --------------------------------------------------------------------------------------
    def tags(self, arn: str) -> dict[str, str]:
        c = t.principal_tags.c
        rows = self._s.conn.execute(select(c.tag_key, c.tag_value).where(c.principal_arn == arn).order_by(c.tag_key))
        return {row.tag_key: row.tag_value for row in rows}

    def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        c = t.principal_tags.c
        if not tags:
            return
        self._s.conn.execute(delete(t.principal_tags).where(c.principal_arn == arn, c.tag_key.in_(list(tags))))
        self._s.conn.execute(
            insert(t.principal_tags), [{"principal_arn": arn, "tag_key": k, "tag_value": v} for k, v in tags.items()]
        )
        self._s.record(CHANGE_PRINCIPAL, arn)

    def delete_tags(self, arn: str, tag_keys: list[str]) -> None:
        c = t.principal_tags.c
        self._s.conn.execute(delete(t.principal_tags).where(c.principal_arn == arn, c.tag_key.in_(tag_keys)))
        self._s.record(CHANGE_PRINCIPAL, arn)

    # --- access keys -----------------------------------------------------------------------------------------
    def add_access_key(self, key: AccessKey) -> None:
        self._s.conn.execute(
            insert(t.access_keys).values(
                access_key_id=key.access_key_id,
                principal_arn=key.principal_arn,
                secret_wrapped=self._s.root_key.wrap(key.secret.encode(), secret_aad(key.access_key_id)),
                created=key.created,
                session_token_hash=key.session_token_hash,
                session_name=key.session_name,
                expiration=key.expiration,
                status=key.status,
            )
        )
        self._s.record(CHANGE_ACCESS_KEY, key.access_key_id)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        query = select(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id)
        row = self._s.conn.execute(query).first()
        if row is None:
            return None
        return AccessKey(
            access_key_id=row.access_key_id,
            principal_arn=row.principal_arn,
            secret=self._s.root_key.unwrap(row.secret_wrapped, secret_aad(access_key_id)).decode(),
            created=row.created,
            session_token_hash=row.session_token_hash,
            session_name=row.session_name,
            expiration=row.expiration,
            status=row.status,
        )

    def access_keys_of(self, principal_arn: str) -> list[tuple[str, str, float]]:
        """(access key ID, status, created) of a principal's long-term access keys, oldest first; no secrets."""
        c = t.access_keys.c
        query = (
            select(c.access_key_id, c.status, c.created)
            .where(c.principal_arn == principal_arn, c.session_token_hash.is_(None))
            .order_by(c.created, c.access_key_id)
        )
        return [(row.access_key_id, row.status, row.created) for row in self._s.conn.execute(query)]

    def last_used(self, access_key_id: str) -> tuple[float, str, str] | None:
        """(when, region, service) an access key last authenticated a request, if it has."""
        c = t.access_keys.c
        row = self._s.conn.execute(
            select(c.last_used, c.last_used_region, c.last_used_service).where(c.access_key_id == access_key_id)
        ).first()
        return (
            None
            if row is None or row.last_used is None
            else (row.last_used, row.last_used_region, row.last_used_service)
        )

    def record_uses(self, uses: list[tuple[str, float, str, str]]) -> None:
        """(access key ID, when, region, service) of recent uses; a use older than the one stored is ignored."""
        if not uses:
            return
        c = t.access_keys.c
        # One statement for the batch (executemany), not one per key: 20,000 keys cost 2 s of CPU the other way.
        statement = (
            update(t.access_keys)
            .where(
                c.access_key_id == bindparam("key"),
                (c.last_used.is_(None)) | (c.last_used < bindparam("when")),
            )
            .values(
                last_used=bindparam("when"),
                last_used_region=bindparam("region"),
                last_used_service=bindparam("service"),
            )
        )
        self._s.conn.execute(statement, [{"key": k, "when": w, "region": r, "service": s} for k, w, r, s in uses])

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        self._s.conn.execute(
            update(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id).values(status=status)
        )
        self._s.record(CHANGE_ACCESS_KEY, access_key_id)  # every process's credential cache forgets it

    def access_key_ids(self, principal_arn: str) -> list[str]:
        """The long-term access keys of a principal (not its sessions')."""
        query = select(t.access_keys.c.access_key_id).where(
            t.access_keys.c.principal_arn == principal_arn, t.access_keys.c.session_token_hash.is_(None)
        )
        return list(self._s.conn.execute(query).scalars())

    def delete_expired_sessions(self, now: float) -> int:
        expired = t.access_keys.c.expiration < now
        # Sorted here, not by ORDER BY: that would read the whole table by its primary key, not the expiry index.
        for access_key_id in sorted(
            self._s.conn.execute(select(t.access_keys.c.access_key_id).where(expired)).scalars()
        ):
            self._s.record(CHANGE_ACCESS_KEY, access_key_id)
        result = self._s.conn.execute(delete(t.access_keys).where(expired))
        return result.rowcount or 0

    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete an access key; False if there was none."""
        result = self._s.conn.execute(delete(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id))
        self._s.record(CHANGE_ACCESS_KEY, access_key_id)
        return bool(result.rowcount)

    # --- identity policies -----------------------------------------------------------------------------------
    def put_policy(self, principal_arn: str, name: str, document: str) -> None:
        """Attach a policy to a principal, replacing the one of the same name."""
        self._s.conn.execute(
            delete(t.identity_policies).where(
                t.identity_policies.c.principal_arn == principal_arn, t.identity_policies.c.policy_name == name
            )
        )
        self._s.conn.execute(
            insert(t.identity_policies).values(principal_arn=principal_arn, policy_name=name, document=document)
        )
        self._s.record(CHANGE_IDENTITY_POLICY, principal_arn)

    def delete_policy(self, principal_arn: str, name: str) -> bool:
        """Detach an identity policy; False if the principal had none by that name."""
        result = self._s.conn.execute(
            delete(t.identity_policies).where(
                t.identity_policies.c.principal_arn == principal_arn, t.identity_policies.c.policy_name == name
            )
        )
        self._s.record(CHANGE_IDENTITY_POLICY, principal_arn)
        return bool(result.rowcount)

    def policies(self, principal_arn: str) -> dict[str, str]:
        """Policy name -> document of the policies attached to a principal."""
        rows = self._s.conn.execute(
            select(t.identity_policies.c.policy_name, t.identity_policies.c.document).where(
                t.identity_policies.c.principal_arn == principal_arn
            )
        )
        return {row.policy_name: row.document for row in rows}

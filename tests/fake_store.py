"""A fake store: the unit of work and its repositories over Python dicts, for unit tests of handlers that need no
database (cosmicpython's fake repository, for Trent's ten aggregates).

It keeps the rows the real tables keep, in the real column orders, and maps them with the real row mappers
(`trent.storage.rows`), so what it hands back is what the store would; secrets are wrapped under the root key as the
store wraps them. A transaction works on a copy of the committed state and replaces it when the block ends (an
exception leaves it as it was); write transactions run one at a time. The fast reader reads the committed state.

`tests/unit/test_repositories.py` runs every repository test on it as on SQLite and PostgreSQL: where it and the
databases disagree, that test fails. What it does not model: SQL itself (query plans, locks between processes,
`FOR UPDATE`), and what a database refuses on its own (foreign keys, NOT NULL) — tests of those use a real store.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from trent.crypto.rootkey import RootKey, RootKeyVersions
from trent.domain.errors import KMSInvalidStateException
from trent.domain.grants import Grant
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.domain.ids import key_arn, key_id_of_ref, key_ref
from trent.domain.keys import Alias, Key, KeyMaterial, KeyState, MaterialInfo
from trent.storage.console import ConsoleSession
from trent.storage.identities import secret_aad
from trent.storage.imports import ImportParameters
from trent.storage.keys import material_aad
from trent.storage.rows import (
    ALIAS_COLUMNS,
    KEY_COLUMNS,
    alias_from_tuple,
    grant_from_tuple,
    grant_values,
    key_from_tuple,
    key_values,
    principal_from_tuple,
    principal_values,
)
from trent.storage.session import (
    AUDIT_COLUMNS,
    CHANGE_ACCESS_KEY,
    CHANGE_ACCOUNT,
    CHANGE_ALIAS,
    CHANGE_GRANT,
    CHANGE_IDENTITY_POLICY,
    CHANGE_KEY,
    CHANGE_PRINCIPAL,
    Change,
    StoreConflict,
    alias_entity,
)
from trent.storage.store import Tx

_KEY_NAMES = tuple(name.strip() for name in KEY_COLUMNS.split(","))
# Column positions of a grant row (seq first, as GRANT_COLUMNS selects it).
_G_ID, _G_KEY, _G_ACCOUNT, _G_REGION = 1, 2, 3, 4
_G_GRANTEE, _G_RETIRING, _G_OPERATIONS, _G_DELETED, _G_PARENT = 6, 8, 11, 14, 15


def _import_aad(token_id: str, key_ref: str) -> bytes:
    return f"import-wrapping-key:{token_id}:{key_ref}".encode()


@dataclass
class Tables:
    """The committed rows, table by table (rows are tuples or dicts nobody mutates in place)."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # ref -> key_values + grant_count
    key_materials: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    aliases: dict[tuple[str, str, str], tuple[Any, ...]] = field(default_factory=dict)  # ALIAS_COLUMNS order
    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (ref, tag key) -> value
    grants: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # grant ID -> GRANT_COLUMNS order
    accounts: dict[str, float] = field(default_factory=dict)
    principals: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # arn -> PRINCIPAL_COLUMNS order
    principal_tags: dict[tuple[str, str], str] = field(default_factory=dict)
    access_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    identity_policies: dict[tuple[str, str], str] = field(default_factory=dict)  # (arn, name) -> document
    audit_events: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> row
    audit_event_ids: dict[str, int] = field(default_factory=dict)  # the unique index on event_id
    changes: dict[int, tuple[str, str, str | None, float]] = field(default_factory=dict)
    import_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, bytes] = field(default_factory=dict)
    console_sessions: dict[bytes, ConsoleSession] = field(default_factory=dict)
    #: The next sequence numbers (never reused, as the databases' own).
    sequences: dict[str, int] = field(default_factory=lambda: {"grants": 0, "audit_events": 0, "changes": 0})

    def copy(self) -> Tables:
        return Tables(**{name: dict(getattr(self, name)) for name in self.__dataclass_fields__})

    def next_seq(self, table: str) -> int:
        self.sequences[table] += 1
        return self.sequences[table]


class _Repository:
    def __init__(self, unit: MemoryTx) -> None:
        self._u = unit

    @property
    def _t(self) -> Tables:
        return self._u.tables

    def _record(self, kind: str, entity: str, ref: str | None = None) -> None:
        self._u._changes.append(Change(kind, entity, ref))


def _key(row: Mapping[str, Any]) -> Key:
    return key_from_tuple([row[name] for name in _KEY_NAMES])


class MemoryKeys(_Repository):
    def get(self, account: str, region: str, key_id: str, *, for_update: bool = False) -> Key | None:
        row = self._t.keys.get(key_ref(key_id, region))
        return None if row is None or row["account_id"] != account or row["region"] != region else _key(row)

    def insert(self, key: Key, material: KeyMaterial | None) -> None:
        if key.ref in self._t.keys:
            raise StoreConflict(key.ref)
        self._t.keys[key.ref] = {**key_values(key), "grant_count": 0}
        if material is not None:
            self.add_material(material)
        self._record(CHANGE_KEY, key.ref, key.ref)

    def update(self, old: Key, new: Key) -> Key:
        row = self._t.keys.get(old.ref)
        if row is None or row["version"] != old.version:
            raise KMSInvalidStateException(f"{old.arn} was changed by a concurrent request; retry.")
        self._t.keys[old.ref] = {**key_values(new), "version": old.version + 1, "grant_count": row["grant_count"]}
        self._record(CHANGE_KEY, old.ref, old.ref)
        return _key(self._t.keys[old.ref])

    def delete(self, key_ref: str) -> None:
        for (account, region, name), row in sorted(self._t.aliases.items()):
            if row[3] == key_ref:
                self._record(CHANGE_ALIAS, alias_entity(account, region, name), key_ref)
        self._record(CHANGE_KEY, key_ref, key_ref)
        t = self._t
        t.tags = {k: v for k, v in t.tags.items() if k[0] != key_ref}
        t.aliases = {k: v for k, v in t.aliases.items() if v[3] != key_ref}
        t.key_materials = {k: v for k, v in t.key_materials.items() if k[0] != key_ref}
        t.grants = {k: v for k, v in t.grants.items() if v[_G_KEY] != key_ref}
        t.import_parameters = {k: v for k, v in t.import_parameters.items() if v["key_ref"] != key_ref}
        t.keys.pop(key_ref, None)

    def _related_refs(self, account: str, key_id: str) -> list[str]:
        return [
            ref
            for ref, row in sorted(self._t.keys.items())
            if f"{key_id}/" < ref < f"{key_id}0" and row["account_id"] == account
        ]

    def related(self, account: str, key_id: str) -> list[Key]:
        keys = [_key(self._t.keys[ref]) for ref in self._related_refs(account, key_id)]
        return sorted(keys, key=lambda key: key.region)

    def set_primary_region(self, account: str, key_id: str, primary_region: str) -> None:
        for ref in self._related_refs(account, key_id):
            row = self._t.keys[ref]
            self._t.keys[ref] = {**row, "primary_region": primary_region, "version": row["version"] + 1}
            self._record(CHANGE_KEY, ref, ref)

    def page(self, account: str, region: str, after: str | None, limit: int) -> list[Key]:
        rows = sorted(
            (ref, row)
            for ref, row in self._t.keys.items()
            if row["account_id"] == account and row["region"] == region and (after is None or ref > after)
        )
        return [_key(row) for _, row in rows[:limit]]

    def due(self, now: float) -> list[Key]:
        due = [
            row
            for row in self._t.keys.values()
            if (
                row["state"] == str(KeyState.PENDING_DELETION)
                and row["deletion_date"] is not None
                and row["deletion_date"] <= now
            )
            or (row["rotation_enabled"] and row["next_rotation_date"] is not None and row["next_rotation_date"] <= now)
        ]
        return [_key(row) for row in due[:100]]

    def grant_counts(self, refs: list[str]) -> dict[str, int]:
        return {ref: int(self._t.keys[ref]["grant_count"]) for ref in refs if ref in self._t.keys}

    def with_most_grants(self, limit: int) -> list[tuple[str, int]]:
        rows = sorted(
            (row for row in self._t.keys.values() if row["grant_count"] > 0), key=lambda row: -row["grant_count"]
        )
        return [
            (key_arn(r["region"], r["account_id"], key_id_of_ref(r["key_id"])), int(r["grant_count"]))
            for r in rows[:limit]
        ]

    def add_material(self, material: KeyMaterial) -> None:
        self._t.key_materials[(material.key_ref, material.version)] = self._material_row(material)

    def put_material(self, material: KeyMaterial) -> None:
        if (material.key_ref, material.version) in self._t.key_materials:
            self._t.key_materials[(material.key_ref, material.version)] = self._material_row(material)
        self._record(CHANGE_KEY, material.key_ref, material.key_ref)

    def _material_row(self, material: KeyMaterial) -> dict[str, Any]:
        wrapped = (
            None
            if material.material is None
            else self._u.root_key.wrap(material.material, material_aad(material.key_ref, material.version))
        )
        return {
            "version": material.version,
            "material_id": material.material_id,
            "created": material.created,
            "rotation_type": material.rotation_type,
            "wrapped": wrapped,
            "import_state": material.import_state,
            "expiration_model": material.expiration_model,
            "valid_to": material.valid_to,
            "description": material.description,
        }

    def delete_material(self, key_ref: str, version: int) -> None:
        self._t.key_materials.pop((key_ref, version), None)
        self._record(CHANGE_KEY, key_ref, key_ref)

    def mark_rotated(self, key_ref: str, version: int, now: float, rotation_type: str) -> None:
        row = self._t.key_materials.get((key_ref, version))
        if row is not None:
            self._t.key_materials[(key_ref, version)] = {**row, "created": now, "rotation_type": rotation_type}

    def material(self, key_ref: str, version: int) -> KeyMaterial | None:
        row = self._t.key_materials.get((key_ref, version))
        if row is None:
            return None
        wrapped = row["wrapped"]
        return KeyMaterial(
            key_ref=key_ref,
            version=version,
            material_id=row["material_id"],
            created=row["created"],
            rotation_type=row["rotation_type"],
            material=None if wrapped is None else self._u.root_key.unwrap(wrapped, material_aad(key_ref, version)),
            import_state=row["import_state"],
            expiration_model=row["expiration_model"],
            valid_to=row["valid_to"],
            description=row["description"],
        )

    def material_versions(self, key_ref: str) -> list[MaterialInfo]:
        rows = sorted((version, row) for (ref, version), row in self._t.key_materials.items() if ref == key_ref)
        names = ("version", "material_id", "created", "rotation_type", "import_state", "expiration_model", "valid_to")
        return [MaterialInfo(*(row[name] for name in names), row["description"]) for _, row in rows]

    def expired_materials(self, now: float, limit: int = 100) -> list[tuple[Key, int]]:
        expired = [
            (_key(self._t.keys[ref]), version)
            for (ref, version), row in sorted(self._t.key_materials.items(), key=lambda item: item[1]["valid_to"] or 0)
            if row["valid_to"] is not None
            and row["valid_to"] <= now
            and row["wrapped"] is not None
            and ref in self._t.keys
        ]
        return expired[:limit]


class MemoryAliases(_Repository):
    def get(self, account: str, region: str, alias_name: str) -> Alias | None:
        row = self._t.aliases.get((account, region, alias_name))
        return None if row is None else alias_from_tuple(row)

    def target(self, account: str, region: str, alias_name: str) -> str | None:
        alias = self.get(account, region, alias_name)
        return None if alias is None else alias.key_id

    def insert(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        if (account, region, alias_name) in self._t.aliases:
            raise StoreConflict(alias_name)
        row = dict(zip(ALIAS_COLUMNS, (account, region, alias_name, key_ref(key_id, region), now, now), strict=True))
        self._t.aliases[(account, region, alias_name)] = tuple(row.values())
        self._record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_ref(key_id, region))

    def update(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        row = self._t.aliases.get((account, region, alias_name))
        if row is not None:
            self._t.aliases[(account, region, alias_name)] = (*row[:3], key_ref(key_id, region), row[4], now)
        self._record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_ref(key_id, region))

    def delete(self, account: str, region: str, alias_name: str) -> None:
        self._t.aliases.pop((account, region, alias_name), None)
        self._record(CHANGE_ALIAS, alias_entity(account, region, alias_name))

    def count_for_key(self, ref: str) -> int:
        return sum(1 for row in self._t.aliases.values() if row[3] == ref)

    def page(self, account: str, region: str, ref: str | None, after: str | None, limit: int) -> list[Alias]:
        rows = sorted(
            (name, row)
            for (a, r, name), row in self._t.aliases.items()
            if a == account and r == region and (ref is None or row[3] == ref) and (after is None or name > after)
        )
        return [alias_from_tuple(row) for _, row in rows[:limit]]

    def names_for_key(self, ref: str) -> list[str]:
        return sorted(name for (_, _, name), row in self._t.aliases.items() if row[3] == ref)


class MemoryTags(_Repository):
    def of_key(self, key_ref: str) -> dict[str, str]:
        return dict(sorted((tag, value) for (ref, tag), value in self._t.tags.items() if ref == key_ref))

    def put(self, key_ref: str, new_tags: dict[str, str]) -> None:
        for tag, value in new_tags.items():
            self._t.tags[(key_ref, tag)] = value

    def delete(self, key_ref: str, tag_keys: Sequence[str]) -> None:
        for tag in tag_keys:
            self._t.tags.pop((key_ref, tag), None)


class MemoryGrants(_Repository):
    def _ordered(self, keep: Callable[[tuple[Any, ...]], bool]) -> list[tuple[Any, ...]]:
        return sorted((row for row in self._t.grants.values() if keep(row)), key=lambda row: row[0])

    def reserve_slot(self, key_ref: str, limit: int) -> bool:
        row = self._t.keys.get(key_ref)
        if row is None or row["grant_count"] >= limit:
            return False
        self._t.keys[key_ref] = {**row, "grant_count": row["grant_count"] + 1}
        return True

    def insert(self, grant: Grant) -> None:
        if grant.grant_id in self._t.grants:
            raise StoreConflict(grant.grant_id)
        self._t.grants[grant.grant_id] = (self._t.next_seq("grants"), *grant_values(grant))
        self._record(CHANGE_GRANT, grant.grant_id, grant.key_ref)

    def active_named(self, key_ref: str, name: str) -> list[Grant]:
        rows = self._ordered(lambda r: r[_G_KEY] == key_ref and r[5] == name and r[_G_DELETED] is None)
        return [grant_from_tuple(row)[1] for row in rows]

    def get(self, grant_id: str) -> Grant | None:
        row = self._t.grants.get(grant_id)
        return None if row is None else grant_from_tuple(row)[1]

    def delete(self, grant: Grant, now: float) -> bool:
        row = self._t.grants.get(grant.grant_id)
        if row is None or row[_G_DELETED] is not None:
            return False
        self._t.grants[grant.grant_id] = (*row[:_G_DELETED], now, *row[_G_DELETED + 1 :])
        key = self._t.keys.get(grant.key_ref)
        if key is not None:
            self._t.keys[grant.key_ref] = {**key, "grant_count": key["grant_count"] - 1}
        self._record(CHANGE_GRANT, grant.grant_id, grant.key_ref)
        return True

    def retirable(self, region: str, retiring_principal: str, after_seq: int, limit: int) -> list[tuple[int, Grant]]:
        rows = self._ordered(
            lambda r: (
                r[_G_REGION] == region
                and r[_G_RETIRING] == retiring_principal
                and r[_G_DELETED] is None
                and r[0] > after_seq
            )
        )
        return [grant_from_tuple(row) for row in rows[:limit]]

    def _parents(self, key_ref: str) -> set[str]:
        return {r[_G_PARENT] for r in self._t.grants.values() if r[_G_KEY] == key_ref and r[_G_PARENT] is not None}

    def lineage(self, key_ref: str) -> list[Grant]:
        parents = self._parents(key_ref)
        rows = self._ordered(lambda r: r[_G_KEY] == key_ref and (r[_G_DELETED] is None or r[_G_ID] in parents))
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
        rows = self._ordered(
            lambda r: (
                r[_G_ACCOUNT] == account
                and r[_G_REGION] == region
                and r[_G_DELETED] is None
                and (before_seq is None or r[0] < before_seq)
                and (grantee is None or r[_G_GRANTEE] == grantee)
                and r[_G_OPERATIONS] & operation_mask == operation_mask
            )
        )
        return [grant_from_tuple(row) for row in reversed(rows)][:limit]

    def delegations(self, key_ref: str) -> list[Grant]:
        parents = self._parents(key_ref)
        rows = self._ordered(lambda r: r[_G_KEY] == key_ref and (r[_G_PARENT] is not None or r[_G_ID] in parents))
        return [grant_from_tuple(row)[1] for row in rows]

    def _rename(self, column: int, rename: Callable[[str], str | None]) -> int:
        changed = 0
        for grant_id, row in sorted(self._t.grants.items(), key=lambda item: item[1][0]):
            new = None if row[column] is None else rename(row[column])
            if new is not None:
                self._t.grants[grant_id] = (*row[:column], new, *row[column + 1 :])
                self._record(CHANGE_GRANT, grant_id, row[_G_KEY])
                changed += 1
        return changed

    def forget_principal(self, arn: str, unique_id: str) -> int:
        return sum(
            self._rename(column, lambda principal: unique_id if principal == arn else None)
            for column in (_G_GRANTEE, _G_RETIRING)
        )

    def forget_role_sessions(self, role_arn: str, role_id: str) -> int:
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        prefix = f"arn:aws:sts::{account}:assumed-role/{name}/"
        return sum(
            self._rename(
                column,
                lambda principal: (
                    f"{role_id}:{principal[len(prefix) :]}" if prefix <= principal < prefix[:-1] + "0" else None
                ),
            )
            for column in (_G_GRANTEE, _G_RETIRING)
        )

    def purge(self, deleted_before: float) -> int:
        gone = [k for k, r in self._t.grants.items() if r[_G_DELETED] is not None and r[_G_DELETED] < deleted_before]
        for grant_id in gone:
            del self._t.grants[grant_id]
        return len(gone)


class MemoryIdentities(_Repository):
    def account_exists(self, account: str) -> bool:
        return account in self._t.accounts

    def add_account(self, account: str, now: float) -> bool:
        if account in self._t.accounts:
            return False
        self._t.accounts[account] = now
        root = Principal(
            arn=f"arn:aws:iam::{account}:root",
            account=account,
            type=PrincipalType.ROOT,
            name="root",
            unique_id=account,
            trust_policy=None,
            created=now,
        )
        self._t.principals[root.arn] = tuple(principal_values(root).values())
        self._record(CHANGE_ACCOUNT, account)
        self._record(CHANGE_PRINCIPAL, root.arn)
        return True

    def list_accounts(self) -> list[str]:
        return sorted(self._t.accounts)

    def add_principal(self, principal: Principal) -> None:
        if principal.arn in self._t.principals:
            raise StoreConflict(principal.arn)
        self._t.principals[principal.arn] = tuple(principal_values(principal).values())
        self._record(CHANGE_PRINCIPAL, principal.arn)

    def get_principal(self, arn: str, *, for_update: bool = False) -> Principal | None:
        row = self._t.principals.get(arn)
        return None if row is None else principal_from_tuple(row)

    def list_principals(self) -> list[Principal]:
        return [principal_from_tuple(row) for _, row in sorted(self._t.principals.items())]

    def principals_page(self, account: str, kind: PrincipalType, after: str | None, limit: int) -> list[Principal]:
        rows = sorted(
            (row[3], row)
            for row in self._t.principals.values()
            if row[1] == account and row[2] == str(kind) and (after is None or row[3] > after)
        )
        return [principal_from_tuple(row) for _, row in rows[:limit]]

    def name_taken(self, account: str, kind: PrincipalType, name: str) -> str | None:
        for row in self._t.principals.values():
            if row[1] == account and row[2] == str(kind) and row[3].lower() == name.lower():
                return str(row[3])
        return None

    def delete_principal(self, arn: str) -> None:
        t = self._t
        t.principal_tags = {k: v for k, v in t.principal_tags.items() if k[0] != arn}
        for access_key_id, row in sorted(t.access_keys.items()):
            if row["principal_arn"] == arn:
                self._record(CHANGE_ACCESS_KEY, access_key_id)
        t.access_keys = {k: v for k, v in t.access_keys.items() if v["principal_arn"] != arn}
        t.principals.pop(arn, None)
        self._record(CHANGE_PRINCIPAL, arn)

    def set_trust_policy(self, arn: str, document: str) -> None:
        row = self._t.principals.get(arn)
        if row is not None:
            self._t.principals[arn] = (*row[:5], document, row[6])
        self._record(CHANGE_PRINCIPAL, arn)

    def tags(self, arn: str) -> dict[str, str]:
        return dict(sorted((tag, value) for (owner, tag), value in self._t.principal_tags.items() if owner == arn))

    def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        for tag, value in tags.items():
            self._t.principal_tags[(arn, tag)] = value
        self._record(CHANGE_PRINCIPAL, arn)

    def delete_tags(self, arn: str, tag_keys: list[str]) -> None:
        for tag in tag_keys:
            self._t.principal_tags.pop((arn, tag), None)
        self._record(CHANGE_PRINCIPAL, arn)

    def add_access_key(self, key: AccessKey) -> None:
        if key.access_key_id in self._t.access_keys:
            raise StoreConflict(key.access_key_id)
        self._t.access_keys[key.access_key_id] = {
            "principal_arn": key.principal_arn,
            "secret_wrapped": self._u.root_key.wrap(key.secret.encode(), secret_aad(key.access_key_id)),
            "created": key.created,
            "session_token_hash": key.session_token_hash,
            "session_name": key.session_name,
            "expiration": key.expiration,
            "status": key.status,
            "last_used": None,
            "last_used_region": None,
            "last_used_service": None,
        }
        self._record(CHANGE_ACCESS_KEY, key.access_key_id)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        row = self._t.access_keys.get(access_key_id)
        if row is None:
            return None
        return AccessKey(
            access_key_id=access_key_id,
            principal_arn=row["principal_arn"],
            secret=self._u.root_key.unwrap(row["secret_wrapped"], secret_aad(access_key_id)).decode(),
            created=row["created"],
            session_token_hash=row["session_token_hash"],
            session_name=row["session_name"],
            expiration=row["expiration"],
            status=row["status"],
        )

    def access_keys_of(self, principal_arn: str) -> list[tuple[str, str, float]]:
        rows = sorted(
            (row["created"], access_key_id, row["status"])
            for access_key_id, row in self._t.access_keys.items()
            if row["principal_arn"] == principal_arn and row["session_token_hash"] is None
        )
        return [(access_key_id, status, created) for created, access_key_id, status in rows]

    def last_used(self, access_key_id: str) -> tuple[float, str, str] | None:
        row = self._t.access_keys.get(access_key_id)
        if row is None or row["last_used"] is None:
            return None
        return (row["last_used"], row["last_used_region"], row["last_used_service"])

    def record_uses(self, uses: list[tuple[str, float, str, str]]) -> None:
        for access_key_id, when, region, service in uses:
            row = self._t.access_keys.get(access_key_id)
            if row is not None and (row["last_used"] is None or row["last_used"] < when):
                self._t.access_keys[access_key_id] = {
                    **row,
                    "last_used": when,
                    "last_used_region": region,
                    "last_used_service": service,
                }

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        row = self._t.access_keys.get(access_key_id)
        if row is not None:
            self._t.access_keys[access_key_id] = {**row, "status": status}
        self._record(CHANGE_ACCESS_KEY, access_key_id)

    def access_key_ids(self, principal_arn: str) -> list[str]:
        return [
            access_key_id
            for access_key_id, row in self._t.access_keys.items()
            if row["principal_arn"] == principal_arn and row["session_token_hash"] is None
        ]

    def delete_expired_sessions(self, now: float) -> int:
        expired = sorted(
            k for k, row in self._t.access_keys.items() if row["expiration"] is not None and row["expiration"] < now
        )
        for access_key_id in expired:
            self._record(CHANGE_ACCESS_KEY, access_key_id)
            del self._t.access_keys[access_key_id]
        return len(expired)

    def delete_access_key(self, access_key_id: str) -> bool:
        existed = self._t.access_keys.pop(access_key_id, None) is not None
        self._record(CHANGE_ACCESS_KEY, access_key_id)
        return existed

    def put_policy(self, principal_arn: str, name: str, document: str) -> None:
        self._t.identity_policies[(principal_arn, name)] = document
        self._record(CHANGE_IDENTITY_POLICY, principal_arn)

    def delete_policy(self, principal_arn: str, name: str) -> bool:
        existed = self._t.identity_policies.pop((principal_arn, name), None) is not None
        self._record(CHANGE_IDENTITY_POLICY, principal_arn)
        return existed

    def policies(self, principal_arn: str) -> dict[str, str]:
        return {name: doc for (arn, name), doc in sorted(self._t.identity_policies.items()) if arn == principal_arn}


class MemoryAudit(_Repository):
    def insert(self, events: Sequence[Mapping[str, Any]]) -> None:
        for event in events:
            if event["event_id"] in self._t.audit_event_ids:
                raise StoreConflict(f"duplicate key: the event ID {event['event_id']} is not unique")
            seq = self._t.next_seq("audit_events")
            self._t.audit_events[seq] = {name: event[name] for name in AUDIT_COLUMNS}
            self._t.audit_event_ids[event["event_id"]] = seq

    def _matching(
        self,
        since: float | None,
        until: float | None,
        key_arn: str | None,
        principal_arn: str | None,
        event_name: str | None,
        errors_only: bool,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        for seq, row in sorted(self._t.audit_events.items()):
            if (
                (since is None or row["event_time"] >= since)
                and (until is None or row["event_time"] < until)
                and (key_arn is None or row["key_arn"] == key_arn)
                and (principal_arn is None or row["principal_arn"] == principal_arn)
                and (event_name is None or row["event_name"] == event_name)
                and (not errors_only or row["error_code"] is not None)
            ):
                yield seq, row

    def events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        key_arn: str | None = None,
        principal_arn: str | None = None,
        event_name: str | None = None,
        errors_only: bool = False,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[tuple[int, str]]:
        rows = self._matching(since, until, key_arn, principal_arn, event_name, errors_only)
        page = [(seq, str(row["record"])) for seq, row in rows if seq > after_seq]
        return page[:limit]

    def newest(
        self,
        account: str,
        *,
        before_seq: int | None = None,
        key_arn: str | None = None,
        principal_arn: str | None = None,
        event_name: str | None = None,
        errors_only: bool = False,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
    ) -> list[tuple[int, str]]:
        rows = self._matching(since, until, key_arn, principal_arn, event_name, errors_only)
        page = [
            (seq, str(row["record"]))
            for seq, row in rows
            if row["account_id"] == account and (before_seq is None or seq < before_seq)
        ]
        return page[::-1][:limit]

    def purge_before(self, before: float) -> int:
        return self._forget([seq for seq, row in self._t.audit_events.items() if row["event_time"] < before])

    def _forget(self, seqs: list[int]) -> int:
        for seq in seqs:
            del self._t.audit_event_ids[self._t.audit_events.pop(seq)["event_id"]]
        return len(seqs)

    def purge_beyond(self, keep: int) -> int:
        if not self._t.audit_events:
            return 0
        newest = max(self._t.audit_events)
        if newest <= keep:
            return 0
        return self._forget([seq for seq in self._t.audit_events if seq <= newest - keep])


class MemoryFeed(_Repository):
    def write(self) -> None:
        now = time.time()
        for change in self._u.changes:
            self._t.changes[self._t.next_seq("changes")] = (change.kind, change.entity, change.key_id, now)

    def purge(self, before: float) -> int:
        old = [seq for seq, row in self._t.changes.items() if row[3] < before]
        if not old or not self._t.changes:
            return 0
        cut = min(max(old), max(self._t.changes) - 1)
        gone = [seq for seq in self._t.changes if seq <= cut]
        for seq in gone:
            del self._t.changes[seq]
        return len(gone)


class MemoryImports(_Repository):
    def add(self, parameters: ImportParameters, *, keep: int) -> None:
        self._t.import_parameters[parameters.token_id] = {
            "key_ref": parameters.key_ref,
            "wrapping_algorithm": parameters.wrapping_algorithm,
            "wrapping_key_spec": parameters.wrapping_key_spec,
            "private_key_wrapped": self._u.root_key.wrap(
                parameters.private_key, _import_aad(parameters.token_id, parameters.key_ref)
            ),
            "expires": parameters.expires,
        }
        mine = sorted(
            (
                (row["expires"], token)
                for token, row in self._t.import_parameters.items()
                if row["key_ref"] == parameters.key_ref
            ),
            reverse=True,
        )
        for _, token in mine[keep:]:
            del self._t.import_parameters[token]

    def get(self, token_id: str, key_ref: str) -> ImportParameters | None:
        row = self._t.import_parameters.get(token_id)
        if row is None or row["key_ref"] != key_ref:
            return None
        return ImportParameters(
            token_id=token_id,
            key_ref=key_ref,
            wrapping_algorithm=row["wrapping_algorithm"],
            wrapping_key_spec=row["wrapping_key_spec"],
            private_key=self._u.root_key.unwrap(row["private_key_wrapped"], _import_aad(token_id, key_ref)),
            expires=row["expires"],
        )

    def purge(self, expired_before: float) -> int:
        gone = [token for token, row in self._t.import_parameters.items() if row["expires"] < expired_before]
        for token in gone:
            del self._t.import_parameters[token]
        return len(gone)


class MemoryMeta(_Repository):
    def get(self, name: str) -> bytes | None:
        return self._t.meta.get(name)

    def put(self, name: str, value: bytes) -> None:
        if name in self._t.meta:
            raise StoreConflict(name)
        self._t.meta[name] = value


class MemoryConsole(_Repository):
    def add(self, token_hash: bytes, session: ConsoleSession) -> None:
        if token_hash in self._t.console_sessions:
            raise StoreConflict("console session")
        self._t.console_sessions[token_hash] = session

    def get(self, token_hash: bytes) -> ConsoleSession | None:
        return self._t.console_sessions.get(token_hash)

    def touch(self, token_hash: bytes, now: float) -> None:
        session = self._t.console_sessions.get(token_hash)
        if session is not None:
            self._t.console_sessions[token_hash] = session._replace(last_seen=now)

    def delete(self, token_hash: bytes) -> bool:
        return self._t.console_sessions.pop(token_hash, None) is not None

    def end_for_access_key(self, access_key_id: str) -> None:
        self._t.console_sessions = {
            k: s for k, s in self._t.console_sessions.items() if s.access_key_id != access_key_id
        }

    def end_for_principal(self, principal_arn: str) -> None:
        self._t.console_sessions = {
            k: s for k, s in self._t.console_sessions.items() if s.principal_arn != principal_arn
        }

    def purge_idle(self, last_seen_before: float) -> int:
        gone = [k for k, s in self._t.console_sessions.items() if s.last_seen < last_seen_before]
        for token_hash in gone:
            del self._t.console_sessions[token_hash]
        return len(gone)


class MemoryTx(Tx):
    """One transaction over a copy of the committed tables: the unit of work, with the store's repositories (a `Tx`,
    so that code which tells a transaction from a reader tells this one too; nothing of `Tx`'s own is used)."""

    def __init__(self, tables: Tables, root_key: RootKey) -> None:
        self.tables = tables
        self.root_key = root_key
        self._changes: list[Change] = []
        self.keys = MemoryKeys(self)
        self.aliases = MemoryAliases(self)
        self.tags = MemoryTags(self)
        self.grants = MemoryGrants(self)
        self.identities = MemoryIdentities(self)
        self.audit = MemoryAudit(self)
        self.feed = MemoryFeed(self)
        self.imports = MemoryImports(self)
        self.meta = MemoryMeta(self)
        self.console = MemoryConsole(self)

    @property
    def changes(self) -> list[Change]:
        """What this transaction changed so far (the feed gets it at the commit)."""
        return self._changes


class MemoryReader:
    """The fast reader's point reads, over the committed tables."""

    is_sqlite = False

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    @property
    def _t(self) -> Tables:
        return self._store.committed

    def get_key(self, account: str, region: str, key_id: str) -> Key | None:
        row = self._t.keys.get(key_ref(key_id, region))
        return None if row is None or row["account_id"] != account or row["region"] != region else _key(row)

    def get_key_by_ref(self, ref: str) -> Key | None:
        row = self._t.keys.get(ref)
        return None if row is None else _key(row)

    def alias_target(self, account: str, region: str, alias_name: str) -> str | None:
        row = self._t.aliases.get((account, region, alias_name))
        return None if row is None else key_id_of_ref(row[3])

    def account_exists(self, account: str) -> bool:
        return account in self._t.accounts

    def principal_exists(self, arn: str) -> bool:
        return arn in self._t.principals

    def data_version(self) -> int | None:
        """The number of commits so far: the change feed reads only when it moved, as on SQLite."""
        return self._store.commits

    def grants_of_grantee(self, key_ref: str, grantee: str, deleted_since: float) -> list[tuple[int, Grant]]:
        rows = sorted(
            (
                row
                for row in self._t.grants.values()
                if row[_G_KEY] == key_ref
                and row[_G_GRANTEE] == grantee
                and (row[_G_DELETED] is None or row[_G_DELETED] >= deleted_since)
            ),
            key=lambda row: row[0],
        )
        return [grant_from_tuple(row) for row in rows]

    def list_grants(
        self, key_ref: str, after_seq: int, limit: int, grant_id: str | None = None, grantee: str | None = None
    ) -> list[tuple[int, Grant]]:
        rows = sorted(
            (
                row
                for row in self._t.grants.values()
                if row[_G_KEY] == key_ref
                and row[_G_DELETED] is None
                and row[0] > after_seq
                and (grant_id is None or row[_G_ID] == grant_id)
                and (grantee is None or row[_G_GRANTEE] == grantee)
            ),
            key=lambda row: row[0],
        )
        return [grant_from_tuple(row) for row in rows[:limit]]

    def grant(self, grant_id: str) -> Grant | None:
        row = self._t.grants.get(grant_id)
        return None if row is None else grant_from_tuple(row)[1]

    def changes_after(self, after_seq: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        rows = sorted((seq, row) for seq, row in self._t.changes.items() if seq > after_seq)
        return [(seq, kind, entity, ref) for seq, (kind, entity, ref, _) in rows[:limit]]

    def changes_and_oldest(
        self, after_seq: int, limit: int
    ) -> tuple[int | None, list[tuple[int, str, str, str | None]]]:
        return self.oldest_change(), self.changes_after(after_seq, limit)

    def last_change(self) -> int:
        return max(self._t.changes, default=0)

    def oldest_change(self) -> int | None:
        return min(self._t.changes, default=None)

    def identity_policies(self, principal_arn: str) -> list[tuple[str, str]]:
        return [(name, doc) for (arn, name), doc in sorted(self._t.identity_policies.items()) if arn == principal_arn]

    def reset(self) -> None:
        pass


class MemoryStore:
    """The store's interface (`transaction`, `reader`, `root_key`, `on_commit`) over `Tables` in memory."""

    url = "memory:"
    is_sqlite = False

    def __init__(self, root_key: RootKey) -> None:
        self.root_key = root_key
        #: Bootstrap subscribes it to the change feed; the fake wraps under the root key itself (version 0).
        self.root_key_versions = RootKeyVersions(root_key)
        self.committed = Tables()
        self.commits = 0
        self.reader = MemoryReader(self)
        self.on_commit: Callable[[Sequence[Change]], None] | None = None
        self.observe: Callable[[float], None] | None = None
        self._writer = threading.RLock()  # a transaction opened inside another (a read, say) does not wait for it

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[MemoryTx]:
        """Committed when the block ends, as it was if the block raises."""
        with self._writer:  # one transaction at a time: each sees the last commit and nothing half done
            tx = MemoryTx(self.committed.copy(), self.root_key)
            yield tx
            tx.feed.write()
            if write or tx.changes:
                self.committed = tx.tables
                self.commits += 1
        if tx.changes and self.on_commit is not None:
            self.on_commit(tx.changes)

    def migrate(self) -> None:
        """Nothing to migrate: the tables are the current schema."""

    def derived_key(self, purpose: bytes) -> bytes:
        return self.root_key.derive(purpose)

    def dispose(self) -> None:
        pass

    def raw_bytes(self, table: str) -> bytes:
        """Everything a table holds, as bytes (what a test looks for bare secrets in)."""
        return pickle.dumps(getattr(self.committed, table))

"""The key aggregate: a key's row and its material versions (wrapped under the root key, never stored bare)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from trent.domain import ids
from trent.domain.errors import KMSInvalidStateException
from trent.domain.ids import key_arn, key_id_of_ref
from trent.domain.keys import Key, KeyMaterial, KeyState, MaterialInfo
from trent.storage import tables as t
from trent.storage.rows import KEY_COLUMNS, key_from_tuple, key_values
from trent.storage.session import CHANGE_ALIAS, CHANGE_KEY, Session, alias_entity

_KEY_SELECT = [getattr(t.keys.c, name.strip()) for name in KEY_COLUMNS.split(",")]


def material_aad(key_ref: str, version: int) -> bytes:
    """What a material's wrap is bound to: it cannot be moved to another key (related keys' copies included) or
    version."""
    return f"material:{key_ref}:{version}".encode()


class KeyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def get(self, account: str, region: str, key_id: str, *, for_update: bool = False) -> Key | None:
        sql = self._s.sql.key_for_update if for_update else self._s.sql.key
        row = self._s.raw(sql, (ids.key_ref(key_id, region), account, region)).fetchone()
        return None if row is None else key_from_tuple(row)

    def insert(self, key: Key, material: KeyMaterial | None) -> None:
        """A new key, with its first material (none for a key whose material will be imported)."""
        self._s.conn.execute(insert(t.keys).values(**key_values(key)))
        if material is not None:
            self.add_material(material)
        self._s.record(CHANGE_KEY, key.ref, key.ref)

    def update(self, old: Key, new: Key) -> Key:
        """Write `new` if the row is still at `old.version`; returns the stored key (version bumped)."""
        values = key_values(new)
        values["version"] = old.version + 1
        result = self._s.conn.execute(
            update(t.keys).where(t.keys.c.key_id == old.ref, t.keys.c.version == old.version).values(**values)
        )
        if result.rowcount != 1:
            raise KMSInvalidStateException(f"{old.arn} was changed by a concurrent request; retry.")
        self._s.record(CHANGE_KEY, old.ref, old.ref)
        return key_from_tuple(self._s.conn.execute(select(*_KEY_SELECT).where(t.keys.c.key_id == old.ref)).one())

    def delete(self, key_ref: str) -> None:
        """Delete the key with everything that hangs on it: material, aliases, tags, grants."""
        # Sorted here: an ORDER BY could make the database walk another index than the key's.
        aliases = sorted(
            self._s.conn.execute(
                select(t.aliases.c.account_id, t.aliases.c.region, t.aliases.c.alias_name).where(
                    t.aliases.c.key_id == key_ref
                )
            ).all()
        )
        for account, region, alias_name in aliases:
            self._s.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_ref)
        self._s.record(CHANGE_KEY, key_ref, key_ref)  # views drop the key's grants with it
        # Children first: SQLite enforces ON DELETE CASCADE only when foreign_keys is on, so be explicit.
        for table in (t.tags, t.aliases, t.key_materials, t.grants, t.import_parameters):
            self._s.conn.execute(delete(table).where(table.c.key_id == key_ref))
        self._s.conn.execute(delete(t.keys).where(t.keys.c.key_id == key_ref))

    def related(self, account: str, key_id: str) -> list[Key]:
        """A multi-Region key and its related keys, in every Region, ordered by Region."""
        # Their refs are `<id>/<region>`: one range of the primary key ('0' follows '/').
        c = t.keys.c
        query = select(*_KEY_SELECT).where(c.key_id > f"{key_id}/", c.key_id < f"{key_id}0", c.account_id == account)
        return [key_from_tuple(row) for row in self._s.conn.execute(query.order_by(c.region))]

    def set_primary_region(self, account: str, key_id: str, primary_region: str) -> None:
        """UpdatePrimaryRegion: every related key names the new primary."""
        c = t.keys.c
        refs = [
            ref
            for ref in self._s.conn.execute(
                select(c.key_id)
                .where(c.key_id > f"{key_id}/", c.key_id < f"{key_id}0", c.account_id == account)
                .order_by(c.key_id)
            ).scalars()
        ]
        self._s.conn.execute(
            update(t.keys).where(c.key_id.in_(refs)).values(primary_region=primary_region, version=c.version + 1)
        )
        for ref in refs:
            self._s.record(CHANGE_KEY, ref, ref)

    def page(self, account: str, region: str, after: str | None, limit: int) -> list[Key]:
        query = select(*_KEY_SELECT).where(t.keys.c.account_id == account, t.keys.c.region == region)
        if after is not None:
            query = query.where(t.keys.c.key_id > after)
        rows = self._s.conn.execute(query.order_by(t.keys.c.key_id).limit(limit))
        return [key_from_tuple(row) for row in rows]

    def due(self, now: float) -> list[Key]:
        """Keys whose deletion date has passed or whose automatic rotation is due."""
        query = select(*_KEY_SELECT).where(
            ((t.keys.c.state == str(KeyState.PENDING_DELETION)) & (t.keys.c.deletion_date <= now))
            | ((t.keys.c.rotation_enabled == True) & (t.keys.c.next_rotation_date <= now))  # noqa: E712
        )
        return [key_from_tuple(row) for row in self._s.conn.execute(query.limit(100))]

    def grant_counts(self, refs: list[str]) -> dict[str, int]:
        """The active grants of each of these keys (the count each key row keeps), by ref."""
        if not refs:
            return {}
        c = t.keys.c
        rows = self._s.conn.execute(select(c.key_id, c.grant_count).where(c.key_id.in_(refs)))
        return {row.key_id: int(row.grant_count) for row in rows}

    def with_most_grants(self, limit: int) -> list[tuple[str, int]]:
        """(key ARN, active grants) of the keys with the most grants."""
        rows = self._s.conn.execute(
            select(t.keys.c.key_id, t.keys.c.account_id, t.keys.c.region, t.keys.c.grant_count)
            .where(t.keys.c.grant_count > 0)
            .order_by(t.keys.c.grant_count.desc())
            .limit(limit)
        )
        return [(key_arn(r.region, r.account_id, key_id_of_ref(r.key_id)), int(r.grant_count)) for r in rows]

    # --- material ------------------------------------------------------------------------------------------
    def add_material(self, material: KeyMaterial) -> None:
        self._s.conn.execute(insert(t.key_materials).values(**self._material_values(material)))

    def put_material(self, material: KeyMaterial) -> None:
        """Replace a version's material and its import facts (a re-import, or the deletion of imported material)."""
        values = self._material_values(material)
        self._s.conn.execute(
            update(t.key_materials)
            .where(t.key_materials.c.key_id == material.key_ref, t.key_materials.c.version == material.version)
            .values(**values)
        )
        self._s.record(CHANGE_KEY, material.key_ref, material.key_ref)  # caches of unwrapped material forget it

    def _material_values(self, material: KeyMaterial) -> dict[str, object]:
        wrapped = (
            None
            if material.material is None
            else self._s.root_key.wrap(material.material, material_aad(material.key_ref, material.version))
        )
        return {
            "key_id": material.key_ref,
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
        """Forget a version that never became the key's (imported material pending rotation)."""
        c = t.key_materials.c
        self._s.conn.execute(delete(t.key_materials).where(c.key_id == key_ref, c.version == version))
        self._s.record(CHANGE_KEY, key_ref, key_ref)

    def mark_rotated(self, key_ref: str, version: int, now: float, rotation_type: str) -> None:
        """A version becomes current by rotation: its rotation date and type."""
        c = t.key_materials.c
        self._s.conn.execute(
            update(t.key_materials)
            .where(c.key_id == key_ref, c.version == version)
            .values(created=now, rotation_type=rotation_type)
        )

    def material(self, key_ref: str, version: int) -> KeyMaterial | None:
        row = self._s.conn.execute(
            select(t.key_materials).where(t.key_materials.c.key_id == key_ref, t.key_materials.c.version == version)
        ).first()
        if row is None:
            return None
        return KeyMaterial(
            key_ref=row.key_id,
            version=row.version,
            material_id=row.material_id,
            created=row.created,
            rotation_type=row.rotation_type,
            material=None
            if row.wrapped is None
            else self._s.root_key.unwrap(row.wrapped, material_aad(row.key_id, row.version)),
            import_state=row.import_state,
            expiration_model=row.expiration_model,
            valid_to=row.valid_to,
            description=row.description,
        )

    def material_versions(self, key_ref: str) -> list[MaterialInfo]:
        """Every version of a key's material, oldest first, without secrets."""
        c = t.key_materials.c
        rows = self._s.conn.execute(
            select(
                c.version,
                c.material_id,
                c.created,
                c.rotation_type,
                c.import_state,
                c.expiration_model,
                c.valid_to,
                c.description,
            )
            .where(c.key_id == key_ref)
            .order_by(c.version)
        )
        return [MaterialInfo(*row) for row in rows]

    def expired_materials(self, now: float, limit: int = 100) -> list[tuple[Key, int]]:
        """(key, version) of imported material still present past its ValidTo."""
        c = t.key_materials.c
        query = (
            select(*_KEY_SELECT, c.version)
            .join(t.key_materials, t.key_materials.c.key_id == t.keys.c.key_id)
            .where(c.valid_to <= now, c.wrapped.is_not(None))
            .order_by(c.valid_to)  # the index's order: what expired first goes first
            .limit(limit)
        )
        return [(key_from_tuple(row[:-1]), int(row[-1])) for row in self._s.conn.execute(query)]

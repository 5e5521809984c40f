"""Aliases: friendly names of keys, unique per account and region."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from trent.domain.ids import key_ref
from trent.domain.keys import Alias
from trent.storage import tables as t
from trent.storage.rows import ALIAS_COLUMNS, alias_from_tuple
from trent.storage.session import CHANGE_ALIAS, Session, StoreConflict, alias_entity

_ALIAS_SELECT = [getattr(t.aliases.c, name) for name in ALIAS_COLUMNS]


class AliasRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _named(self, account: str, region: str, alias_name: str) -> list[ColumnElement[bool]]:
        return [t.aliases.c.account_id == account, t.aliases.c.region == region, t.aliases.c.alias_name == alias_name]

    def get(self, account: str, region: str, alias_name: str) -> Alias | None:
        row = self._s.conn.execute(select(*_ALIAS_SELECT).where(*self._named(account, region, alias_name))).first()
        return None if row is None else alias_from_tuple(row)

    def target(self, account: str, region: str, alias_name: str) -> str | None:
        alias = self.get(account, region, alias_name)
        return None if alias is None else alias.key_id

    def insert(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        """:raises StoreConflict: when the alias exists."""
        try:
            with self._s.conn.begin_nested():
                self._s.conn.execute(
                    insert(t.aliases).values(
                        account_id=account,
                        region=region,
                        alias_name=alias_name,
                        key_id=key_ref(key_id, region),
                        created=now,
                        updated=now,
                    )
                )
        except IntegrityError as exc:
            raise StoreConflict(alias_name) from exc
        self._s.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_ref(key_id, region))

    def update(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        target = key_ref(key_id, region)
        self._s.conn.execute(
            update(t.aliases).where(*self._named(account, region, alias_name)).values(key_id=target, updated=now)
        )
        self._s.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_ref(key_id, region))

    def delete(self, account: str, region: str, alias_name: str) -> None:
        self._s.conn.execute(delete(t.aliases).where(*self._named(account, region, alias_name)))
        self._s.record(CHANGE_ALIAS, alias_entity(account, region, alias_name))

    def count_for_key(self, ref: str) -> int:
        return int(self._s.conn.execute(select(func.count()).where(t.aliases.c.key_id == ref)).scalar_one())

    def page(self, account: str, region: str, ref: str | None, after: str | None, limit: int) -> list[Alias]:
        """The account's aliases in `region`, or those of the key whose ref is `ref`."""
        query = select(*_ALIAS_SELECT).where(t.aliases.c.account_id == account, t.aliases.c.region == region)
        if ref is not None:
            query = query.where(t.aliases.c.key_id == ref)
        if after is not None:
            query = query.where(t.aliases.c.alias_name > after)
        return [
            alias_from_tuple(row) for row in self._s.conn.execute(query.order_by(t.aliases.c.alias_name).limit(limit))
        ]

    def names_for_key(self, ref: str) -> list[str]:
        query = select(t.aliases.c.alias_name).where(t.aliases.c.key_id == ref).order_by(t.aliases.c.alias_name)
        return list(self._s.conn.execute(query).scalars())

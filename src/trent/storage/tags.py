"""A key's tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select

from trent.storage import tables as t
from trent.storage.session import Session


class TagRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def of_key(self, key_ref: str) -> dict[str, str]:
        rows = self._s.conn.execute(
            select(t.tags.c.tag_key, t.tags.c.tag_value).where(t.tags.c.key_id == key_ref).order_by(t.tags.c.tag_key)
        )
        return {row.tag_key: row.tag_value for row in rows}

    def put(self, key_ref: str, new_tags: dict[str, str]) -> None:
        """Add tags, replacing the values of those the key has already."""
        if not new_tags:
            return
        self._s.conn.execute(delete(t.tags).where(t.tags.c.key_id == key_ref, t.tags.c.tag_key.in_(list(new_tags))))
        self._s.conn.execute(
            insert(t.tags), [{"key_id": key_ref, "tag_key": k, "tag_value": v} for k, v in new_tags.items()]
        )

    def delete(self, key_ref: str, tag_keys: Sequence[str]) -> None:
        self._s.conn.execute(delete(t.tags).where(t.tags.c.key_id == key_ref, t.tags.c.tag_key.in_(list(tag_keys))))

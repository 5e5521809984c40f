"""The web console's sessions: a token's hash (the token itself lives only in the browser's cookie), who signed in
and with which access key, the session's form token, and when it was last used."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, insert, select, update

from trent.storage import tables as t
from trent.storage.session import Session


class ConsoleSession(NamedTuple):
    principal_arn: str
    access_key_id: str | None
    csrf_token: str
    created: float
    last_seen: float
    #: The principal's unique ID (AIDA…, AROA…, the account for a root) when the session was made.
    principal_id: str


class ConsoleSessionRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, token_hash: bytes, session: ConsoleSession) -> None:
        self._s.conn.execute(insert(t.console_sessions).values(token_hash=token_hash, **session._asdict()))

    def get(self, token_hash: bytes) -> ConsoleSession | None:
        c = t.console_sessions.c
        row = self._s.conn.execute(
            select(c.principal_arn, c.access_key_id, c.csrf_token, c.created, c.last_seen, c.principal_id).where(
                c.token_hash == token_hash
            )
        ).first()
        return None if row is None else ConsoleSession(*row)

    def touch(self, token_hash: bytes, now: float) -> None:
        c = t.console_sessions.c
        self._s.conn.execute(update(t.console_sessions).where(c.token_hash == token_hash).values(last_seen=now))

    def delete(self, token_hash: bytes) -> bool:
        """Delete a session or link; False if it was gone already (another request took it first)."""
        result = self._s.conn.execute(delete(t.console_sessions).where(t.console_sessions.c.token_hash == token_hash))
        return result.rowcount == 1

    def end_for_access_key(self, access_key_id: str) -> None:
        """End the sessions signed in with this key (it was deleted or made Inactive)."""
        self._s.conn.execute(delete(t.console_sessions).where(t.console_sessions.c.access_key_id == access_key_id))

    def end_for_principal(self, principal_arn: str) -> None:
        """End every session and link of a principal (it was deleted)."""
        self._s.conn.execute(delete(t.console_sessions).where(t.console_sessions.c.principal_arn == principal_arn))

    def purge_idle(self, last_seen_before: float) -> int:
        c = t.console_sessions.c
        result = self._s.conn.execute(delete(t.console_sessions).where(c.last_seen < last_seen_before))
        return result.rowcount or 0

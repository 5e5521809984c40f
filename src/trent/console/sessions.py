"""Console sign-in and sessions.

Sign-in takes an access key ID and its secret, checked as SigV4 checks it (the stored secret, compared in constant
time; an Inactive, deleted or temporary key cannot sign in). The session lives in the store, so every worker and
node knows it; the browser holds only a random token (its SHA-256 is stored), in an HttpOnly, SameSite=Strict
cookie. Each request resolves the caller again from the access key: revoking the key ends its console sessions
at once. A session ends after `idle` seconds unused, after 12 hours in any case, or at sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from trent.api.identity import load_credential
from trent.domain.identities import Caller
from trent.storage.console import ConsoleSession
from trent.storage.store import Store

COOKIE = "trent_console"
MAX_AGE_SECONDS = 12 * 3600.0
#: last_seen is written at most this often (a read-mostly page view costs no write).
TOUCH_SECONDS = 60.0


class SignInFailed(Exception):
    """Unknown key, wrong secret, Inactive or temporary key: deliberately one message for all."""


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    def __init__(self, store: Store, clock: Callable[[], float], idle_seconds: float) -> None:
        self._store = store
        self._clock = clock
        self._idle = idle_seconds

    def sign_in(self, access_key_id: str, secret: str) -> tuple[str, Caller]:
        """A new session for the owner of this access key: (the cookie's token, the caller).

        :raises SignInFailed:
        """
        credential = load_credential(self._store, access_key_id)
        # The comparison runs whether or not the key exists, so timing tells nothing about which one it is.
        expected = credential.secret if credential is not None else secrets.token_urlsafe(30)
        matches = hmac.compare_digest(expected.encode(), secret.encode())
        if credential is None or not matches or credential.session_token_hash is not None:
            raise SignInFailed
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = ConsoleSession(credential.caller.arn, access_key_id, secrets.token_urlsafe(32), now, now)
        with self._store.transaction() as tx:
            tx.console.add(_hash(token), session)
            tx.console.purge_idle(now - self._idle)
        return token, credential.caller

    def resolve(self, token: str | None) -> tuple[Caller, ConsoleSession] | None:
        """The caller and session of a cookie's token, or None when it is unknown, expired or its key revoked."""
        if not token or len(token) > 128:
            return None
        token_hash = _hash(token)
        now = self._clock()
        with self._store.transaction(write=False) as tx:
            session = tx.console.get(token_hash)
        if session is None or session.last_seen + self._idle < now or session.created + MAX_AGE_SECONDS < now:
            return None
        credential = load_credential(self._store, session.access_key_id) if session.access_key_id else None
        if credential is None or credential.caller.arn != session.principal_arn:
            return None  # the key was deleted or made Inactive, or the principal was replaced
        if now - session.last_seen > TOUCH_SECONDS:
            with self._store.transaction() as tx:
                tx.console.touch(token_hash, now)
        return credential.caller, session

    def sign_out(self, token: str) -> None:
        with self._store.transaction() as tx:
            tx.console.delete(_hash(token))


def csrf_matches(session: ConsoleSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())

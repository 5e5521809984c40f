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
#: A one-time sign-in link (`trent admin console-login`) works once, within this time.
LINK_SECONDS = 300.0
#: What a link's row holds as its form token until it is used: such a row is never a session.
_UNUSED_LINK = "-"
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

    def link(self, principal_arn: str) -> str:
        """A one-time sign-in link's token for `principal_arn` (an operator's `trent admin console-login`)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._store.transaction() as tx:
            tx.console.add(_hash(token), ConsoleSession(principal_arn, None, _UNUSED_LINK, now, now))
        return token

    def sign_in_with_link(self, link_token: str) -> tuple[str, Caller]:
        """Exchange a one-time link's token for a session, once, within LINK_SECONDS of its making.

        :raises SignInFailed:
        """
        from trent.api.explain import caller_for
        from trent.api.identity import IdentityError

        now = self._clock()
        with self._store.transaction() as tx:
            link = tx.console.get(_hash(link_token)) if 0 < len(link_token) <= 128 else None
            if link is None or link.csrf_token != _UNUSED_LINK:
                raise SignInFailed
            tx.console.delete(_hash(link_token))  # used: it cannot sign anyone in again
        if link.created + LINK_SECONDS < now:
            raise SignInFailed
        try:
            caller = caller_for(self._store, link.principal_arn)
        except IdentityError:
            raise SignInFailed from None
        token = secrets.token_urlsafe(32)
        with self._store.transaction() as tx:
            tx.console.add(_hash(token), ConsoleSession(link.principal_arn, None, secrets.token_urlsafe(32), now, now))
        return token, caller

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
        if session.csrf_token == _UNUSED_LINK:
            return None  # a sign-in link, not yet used: it is no session
        if session.access_key_id is None:  # signed in with a link: as long as the principal exists
            from trent.api.explain import caller_for
            from trent.api.identity import IdentityError

            try:
                caller = caller_for(self._store, session.principal_arn)
            except IdentityError:
                return None
        else:
            credential = load_credential(self._store, session.access_key_id)
            if credential is None or credential.caller.arn != session.principal_arn:
                return None  # the key was deleted or made Inactive, or the principal was replaced
            caller = credential.caller
        if now - session.last_seen > TOUCH_SECONDS:
            with self._store.transaction() as tx:
                tx.console.touch(token_hash, now)
        return caller, session

    def sign_out(self, token: str) -> None:
        with self._store.transaction() as tx:
            tx.console.delete(_hash(token))


def csrf_matches(session: ConsoleSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())

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


def _principal_id(caller: Caller) -> str:
    """The unique ID of the principal behind a caller (a role's, for a session of it)."""
    return caller.user_id.split(":", 1)[0]


class Sessions:
    def __init__(self, store: Store, clock: Callable[[], float], idle_seconds: float) -> None:
        self._store = store
        self._clock = clock
        self._idle = idle_seconds

    def sign_in(self, access_key_id: str, secret: str) -> tuple[str, Caller]:
        """A new session for the owner of this access key: (the cookie's token, the caller).

        :raises SignInFailed:
        """
        credential = load_credential(self._store, access_key_id) if 0 < len(access_key_id) <= 128 else None
        # The comparison runs whether or not the key exists, so timing tells nothing about which one it is.
        expected = credential.secret if credential is not None else secrets.token_urlsafe(30)
        matches = hmac.compare_digest(expected.encode(), secret.encode())
        if credential is None or not matches or credential.session_token_hash is not None:
            raise SignInFailed
        caller = credential.caller
        return self._open(caller, access_key_id), caller

    def link(self, principal_arn: str, caller: Caller) -> str:
        """A one-time sign-in link's token for `caller` (an operator's `trent admin console-login`)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        link = ConsoleSession(principal_arn, None, _UNUSED_LINK, now, now, _principal_id(caller))
        with self._store.transaction() as tx:
            tx.console.add(_hash(token), link)
        return token

    def sign_in_with_link(self, link_token: str) -> tuple[str, Caller]:
        """Exchange a one-time link's token for a session, once, within LINK_SECONDS of its making, for the very
        principal it was made for (not a new one of the same name).

        :raises SignInFailed:
        """
        now = self._clock()
        if not 0 < len(link_token) <= 128:
            raise SignInFailed
        with self._store.transaction() as tx:
            link = tx.console.get(_hash(link_token))
            if link is None or link.csrf_token != _UNUSED_LINK:
                raise SignInFailed
            # Whoever deletes the row uses the link: concurrent uses (on any node) cannot all succeed.
            if not tx.console.delete(_hash(link_token)):
                raise SignInFailed
        if link.created + LINK_SECONDS < now:
            raise SignInFailed
        caller = self._principal_now(link)
        if caller is None:
            raise SignInFailed
        return self._open(caller, None), caller

    def _open(self, caller: Caller, access_key_id: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = ConsoleSession(caller.arn, access_key_id, secrets.token_urlsafe(32), now, now, _principal_id(caller))
        with self._store.transaction() as tx:
            tx.console.add(_hash(token), session)
            tx.console.purge_idle(now - self._idle)
        return token

    def _principal_now(self, session: ConsoleSession) -> Caller | None:
        """The caller a session stands for now: None if its principal is gone or is another one of the same name."""
        from trent.api.explain import caller_for
        from trent.api.identity import IdentityError

        if session.access_key_id is not None:
            credential = load_credential(self._store, session.access_key_id)
            caller = credential.caller if credential is not None else None
        else:
            try:
                caller = caller_for(self._store, session.principal_arn)
            except IdentityError:
                caller = None
        if caller is None or caller.arn != session.principal_arn or _principal_id(caller) != session.principal_id:
            return None
        return caller

    def resolve(self, token: str | None) -> tuple[Caller, ConsoleSession] | None:
        """The caller and session of a cookie's token, or None when it is unknown, expired, its key revoked or its
        principal gone (the session then ends for good: a reactivated key or a namesake does not bring it back)."""
        if not token or len(token) > 128:
            return None
        token_hash = _hash(token)
        now = self._clock()
        with self._store.transaction(write=False) as tx:
            session = tx.console.get(token_hash)
        if session is None or session.csrf_token == _UNUSED_LINK:
            return None  # no session; or a sign-in link, not yet used, which is no session
        caller = None
        if session.last_seen + self._idle >= now and session.created + MAX_AGE_SECONDS >= now:
            caller = self._principal_now(session)
        if caller is None:
            with self._store.transaction() as tx:
                tx.console.delete(token_hash)
            return None
        if now - session.last_seen > TOUCH_SECONDS:
            with self._store.transaction() as tx:
                tx.console.touch(token_hash, now)
        return caller, session

    def sign_out(self, token: str) -> None:
        with self._store.transaction() as tx:
            tx.console.delete(_hash(token))


def csrf_matches(session: ConsoleSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())

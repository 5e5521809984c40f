"""Authentication: who signed this request? SigV4 against stored access keys, or --dev mode's trust."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from trent.api.caches import Lru
from trent.api.changes import ChangeFeed
from trent.api.identity import INVALID_TOKEN, Credential, create_account, load_credential, root_caller
from trent.domain.errors import UnrecognizedClientException
from trent.domain.identities import Caller
from trent.domain.ids import ACCOUNT_ID_RE
from trent.domain.regions import AWS_COMMERCIAL_REGIONS
from trent.edge.sigv4 import SigV4Auth, SigV4Verifier, parse_authorization
from trent.storage.session import CHANGE_ACCESS_KEY, CHANGE_PRINCIPAL, Change
from trent.storage.store import Store

log = logging.getLogger("trent.auth")

#: Access keys remembered per process (least recently used forgotten first).
_MAX_CACHED = 25_000


class Authenticator:
    def __init__(
        self,
        store: Store,
        *,
        dev_mode: bool,
        default_account: str,
        max_skew_seconds: int = 300,
        regions: Iterable[str] = AWS_COMMERCIAL_REGIONS,
        clock: Callable[[], float] = time.time,
        changes: ChangeFeed | None = None,
        max_credentials: int = _MAX_CACHED,
    ) -> None:
        """`changes`: the process's change feed, which keeps the credentials cache exact (without it, nothing
        is cached)."""
        self._store = store
        self._dev_mode = dev_mode
        self._default_account = default_account
        self._clock = clock
        # One signing key per active access key and day: sized like the credentials cache, so that as many callers
        # as it keeps do not derive their key again (four HMACs) on every request.
        self._verifier = SigV4Verifier(
            clock=clock, max_skew_seconds=max_skew_seconds, regions=regions, cache_size=max_credentials
        )
        #: Credentials by access key ID. Invalidated by the change feed: an `access_key` change forgets that key,
        #: a `principal` change (a user or role deleted or recreated) forgets all; a gap in the feed forgets all.
        self._credentials: Lru[str, Credential] | None = None
        if changes is not None:
            self._credentials = Lru(max_credentials)
            changes.subscribe(self)
        self._known_accounts: set[str] = set()

    def authenticate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Caller, SigV4Auth]:
        """The caller of a signed request, and the parsed signature (its scope gives region and service).

        The scope's region must be one this server serves, in --dev mode too: every handler works in the
        region it is given, so this check is what keeps keys out of regions that are not configured.

        :raises MissingAuthenticationTokenException, IncompleteSignatureException, InvalidSignatureException,
            UnrecognizedClientException, ExpiredTokenException: as AWS does.
        """
        auth = parse_authorization(headers)
        self._verifier.check_region(auth)
        if self._dev_mode:
            return self._dev_caller(auth.access_key_id), auth
        self._verifier.check_time(auth)
        credential = self._credential(auth.access_key_id)
        if credential is None:
            raise UnrecognizedClientException(INVALID_TOKEN)
        self._verifier.verify(
            auth,
            secret_access_key=credential.secret,
            method=method,
            path=path,
            query_string=query,
            headers=headers,
            body=body,
        )
        credential.check_session_token(auth.security_token, self._clock())
        return credential.caller, auth

    def _credential(self, access_key_id: str) -> Credential | None:
        cache = self._credentials
        if cache is None:
            return load_credential(self._store, access_key_id)
        credential: Credential | None = cache.get(access_key_id)
        if credential is None:
            generation = cache.generation
            credential = load_credential(self._store, access_key_id)
            if credential is not None:  # unknown keys are not remembered: anyone can send made-up ones
                cache.put_if_current(access_key_id, credential, generation)
        return credential

    # --- the change feed's listener interface ---------------------------------------------------------
    def changed(self, change: Change) -> None:
        if self._credentials is None:
            return
        if change.kind == CHANGE_ACCESS_KEY:
            self._credentials.pop(change.entity)
        elif change.kind == CHANGE_PRINCIPAL:
            self._credentials.clear()

    def reset(self) -> None:
        if self._credentials is not None:
            self._credentials.clear()

    def _dev_caller(self, access_key_id: str) -> Caller:
        """--dev: any access key is accepted; a 12-digit one selects (and creates) that account."""
        account = access_key_id if ACCOUNT_ID_RE.fullmatch(access_key_id) else self._default_account
        if account not in self._known_accounts:
            create_account(self._store, account)
            self._known_accounts.add(account)
        return root_caller(account, access_key_id)

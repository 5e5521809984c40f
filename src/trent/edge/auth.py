"""Authentication: who signed this request? SigV4 against stored access keys, or --dev mode's trust."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from trent.api.identity import INVALID_TOKEN, Credential, create_account, load_credential, root_caller
from trent.domain.errors import UnrecognizedClientException
from trent.domain.identities import Caller
from trent.domain.ids import ACCOUNT_ID_RE
from trent.domain.regions import AWS_COMMERCIAL_REGIONS
from trent.edge.sigv4 import SigV4Auth, SigV4Verifier, parse_authorization
from trent.storage.store import Store

log = logging.getLogger("trent.auth")

#: How long a looked-up access key is reused before it is read again from the store.
CREDENTIAL_TTL = 30.0
_MAX_CACHED = 10_000


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
    ) -> None:
        self._store = store
        self._dev_mode = dev_mode
        self._default_account = default_account
        self._clock = clock
        self._verifier = SigV4Verifier(clock=clock, max_skew_seconds=max_skew_seconds, regions=regions)
        self._credentials: dict[str, tuple[float, Credential]] = {}
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
        now = self._clock()
        cached = self._credentials.get(access_key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        credential = load_credential(self._store, access_key_id)
        if credential is not None:
            if len(self._credentials) >= _MAX_CACHED:
                self._credentials.clear()
            self._credentials[access_key_id] = (now + CREDENTIAL_TTL, credential)
        return credential

    def _dev_caller(self, access_key_id: str) -> Caller:
        """--dev: any access key is accepted; a 12-digit one selects (and creates) that account."""
        account = access_key_id if ACCOUNT_ID_RE.fullmatch(access_key_id) else self._default_account
        if account not in self._known_accounts:
            create_account(self._store, account)
            self._known_accounts.add(account)
        return root_caller(account, access_key_id)

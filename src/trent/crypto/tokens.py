"""Grant tokens: opaque, unforgeable references to a grant.

    token = base64url( version | grant ID (32 B) | key ID (16 B) | nonce (16 B) | HMAC-SHA256 tag (32 B) )

The version byte is 0x01, or 0x02 when the key is a multi-Region key.

The tag is computed with a secret derived from the root key, so only Trent can mint a token, and any
changed bit makes the token invalid. The nonce makes every CreateGrant call's token different, retries
included. A token reveals the grant and key IDs to whoever holds it but nothing else; it carries no
permission by itself: the grant it names is looked up, and a retired grant allows nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from trent.crypto.fast import hmac_sha256, nonce

_VERSION = b"\x01"
_VERSION_MULTI_REGION = b"\x02"  # the same layout; the key is a multi-Region key (`mrk-` + its 32 hex digits)
_MULTI_REGION_PREFIX = "mrk-"
_BODY = 1 + 32 + 16 + 16
_TAG = 32
#: Tokens verified once are known valid for the life of the process (the secret never changes): a client sends the
#: same token again and again. Only valid tokens are kept, so forged ones cannot fill it.
_VERIFIED_TOKENS = 8192


class InvalidToken(Exception):
    """Malformed, forged or altered. Deliberately uninformative."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    grant_id: str
    key_id: str


class GrantTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    def mint(self, grant_id: str, key_id: str) -> str:
        # The key ID's 16 bytes: a UUID's, or the 32 hex digits after a multi-Region key's `mrk-`.
        multi_region = key_id.startswith(_MULTI_REGION_PREFIX)
        key_bytes = bytes.fromhex(key_id.removeprefix(_MULTI_REGION_PREFIX).replace("-", ""))
        if len(key_bytes) != 16:
            raise ValueError("not a key ID Trent makes")
        version = _VERSION_MULTI_REGION if multi_region else _VERSION
        body = version + bytes.fromhex(grant_id) + key_bytes + nonce(16)
        tag = hmac_sha256(self._secret, body)
        return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()

    def verify(self, token: str) -> TokenClaims:
        """The grant a token names. :raises InvalidToken: for anything but a token this server minted."""
        # Looked up by the whole token: a dict compares two strings only once their (keyed, per-process) hashes
        # match, so a lookup tells nothing about a token the caller does not already hold.
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            self._verified[token] = claims
            if len(self._verified) > _VERIFIED_TOKENS:
                with contextlib.suppress(KeyError):  # another thread emptied it meanwhile
                    self._verified.popitem(last=False)  # the oldest first
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken from None
        if len(raw) != _BODY + _TAG or raw[:1] not in (_VERSION, _VERSION_MULTI_REGION):
            raise InvalidToken
        body, tag = raw[:_BODY], raw[_BODY:]
        if not hmac.compare_digest(tag, hmac_sha256(self._secret, body)):
            raise InvalidToken
        # Base64 ignores some trailing bits; insist on the canonical spelling so each token has one form.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            raise InvalidToken
        key_bytes = body[33:49]
        if body[:1] == _VERSION_MULTI_REGION:
            return TokenClaims(grant_id=body[1:33].hex(), key_id=_MULTI_REGION_PREFIX + key_bytes.hex())
        return TokenClaims(grant_id=body[1:33].hex(), key_id=str(uuid.UUID(bytes=key_bytes)))

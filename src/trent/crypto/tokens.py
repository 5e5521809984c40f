"""Grant tokens: opaque, unforgeable references to a grant.

    token = base64url( 0x01 | grant ID (32 B) | key ID (16 B) | nonce (16 B) | HMAC-SHA256 tag (32 B) )

The tag is computed with a secret derived from the root key, so only Trent can mint a token, and any
changed bit makes the token invalid. The nonce makes every CreateGrant call's token different, retries
included. A token reveals the grant and key IDs to whoever holds it but nothing else; it carries no
permission by itself: the grant it names is looked up, and a retired grant allows nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass

_VERSION = b"\x01"
_BODY = 1 + 32 + 16 + 16
_TAG = 32


class InvalidToken(Exception):
    """Malformed, forged or altered. Deliberately uninformative."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    grant_id: str
    key_id: str


class GrantTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def mint(self, grant_id: str, key_id: str) -> str:
        body = _VERSION + bytes.fromhex(grant_id) + uuid.UUID(key_id).bytes + os.urandom(16)
        tag = hmac.new(self._secret, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()

    def verify(self, token: str) -> TokenClaims:
        """The grant a token names. :raises InvalidToken: for anything but a token this server minted."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken from None
        if len(raw) != _BODY + _TAG or raw[:1] != _VERSION:
            raise InvalidToken
        body, tag = raw[:_BODY], raw[_BODY:]
        if not hmac.compare_digest(tag, hmac.new(self._secret, body, hashlib.sha256).digest()):
            raise InvalidToken
        # Base64 ignores some trailing bits; insist on the canonical spelling so each token has one form.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            raise InvalidToken
        return TokenClaims(grant_id=body[1:33].hex(), key_id=str(uuid.UUID(bytes=body[33:49])))

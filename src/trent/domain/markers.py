"""Pagination markers: opaque to clients, authenticated, and cheap to seek from.

A marker carries the sort key of the last item returned (so the next page is an index seek, and its cost
does not grow with its position) plus a MAC, so a tampered or foreign marker is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from trent.domain.errors import InvalidMarkerException

_TAG_BYTES = 16


class MarkerCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, kind: str, scope: str, position: bytes) -> bytes:
        message = kind.encode() + b"\x00" + scope.encode() + b"\x00" + position
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, kind: str, scope: str, position: str) -> str:
        """A marker for list `kind` within `scope` (e.g. account and region) after `position`."""
        raw = position.encode()
        return base64.urlsafe_b64encode(self._tag(kind, scope, raw) + raw).decode()

    def decode(self, kind: str, scope: str, marker: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(marker.encode())
        except (binascii.Error, ValueError):
            raise InvalidMarkerException("The marker is not valid.") from None
        tag, position = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, self._tag(kind, scope, position)):
            raise InvalidMarkerException("The marker is not valid.")
        try:
            return position.decode()
        except UnicodeDecodeError:
            raise InvalidMarkerException("The marker is not valid.") from None

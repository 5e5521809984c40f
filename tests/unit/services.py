"""Services over a real store, for unit tests that call handlers directly."""

from __future__ import annotations

from collections.abc import Callable

from trent.api.audit import AuditLog
from trent.api.context import Services
from trent.api.grant_view import GrantView
from trent.api.keyring import KeyRing
from trent.crypto.tokens import GrantTokens
from trent.domain.markers import MarkerCodec
from trent.storage.store import Store


def services_for(store: Store, clock: Callable[[], float] = lambda: 1_800_000_000.0) -> Services:
    return Services(
        store=store,
        markers=MarkerCodec(b"k" * 32),
        clock=clock,
        keyring=KeyRing(store),
        grants=GrantView(store.reader, clock=clock),
        tokens=GrantTokens(b"t" * 32),
        audit=AuditLog(store),
    )

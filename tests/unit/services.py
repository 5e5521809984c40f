"""Services over a real store, for unit tests that call handlers directly."""

from __future__ import annotations

from collections.abc import Callable

from trent.api.context import Services
from trent.bootstrap import services_for as build
from trent.storage.store import Store


def services_for(store: Store, clock: Callable[[], float] = lambda: 1_800_000_000.0) -> Services:
    return build(store, markers_key=b"k" * 32, tokens_key=b"t" * 32, clock=clock)

"""Unique identifiers for requests and audit events, cheaply.

`uuid.uuid4()` reads 16 random bytes and builds a UUID object for every call, which costs more than the
rest of a request's bookkeeping. Request and event IDs need to be unique, not unpredictable: each process
draws 74 random bits once (again after a fork) and counts in the last 48 bits, in the textual form of a
version-4 UUID, as AWS request IDs are.
"""

from __future__ import annotations

import itertools
import os
import threading

_COUNTER_LIMIT = 1 << 48
_lock = threading.Lock()
_prefix = ""
_counter = itertools.count()


def _new_prefix() -> None:
    global _prefix, _counter
    random = os.urandom(10).hex()
    variant = "89ab"[int(random[18], 16) & 3]
    _prefix = f"{random[0:8]}-{random[8:12]}-4{random[12:15]}-{variant}{random[15:18]}-"
    _counter = itertools.count()


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


def unique_id() -> str:
    """A fresh identifier shaped like a version-4 UUID (8-4-4-4-12 lowercase hex digits)."""
    number = next(_counter)  # atomic under the GIL
    if number >= _COUNTER_LIMIT:
        with _lock:
            if next(_counter) >= _COUNTER_LIMIT:
                _new_prefix()
        return unique_id()
    return f"{_prefix}{number:012x}"

"""Request and event IDs: shaped like version-4 UUIDs, never repeated, distinct across processes."""

from __future__ import annotations

import itertools
import os
import re
import uuid

from trent.api import unique
from trent.api.unique import unique_id

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_ids_look_like_uuid4_and_parse_as_such() -> None:
    for _ in range(100):
        value = unique_id()
        assert UUID4.fullmatch(value)
        assert uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value


def test_ids_do_not_repeat() -> None:
    ids = [unique_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_a_new_prefix() -> None:
    parent = unique_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one ID and leave at once
        os.write(write, unique_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert UUID4.fullmatch(child)
    assert child[:23] != parent[:23]


def test_the_counter_rolling_over_draws_a_new_prefix() -> None:
    before = unique_id()
    unique._counter = itertools.count(unique._COUNTER_LIMIT)
    after = unique_id()
    assert UUID4.fullmatch(after) and after[:23] != before[:23] and after.endswith("0" * 12)

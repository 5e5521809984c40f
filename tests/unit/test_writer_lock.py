"""The SQLite writer lock: one writer at a time across threads and processes, handed over without delay."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

from trent.storage.writer_lock import WriterLock


def _hold_for(path: str, seconds: float, started: multiprocessing.synchronize.Event) -> None:
    with WriterLock(Path(path)).held():
        started.set()
        time.sleep(seconds)


def _holder(path: Path, seconds: float) -> multiprocessing.process.BaseProcess:
    """Another process that holds the lock for `seconds`; returned once it holds it."""
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    holder = context.Process(target=_hold_for, args=(str(path), seconds, started))
    holder.start()
    assert started.wait(30)
    return holder


def test_a_writer_in_another_process_waits_and_then_gets_the_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "trent.db.writer-lock"
    holder = _holder(path, 0.5)
    began = time.monotonic()
    with WriterLock(path).held():
        waited = time.monotonic() - began
    holder.join(30)
    assert 0.3 < waited < 1.5  # it waited for the holder, and not much longer
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_dead_holder_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = _holder(path, 60)
    holder.kill()
    holder.join(30)
    began = time.monotonic()
    with WriterLock(path).held():
        assert time.monotonic() - began < 5


def test_threads_of_one_process_take_turns_and_nesting_is_allowed(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "lock")
    inside = 0
    overlaps = []

    def write() -> None:
        nonlocal inside
        for _ in range(50):
            with lock.held():
                inside += 1
                overlaps.append(inside)
                with lock.held():  # a nested write block in the same thread does not deadlock
                    pass
                inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps and max(overlaps) == 1

"""One SQLite writer at a time across processes and threads, handed over the moment the last one finishes.

SQLite serializes writers by itself, but a writer that finds the database locked does not wait for the
lock: its busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms and tries again. With several worker
processes writing (CreateGrant, audit batches), those sleeps, not the writes, bounded throughput. An
exclusive `flock` on a file beside the database queues writers in the kernel instead: the next one runs as
soon as the previous one commits, and a writer that dies releases the lock with its process. Every write
transaction of every Trent process (server workers, `trent admin`) takes it before BEGIN IMMEDIATE, so
SQLite's own lock is then uncontended.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()  # threads of one process share the file lock: queue them here
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own description
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class DirectoryInUse(Exception):
    """Another process serves (or restores) this data directory."""


SERVING_LOCK = "trent.serving"


def hold_while_serving(data_dir: Path) -> int:
    """Mark `data_dir` as served by this process for as long as it lives (a shared lock: several servers may share
    a directory, a restore may not run under them). Returns the descriptor that holds the lock.

    :raises DirectoryInUse: a restore is replacing the store now.
    """
    fd = os.open(data_dir / SERVING_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DirectoryInUse(f"{data_dir} is being restored; start the server when the restore has finished") from None
    return fd


@contextmanager
def exclusive_use(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir` alone (a restore): no server may serve it meanwhile.

    :raises DirectoryInUse: a server is serving it.
    """
    fd = os.open(data_dir / SERVING_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryInUse(f"a server is serving {data_dir}: stop it before restoring into it") from None
        yield
    finally:
        os.close(fd)

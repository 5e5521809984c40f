"""Consistent online backup and restore of the SQLite store, with SQLite's own backup API.

The backup API copies a consistent snapshot page by page while the server keeps serving; a restore
copies a backup back the same way. The root key is not in the store: back it up separately.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from trent.crypto.rootkey import CHECK_AAD, CHECK_PLAINTEXT, RootKeyError, WrappingKey

Progress = Callable[[int, int], None]  # (pages copied, total pages)
_PAGES_PER_STEP = 256


class BackupError(Exception):
    """The backup or restore cannot be carried out; the message says why."""


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None) -> None:
    def report(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    source.backup(target, pages=_PAGES_PER_STEP, progress=report)


def backup(database: Path, destination: Path, progress: Progress | None = None) -> None:
    if not database.is_file():
        raise BackupError(f"{database} does not exist: is this a data directory with a SQLite store?")
    if destination.exists():
        raise BackupError(f"{destination} exists already; choose a new file")
    os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # private from the start
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    target = sqlite3.connect(destination)
    try:
        _copy(source, target, progress)
    finally:
        target.close()
        source.close()


def check_backup(path: Path, root_key: WrappingKey) -> None:
    """The file is an intact Trent store made under this root key."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (integrity,) = connection.execute("PRAGMA integrity_check").fetchone()
        if integrity != "ok":
            raise BackupError(f"{path} is damaged: {integrity}")
        try:
            row = connection.execute("SELECT value FROM meta WHERE name = 'root_key_check'").fetchone()
        except sqlite3.DatabaseError:
            raise BackupError(f"{path} is not a Trent store") from None
        if row is None:
            raise BackupError(f"{path} is not an initialised Trent store")
        try:
            if root_key.unwrap(row[0], CHECK_AAD) != CHECK_PLAINTEXT:
                raise RootKeyError("mismatch")
        except RootKeyError:
            raise BackupError(f"{path} was made under another root key than this data directory's") from None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    finally:
        connection.close()


def restore(source_file: Path, database: Path, root_key: WrappingKey, progress: Progress | None = None) -> None:
    """Replace the store's content with the backup's (the server must be stopped)."""
    check_backup(source_file, root_key)
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
    target = sqlite3.connect(database)
    try:
        _copy(source, target, progress)
    finally:
        target.close()
        source.close()

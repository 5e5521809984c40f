"""The composition root: builds the store, services and authenticator of one process from its settings.

Nothing is built at import time; tests build what they need through these functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trent.api.context import Services, services_for
from trent.config import Settings
from trent.crypto.rootkey import (
    RootKey,
    RootKeyError,
    decode_root_key,
    encode_root_key,
    generate_root_key,
    write_secret_file,
)
from trent.storage.store import Store


def load_root_key(settings: Settings, *, create: bool) -> RootKey:
    """The root key from TRENT_ROOT_KEY, else from DATA_DIR/root.key (created 0600 when `create`)."""
    from_env = os.environ.get("TRENT_ROOT_KEY")
    if from_env:
        return RootKey(decode_root_key(from_env, "TRENT_ROOT_KEY"))
    path = settings.root_key_path
    if not path.exists():
        if not create:
            raise RootKeyError(f"no root key: {path} does not exist and TRENT_ROOT_KEY is not set")
        write_secret_file(path, encode_root_key(generate_root_key()) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise RootKeyError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return RootKey(decode_root_key(path.read_text(), str(path)))


@dataclass
class Runtime:
    settings: Settings
    services: Services


def build_store(settings: Settings, *, create_root_key: bool = False) -> Store:
    """Open the store and make sure the root key is the one it was initialised with."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the root key and client files live here
    if not settings.store:
        database = data_dir / "trent.db"
        if not database.exists():
            # SQLite gives its -wal and -shm files the database file's mode: create it private.
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    root_key = load_root_key(settings, create=create_root_key)
    return Store(settings.store_url(), root_key, sqlite_synchronous=settings.sqlite_synchronous)


def build_services(settings: Settings, store: Store) -> Services:
    return services_for(
        store,
        markers_key=store.root_key.derive(b"markers"),
        # Derived from the root key: every node with the same root key accepts the same tokens.
        tokens_key=store.root_key.derive(b"grant-tokens"),
        refresh_interval=settings.effective_grant_refresh_interval(),
        propagation_delay=settings.grant_propagation_delay,
    )

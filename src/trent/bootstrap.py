"""The composition root: builds the store, services and authenticator of one process from its settings.

Nothing is built at import time; tests build what they need through these functions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from trent.api.audit import AuditLog
from trent.api.caches import CacheSizes, IdentityPolicies, Lru, PolicyCache
from trent.api.changes import ChangeFeed, ReadCache
from trent.api.context import Services
from trent.api.grant_view import GrantView
from trent.api.key_usage import KeyUsage
from trent.api.keyring import KeyRing
from trent.config import Settings
from trent.crypto.imports import ImportTokens
from trent.crypto.rootkey import (
    RootKey,
    RootKeyError,
    WrappingKey,
    decode_root_key,
    encode_root_key,
    generate_root_key,
    write_secret_file,
)
from trent.crypto.tokens import GrantTokens
from trent.domain.markers import MarkerCodec
from trent.domain.regions import AWS_COMMERCIAL_REGIONS
from trent.storage.store import Store


def load_root_key(settings: Settings, *, create: bool) -> WrappingKey:
    """The root key: in an HSM when `root_key` (or TRENT_ROOT_KEY) is a pkcs11: URI (the key is generated in the
    token when `create`), else the base64 key in TRENT_ROOT_KEY, else DATA_DIR/root.key (created 0600 when
    `create`)."""
    source = settings.root_key or os.environ.get("TRENT_ROOT_KEY", "")
    if source.startswith("pkcs11:"):
        from trent.crypto.hsm import HsmRootKey

        return HsmRootKey(source, create=create)
    if source:
        return RootKey(decode_root_key(source, "TRENT_ROOT_KEY"))
    path = settings.root_key_path
    if not path.exists():
        if not create:
            raise RootKeyError(f"no root key: {path} does not exist and TRENT_ROOT_KEY is not set")
        write_secret_file(path, encode_root_key(generate_root_key()) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise RootKeyError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return RootKey(decode_root_key(path.read_text(), str(path)))


def build_store(
    settings: Settings, *, create_root_key: bool = False, observe: Callable[[float], None] | None = None
) -> Store:
    """Open the store and make sure the root key is the one it was initialised with."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the root key and client files live here
    if not settings.store:
        database = data_dir / "trent.db"
        if not database.exists():
            # SQLite gives its -wal and -shm files the database file's mode: create it private.
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    root_key = load_root_key(settings, create=create_root_key)
    return Store(settings.store_url(), root_key, sqlite_synchronous=settings.sqlite_synchronous, observe=observe)


def build_services(settings: Settings, store: Store) -> Services:
    """The services of a server process."""
    return services_for(
        store,
        markers_key=store.derived_key(b"markers"),
        # Derived from the root key (kept by the store once the root key is replaced): every node accepts them.
        tokens_key=store.derived_key(b"grant-tokens"),
        refresh_interval=settings.effective_grant_refresh_interval(),
        propagation_delay=settings.grant_propagation_delay,
        regions=settings.regions,
        sizes=cache_sizes(settings),
    )


def cache_sizes(settings: Settings) -> CacheSizes:
    return CacheSizes(
        keys=settings.cache_keys,
        key_material=settings.cache_key_material,
        grant_sets=settings.cache_grant_sets,
        credentials=settings.cache_credentials,
        policies=settings.cache_policies,
        identity_policies=settings.cache_identity_policies,
        decisions=settings.cache_decisions,
        megabytes=settings.cache_megabytes,
    )


def admin_services(store: Store) -> Services:
    """The services of a `trent admin` command: the server's keys, nothing audited (the command is not a call)."""
    return services_for(
        store,
        markers_key=store.derived_key(b"markers"),
        tokens_key=store.derived_key(b"grant-tokens"),
        audit_enabled=False,
    )


def services_for(
    store: Store,
    *,
    markers_key: bytes,
    tokens_key: bytes,
    clock: Callable[[], float] = time.time,
    refresh_interval: float = 0.0,
    propagation_delay: float = 0.0,
    audit_enabled: bool = True,
    regions: tuple[str, ...] = AWS_COMMERCIAL_REGIONS,
    sizes: CacheSizes = CacheSizes(),  # noqa: B008 - frozen: one shared default is safe
) -> Services:
    """The services of one process over `store`, with every cache subscribed to the change feed."""
    changes = ChangeFeed(store.reader, refresh_interval=refresh_interval)
    megabytes = sizes.megabytes * 1024 * 1024
    policies = PolicyCache(max_entries=sizes.policies, max_bytes=megabytes)
    services = Services(
        store=store,
        markers=MarkerCodec(markers_key),
        clock=clock,
        keyring=KeyRing(store, max_entries=sizes.key_material, clock=clock),
        grants=GrantView(
            store.reader,
            clock=clock,
            propagation_delay=propagation_delay,
            max_slots=sizes.grant_sets,
            tokens_follow_feed=refresh_interval == 0,
            read_feed_in_this_pass=changes.read_in_this_pass,
        ),
        tokens=GrantTokens(tokens_key),
        import_tokens=ImportTokens(store.derived_key(b"import-tokens")),
        material_ids=store.derived_key(b"key-material-ids"),
        audit=AuditLog(store, enabled=audit_enabled),
        changes=changes,
        reads=ReadCache(store.reader, max_entries=sizes.keys, max_key_bytes=megabytes),
        policies=policies,
        identities=IdentityPolicies(store.reader, policies, max_entries=sizes.identity_policies, max_bytes=megabytes),
        decisions=Lru(sizes.decisions),
        regions=regions,
        key_usage=KeyUsage(store, clock),
    )
    for listener in (services.reads, services.identities, services.grants, services.keyring, store.root_key_versions):
        changes.subscribe(listener)
    store.on_commit = changes.committed
    changes.read()  # start from the feed's current end
    return services

"""The store: one engine per process, and transactions with a visible boundary.

`Store.transaction()` yields a `Tx`, the unit of work: its repositories (`tx.keys`, `tx.aliases`, `tx.tags`,
`tx.grants`, `tx.identities`, `tx.audit`, `tx.meta`), one per aggregate, read and write domain objects; leaving the
block commits, an exception rolls back, so a crash never leaves half a key. On SQLite, write transactions queue on
the writer lock (`writer_lock.py`) and start with BEGIN IMMEDIATE so that two writers never deadlock upgrading a
read lock; on PostgreSQL, rows to update are read FOR UPDATE.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from trent.crypto.rootkey import CHECK_AAD, CHECK_PLAINTEXT, RootKeyError, RootKeyVersions, WrappingKey
from trent.domain.errors import DependencyTimeoutException
from trent.storage import tables as t
from trent.storage.aliases import AliasRepository
from trent.storage.audit import AuditRepository
from trent.storage.console import ConsoleSessionRepository
from trent.storage.feed import ChangeFeedRepository
from trent.storage.grants import GrantRepository
from trent.storage.identities import IdentityRepository
from trent.storage.imports import ImportParametersRepository
from trent.storage.keys import KeyRepository
from trent.storage.reader import FastReader
from trent.storage.session import Change, Session, Statements
from trent.storage.tags import TagRepository
from trent.storage.writer_lock import WriterLock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest migration's revision. A store already there is opened without loading Alembic and the seventeen
#: migration modules (about 0.3 s of CPU at every `trent serve` and `trent init` of an existing store); a test
#: holds it equal to Alembic's own head.
HEAD_REVISION = "0017"
log = logging.getLogger("trent.store")


def store_secret_aad(name: str) -> bytes:
    return f"store-secret:{name}".encode()


def store_unavailable(exc: Exception) -> DependencyTimeoutException:
    log.warning("store unavailable: %s", type(exc).__name__)
    return DependencyTimeoutException("The store did not answer in time. Retry the request.")


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions would get in the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, even across a power loss. NORMAL (in WAL mode)
        # survives a crash of the process but may lose the last commits on a power loss or OS crash.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("trent_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def engine_url(url: str) -> str:
    """SQLAlchemy URL for a store URL: `postgresql://` means psycopg 3 (not SQLAlchemy's default psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Store:
    def __init__(
        self,
        url: str,
        root_key: WrappingKey,
        *,
        sqlite_synchronous: str = "full",
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(url, pool_size=4, max_overflow=8, pool_pre_ping=False)
            if sqlite_synchronous.lower() not in ("full", "normal"):
                raise ValueError(f"sqlite_synchronous must be full or normal, not {sqlite_synchronous!r}")
            _configure_sqlite(self.engine, sqlite_synchronous.upper())
        else:
            self.engine = create_engine(
                engine_url(url),
                pool_size=8,
                max_overflow=8,
                pool_pre_ping=True,
                pool_timeout=5,
                connect_args={"connect_timeout": 5},
            )
        self.root_key = root_key
        #: The root key's versions as this process holds them (what transactions wrap and unwrap with); a listener
        #: of the change feed, which tells it when a version is retired.
        self.root_key_versions = RootKeyVersions(root_key)
        self.reader = FastReader(self.engine)
        self.sql = Statements(qmark=self.engine.dialect.paramstyle == "qmark", for_update=not self.is_sqlite)
        database = self.engine.url.database if self.is_sqlite else None
        in_memory = not database or database == ":memory:"
        self.writer_lock = None if in_memory else WriterLock(Path(f"{database}.writer-lock"))
        #: Called with each transaction's duration (metrics), when set.
        self.observe = observe
        #: Called with the changes of each committed transaction (this process's caches forget them at once).
        self.on_commit: Callable[[Sequence[Change]], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there already)."""
        if self.schema_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with (
            self.writer_lock.held() if self.writer_lock is not None else contextlib.nullcontext(),
            self.engine.connect().execution_options(trent_write=True) as conn,
        ):
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()

    def schema_revision(self) -> str | None:
        """The revision the schema is at; None when it cannot be read (a new store has no version table), which
        `migrate` leaves to Alembic to sort out."""
        try:
            with self.engine.connect() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                conn.rollback()
        except DBAPIError:
            return None
        return revision

    def check_root_key(self) -> bool:
        """True if the store was initialised under this root key, False if it holds no check value yet. While the
        root key is being replaced, the root key being replaced is accepted too (`root_key_versions.role`).

        :raises RootKeyError: when the store was initialised under another root key.
        """
        with self.transaction(write=False) as tx:
            check = tx.meta.get("root_key_check")
            previous = tx.meta.get("root_key_check_previous")
        if check is None:
            return False
        if self._opens(check):
            self.root_key_versions.role = "current"
            return True
        if previous is not None and self._opens(previous):
            log.warning("this process runs with the root key being replaced: give it the new root key")
            self.root_key_versions.role = "previous"
            return True
        raise RootKeyError(
            "the root key does not match this store: it was initialised with another root key "
            "(check root.key in the data directory or TRENT_ROOT_KEY)"
        )

    def _opens(self, check: bytes) -> bool:
        try:
            return self.root_key.unwrap(check, CHECK_AAD) == CHECK_PLAINTEXT
        except RootKeyError:
            return False

    def derived_key(self, purpose: bytes) -> bytes:
        """A key for one purpose (marker, token MACs): derived from the root key, unless the store keeps it (from
        the root key it had before a replacement), so that tokens and markers outlive a replaced root key."""
        name = "derived:" + purpose.decode()
        with self.transaction(write=False) as tx:
            session = tx._session
            row = session.conn.execute(select(t.store_secrets.c.wrapped).where(t.store_secrets.c.name == name)).first()
            if row is not None:
                return session.root_key.unwrap(bytes(row[0]), store_secret_aad(name))
        return self.root_key.derive(purpose)

    def write_root_key_check(self) -> None:
        with self.transaction() as tx:
            tx.meta.put("root_key_check", self.root_key.wrap(CHECK_PLAINTEXT, CHECK_AAD))

    def dispose(self) -> None:
        self.reader.reset()
        self.engine.dispose()
        if self.writer_lock is not None:
            self.writer_lock.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises.

        The changes the block's repositories recorded are appended to the change feed (`tx.feed`) as its last
        statements, so they commit with it; once committed, `on_commit` hears of them.

        :raises DependencyTimeoutException: when the database cannot be reached or does not answer (retryable;
            the pool reconnects by itself once the database is back).
        """
        started = time.perf_counter()
        try:
            # The writer lock is taken after the pool checkout and released after the commit: it covers only
            # the time the database's write lock is held.
            with (
                self.engine.connect().execution_options(trent_write=write) as conn,
                self.writer_lock.held() if write and self.writer_lock is not None else contextlib.nullcontext(),
                conn.begin(),
            ):
                tx = Tx(Session(conn, self.sql, self.root_key_versions, is_sqlite=self.is_sqlite))
                yield tx
                tx.feed.write()
        except (OperationalError, InterfaceError, SATimeoutError) as exc:
            raise store_unavailable(exc) from exc
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - started)
        if tx.changes and self.on_commit is not None:
            self.on_commit(tx.changes)


class MetaRepository:
    """The store's own facts (the root key's check value, the default account)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def get(self, name: str) -> bytes | None:
        row = self._s.conn.execute(select(t.meta.c.value).where(t.meta.c.name == name)).first()
        return None if row is None else bytes(row[0])

    def put(self, name: str, value: bytes) -> None:
        """Write a fact that is written once."""
        self._s.conn.execute(insert(t.meta).values(name=name, value=value))


class Tx:
    """One transaction: the unit of work, and its repositories, one per aggregate."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.keys = KeyRepository(session)
        self.aliases = AliasRepository(session)
        self.tags = TagRepository(session)
        self.grants = GrantRepository(session)
        self.identities = IdentityRepository(session)
        self.audit = AuditRepository(session)
        self.feed = ChangeFeedRepository(session)
        self.imports = ImportParametersRepository(session)
        self.meta = MetaRepository(session)
        self.console = ConsoleSessionRepository(session)

    @property
    def changes(self) -> Sequence[Change]:
        """What this transaction changed so far (the change feed gets it at the commit)."""
        return self._session.changes

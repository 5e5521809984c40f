"""The store: one engine per process, transactions with a visible boundary, rows mapped to domain objects.

`Store.transaction()` yields a `Tx` whose methods read and write; leaving the block commits, an exception
rolls back, so a crash never leaves half a key. On SQLite, write transactions queue on the writer lock
(`writer_lock.py`) and start with BEGIN IMMEDIATE so that two writers never deadlock upgrading a read lock;
on PostgreSQL, rows to update are read FOR UPDATE.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from trent.crypto.rootkey import CHECK_AAD, CHECK_PLAINTEXT, RootKey, RootKeyError
from trent.domain.errors import DependencyTimeoutException, KMSInvalidStateException
from trent.domain.grants import Grant, operations_mask
from trent.domain.identities import AccessKey, Principal, PrincipalType
from trent.domain.keys import Key, KeyMaterial, KeyState
from trent.domain.keyspec import KeyUsage
from trent.storage import tables as t
from trent.storage.reader import GRANT_COLUMNS, KEY_COLUMNS, FastReader, grant_from_tuple, key_from_tuple
from trent.storage.writer_lock import WriterLock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger("trent.store")


def store_unavailable(exc: Exception) -> DependencyTimeoutException:
    log.warning("store unavailable: %s", type(exc).__name__)
    return DependencyTimeoutException("The store did not answer in time. Retry the request.")


class Change(NamedTuple):
    """One row of the change feed: what changed (`kind`), which one (`entity`), and its key if it has one."""

    kind: str  # one of the CHANGE_* names below
    entity: str
    key_id: str | None = None


CHANGE_GRANT = "grant"  # entity: grant ID (key_id: its key)
CHANGE_KEY = "key"  # entity: key ID
CHANGE_ALIAS = "alias"  # entity: "<account>:<region>:<alias name>" (key_id: its target, old or new)
CHANGE_ACCOUNT = "account"  # entity: account ID
CHANGE_PRINCIPAL = "principal"  # entity: principal ARN
CHANGE_ACCESS_KEY = "access_key"  # entity: access key ID
CHANGE_IDENTITY_POLICY = "identity_policy"  # entity: the ARN of the principal the policy is attached to


def alias_entity(account: str, region: str, alias_name: str) -> str:
    return f"{account}:{region}:{alias_name}"


class StoreConflict(Exception):
    """A row changed under an optimistic update, or a unique row already exists."""


#: The columns an audit event row provides (the sequence number is assigned by the database).
AUDIT_COLUMNS = (
    "event_id",
    "event_time",
    "event_name",
    "account_id",
    "principal_arn",
    "key_arn",
    "error_code",
    "record",
)


_GRANT_INSERT_COLUMNS = (
    "grant_id",
    "key_id",
    "key_account",
    "key_region",
    "name",
    "grantee_principal",
    "grantee_service_principal",
    "retiring_principal",
    "retiring_service_principal",
    "issuing_account",
    "operations",
    "constraints",
    "creation_date",
    "deleted_at",
)


#: Largest number of audit rows one INSERT carries (a power of two; 8 columns each stays far below the
#: 32,766 bound parameters of SQLite and 65,535 of PostgreSQL).
AUDIT_BATCH_ROWS = 256


class Statements:
    """The constant SQL text of the hot statements, in the driver's placeholder style.

    Only table and column names and placeholders go into the text; every value is a bound parameter.
    """

    def __init__(self, *, qmark: bool, for_update: bool) -> None:
        m = "?" if qmark else "%s"

        def insert(table: str, columns: Sequence[str]) -> str:
            return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([m] * len(columns))})"  # noqa: S608

        key = f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = {m} AND account_id = {m} AND region = {m}"  # noqa: S608
        self.key = key
        self.key_for_update = key + (" FOR UPDATE" if for_update else "")
        self.reserve_grant_slot = (
            f"UPDATE keys SET grant_count = grant_count + 1 WHERE key_id = {m} AND grant_count < {m}"  # noqa: S608
        )
        self.release_grant_slot = f"UPDATE keys SET grant_count = grant_count - 1 WHERE key_id = {m}"  # noqa: S608
        self.insert_grant = insert("grants", _GRANT_INSERT_COLUMNS)
        self.insert_change = insert("changes", ("kind", "entity", "key_id", "changed_at"))
        self.active_grants_named = (
            f"SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = {m} AND name = {m} AND deleted_at IS NULL"  # noqa: S608
        )
        self.delete_grant = f"UPDATE grants SET deleted_at = {m} WHERE grant_id = {m} AND deleted_at IS NULL"  # noqa: S608
        row = f"({', '.join([m] * len(AUDIT_COLUMNS))})"
        # One statement per power-of-two batch size up to AUDIT_BATCH_ROWS: few texts to prepare and cache.
        self.insert_audit_events = {
            size: f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES {', '.join([row] * size)}"  # noqa: S608
            for size in (1 << bit for bit in range(AUDIT_BATCH_ROWS.bit_length()))
        }


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'trent.db').resolve()}"


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
    def __init__(self, url: str, root_key: RootKey, *, sqlite_synchronous: str = "full") -> None:
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
        self.reader = FastReader(self.engine)
        self.sql = Statements(qmark=self.engine.dialect.paramstyle == "qmark", for_update=not self.is_sqlite)
        database = self.engine.url.database if self.is_sqlite else None
        in_memory = not database or database == ":memory:"
        self.writer_lock = None if in_memory else WriterLock(Path(f"{database}.writer-lock"))
        #: Called with each transaction's duration (metrics), when set.
        self.observe: Callable[[float], None] | None = None
        #: Called with the changes of each committed transaction (this process's caches forget them at once).
        self.on_commit: Callable[[Sequence[Change]], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there already)."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with (
            self.writer_lock.held() if self.writer_lock is not None else contextlib.nullcontext(),
            self.engine.connect().execution_options(trent_write=True) as conn,
        ):
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()

    def check_root_key(self) -> bool:
        """True if the store was initialised under this root key, False if it holds no check value yet.

        :raises RootKeyError: when the store was initialised under another root key.
        """
        with self.transaction(write=False) as tx:
            row = tx.conn.execute(select(t.meta.c.value).where(t.meta.c.name == "root_key_check")).first()
        if row is None:
            return False
        try:
            ok = self.root_key.unwrap(row[0], CHECK_AAD) == CHECK_PLAINTEXT
        except RootKeyError:
            ok = False
        if not ok:
            raise RootKeyError(
                "the root key does not match this store: it was initialised with another root key "
                "(check root.key in the data directory or TRENT_ROOT_KEY)"
            )
        return True

    def write_root_key_check(self) -> None:
        with self.transaction() as tx:
            tx.conn.execute(
                insert(t.meta).values(name="root_key_check", value=self.root_key.wrap(CHECK_PLAINTEXT, CHECK_AAD))
            )

    def dispose(self) -> None:
        self.reader.reset()
        self.engine.dispose()
        if self.writer_lock is not None:
            self.writer_lock.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises.

        The changes the block made (`Tx.record`) are appended to the change feed as its last statements, so
        they commit with it; once committed, `on_commit` hears of them.

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
                tx = Tx(conn, self)
                yield tx
                tx.write_changes()
        except (OperationalError, InterfaceError, SATimeoutError) as exc:
            raise store_unavailable(exc) from exc
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - started)
        if tx.changes and self.on_commit is not None:
            self.on_commit(tx.changes)


def _key_from_row(row: Row[Any]) -> Key:
    return Key(
        key_id=row.key_id,
        account=row.account_id,
        region=row.region,
        spec_name=row.spec,
        usage=KeyUsage(row.usage),
        state=KeyState(row.state),
        description=row.description,
        creation_date=row.creation_date,
        origin=row.origin,
        policy=row.policy,
        current_version=row.current_version,
        deletion_date=row.deletion_date,
        pending_window_days=row.pending_window_days,
        rotation_enabled=bool(row.rotation_enabled),
        rotation_period_days=row.rotation_period_days,
        next_rotation_date=row.next_rotation_date,
        on_demand_rotations=row.on_demand_rotations,
        version=row.version,
    )


def _key_values(key: Key) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "account_id": key.account,
        "region": key.region,
        "spec": key.spec_name,
        "usage": str(key.usage),
        "state": str(key.state),
        "description": key.description,
        "creation_date": key.creation_date,
        "origin": key.origin,
        "policy": key.policy,
        "current_version": key.current_version,
        "deletion_date": key.deletion_date,
        "pending_window_days": key.pending_window_days,
        "rotation_enabled": key.rotation_enabled,
        "rotation_period_days": key.rotation_period_days,
        "next_rotation_date": key.next_rotation_date,
        "on_demand_rotations": key.on_demand_rotations,
        "version": key.version,
    }


def _material_aad(key_id: str, version: int) -> bytes:
    return f"material:{key_id}:{version}".encode()


def _secret_aad(access_key_id: str) -> bytes:
    return f"access-key:{access_key_id}".encode()


def hash_session_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tx:
    """One transaction's view of the store."""

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self._store = store
        self._root_key = store.root_key
        self._sql = store.sql
        self._cursor: Any = None
        #: What this transaction changed, for the change feed (written by `write_changes` before the commit).
        self.changes: list[Change] = []

    def record(self, kind: str, entity: str, key_id: str | None = None) -> None:
        """Note a change for the change feed; every method that changes a cached row calls it."""
        self.changes.append(Change(kind, entity, key_id))

    def write_changes(self) -> None:
        """Append this transaction's changes to the feed (the last statements before the commit).

        The feed's `seq` must commit in order, so a reader that has seen N never misses N-1: SQLite writers are
        serialized already; on PostgreSQL an advisory lock, taken here and held to the commit, serializes the
        feed's writers (and only them, at the very end of their transactions, so it cannot deadlock with row locks).
        """
        if not self.changes:
            return
        if not self._store.is_sqlite:
            self._raw("SELECT pg_advisory_xact_lock(1952805748)")
        now = time.time()
        cursor = self._raw_cursor()
        cursor.executemany(self._sql.insert_change, [(c.kind, c.entity, c.key_id, now) for c in self.changes])

    def _raw(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a constant statement on this transaction's DB-API cursor, and return the cursor.

        SQLAlchemy Core spends ~200 µs here building, keying and compiling each statement; the hot write
        paths (CreateGrant, RetireGrant, RevokeGrant) run a handful of them per request, so they use
        prepared text with bound parameters on the same connection and transaction instead.
        """
        cursor = self._raw_cursor()
        cursor.execute(sql, params)
        return cursor

    def _raw_cursor(self) -> Any:
        if self._cursor is None:
            self._cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return self._cursor

    # --- accounts and principals -------------------------------------------------------------------
    def account_exists(self, account: str) -> bool:
        return (
            self.conn.execute(select(t.accounts.c.account_id).where(t.accounts.c.account_id == account)).first()
            is not None
        )

    def add_account(self, account: str, now: float) -> bool:
        """Create the account (and its root principal). False if it existed already."""
        if self.account_exists(account):
            return False
        self.conn.execute(insert(t.accounts).values(account_id=account, created=now))
        self.conn.execute(
            insert(t.principals).values(
                arn=f"arn:aws:iam::{account}:root",
                account_id=account,
                type=str(PrincipalType.ROOT),
                name="root",
                unique_id=account,
                created=now,
            )
        )
        self.record(CHANGE_ACCOUNT, account)
        self.record(CHANGE_PRINCIPAL, f"arn:aws:iam::{account}:root")
        return True

    def list_accounts(self) -> list[str]:
        return list(self.conn.execute(select(t.accounts.c.account_id).order_by(t.accounts.c.account_id)).scalars())

    def add_principal(self, principal: Principal) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(t.principals).values(
                        arn=principal.arn,
                        account_id=principal.account,
                        type=str(principal.type),
                        name=principal.name,
                        unique_id=principal.unique_id,
                        trust_policy=principal.trust_policy,
                        created=principal.created,
                    )
                )
        except IntegrityError as exc:
            raise StoreConflict(principal.arn) from exc
        self.record(CHANGE_PRINCIPAL, principal.arn)

    def get_principal(self, arn: str) -> Principal | None:
        row = self.conn.execute(select(t.principals).where(t.principals.c.arn == arn)).first()
        if row is None:
            return None
        return Principal(
            arn=row.arn,
            account=row.account_id,
            type=PrincipalType(row.type),
            name=row.name,
            unique_id=row.unique_id,
            trust_policy=row.trust_policy,
            created=row.created,
        )

    def list_principals(self) -> list[Principal]:
        rows = self.conn.execute(select(t.principals.c.arn).order_by(t.principals.c.arn)).scalars()
        return [p for arn in rows if (p := self.get_principal(arn)) is not None]

    def add_access_key(self, key: AccessKey) -> None:
        self.conn.execute(
            insert(t.access_keys).values(
                access_key_id=key.access_key_id,
                principal_arn=key.principal_arn,
                secret_wrapped=self._root_key.wrap(key.secret.encode(), _secret_aad(key.access_key_id)),
                created=key.created,
                session_token_hash=key.session_token_hash,
                session_name=key.session_name,
                expiration=key.expiration,
            )
        )
        self.record(CHANGE_ACCESS_KEY, key.access_key_id)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        row = self.conn.execute(select(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id)).first()
        if row is None:
            return None
        secret = self._root_key.unwrap(row.secret_wrapped, _secret_aad(access_key_id)).decode()
        return AccessKey(
            access_key_id=row.access_key_id,
            principal_arn=row.principal_arn,
            secret=secret,
            created=row.created,
            session_token_hash=row.session_token_hash,
            session_name=row.session_name,
            expiration=row.expiration,
        )

    def list_access_key_ids(self, principal_arn: str) -> list[str]:
        query = select(t.access_keys.c.access_key_id).where(
            t.access_keys.c.principal_arn == principal_arn, t.access_keys.c.session_token_hash.is_(None)
        )
        return list(self.conn.execute(query).scalars())

    def delete_expired_sessions(self, now: float) -> int:
        expired = t.access_keys.c.expiration < now
        for access_key_id in self.conn.execute(select(t.access_keys.c.access_key_id).where(expired)).scalars():
            self.record(CHANGE_ACCESS_KEY, access_key_id)
        result = self.conn.execute(delete(t.access_keys).where(expired))
        return result.rowcount or 0

    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete an access key; False if there was none."""
        result = self.conn.execute(delete(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id))
        self.record(CHANGE_ACCESS_KEY, access_key_id)
        return bool(result.rowcount)

    def put_identity_policy(self, principal_arn: str, name: str, document: str) -> None:
        self.conn.execute(
            delete(t.identity_policies).where(
                t.identity_policies.c.principal_arn == principal_arn,
                t.identity_policies.c.policy_name == name,
            )
        )
        self.conn.execute(
            insert(t.identity_policies).values(principal_arn=principal_arn, policy_name=name, document=document)
        )
        self.record(CHANGE_IDENTITY_POLICY, principal_arn)

    def delete_identity_policy(self, principal_arn: str, name: str) -> bool:
        """Detach an identity policy; False if the principal had none by that name."""
        result = self.conn.execute(
            delete(t.identity_policies).where(
                t.identity_policies.c.principal_arn == principal_arn,
                t.identity_policies.c.policy_name == name,
            )
        )
        self.record(CHANGE_IDENTITY_POLICY, principal_arn)
        return bool(result.rowcount)

    def identity_policies(self, principal_arn: str) -> dict[str, str]:
        rows = self.conn.execute(
            select(t.identity_policies.c.policy_name, t.identity_policies.c.document).where(
                t.identity_policies.c.principal_arn == principal_arn
            )
        )
        return {row.policy_name: row.document for row in rows}

    # --- keys ----------------------------------------------------------------------------------------
    def get_key(self, account: str, region: str, key_id: str, *, for_update: bool = False) -> Key | None:
        sql = self._sql.key_for_update if for_update else self._sql.key
        row = self._raw(sql, (key_id, account, region)).fetchone()
        return None if row is None else key_from_tuple(row)

    def insert_key(self, key: Key, material: KeyMaterial) -> None:
        self.conn.execute(insert(t.keys).values(**_key_values(key)))
        self.add_material(material)
        self.record(CHANGE_KEY, key.key_id, key.key_id)

    def update_key(self, old: Key, new: Key) -> Key:
        """Write `new` if the row is still at `old.version`; returns the stored key (version bumped)."""
        values = _key_values(new)
        values["version"] = old.version + 1
        result = self.conn.execute(
            update(t.keys).where(t.keys.c.key_id == old.key_id, t.keys.c.version == old.version).values(**values)
        )
        if result.rowcount != 1:
            raise KMSInvalidStateException(f"{old.arn} was changed by a concurrent request; retry.")
        self.record(CHANGE_KEY, old.key_id, old.key_id)
        return _key_from_row(self.conn.execute(select(t.keys).where(t.keys.c.key_id == old.key_id)).one())

    def delete_key(self, key_id: str) -> None:
        aliases = self.conn.execute(
            select(t.aliases.c.account_id, t.aliases.c.region, t.aliases.c.alias_name).where(
                t.aliases.c.key_id == key_id
            )
        ).all()
        for account, region, alias_name in aliases:
            self.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_id)
        self.record(CHANGE_KEY, key_id, key_id)  # views drop the key's grants with it
        # Children first: SQLite enforces ON DELETE CASCADE only when foreign_keys is on, so be explicit.
        for table in (t.tags, t.aliases, t.key_materials, t.grants):
            self.conn.execute(delete(table).where(table.c.key_id == key_id))
        self.conn.execute(delete(t.keys).where(t.keys.c.key_id == key_id))

    def list_keys(self, account: str, region: str, after: str | None, limit: int) -> list[Key]:
        query = select(t.keys).where(t.keys.c.account_id == account, t.keys.c.region == region)
        if after is not None:
            query = query.where(t.keys.c.key_id > after)
        rows = self.conn.execute(query.order_by(t.keys.c.key_id).limit(limit))
        return [_key_from_row(row) for row in rows]

    def keys_due(self, now: float) -> list[Key]:
        """Keys whose deletion date has passed or whose automatic rotation is due."""
        query = select(t.keys).where(
            ((t.keys.c.state == str(KeyState.PENDING_DELETION)) & (t.keys.c.deletion_date <= now))
            | ((t.keys.c.rotation_enabled == True) & (t.keys.c.next_rotation_date <= now))  # noqa: E712
        )
        return [_key_from_row(row) for row in self.conn.execute(query.limit(100))]

    # --- key material --------------------------------------------------------------------------------
    def add_material(self, material: KeyMaterial) -> None:
        self.conn.execute(
            insert(t.key_materials).values(
                key_id=material.key_id,
                version=material.version,
                material_id=material.material_id,
                created=material.created,
                rotation_type=material.rotation_type,
                wrapped=self._root_key.wrap(material.material, _material_aad(material.key_id, material.version)),
            )
        )

    def get_material(self, key_id: str, version: int) -> KeyMaterial | None:
        row = self.conn.execute(
            select(t.key_materials).where(t.key_materials.c.key_id == key_id, t.key_materials.c.version == version)
        ).first()
        if row is None:
            return None
        return KeyMaterial(
            key_id=row.key_id,
            version=row.version,
            material_id=row.material_id,
            created=row.created,
            rotation_type=row.rotation_type,
            material=self._root_key.unwrap(row.wrapped, _material_aad(row.key_id, row.version)),
        )

    def list_material_versions(self, key_id: str) -> list[tuple[int, str, float, str | None]]:
        """(version, material id, created, rotation type) of every version, oldest first. No secrets."""
        rows = self.conn.execute(
            select(
                t.key_materials.c.version,
                t.key_materials.c.material_id,
                t.key_materials.c.created,
                t.key_materials.c.rotation_type,
            )
            .where(t.key_materials.c.key_id == key_id)
            .order_by(t.key_materials.c.version)
        )
        return [(r.version, r.material_id, r.created, r.rotation_type) for r in rows]

    # --- aliases -------------------------------------------------------------------------------------
    def get_alias(self, account: str, region: str, alias_name: str) -> Row[Any] | None:
        return self.conn.execute(
            select(t.aliases).where(
                t.aliases.c.account_id == account,
                t.aliases.c.region == region,
                t.aliases.c.alias_name == alias_name,
            )
        ).first()

    def alias_target(self, account: str, region: str, alias_name: str) -> str | None:
        alias = self.get_alias(account, region, alias_name)
        return None if alias is None else str(alias.key_id)

    def insert_alias(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(t.aliases).values(
                        account_id=account,
                        region=region,
                        alias_name=alias_name,
                        key_id=key_id,
                        created=now,
                        updated=now,
                    )
                )
        except IntegrityError as exc:
            raise StoreConflict(alias_name) from exc
        self.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_id)

    def update_alias(self, account: str, region: str, alias_name: str, key_id: str, now: float) -> None:
        self.conn.execute(
            update(t.aliases)
            .where(
                t.aliases.c.account_id == account,
                t.aliases.c.region == region,
                t.aliases.c.alias_name == alias_name,
            )
            .values(key_id=key_id, updated=now)
        )
        self.record(CHANGE_ALIAS, alias_entity(account, region, alias_name), key_id)

    def delete_alias(self, account: str, region: str, alias_name: str) -> None:
        self.conn.execute(
            delete(t.aliases).where(
                t.aliases.c.account_id == account,
                t.aliases.c.region == region,
                t.aliases.c.alias_name == alias_name,
            )
        )
        self.record(CHANGE_ALIAS, alias_entity(account, region, alias_name))

    def keys_with_most_grants(self, limit: int) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            select(t.keys.c.key_id, t.keys.c.account_id, t.keys.c.region, t.keys.c.grant_count)
            .where(t.keys.c.grant_count > 0)
            .order_by(t.keys.c.grant_count.desc())
            .limit(limit)
        )
        return [(f"arn:aws:kms:{r.region}:{r.account_id}:key/{r.key_id}", int(r.grant_count)) for r in rows]

    def count_aliases(self, key_id: str) -> int:
        return int(self.conn.execute(select(func.count()).where(t.aliases.c.key_id == key_id)).scalar_one())

    def list_aliases(
        self, account: str, region: str, key_id: str | None, after: str | None, limit: int
    ) -> Sequence[Row[Any]]:
        query = select(t.aliases).where(t.aliases.c.account_id == account, t.aliases.c.region == region)
        if key_id is not None:
            query = query.where(t.aliases.c.key_id == key_id)
        if after is not None:
            query = query.where(t.aliases.c.alias_name > after)
        return self.conn.execute(query.order_by(t.aliases.c.alias_name).limit(limit)).all()

    def alias_names_for_key(self, key_id: str) -> list[str]:
        return list(
            self.conn.execute(
                select(t.aliases.c.alias_name).where(t.aliases.c.key_id == key_id).order_by(t.aliases.c.alias_name)
            ).scalars()
        )

    # --- grants --------------------------------------------------------------------------------------
    def reserve_grant_slot(self, key_id: str, limit: int) -> bool:
        """Count one more grant on the key unless it has `limit` already (atomic on every database)."""
        return bool(self._raw(self._sql.reserve_grant_slot, (key_id, limit)).rowcount == 1)

    def insert_grant(self, grant: Grant, now: float) -> None:
        values = _grant_values(grant)
        self._raw(self._sql.insert_grant, tuple(values[name] for name in _GRANT_INSERT_COLUMNS))
        self.record(CHANGE_GRANT, grant.grant_id, grant.key_id)

    def active_grants_named(self, key_id: str, name: str) -> list[Grant]:
        rows = self._raw(self._sql.active_grants_named, (key_id, name)).fetchall()
        return [grant_from_tuple(row)[1] for row in rows]

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self.conn.execute(select(*_GRANT_SELECT).where(t.grants.c.grant_id == grant_id)).first()
        return None if row is None else grant_from_tuple(row)[1]

    def delete_grant(self, grant: Grant, now: float) -> bool:
        """Retire or revoke: the grant becomes a tombstone. False if it was gone already."""
        if self._raw(self._sql.delete_grant, (now, grant.grant_id)).rowcount != 1:
            return False
        self._raw(self._sql.release_grant_slot, (grant.key_id,))
        self.record(CHANGE_GRANT, grant.grant_id, grant.key_id)
        return True

    def list_retirable_grants(
        self, region: str, retiring_principal: str, after_seq: int, limit: int
    ) -> list[tuple[int, Grant]]:
        rows = self.conn.execute(
            select(*_GRANT_SELECT)
            .where(
                t.grants.c.key_region == region,
                t.grants.c.retiring_principal == retiring_principal,
                t.grants.c.deleted_at.is_(None),
                t.grants.c.seq > after_seq,
            )
            .order_by(t.grants.c.seq)
            .limit(limit)
        )
        return [grant_from_tuple(row) for row in rows]

    def purge_grants(self, deleted_before: float) -> int:
        """Forget grant tombstones that have propagated everywhere."""
        result = self.conn.execute(delete(t.grants).where(t.grants.c.deleted_at < deleted_before))
        return result.rowcount or 0

    def purge_changes(self, before: float) -> int:
        """Forget change-feed rows written before `before`: always a prefix of the feed, and never its newest row.

        Readers detect that they missed purged rows by the oldest row left (api/changes.py): that test is sound
        only if what is deleted is a prefix, which a cut by time alone would not be (nodes' clocks differ).
        """
        seq = t.changes.c.seq
        cut = self.conn.execute(select(func.max(seq)).where(t.changes.c.changed_at < before)).scalar()
        newest = self.conn.execute(select(func.max(seq))).scalar()
        if cut is None or newest is None:
            return 0
        result = self.conn.execute(delete(t.changes).where(seq <= min(cut, newest - 1)))
        return result.rowcount or 0

    # --- audit ---------------------------------------------------------------------------------------
    def insert_audit_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append audit events (rows with the columns of `AUDIT_COLUMNS`).

        Reads batch up a few thousand events a second per process, flushed from a thread beside the event
        loop. Multi-row INSERTs of constant text (256, 128, ..., 1 rows) bind in Python and then run as one
        driver call each: the driver releases the GIL once per statement rather than once per row as
        executemany does, so the flush does not fight the event loop for the GIL a thousand times a batch.
        """
        statements = self._sql.insert_audit_events
        cursor = self._raw_cursor()
        start = 0
        while start < len(events):
            size = min(AUDIT_BATCH_ROWS, 1 << ((len(events) - start).bit_length() - 1))
            params = [event[name] for event in events[start : start + size] for name in AUDIT_COLUMNS]
            cursor.execute(statements[size], params)
            start += size

    def audit_events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        key_arn: str | None = None,
        principal_arn: str | None = None,
        event_name: str | None = None,
        errors_only: bool = False,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[tuple[int, str]]:
        """(seq, record JSON) of matching events, in the order they were written.

        Each page is an index range: by (key_arn, seq) or (principal_arn, seq) when filtered so, else by seq. A
        time bound also becomes a sequence bound, once: the smallest sequence number of an event at or after
        `since` (no such event can have a smaller one).
        """
        if since is not None:
            first = self.conn.execute(
                select(func.min(t.audit_events.c.seq)).where(t.audit_events.c.event_time >= since)
            ).scalar()
            if first is None:
                return []
            after_seq = max(after_seq, first - 1)
        query = select(t.audit_events.c.seq, t.audit_events.c.record).where(t.audit_events.c.seq > after_seq)
        if since is not None:
            query = query.where(t.audit_events.c.event_time >= since)
        if until is not None:
            query = query.where(t.audit_events.c.event_time < until)
        if key_arn is not None:
            query = query.where(t.audit_events.c.key_arn == key_arn)
        if principal_arn is not None:
            query = query.where(t.audit_events.c.principal_arn == principal_arn)
        if event_name is not None:
            query = query.where(t.audit_events.c.event_name == event_name)
        if errors_only:
            query = query.where(t.audit_events.c.error_code.is_not(None))
        rows = self.conn.execute(query.order_by(t.audit_events.c.seq).limit(limit))
        return [(int(row.seq), str(row.record)) for row in rows]

    def purge_audit_events(self, before: float) -> int:
        result = self.conn.execute(delete(t.audit_events).where(t.audit_events.c.event_time < before))
        return result.rowcount or 0

    def purge_audit_events_beyond(self, keep: int) -> int:
        """Keep only the newest `keep` events (by sequence: an index range, whatever the table's size)."""
        newest = self.conn.execute(select(func.max(t.audit_events.c.seq))).scalar()
        if newest is None or newest <= keep:
            return 0
        result = self.conn.execute(delete(t.audit_events).where(t.audit_events.c.seq <= newest - keep))
        return result.rowcount or 0

    # --- tags ----------------------------------------------------------------------------------------
    def get_tags(self, key_id: str) -> dict[str, str]:
        rows = self.conn.execute(
            select(t.tags.c.tag_key, t.tags.c.tag_value).where(t.tags.c.key_id == key_id).order_by(t.tags.c.tag_key)
        )
        return {row.tag_key: row.tag_value for row in rows}

    def put_tags(self, key_id: str, new_tags: dict[str, str]) -> None:
        if not new_tags:
            return
        self.conn.execute(delete(t.tags).where(t.tags.c.key_id == key_id, t.tags.c.tag_key.in_(list(new_tags))))
        self.conn.execute(
            insert(t.tags), [{"key_id": key_id, "tag_key": k, "tag_value": v} for k, v in new_tags.items()]
        )

    def delete_tags(self, key_id: str, tag_keys: Sequence[str]) -> None:
        self.conn.execute(delete(t.tags).where(t.tags.c.key_id == key_id, t.tags.c.tag_key.in_(list(tag_keys))))


def _grant_values(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.grant_id,
        "key_id": grant.key_id,
        "key_account": grant.key_account,
        "key_region": grant.key_region,
        "name": grant.name,
        "grantee_principal": grant.grantee_principal,
        "grantee_service_principal": grant.grantee_service_principal,
        "retiring_principal": grant.retiring_principal,
        "retiring_service_principal": grant.retiring_service_principal,
        "issuing_account": grant.issuing_account,
        "operations": operations_mask(grant.operations),
        "constraints": grant.constraints.to_json() if grant.constraints is not None else None,
        "creation_date": grant.creation_date,
        "deleted_at": grant.deleted_at,
    }


_GRANT_SELECT = [getattr(t.grants.c, name.strip()) for name in GRANT_COLUMNS.split(",")]


def now() -> float:
    return time.time()

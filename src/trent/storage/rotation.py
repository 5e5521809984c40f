"""Rotating the root key, online: a new version, the re-wrap of every stored secret under it in small batches, and
the retirement of the versions before it (docs/security.md, "Rotating the root key").

Operator work on the store as a whole, as backup is, so it is not one of the unit of work's repositories: the
handlers never call it. Every step is a short transaction, safe to run in several processes at once (the server's
maintenance and `trent admin root-key` alike) and to kill at any moment: the position of the re-wrap is saved with
each batch, a row is rewritten only if it still holds the value that was read (compare and set), and retiring a
version first checks, under lock, that nothing is wrapped under it any more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from trent.crypto.rootkey import (
    CHECK_AAD,
    CHECK_PLAINTEXT,
    RootKeyError,
    RootKeyVersions,
    WrappingKey,
    generate_root_key,
    version_prefix,
    wrapped_version,
)
from trent.storage import tables as t
from trent.storage.identities import secret_aad
from trent.storage.imports import import_aad
from trent.storage.keys import material_aad
from trent.storage.session import CHANGE_ROOT_KEY, Session
from trent.storage.store import Store, store_secret_aad


@dataclass(frozen=True)
class WrappedColumn:
    """A column of wrapped secrets: its table, the table's primary key, and what each value's wrap is bound to."""

    table: Any
    primary_key: tuple[str, ...]
    column: str
    aad: Callable[[Mapping[str, Any]], bytes]
    #: Other columns the associated data names.
    extra: tuple[str, ...] = ()


#: Every column that holds a value wrapped under the root key (the root key's own check value excepted: it stays
#: under the root key itself, which is what it checks). A new column of secrets must be added here.
WRAPPED_COLUMNS: tuple[WrappedColumn, ...] = (
    WrappedColumn(t.key_materials, ("key_id", "version"), "wrapped", lambda r: material_aad(r["key_id"], r["version"])),
    WrappedColumn(t.access_keys, ("access_key_id",), "secret_wrapped", lambda r: secret_aad(r["access_key_id"])),
    WrappedColumn(
        t.import_parameters,
        ("token_id",),
        "private_key_wrapped",
        lambda r: import_aad(r["token_id"], r["key_id"]),
        extra=("key_id",),
    ),
    WrappedColumn(t.store_secrets, ("name",), "wrapped", lambda r: store_secret_aad(r["name"])),
)
#: The keys derived from the root key that the store keeps once the root key is replaced (`Store.derived_key`).
DERIVED_PURPOSES = (b"markers", b"grant-tokens", b"import-tokens", b"key-material-ids")
#: Rows re-wrapped per transaction: short enough that the writers it queues behind it (on SQLite, all of them) wait
#: a few milliseconds.
BATCH_ROWS = 200


class RetireRefused(Exception):
    """Something is still wrapped under a version that would be retired."""


class RotationRefused(Exception):
    """A rotation or replacement that cannot start now (another replacement is under way, or the wrong root key)."""


@dataclass(frozen=True)
class RewrapProgress:
    target_version: int
    processed: int
    total: int
    started: float
    finished: float | None

    @property
    def fraction(self) -> float:
        return 1.0 if self.finished is not None or self.total == 0 else min(self.processed / self.total, 0.999)


def _session(tx: Any) -> Session:
    return tx._session  # type: ignore[no-any-return] # the storage package's own transaction


def _progress_of(row: Any) -> RewrapProgress:
    return RewrapProgress(row.target_version, row.rewrapped, row.total, row.started, row.finished)


def _wrapped_count(conn: Any, column: WrappedColumn) -> int:
    c = getattr(column.table.c, column.column)
    return int(conn.execute(select(func.count()).where(c.is_not(None))).scalar_one())


def _not_under(conn: Any, column: WrappedColumn, version: int) -> int:
    """How many values of the column are wrapped under another version than `version`."""
    c = getattr(column.table.c, column.column)
    prefix = version_prefix(version)
    return int(
        conn.execute(select(func.count()).where(c.is_not(None), func.substr(c, 1, len(prefix)) != prefix)).scalar_one()
    )


def rotate(store: Store, now: float | None = None) -> RewrapProgress:
    """Make a new root-key version, the one every new wrap uses from now on, and start re-wrapping under it.

    Every process hears of it through the change feed; one that has not yet wraps under the version before, which
    the re-wrap catches (it checks, at its end, that nothing is left under another version).
    """
    now = time.time() if now is None else now
    with store.transaction() as tx:
        session = _session(tx)
        conn = session.conn
        versions = t.root_key_versions.c
        previous = conn.execute(select(t.meta.c.value).where(t.meta.c.name == "root_key_check_previous")).first()
        version = int(conn.execute(select(func.max(versions.version))).scalar_one()) + 1
        data_key = generate_root_key()
        # During a replacement of the root key, a version is wrapped under both root keys: `replace` makes it.
        if previous is not None:
            raise RotationRefused("the root key is being replaced: retire the old versions first (root-key retire-old)")
        wrapped = store.root_key_versions.wrap_data_key(version, data_key)
        conn.execute(
            insert(t.root_key_versions).values(version=version, created=now, retired=None, wrapped_key=wrapped)
        )
        total = _start_rewrap(conn, version, now)
        session.record(CHANGE_ROOT_KEY, str(version))
    return RewrapProgress(version, 0, total, now, None)


def _start_rewrap(conn: Any, version: int, now: float) -> int:
    progress = t.rewrap_progress.c
    # A re-wrap under an older version that has not finished is overtaken: this one re-wraps everything.
    conn.execute(update(t.rewrap_progress).where(progress.finished.is_(None)).values(finished=now))
    total = sum(_wrapped_count(conn, column) for column in WRAPPED_COLUMNS)
    conn.execute(
        insert(t.rewrap_progress).values(
            target_version=version, position=json.dumps([0, None]), rewrapped=0, total=total, started=now
        )
    )
    return total


def replace(store: Store, new_root_key: WrappingKey, now: float | None = None) -> RewrapProgress:
    """Replace the root key itself: a new version whose data key is wrapped under the new root key (and, until the
    old versions are retired, under this one too, for the nodes that still run with it); the other versions' data
    keys move under the new root key the same way; the new root key's check value becomes the store's, this one's
    is kept as the previous; the keys derived from this root key (token and marker MACs) are kept in the store, so
    that tokens and markers outlive it. Then every secret is re-wrapped under the new version, as by `rotate`.

    Run it with the store's current root key. :raises RotationRefused: during another replacement, or when this
    process does not hold the current root key, or when the new root key is this one.
    """
    now = time.time() if now is None else now
    old = store.root_key_versions
    if old.role != "current":
        raise RotationRefused("run the replacement with the store's current root key")
    new = RootKeyVersions(new_root_key)
    with store.transaction() as tx:
        session = _session(tx)
        conn = session.conn
        meta = t.meta.c
        current = conn.execute(select(meta.value).where(meta.name == "root_key_check")).scalar()
        if current is None:
            raise RotationRefused("the store is not initialised (trent init)")
        try:
            same = new_root_key.unwrap(bytes(current), CHECK_AAD) == CHECK_PLAINTEXT
        except RootKeyError:
            same = False
        if same:
            raise RotationRefused("the new root key is the current one")
        if conn.execute(select(meta.value).where(meta.name == "root_key_check_previous")).first() is not None:
            raise RotationRefused("the root key is being replaced already: retire the old versions first")
        v = t.root_key_versions.c
        for version, wrapped in conn.execute(
            select(v.version, v.wrapped_key).where(v.retired.is_(None), v.version > 0)
        ).all():
            data_key = old.root_key.unwrap(bytes(wrapped), b"root-key-version:" + str(version).encode())
            conn.execute(
                update(t.root_key_versions)
                .where(v.version == version)
                .values(wrapped_key=new.wrap_data_key(version, data_key), wrapped_key_previous=wrapped)
            )
        version = int(conn.execute(select(func.max(v.version))).scalar_one()) + 1
        data_key = generate_root_key()
        conn.execute(
            insert(t.root_key_versions).values(
                version=version,
                created=now,
                retired=None,
                wrapped_key=new.wrap_data_key(version, data_key),
                wrapped_key_previous=old.wrap_data_key(version, data_key),
            )
        )
        old.adopt(version, data_key)
        secrets = t.store_secrets.c
        kept = set(conn.execute(select(secrets.name)).scalars())
        for purpose in DERIVED_PURPOSES:
            name = "derived:" + purpose.decode()
            if name not in kept:
                wrapped_secret = old.wrap(version, store.derived_key(purpose), store_secret_aad(name))
                conn.execute(insert(t.store_secrets).values(name=name, wrapped=wrapped_secret))
        conn.execute(insert(t.meta).values(name="root_key_check_previous", value=current))
        conn.execute(
            update(t.meta)
            .where(meta.name == "root_key_check")
            .values(value=new_root_key.wrap(CHECK_PLAINTEXT, CHECK_AAD))
        )
        total = _start_rewrap(conn, version, now)
        session.record(CHANGE_ROOT_KEY, str(version))
    old.role = "previous"  # this process holds the root key being replaced from now on
    old.forget()
    return RewrapProgress(version, 0, total, now, None)


def start_with_a_data_key(store: Store, now: float | None = None) -> bool:
    """For a new store whose root key is in an HSM: version 1 at once, with version 0 (the HSM's key itself)
    retired before it wraps anything, and the derived keys (token and marker MACs) made at random and kept in the
    store: so the HSM only ever unwraps one data key per process, and nothing is derived from it. False if the
    store holds anything already (it is not new)."""
    now = time.time() if now is None else now
    with store.transaction() as tx:
        session = _session(tx)
        conn = session.conn
        if any(_wrapped_count(conn, column) for column in WRAPPED_COLUMNS):
            return False
        v = t.root_key_versions.c
        if int(conn.execute(select(func.max(v.version))).scalar_one()) > 0:
            return False
        data_key = generate_root_key()
        versions = store.root_key_versions
        conn.execute(
            insert(t.root_key_versions).values(
                version=1, created=now, retired=None, wrapped_key=versions.wrap_data_key(1, data_key)
            )
        )
        conn.execute(update(t.root_key_versions).where(v.version == 0).values(retired=now))
        versions.adopt(1, data_key)
        for purpose in DERIVED_PURPOSES:
            name = "derived:" + purpose.decode()
            secret = versions.wrap(1, generate_root_key(), store_secret_aad(name))
            conn.execute(insert(t.store_secrets).values(name=name, wrapped=secret))
        session.record(CHANGE_ROOT_KEY, "1")
    return True


def progress(store: Store) -> RewrapProgress | None:
    """The newest re-wrap, finished or not (None before the first rotation)."""
    with store.transaction(write=False) as tx:
        c = t.rewrap_progress.c
        row = _session(tx).conn.execute(select(t.rewrap_progress).order_by(c.target_version.desc()).limit(1)).first()
    return None if row is None else _progress_of(row)


def _after(column: WrappedColumn, last: Sequence[Any] | None) -> Any:
    """Rows after the primary key `last`, in primary-key order (a range of the primary key's index)."""
    if last is None:
        return True
    keys = [getattr(column.table.c, name) for name in column.primary_key]
    if len(keys) == 1:
        return keys[0] > last[0]
    return or_(keys[0] > last[0], and_(keys[0] == last[0], keys[1] > last[1]))


def rewrap_batch(store: Store, rows: int = BATCH_ROWS, now: float | None = None) -> RewrapProgress | None:
    """Re-wrap the next batch of the unfinished re-wrap, if there is one, and say how far it is.

    When the walk through every column ends, it checks that nothing is left under another version (a process that
    had not heard of the rotation yet may have wrapped under the one before) and walks again if something is.
    """
    with store.transaction() as tx:
        session = _session(tx)
        conn = session.conn
        c = t.rewrap_progress.c
        query = select(t.rewrap_progress).where(c.finished.is_(None)).order_by(c.target_version.desc()).limit(1)
        row = conn.execute(query if store.is_sqlite else query.with_for_update()).first()
        if row is None:
            return None
        newest = session.root_key.newest()
        index, last = json.loads(row.position)
        processed = row.rewrapped
        finished = None
        if index < len(WRAPPED_COLUMNS):
            column = WRAPPED_COLUMNS[index]
            value = getattr(column.table.c, column.column)
            keys = [getattr(column.table.c, name) for name in column.primary_key]
            extra = [getattr(column.table.c, name) for name in column.extra]
            batch = conn.execute(
                select(*keys, *extra, value).where(value.is_not(None), _after(column, last)).order_by(*keys).limit(rows)
            ).all()
            changed = []
            for found in batch:
                mapping = found._mapping
                old = bytes(mapping[column.column])
                if wrapped_version(old) != newest:
                    aad = column.aad(mapping)
                    new = session.root_key.wrap(session.root_key.unwrap(old, aad), aad)
                    changed.append({**{f"pk_{key.name}": mapping[key.name] for key in keys}, "old": old, "new": new})
            if changed:
                # One statement for the batch; a row whose value changed since it was read keeps the new value (it
                # was written under the newest version, or the walk's final check finds it).
                statement = (
                    update(column.table)
                    .where(*(key == bindparam(f"pk_{key.name}") for key in keys), value == bindparam("old"))
                    .values({column.column: bindparam("new")})
                )
                conn.execute(statement, changed)
            processed += len(batch)
            if len(batch) < rows:
                index, last = index + 1, None
            else:
                last = [batch[-1]._mapping[name] for name in column.primary_key]
        else:
            # The walk is over: is anything left under another version? (Rows written while it walked are.)
            left = sum(_not_under(conn, column, newest) for column in WRAPPED_COLUMNS)
            if left:
                index, last = 0, None
            else:
                finished = time.time() if now is None else now
        conn.execute(
            update(t.rewrap_progress)
            .where(c.target_version == row.target_version)
            .values(position=json.dumps([index, last]), rewrapped=processed, finished=finished)
        )
        return RewrapProgress(row.target_version, processed, row.total, row.started, finished)


def retire_old(store: Store, now: float | None = None) -> list[int]:
    """Retire every version before the newest: their data keys are deleted, so nothing wrapped under them can be
    unwrapped any more (version 0: the root key itself wraps nothing but the data keys from then on).

    :raises RetireRefused: while anything is still wrapped under one of them (the re-wrap has not finished).
    """
    now = time.time() if now is None else now
    with store.transaction() as tx:
        session = _session(tx)
        conn = session.conn
        v = t.root_key_versions.c
        newest = session.root_key.newest()
        old = [
            int(version)
            for version in conn.execute(
                select(v.version).where(v.version < newest, v.retired.is_(None)).order_by(v.version)
            ).scalars()
        ]
        if not old:
            return []
        # First the rows of the versions (on PostgreSQL this waits for every transaction that is wrapping under one
        # of them: they read their version FOR SHARE), then the count, which sees what those transactions wrote.
        conn.execute(
            update(t.root_key_versions)
            .where(v.version < newest, v.retired.is_(None))
            .values(retired=now, wrapped_key=None)
        )
        left = {column.column: _not_under(conn, column, newest) for column in WRAPPED_COLUMNS}
        if any(left.values()):
            raise RetireRefused(
                f"{sum(left.values())} stored secrets are still wrapped under an older root-key version "
                f"({', '.join(f'{name}: {count}' for name, count in left.items() if count)}); "
                "let the re-wrap finish (trent admin root-key rewrap), then retire"
            )
        # A replacement of the root key ends here: the previous root key opens nothing any more.
        conn.execute(update(t.root_key_versions).values(wrapped_key_previous=None))
        conn.execute(delete(t.meta).where(t.meta.c.name == "root_key_check_previous"))
        session.record(CHANGE_ROOT_KEY, "retired")
    store.root_key_versions.forget()
    return old


def status(store: Store) -> dict[str, Any]:
    """The versions, what is wrapped under each (by column), and the re-wrap's progress."""
    with store.transaction(write=False) as tx:
        session = _session(tx)
        conn = session.conn
        v = t.root_key_versions.c
        rows = conn.execute(select(v.version, v.created, v.retired).order_by(v.version)).all()
        newest = max((row.version for row in rows if row.retired is None), default=None)
        versions = []
        for row in rows:
            prefix = version_prefix(row.version)
            counts = {}
            for column in WRAPPED_COLUMNS:
                c = getattr(column.table.c, column.column)
                counts[column.table.name] = int(
                    conn.execute(
                        select(func.count()).where(c.is_not(None), func.substr(c, 1, len(prefix)) == prefix)
                    ).scalar_one()
                )
            versions.append(
                {
                    "version": row.version,
                    "created": row.created,
                    "retired": row.retired,
                    "newest": row.version == newest,
                    "wrapped": counts,
                }
            )
    current = progress(store)
    return {
        "versions": versions,
        "rewrap": None
        if current is None
        else {
            "target_version": current.target_version,
            "processed": current.processed,
            "total": current.total,
            "fraction": round(current.fraction, 4),
            "finished": current.finished,
        },
    }


__all__ = ["WRAPPED_COLUMNS", "RetireRefused", "RewrapProgress", "progress", "retire_old", "rewrap_batch", "rotate"]

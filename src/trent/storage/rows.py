"""One mapper per table between its rows and the domain's objects, used by the transactions' repositories and by
the fast reader alike. Columns are selected in the orders below, so rows map by position (DB-API tuples and
SQLAlchemy rows both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trent.domain.grants import Constraints, Grant, operations_mask, operations_of
from trent.domain.identities import Principal, PrincipalType
from trent.domain.ids import key_id_of_ref
from trent.domain.keys import Alias, Key, KeyState
from trent.domain.keyspec import KeyUsage

# --- keys ------------------------------------------------------------------------------------------------------------
KEY_COLUMNS = (
    "key_id, account_id, region, spec, usage, state, description, creation_date, origin, policy, current_version, "
    "deletion_date, pending_window_days, rotation_enabled, rotation_period_days, next_rotation_date, "
    "on_demand_rotations, version, primary_region"
)


def key_from_tuple(row: Sequence[Any]) -> Key:
    """A key from a row selected with KEY_COLUMNS."""
    return Key(
        key_id=key_id_of_ref(row[0]),
        account=row[1],
        region=row[2],
        spec_name=row[3],
        usage=KeyUsage(row[4]),
        state=KeyState(row[5]),
        description=row[6],
        creation_date=row[7],
        origin=row[8],
        policy=row[9],
        current_version=row[10],
        deletion_date=row[11],
        pending_window_days=row[12],
        rotation_enabled=bool(row[13]),
        rotation_period_days=row[14],
        next_rotation_date=row[15],
        on_demand_rotations=row[16],
        version=row[17],
        primary_region=row[18],
    )


def key_values(key: Key) -> dict[str, Any]:
    """The `keys` row of a key (every column but `grant_count`, which only the grant slots move)."""
    return {
        "key_id": key.ref,
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
        "primary_region": key.primary_region,
    }


# --- grants ----------------------------------------------------------------------------------------------------------
GRANT_COLUMNS = (
    "seq, grant_id, key_id, key_account, key_region, name, grantee_principal, grantee_service_principal, "
    "retiring_principal, retiring_service_principal, issuing_account, operations, constraints, creation_date, "
    "deleted_at, parent_grant_id"
)
#: The columns a new grant row is written with (the sequence number is assigned by the database).
GRANT_INSERT_COLUMNS = tuple(name.strip() for name in GRANT_COLUMNS.split(","))[1:]


def grant_from_tuple(row: Sequence[Any]) -> tuple[int, Grant]:
    """(seq, grant) from a row selected with GRANT_COLUMNS."""
    return int(row[0]), Grant(
        grant_id=row[1],
        key_id=key_id_of_ref(row[2]),
        key_account=row[3],
        key_region=row[4],
        name=row[5],
        grantee_principal=row[6],
        grantee_service_principal=row[7],
        retiring_principal=row[8],
        retiring_service_principal=row[9],
        issuing_account=row[10],
        operations=frozenset(operations_of(row[11])),
        constraints=Constraints.from_json(row[12]),
        creation_date=row[13],
        deleted_at=row[14],
        parent_grant_id=row[15],
    )


def grant_values(grant: Grant) -> tuple[Any, ...]:
    """A grant's row, in the order of GRANT_INSERT_COLUMNS."""
    return (
        grant.grant_id,
        grant.key_ref,
        grant.key_account,
        grant.key_region,
        grant.name,
        grant.grantee_principal,
        grant.grantee_service_principal,
        grant.retiring_principal,
        grant.retiring_service_principal,
        grant.issuing_account,
        operations_mask(grant.operations),
        grant.constraints.to_json() if grant.constraints is not None else None,
        grant.creation_date,
        grant.deleted_at,
        grant.parent_grant_id,
    )


# --- aliases ---------------------------------------------------------------------------------------------------------
ALIAS_COLUMNS = ("account_id", "region", "alias_name", "key_id", "created", "updated")


def alias_from_tuple(row: Sequence[Any]) -> Alias:
    """An alias from a row selected with ALIAS_COLUMNS."""
    return Alias(
        account=row[0], region=row[1], name=row[2], key_id=key_id_of_ref(row[3]), created=row[4], updated=row[5]
    )


# --- principals ------------------------------------------------------------------------------------------------------
PRINCIPAL_COLUMNS = ("arn", "account_id", "type", "name", "unique_id", "trust_policy", "created")


def principal_from_tuple(row: Sequence[Any]) -> Principal:
    """A principal from a row selected with PRINCIPAL_COLUMNS."""
    return Principal(
        arn=row[0],
        account=row[1],
        type=PrincipalType(row[2]),
        name=row[3],
        unique_id=row[4],
        trust_policy=row[5],
        created=row[6],
    )


def principal_values(principal: Principal) -> dict[str, Any]:
    return {
        "arn": principal.arn,
        "account_id": principal.account,
        "type": str(principal.type),
        "name": principal.name,
        "unique_id": principal.unique_id,
        "trust_policy": principal.trust_policy,
        "created": principal.created,
    }

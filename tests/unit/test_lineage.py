"""Grant lineage (docs/grants.md, "Lineage"): each grant's parent is stored and read back by every reader of
grants, CreateGrant's parent is the grant whose permission allowed it, and the tree of a key's grants is built
from one indexed query, retired parents shown as markers while their tombstones last."""

from __future__ import annotations

import dataclasses

from tests.unit.test_query_plans import full_scans, statements
from tests.unit.test_repositories import KEY_ID, a_grant, with_key
from trent.api.lineage import LineageNode, build_lineage, grant_lineage, lineage_entries, walk
from trent.domain.authz import Decision, Reason, allowing_grant_id, grant_match
from trent.domain.grants import Grant
from trent.domain.policy import Match
from trent.storage.rows import GRANT_INSERT_COLUMNS, grant_from_tuple, grant_values
from trent.storage.store import Store

A, B, C, D, GONE = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)


def child_of(grant_id: str, parent: str | None, created: float = 1_800_000_000.0) -> Grant:
    return dataclasses.replace(a_grant(grant_id, name=grant_id[:1]), parent_grant_id=parent, creation_date=created)


def insert(store: Store, *grants: Grant) -> None:
    with store.transaction() as tx:
        for grant in grants:
            assert tx.grants.reserve_slot(KEY_ID, 100)
            tx.grants.insert(grant)


def shape(roots: list[LineageNode]) -> list[tuple[int, str, bool, bool]]:
    """(depth, name, retired, parent gone) of each node, depth first."""
    return [(depth, node.grant.name or "", node.retired, node.parent_gone) for depth, node in walk(roots)]


# --- the row mapper ---------------------------------------------------------------------------------------------------
def test_the_row_mapper_writes_and_reads_the_parent_last_and_leaves_the_key_ref_alone() -> None:
    grant = child_of(B, A)
    values = grant_values(grant)
    assert GRANT_INSERT_COLUMNS[-1] == "parent_grant_id" and values[-1] == A
    assert dict(zip(GRANT_INSERT_COLUMNS, values, strict=True))["key_id"] == grant.key_ref
    assert grant_from_tuple((7, *values)) == (7, grant)
    assert grant_from_tuple((7, *grant_values(a_grant(A))))[1].parent_grant_id is None


def test_a_grants_parent_reads_back_through_every_reader(store: Store) -> None:
    with_key(store)
    root, child = child_of(A, None), child_of(B, A)
    insert(store, root, child)
    with store.transaction(write=False) as tx:
        assert tx.grants.get(B) == child and tx.grants.get(A) == root
        assert tx.grants.active_named(KEY_ID, "b") == [child]
    assert store.reader.grant(B) == child
    assert [g for _, g in store.reader.list_grants(KEY_ID, 0, 10)] == [root, child]
    assert [g for _, g in store.reader.grants_of_grantee(KEY_ID, child.grantee_principal or "", 0.0)] == [root, child]
    # ListGrants entries are AWS's: the parent is not one of their members.
    assert "ParentGrantId" not in str(child.list_entry()) and A not in str(child.list_entry())


# --- the decision names the grant that allowed CreateGrant ------------------------------------------------------------
def test_the_allowing_grant_is_the_first_grant_match_of_a_grant_decision_only() -> None:
    first, second = grant_match(a_grant(A)), grant_match(a_grant(B))
    assert allowing_grant_id(Decision(True, Reason.GRANT, (first, second), None)) == A
    policy = Match(policy="key policy", sid=None, index=0, effect="Allow")
    assert allowing_grant_id(Decision(True, Reason.KEY_POLICY, (policy,), None)) is None
    assert allowing_grant_id(Decision(True, Reason.IAM, (policy,), None)) is None
    assert allowing_grant_id(Decision(False, Reason.GRANT, (first,), "no")) is None


# --- the tree ---------------------------------------------------------------------------------------------------------
def test_three_levels_and_a_retired_middle_grant(store: Store) -> None:
    """Key policy -> A (with CreateGrant) -> B, created by A's grantee -> C, created by B's grantee; D, created by
    a policy too, stands alone."""
    with_key(store)
    insert(store, child_of(A, None, 1.0), child_of(B, A, 2.0), child_of(D, None, 3.0), child_of(C, B, 4.0))
    roots = grant_lineage(store, KEY_ID)
    assert shape(roots) == [
        (0, "a", False, False),
        (1, "b", False, False),
        (2, "c", False, False),
        (0, "d", False, False),
    ]
    assert [child.grant.grant_id for child in roots[0].children] == [B]

    # B is retired: C stays, under B shown as retired, as long as B's tombstone is stored.
    with store.transaction() as tx:
        b = tx.grants.get(B)
        assert b is not None and tx.grants.delete(b, 10.0)
    assert shape(grant_lineage(store, KEY_ID)) == [
        (0, "a", False, False),
        (1, "b", True, False),
        (2, "c", False, False),
        (0, "d", False, False),
    ]
    # Within a transaction of the caller's too.
    with store.transaction(write=False) as tx:
        assert shape(grant_lineage(tx, KEY_ID)) == shape(grant_lineage(store, KEY_ID))

    # Its tombstone purged, C is a root whose parent is gone (and still names it).
    with store.transaction() as tx:
        assert tx.grants.purge(deleted_before=11.0) == 1
    roots = grant_lineage(store, KEY_ID)
    assert shape(roots) == [(0, "a", False, False), (0, "d", False, False), (0, "c", False, True)]
    assert roots[2].grant.parent_grant_id == B

    # A retired grant with no active grant under it is not shown.
    with store.transaction() as tx:
        c = tx.grants.get(C)
        assert c is not None and tx.grants.delete(c, 20.0)
    assert shape(grant_lineage(store, KEY_ID)) == [(0, "a", False, False), (0, "d", False, False)]


def test_retired_markers_stack_and_retired_leaves_are_dropped() -> None:
    a, b, c = child_of(A, None), child_of(B, A), child_of(C, B)
    retired = {A: 5.0, B: 6.0}
    grants = [dataclasses.replace(g, deleted_at=retired.get(g.grant_id)) for g in (a, b, c)]
    assert shape(build_lineage(grants)) == [(0, "a", True, False), (1, "b", True, False), (2, "c", False, False)]
    assert build_lineage([dataclasses.replace(c, deleted_at=1.0)]) == []
    assert shape(build_lineage([c])) == [(0, "c", False, True)]


def test_a_parent_listed_after_its_child_makes_no_cycle() -> None:
    # Rows that name each other (impossible from CreateGrant: a parent exists before its child) are both roots.
    a, b = child_of(A, B), child_of(B, A)
    assert shape(build_lineage([a, b])) == [(0, "a", False, True), (1, "b", False, False)]
    assert shape(build_lineage([child_of(A, A)])) == [(0, "a", False, True)]


def test_a_long_chain_is_built_and_walked_without_recursion() -> None:
    ids = [f"{i:064x}" for i in range(5000)]
    grants = [child_of(grant_id, ids[i - 1] if i else None) for i, grant_id in enumerate(ids)]
    entries = lineage_entries(build_lineage(grants))
    assert [e["Depth"] for e in entries] == list(range(5000))
    assert entries[1]["ParentGrantId"] == ids[0] and entries[0]["ParentGrantId"] is None
    assert entries[0]["Operations"] == ["Decrypt", "Encrypt"]


def test_the_lineage_reads_one_key_by_its_index(sqlite_store: Store) -> None:
    with_key(sqlite_store)
    insert(sqlite_store, child_of(A, None), child_of(B, A))
    with statements(sqlite_store) as sql:
        grant_lineage(sqlite_store, KEY_ID)
    selects = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, sql  # one query, whatever the number of grants
    assert full_scans(sqlite_store, sql) == []
    assert grant_lineage(sqlite_store, f"{KEY_ID[:-1]}1") == []

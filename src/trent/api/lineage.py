"""Grant lineage: which grant's CreateGrant permission created which grant, as a tree per key (docs/grants.md,
"Lineage").

CreateGrant records, in each new grant, the grant that allowed the call (`Grant.parent_grant_id`; None when a key
policy or an identity policy allowed it). AWS records nothing of the kind and no KMS response shows it: it is read
only here, by `trent admin grants --tree` and the web console. These are operators' views: nothing here authorizes.

What the tree shows:

- every active grant of the key, under the grant that created it;
- a grant created by a policy is a root;
- a retired or revoked grant appears only while its tombstone is stored (`LineageNode.retired`) and some grant it
  created, directly or further down, is still active: a marker for the active grants under it, which stay where
  they are (retiring a grant does not retire the grants it created, in AWS as in Trent);
- once that tombstone is purged (maintenance, after the propagation delay), the grants it created are roots whose
  parent is gone (`LineageNode.parent_gone`; `grant.parent_grant_id` still names it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from trent.domain.grants import GRANT_OPERATIONS, Grant
from trent.storage.store import Store, Tx


@dataclass(eq=False, slots=True)
class LineageNode:
    """A grant of the key and the grants it created, in creation order."""

    grant: Grant
    children: list[LineageNode] = field(default_factory=list)
    #: A root whose grant names a parent that is no longer stored (retired or revoked, and its tombstone purged).
    parent_gone: bool = False

    @property
    def retired(self) -> bool:
        """A retired or revoked grant: in the tree only because grants it created are still active."""
        return self.grant.deleted_at is not None


def grant_lineage(source: Store | Tx, key_ref: str) -> list[LineageNode]:
    """The lineage tree of the grants on one key: its roots, in creation order.

    :param source: a store (read in a transaction of its own), or a transaction already open.
    :param key_ref: the store's name of the key (`Key.ref`, or `trent.domain.ids.key_ref(key_id, region)`).
    :returns: the roots (grants a policy created, and grants whose parent is gone), each with its children,
        recursively. One query reads the key's grants (at most MAX_GRANTS_PER_KEY active ones, and the retired
        parents of grants); the tree is built in memory. A chain of grants can be deep (each created by the one
        before): walk the tree with `walk`, which does not recurse, rather than recursively.
    """
    return build_lineage(_read(source, lambda tx: tx.grants.lineage(key_ref)))


def delegation_lineage(source: Store | Tx, key_ref: str) -> list[LineageNode]:
    """As `grant_lineage`, but only the grants that take part in a delegation (made through a grant, or used to
    make one): what the console shows, whatever the number of grants that stand alone on the key."""
    return build_lineage(_read(source, lambda tx: tx.grants.delegations(key_ref)))


def _read(source: Store | Tx, query: Callable[[Tx], list[Grant]]) -> list[Grant]:
    """`query` in the transaction given, or in one of its own."""
    if isinstance(source, Tx):
        return query(source)
    with source.transaction(write=False) as tx:
        return query(tx)


def build_lineage(grants: Iterable[Grant]) -> list[LineageNode]:
    """The lineage tree of `grants` (the grants of one key, in creation order): pure, no I/O.

    A grant hangs under its parent when the parent comes before it (a parent is always created first, so a
    malformed row can never make a cycle). Retired or revoked grants are kept only as markers above an active
    grant, and dropped otherwise.
    """
    ordered: Sequence[Grant] = list(grants)
    position = {grant.grant_id: index for index, grant in enumerate(ordered)}
    parent_of: list[int | None] = []
    for index, grant in enumerate(ordered):
        parent = position.get(grant.parent_grant_id) if grant.parent_grant_id is not None else None
        parent_of.append(parent if parent is not None and parent < index else None)
    # Keep the active grants and the retired ones above an active grant: children come after their parent, so one
    # pass from the end settles every grant before its parent.
    kept = [grant.deleted_at is None for grant in ordered]
    for index in range(len(ordered) - 1, -1, -1):
        parent = parent_of[index]
        if kept[index] and parent is not None:
            kept[parent] = True
    nodes: list[LineageNode | None] = [None] * len(ordered)
    roots: list[LineageNode] = []
    for index, grant in enumerate(ordered):
        if not kept[index]:
            continue
        node = nodes[index] = LineageNode(grant)
        parent = parent_of[index]
        parent_node = nodes[parent] if parent is not None else None
        if parent_node is not None:
            parent_node.children.append(node)
        else:
            node.parent_gone = grant.parent_grant_id is not None
            roots.append(node)
    return roots


def walk(roots: Iterable[LineageNode]) -> Iterator[tuple[int, LineageNode]]:
    """(depth, node) of every node, depth first in creation order (a root has depth 0); iterative, so that a
    chain of any length can be shown."""
    stack: list[tuple[int, LineageNode]] = [(0, root) for root in reversed(list(roots))]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        stack.extend((depth + 1, child) for child in reversed(node.children))


def lineage_entries(roots: Iterable[LineageNode]) -> list[dict[str, object]]:
    """The tree as a flat list in `walk` order, one JSON-ready entry per node, with its depth and parent (a flat
    list, as a nested document of a long chain would be too deep for a JSON encoder). No grant token: a grant has
    none stored."""
    entries: list[dict[str, object]] = []
    for depth, node in walk(roots):
        grant = node.grant
        entries.append(
            {
                "GrantId": grant.grant_id,
                "Name": grant.name,
                "GranteePrincipal": grant.grantee_principal or grant.grantee_service_principal,
                "Operations": [op for op in GRANT_OPERATIONS if op in grant.operations],
                "CreationDate": grant.creation_date,
                "ParentGrantId": grant.parent_grant_id,
                "Depth": depth,
                "Retired": node.retired,
                "ParentGone": node.parent_gone,
            }
        )
    return entries

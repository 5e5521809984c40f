"""The caches on the request path that hold what authorization reads: parsed policies, identity policies,
decisions that no condition can change.

Each lives in `Services` (one per process), is bounded, evicts the least recently used entry when full (never
everything at once), and says in its docstring what invalidates it. The table of every cache is in
docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from trent.domain.policy import Policy, PolicyError, parse_policy
from trent.storage.reader import FastReader
from trent.storage.session import CHANGE_IDENTITY_POLICY, CHANGE_PRINCIPAL, Change

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: What `Lru.get` returns for a key it does not hold (None may be a cached value: "no such key").
MISSING: Any = object()


@dataclass(frozen=True)
class CacheSizes:
    """How much each cache of a process may hold (docs/configuration.md, `cache_*`). Each evicts its least
    recently used entries beyond; those that hold documents are bounded in megabytes too."""

    #: Keys (with their policies), alias targets, accounts and principals that exist.
    keys: int = 50_000
    #: Unwrapped key material versions, prepared for use.
    key_material: int = 20_000
    #: (key, grantee) grant sets of the grant view.
    grant_sets: int = 100_000
    #: Access keys' secrets and callers.
    credentials: int = 25_000
    #: Parsed policy documents.
    policies: int = 16_384
    #: Principals' identity policies.
    identity_policies: int = 25_000
    #: Decisions no condition can change.
    decisions: int = 25_000
    #: What the caches of documents (keys with their policies, parsed policies, identity policies) hold, each.
    megabytes: int = 256


class Lru(Generic[K, V]):
    """A bounded mapping that forgets its least recently used entries when full — by count, and by weight when
    `weigh` says what an entry weighs (bytes, roughly).

    Reads take no lock (a dict read is atomic under the GIL); writes do. `generation` moves on every
    invalidation, so a value loaded before an invalidation is not stored after it (`put_if_current`).
    """

    def __init__(
        self, max_entries: int, *, max_weight: int | None = None, weigh: Callable[[V], int] | None = None
    ) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}
        self._max = max_entries
        self._max_weight = max_weight
        self._weigh = weigh
        self._weight = 0
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: K, default: Any = None) -> Any:
        """The value under `key` (marked as recently used), or `default`."""
        value = self._entries.get(key, MISSING)
        if value is MISSING:
            return default
        # Not contextlib.suppress: this runs several times a request, and the context manager costs ~1 µs each.
        try:  # noqa: SIM105
            self._entries.move_to_end(key)
        except KeyError:  # removed by another thread meanwhile
            pass
        return value

    def put_if_current(self, key: K, value: V, generation: int) -> None:
        """Store `value`, loaded when the cache was at `generation`, unless something was invalidated since."""
        with self._lock:
            if generation != self.generation:
                return
            self._remove(key)
            self._entries[key] = value
            if self._weigh is not None:
                weight = self._weigh(value)
                self._weights[key] = weight
                self._weight += weight
            while self._entries and (
                len(self._entries) > self._max or (self._max_weight is not None and self._weight > self._max_weight)
            ):
                self._remove(next(iter(self._entries)))

    def put(self, key: K, value: V) -> None:
        self.put_if_current(key, value, self.generation)

    def _remove(self, key: K) -> None:
        if self._entries.pop(key, MISSING) is not MISSING:
            self._weight -= self._weights.pop(key, 0)

    def pop(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._remove(key)

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        with self._lock:
            self.generation += 1
            for key in [key for key in self._entries if predicate(key)]:
                self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._weights.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)


def parsed_weight(document: str) -> int:
    """What a parsed policy weighs in bytes, at most, for the caches' bounds. Measured with tracemalloc
    (benchmarks/policy_memory.py; `tests/unit/test_policy_memory.py` holds the formula above the measure): a parsed
    policy keeps about 1 KB of its own, 4 to 9 times its text, and some 700 bytes per wildcard pattern. Patterns
    are shared between policies that repeat them, so in a population of users' policies the formula counts 5
    times what they take; alone, a policy takes up to what it counts."""
    wildcards = document.count("*") + document.count("?")
    return 1024 + 12 * len(document) + 700 * wildcards


class PolicyCache:
    """Parsed policies by (kind, name, document text). Content-addressed: a changed document is another entry,
    so nothing ever invalidates it; it is bounded by count and by size (LRU): 16,384 policies of up to 32 KB each
    would otherwise keep over four gigabytes once parsed."""

    def __init__(self, max_entries: int = 16_384, max_bytes: int = 256 * 1024 * 1024) -> None:
        # Each entry is (policy, the size it counts for).
        self._parsed: Lru[tuple[str, str, str | bytes], tuple[Policy, int]] = Lru(
            max_entries, max_weight=max_bytes, weigh=lambda entry: entry[1]
        )

    def get(self, document: str, *, name: str, kind: str) -> Policy:
        """:raises PolicyError: for a document AWS would refuse."""
        # Key and trust policies are looked up on every request: by their text, whose hash the string keeps.
        # Identity policies are many (one or more per principal) and looked up only when `IdentityPolicies` reads
        # a principal's: by their SHA-256, so that the cache does not keep every text alongside what it parsed.
        text_or_digest: str | bytes = (
            document if kind != "identity" else hashlib.sha256(document.encode("utf-8", "surrogatepass")).digest()
        )
        cache_key = (kind, name, text_or_digest)
        entry: tuple[Policy, int] | None = self._parsed.get(cache_key)
        if entry is None:
            entry = (parse_policy(document, name=name, kind=kind), parsed_weight(document))  # type: ignore[arg-type]
            self._parsed.put(cache_key, entry)
        return entry[0]


#: What an unreadable identity policy counts as (fail closed).
_DENY_EVERYTHING = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
#: Condition keys whose values cost a read of the store: gathered only when a policy in play names them.
_COSTLY_KEYS = ("aws:resourcetag/", "kms:resourcealiases")
_log = logging.getLogger("trent.authorize")


def mentions_costly_keys(document: str) -> bool:
    folded = document.lower()
    return any(name in folded for name in _COSTLY_KEYS)


class IdentityPolicies:
    """The parsed identity policies of each principal (user or role) that has called.

    Invalidated by the change feed: an `identity_policy` or `principal` change of the principal forgets its entry;
    a gap in the feed forgets everything.
    """

    def __init__(
        self, reader: FastReader, policies: PolicyCache, max_entries: int = 25_000, max_bytes: int = 256 * 1024 * 1024
    ) -> None:
        self._reader = reader
        self._policies = policies
        # (policies, costly?, the size they count for): bounded by count and by size.
        self._cache: Lru[str, tuple[tuple[Policy, ...], bool, int]] = Lru(
            max_entries, max_weight=max_bytes, weigh=lambda entry: entry[2]
        )

    def of(self, principal_arn: str) -> tuple[tuple[Policy, ...], bool]:
        """(the principal's policies, whether any names a condition key that costs a store read)."""
        cached = self._cache.get(principal_arn)
        if cached is not None:
            return cached[0], cached[1]
        generation = self._cache.generation
        documents = self._reader.identity_policies(principal_arn)
        parsed = []
        for name, document in documents:
            try:
                parsed.append(self._policies.get(document, name=name, kind="identity"))
            except PolicyError as exc:
                # Stored before attach-time validation, or edited in the database. It may have held a Deny, so
                # it may not simply be skipped: the principal is denied everything until the policy is fixed.
                _log.error(
                    "identity policy %r of %s cannot be read (%s): denying the principal everything",
                    name,
                    principal_arn,
                    exc,
                )
                parsed.append(self._policies.get(_DENY_EVERYTHING, name=name, kind="identity"))
        costly = any(mentions_costly_keys(document) for _, document in documents)
        size = 256 + sum(parsed_weight(document) for _, document in documents)
        self._cache.put_if_current(principal_arn, (tuple(parsed), costly, size), generation)
        return tuple(parsed), costly

    def changed(self, change: Change) -> None:
        if change.kind in (CHANGE_IDENTITY_POLICY, CHANGE_PRINCIPAL):
            self._cache.pop(change.entity)

    def reset(self) -> None:
        self._cache.clear()

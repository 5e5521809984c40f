"""Prometheus metrics: requests by operation and error code, latencies, the store, grants, the grant view.

With several worker processes, prometheus-client's multiprocess mode aggregates every worker's samples
(PROMETHEUS_MULTIPROC_DIR is set by `trent serve` before the workers start).

API requests are counted in the process first and added to the shared series in batches (`publish_requests`,
every `audit_flush_interval` and before this process renders /metrics): a multiprocess sample costs three locked
writes to a memory-mapped file, 4 µs a request, where a tally costs a fifth of that. A scrape served by one worker
therefore sees another worker's last `audit_flush_interval` of requests on the next scrape (docs/deployment.md).
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("trent.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter("trent_requests", "API requests by operation and outcome (error code or ok)", ["operation", "code"])
LATENCY = Histogram("trent_request_seconds", "API request latency", ["operation"], buckets=_LATENCY_BUCKETS)
STORE_LATENCY = Histogram("trent_store_transaction_seconds", "Store transaction latency", buckets=_LATENCY_BUCKETS)
GRANT_VIEW_LAG = Gauge(
    "trent_grant_view_lag_seconds",
    "Seconds since this process last read the change feed that keeps its grant view and caches current",
    multiprocess_mode="max",
)
CHANGE_FEED_GAPS = Gauge(
    "trent_change_feed_gaps",
    "Times this process found change-feed rows purged before it read them (each emptied its caches)",
    multiprocess_mode="sum",
)


#: The upper bounds of LATENCY's buckets, +Inf last, as prometheus-client counts them (`amount <= bound`).
_LATENCY_BOUNDS = (*_LATENCY_BUCKETS, float("inf"))


class _Tally:
    """Requests of one operation and outcome since the last publish: how many, their seconds, and per bucket."""

    __slots__ = ("buckets", "count", "samples", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(_LATENCY_BOUNDS)
        self.samples: list[float] = []  # each latency, while bulk updates are not known to work (`_bulk`)


def _takes_bulk_updates(histogram: Any) -> bool:
    """Whether a labelled histogram's series are the `_sum` and per-bucket `_buckets` values that `publish_requests`
    adds to in bulk (prometheus-client's layout since 0.4); if not, every latency is observed one by one."""
    buckets = getattr(histogram, "_buckets", None)
    return (
        hasattr(getattr(histogram, "_sum", None), "inc")
        and isinstance(buckets, list)
        and len(buckets) == len(_LATENCY_BOUNDS)
        and all(hasattr(value, "inc") for value in buckets)
    )


#: Whether LATENCY takes bulk updates: None until the first publish looks (latencies are kept until then).
_bulk: bool | None = None
_tallies: dict[tuple[str, str], _Tally] = {}
_tallies_lock = threading.Lock()


def observe_request(operation: str, outcome: str, seconds: float) -> None:
    """Count one API request and its latency in this process (on the request path: a tally under a lock)."""
    bucket = bisect.bisect_left(_LATENCY_BOUNDS, seconds)
    with _tallies_lock:
        tally = _tallies.get((operation, outcome))
        if tally is None:
            tally = _tallies[(operation, outcome)] = _Tally()
        tally.count += 1
        tally.seconds += seconds
        tally.buckets[bucket] += 1
        if _bulk is not True:
            tally.samples.append(seconds)


def publish_requests() -> None:
    """Add the requests counted since the last call to the exported series (from the batch thread, and before
    this process renders /metrics)."""
    global _tallies
    with _tallies_lock:
        tallies, _tallies = _tallies, {}
    try:
        _publish(tallies)
    except Exception:
        # A metric must never stop the batch thread (audit events, request lines): the batch is dropped, said once
        # per failing publish; requests go on being counted for the next.
        log.warning("could not publish %d request tallies to the metrics", len(tallies), exc_info=True)


def _publish(tallies: dict[tuple[str, str], _Tally]) -> None:
    global _bulk
    for (operation, outcome), tally in tallies.items():
        REQUESTS.labels(operation, outcome).inc(tally.count)
        latency = LATENCY.labels(operation)
        bulk = _takes_bulk_updates(latency)
        if bulk:
            latency._sum.inc(tally.seconds)
            for value, count in zip(latency._buckets, tally.buckets, strict=True):
                if count:
                    value.inc(count)
        else:
            for seconds in tally.samples:
                latency.observe(seconds)
        _bulk = bulk


class GrantsPerKey(Collector):
    """Grants per key, read from the store at scrape time (the keys with the most grants)."""

    def __init__(self, top_keys: Callable[[], list[tuple[str, int]]]) -> None:
        self._top_keys = top_keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "trent_key_grants", "Active grants on a key (the 100 keys with most)", labels=["key"]
        )
        try:
            for key_arn, count in self._top_keys():
                family.add_metric([key_arn], count)
        except Exception:  # noqa: S110 - a scrape must not fail because the store is away; /ready reports that
            pass
        yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


class RootKeyRewrap(Collector):
    """The root key's newest version and how far the re-wrap under it has got, read at scrape time (one row)."""

    def __init__(self, progress: Callable[[], Any]) -> None:
        self._progress = progress

    def collect(self) -> Iterator[GaugeMetricFamily]:
        version = GaugeMetricFamily(
            "trent_root_key_rewrap_version", "The root-key version secrets are re-wrapped under"
        )
        fraction = GaugeMetricFamily(
            "trent_root_key_rewrap_progress", "Fraction of the stored secrets re-wrapped under it (1 when finished)"
        )
        try:
            current = self._progress()
            if current is not None:
                version.add_metric([], current.target_version)
                fraction.add_metric([], current.fraction)
        except Exception:  # noqa: S110 - as above: /ready reports a store that is away
            pass
        yield version
        yield fraction

    def describe(self) -> Iterator[Any]:
        return iter(())


def render(top_keys: Callable[[], list[tuple[str, int]]], rewrap: Callable[[], Any] | None = None) -> bytes:
    """The exposition text of every metric of every worker (this one's requests up to now)."""
    publish_requests()
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (REQUESTS, LATENCY, STORE_LATENCY, GRANT_VIEW_LAG):
            registry.register(metric)
    registry.register(GrantsPerKey(top_keys))
    if rewrap is not None:
        registry.register(RootKeyRewrap(rewrap))
    return generate_latest(registry)

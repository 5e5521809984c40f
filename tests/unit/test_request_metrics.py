"""API requests are tallied in the process and published to the Prometheus series in batches: what a scrape shows
after a publish must be exactly what one `observe` per request would have shown."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from trent.edge import metrics

BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# On a bound (counted in that bucket: Prometheus's `le`), between bounds, under the first, over the last.
LATENCIES = [0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.003, 0.024, 0.25, 0.9, 5.0, 7.5, 120.0]


def exported(operation: str, outcome: str) -> dict[str, float]:
    """The series of one operation as a scrape reads them (0 for a series not created yet)."""

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    series = {
        "requests": value("trent_requests_total", {"operation": operation, "code": outcome}),
        "count": value("trent_request_seconds_count", {"operation": operation}),
        "sum": value("trent_request_seconds_sum", {"operation": operation}),
    }
    for bound in (*BOUNDS, float("inf")):
        le = "+Inf" if bound == float("inf") else repr(bound)
        series[le] = value("trent_request_seconds_bucket", {"operation": operation, "le": le})
    return series


def expected(latencies: list[float]) -> dict[str, float]:
    """Computed here from the definition of a cumulative histogram, not by the code under test."""
    series = {"requests": float(len(latencies)), "count": float(len(latencies)), "sum": sum(latencies)}
    for bound in (*BOUNDS, float("inf")):
        le = "+Inf" if bound == float("inf") else repr(bound)
        series[le] = float(sum(1 for latency in latencies if latency <= bound))
    return series


@pytest.fixture(autouse=True)
def published_before_and_after() -> Iterator[None]:
    metrics.publish_requests()
    yield
    metrics.publish_requests()


def assert_series(operation: str, latencies: list[float]) -> None:
    got = exported(operation, "ok")
    want = expected(latencies)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name]), name


def test_requests_show_after_a_publish_exactly_as_one_observe_each_would() -> None:
    for latency in LATENCIES:
        metrics.observe_request("BatchedOp", "ok", latency)
    assert exported("BatchedOp", "ok")["requests"] == 0.0  # tallied, not yet published
    metrics.publish_requests()
    assert_series("BatchedOp", LATENCIES)
    # A second batch adds to the first.
    metrics.observe_request("BatchedOp", "ok", 0.002)
    metrics.publish_requests()
    assert_series("BatchedOp", [*LATENCIES, 0.002])


def test_outcomes_are_counted_apart_and_share_the_operation_latency() -> None:
    metrics.observe_request("SplitOp", "ok", 0.001)
    metrics.observe_request("SplitOp", "AccessDeniedException", 0.002)
    metrics.observe_request("SplitOp", "AccessDeniedException", 0.003)
    metrics.publish_requests()
    assert exported("SplitOp", "ok")["requests"] == 1.0
    assert exported("SplitOp", "AccessDeniedException")["requests"] == 2.0
    assert exported("SplitOp", "ok")["count"] == 3.0


def test_a_histogram_without_the_expected_layout_is_observed_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_bulk", None)
    monkeypatch.setattr(metrics, "_takes_bulk_updates", lambda histogram: False)
    for latency in LATENCIES:
        metrics.observe_request("UnknownLayoutOp", "ok", latency)
    metrics.publish_requests()
    assert_series("UnknownLayoutOp", LATENCIES)
    assert metrics._bulk is False
    # Once bulk updates are known not to work, every latency is still kept for the next publish.
    metrics.observe_request("UnknownLayoutOp", "ok", 0.3)
    metrics.publish_requests()
    assert_series("UnknownLayoutOp", [*LATENCIES, 0.3])


def test_the_installed_prometheus_client_takes_bulk_updates() -> None:
    # If an upgrade changes the histogram's layout, publishing falls back to one observe per request (exact, slower);
    # this test says so, so that the cost does not come back unnoticed.
    metrics.observe_request("LayoutOp", "ok", 0.001)
    metrics.publish_requests()
    assert metrics._bulk is True


def test_no_request_is_lost_when_a_publish_runs_beside_the_requests() -> None:
    threads, per_thread = 4, 5_000
    stop = threading.Event()

    def publisher() -> None:
        while not stop.is_set():
            metrics.publish_requests()

    def requests() -> None:
        for _ in range(per_thread):
            metrics.observe_request("RacingOp", "ok", 0.001)

    publishing = threading.Thread(target=publisher)
    publishing.start()
    workers = [threading.Thread(target=requests) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    publishing.join()
    metrics.publish_requests()
    assert exported("RacingOp", "ok")["requests"] == threads * per_thread
    assert exported("RacingOp", "ok")["0.001"] == threads * per_thread


def test_a_failing_publish_neither_raises_nor_stops_the_next(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The batch thread publishes after writing the audit events; a metric that fails (a full disk under the
    # multiprocess files) must not stop it. That batch is dropped and said; the next one is published.
    metrics.observe_request("FailingOp", "ok", 0.001)

    def broken(*labels: str) -> None:
        raise OSError("No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(metrics.REQUESTS, "labels", broken)
        metrics.publish_requests()  # does not raise
    assert "could not publish 1 request tallies" in caplog.text
    assert exported("FailingOp", "ok")["requests"] == 0.0
    metrics.observe_request("FailingOp", "ok", 0.001)
    metrics.publish_requests()
    assert exported("FailingOp", "ok")["requests"] == 1.0

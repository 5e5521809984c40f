"""The caches are brought up to date once per pass of the event loop, and never from a check older than the request.

`TrentApp._catch_up` reuses a check for the steps that were already queued when it was made (their requests had
arrived), and checks again for any step queued after it: that is the step of a request sent after a change its
client was told of.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from trent.edge.app import TrentApp


class CountingFeed:
    def __init__(self) -> None:
        self.version = 0  # what the store holds: bumped by a "commit"
        self.seen: list[int] = []  # the version each check saw
        self.fail = False
        self.pass_number = 0

    def next_pass(self) -> None:
        self.pass_number += 1

    def catch_up(self) -> None:
        if self.fail:
            raise OSError("store unreachable")
        self.seen.append(self.version)


def app_with(feed: CountingFeed) -> Any:
    app: Any = SimpleNamespace(services=SimpleNamespace(changes=feed), _current_in_this_pass=False)
    app._catch_up = TrentApp._catch_up.__get__(app)
    app._pass_over = TrentApp._pass_over.__get__(app)
    return app


def run(scenario: Any) -> None:
    async def main() -> None:
        scenario(asyncio.get_running_loop())
        for _ in range(5):  # let every pass run
            await asyncio.sleep(0)

    asyncio.run(main())


def test_requests_queued_in_one_pass_share_one_check() -> None:
    feed = CountingFeed()
    app = app_with(feed)
    decisions: list[int] = []

    def request() -> None:
        app._catch_up()
        decisions.append(feed.seen[-1])

    run(lambda loop: [loop.call_soon(request) for _ in range(10)])
    assert feed.seen == [0]
    assert decisions == [0] * 10


def test_a_request_queued_after_a_commit_is_decided_after_it() -> None:
    """The revocation race: a request is decided, a commit happens, its client is told, then sends a request."""
    feed = CountingFeed()
    app = app_with(feed)
    decisions: list[tuple[str, int]] = []

    def request(name: str) -> None:
        app._catch_up()
        decisions.append((name, feed.seen[-1]))

    def first(loop: asyncio.AbstractEventLoop) -> None:
        request("before the commit")
        feed.version = 1  # another worker commits a revocation and answers its client...
        loop.call_soon(request, "sent after the answer")  # ...who then sends this request, read after the check

    run(lambda loop: loop.call_soon(first, loop))
    assert decisions == [("before the commit", 0), ("sent after the answer", 1)]
    assert feed.seen == [0, 1]


def test_the_check_is_made_again_in_every_pass() -> None:
    feed = CountingFeed()
    app = app_with(feed)

    def chain(loop: asyncio.AbstractEventLoop, left: int) -> None:
        app._catch_up()
        feed.version += 1
        if left:
            loop.call_soon(chain, loop, left - 1)

    run(lambda loop: loop.call_soon(chain, loop, 3))
    assert feed.seen == [0, 1, 2, 3]


def test_a_check_that_fails_is_not_reused() -> None:
    feed = CountingFeed()
    app = app_with(feed)
    outcomes: list[str] = []

    def request() -> None:
        try:
            app._catch_up()
            outcomes.append(f"checked {feed.seen[-1]}")
        except OSError:
            outcomes.append("refused")
        feed.fail = False

    def scenario(loop: asyncio.AbstractEventLoop) -> None:
        feed.fail = True
        loop.call_soon(request)
        loop.call_soon(request)

    run(scenario)
    assert outcomes == ["refused", "checked 0"]


@pytest.mark.parametrize("loop_factory", ["asyncio", "uvloop"])
def test_the_rule_holds_on_the_loop_the_server_runs(loop_factory: str) -> None:
    """uvloop, which uvicorn uses, runs a pass the way asyncio does: the callbacks ready when it began, in order."""
    feed = CountingFeed()
    app = app_with(feed)
    decisions: list[int] = []

    def request() -> None:
        app._catch_up()
        decisions.append(feed.seen[-1])

    def commit_then_request(loop: asyncio.AbstractEventLoop) -> None:
        feed.version += 1
        loop.call_soon(request)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(request)
        loop.call_soon(commit_then_request, loop)  # same pass as the first request, after it
        loop.call_soon(request)  # same pass: reuses the first check (it arrived before the commit was made)
        for _ in range(5):
            await asyncio.sleep(0)

    if loop_factory == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(main())
    else:
        asyncio.run(main())
    assert decisions == [0, 0, 1]


def test_each_pass_is_counted_from_its_first_check() -> None:
    """A read of the feed between passes (the background reader, a scrape of /metrics) is stamped with the number of
    the pass it ran in: the first check of the next pass must move the number on before any of its requests looks
    at it, or a token would be checked against a read older than its request (`ChangeFeed.read_in_this_pass`)."""
    feed = CountingFeed()
    app = app_with(feed)
    numbers: list[int] = []

    def request() -> None:
        app._catch_up()
        numbers.append(feed.pass_number)

    run(lambda loop: [loop.call_soon(request) for _ in range(3)])
    stamped = feed.pass_number  # what a read made now, between passes, would be stamped with
    run(lambda loop: loop.call_soon(request))
    assert numbers[:3] == [numbers[0]] * 3  # one pass, one number
    assert numbers[3] > stamped

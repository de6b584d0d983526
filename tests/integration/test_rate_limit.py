"""The client's rate limit against a limited remote (issue 9, item 10).

The limiter is driven by an injected clock whose ``sleep`` advances it, against the stand-in's
own admission rule (:meth:`RxScaleSandboxState.admit`, a sliding one-second window), so the figures
are deterministic; one slow test drains moves against the real stand-in over loopback.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sync.retry import RateLimiter
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox.rxscale import RxScaleSandboxConfig, RxScaleSandboxState
from tests import remote_fixtures
from tests.helpers import migrated_sqlite
from tests.remote_fixtures import SandboxServer

sandbox_factory = remote_fixtures.sandbox_factory


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        hook, self.on_sleep = self.on_sleep, None
        if hook is not None:
            hook(seconds)
        self.now += max(0.0, seconds)


def test_requests_are_spread_evenly() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    slots = [limiter.acquire() for _ in range(5)]
    step = 1 / (10 * RateLimiter.HEADROOM)
    assert slots == pytest.approx([0, step, 2 * step, 3 * step, 4 * step])


def test_a_retry_after_holds_back_a_caller_already_waiting_for_its_slot() -> None:
    """The 429 answering request 1 arrives while request 2 waits for its slot: 2 waits too."""
    clock = FakeClock(0.0)
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    first = limiter.acquire()
    clock.on_sleep = lambda _wait: limiter.rate_limited(first, 5.0)
    limiter.acquire()  # sleeps; the 429 lands during that sleep
    assert clock.now >= 5.0
    assert limiter.acquire() >= 5.0  # and the next one is paced after the pause


def test_a_plain_pause_holds_back_callers_already_waiting() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.on_sleep = lambda _wait: limiter.pause(3.0)
    assert limiter.acquire() >= 3.0


def _drive(
    limiter: RateLimiter, remote: RxScaleSandboxState, clock: FakeClock, seconds: float
) -> Counter[str]:
    """Send as fast as the limiter lets us for ``seconds`` against the stand-in's rule."""
    seen: Counter[str] = Counter()
    end = clock.now + seconds
    while clock.now < end:
        slot = limiter.acquire()
        clock.now += 0.004  # the request's way there
        retry_after = remote.admit()
        if retry_after is None:
            seen["ok"] += 1
            limiter.accepted(slot)
        else:
            seen["429"] += 1
            limiter.rate_limited(slot, float(retry_after))
        assert limiter.effective is not None and limiter.effective <= 10
    return seen


@pytest.mark.parametrize("limit", [2, 4, 7])
def test_the_rate_adapts_to_the_remote_limit(limit: int) -> None:
    """Client at 10/s, remote at ``limit``/s: >= 0.9 of the limit gets through, few 429s."""
    clock = FakeClock()
    remote = RxScaleSandboxState(RxScaleSandboxConfig(rate_limit=limit), monotonic=clock)
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    seen = _drive(limiter, remote, clock, 300)
    assert seen["ok"] / 300 >= 0.9 * limit, seen
    assert seen["429"] <= 30, seen  # the old limiter: thousands
    assert limiter.effective is not None and limiter.effective <= limit * 1.1


def test_the_rate_creeps_back_up_when_the_remote_allows_more() -> None:
    clock = FakeClock()
    remote = RxScaleSandboxState(RxScaleSandboxConfig(rate_limit=2), monotonic=clock)
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    _drive(limiter, remote, clock, 30)
    assert limiter.effective is not None and limiter.effective < 3
    remote.set_rate_limit(None)
    _drive(limiter, remote, clock, 900)
    assert limiter.effective == 10  # back at the configured rate, never above


@pytest.mark.slow
def test_draining_against_a_limited_stand_in_sends_each_move_once_with_few_429s(
    sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    server = sandbox_factory(seed=30)
    store = Store.open(migrated_sqlite(tmp_path / "rx.db"))
    client = server.client(rate_limit_per_s=10)
    worker = SyncWorker(OrderService(store, Actor("AB", "t")), RxScaleSource(client))
    try:
        worker.pull()
        for row in store.board_rows():
            worker.service.act(row["id"], Action.START)
        server.set_faults(rate_limit=4)
        before = server.stats()["by_status_code"].get("429", 0)
        deadline = time.monotonic() + 90  # a bound on the loop, not an assertion on time
        while store.sync_health(["rxscale"])["rxscale"].queued and time.monotonic() < deadline:
            if not worker.push():
                time.sleep(0.1)  # rows waiting out a Retry-After
        assert store.sync_health(["rxscale"])["rxscale"].queued == 0
        limited = server.stats()["by_status_code"].get("429", 0) - before
        assert limited <= 6, f"{limited} answers were 429"
        moves = Counter(t["uid"] for t in server.transitions() if t["by"] == "api")
        assert len(moves) == 30 and set(moves.values()) == {1}
    finally:
        worker.close()
        client.close()
        store.close()


def _burst_of_429s(limiter: RateLimiter, clock: FakeClock, answers: int, answer_s: float) -> None:
    """``answers`` requests in a row answered 429 after ``answer_s`` each (a slow remote)."""
    for _ in range(answers):
        slot = limiter.acquire()
        clock.now += answer_s
        limiter.rate_limited(slot, None)


def _accept_everything(limiter: RateLimiter, clock: FakeClock, seconds: float) -> list[float]:
    """A fast remote that takes every request: the slot times the limiter gave out."""
    slots = []
    end = clock.now + seconds
    while clock.now < end:
        slot = limiter.acquire()
        clock.now += 0.004
        limiter.accepted(slot)
        slots.append(slot)
    return slots


@pytest.mark.parametrize("answer_s", [0.004, 1.5])
def test_the_rate_recovers_within_a_minute_once_the_remote_accepts_again(answer_s: float) -> None:
    """Issue 21 §3: 8 x 429 from a slow remote (1.5 s answers) left the client at 0.1/s for
    good (6 requests in the next minute). Judged by answers, the rate is back at the
    configured one within a minute of the remote accepting again."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    _accept_everything(limiter, clock, 10)  # at the configured rate
    _burst_of_429s(limiter, clock, 8, answer_s)
    start = clock.now
    slots = _accept_everything(limiter, clock, 60)
    assert limiter.effective == 10, limiter.effective
    recovered = [s for s in slots if s >= start + 45]
    assert len(recovered) >= 0.9 * 10 * 15, f"{len(slots)} requests in the minute after"


def test_recovery_does_not_depend_on_the_answers_of_the_last_second() -> None:
    """A 429 from a slow remote halves the rate at most: one answer in the last second is
    not the remote's rate."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    _accept_everything(limiter, clock, 5)
    slot = limiter.acquire()
    clock.now += 1.5
    limiter.rate_limited(slot, None)
    assert limiter.effective is not None and limiter.effective >= 5

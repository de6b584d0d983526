"""The Shopify client's cost bucket on a virtual clock: it waits only for what Shopify's own
``throttleStatus`` says is missing, counts what is on the wire, and never lets an overtaken
(older) report raise its picture."""

from __future__ import annotations

import pytest

from rxfloor.core.sources.shopify.client import CostBucket
from rxfloor.core.sources.shopify.wire import Cost


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _cost(available: float, requested: float = 10.0, actual: float | None = 10.0) -> Cost:
    return Cost.model_validate({
        "requestedQueryCost": requested, "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available,
                           "restoreRate": 50.0},
    })  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_nothing_known_nothing_waits(clock: Clock) -> None:
    bucket = CostBucket(clock, clock.sleep)
    assert bucket.acquire("q") == (1, 0.0)
    assert clock.slept == [] and bucket.available() is None


def test_waits_exactly_for_the_missing_points(clock: Clock) -> None:
    bucket = CostBucket(clock, clock.sleep)
    seq, reserved = bucket.acquire("q")
    bucket.settle(seq, reserved, _cost(available=4.0), "q")  # Shopify: 4 left, 50/s back
    seq, reserved = bucket.acquire("q")  # the query costs 10: 6 missing = 0.12 s
    assert reserved == 10.0
    assert clock.slept == [pytest.approx(0.12)]
    bucket.settle(seq, reserved, _cost(available=0.0), "q")
    assert bucket.available() == pytest.approx(0.0)


def test_calls_on_the_wire_are_counted(clock: Clock) -> None:
    bucket = CostBucket(clock, clock.sleep)
    seq, reserved = bucket.acquire("q")
    bucket.settle(seq, reserved, _cost(available=25.0), "q")
    bucket.acquire("q")
    bucket.acquire("q")  # 25 - 10 - 10 = 5 left
    assert clock.slept == []
    bucket.acquire("q")  # 5 missing: 0.1 s
    assert clock.slept == [pytest.approx(0.1)]


def test_an_overtaken_report_only_lowers(clock: Clock) -> None:
    bucket = CostBucket(clock, clock.sleep)
    seq0, r0 = bucket.acquire("q")
    bucket.settle(seq0, r0, _cost(available=500.0), "q")
    first, r1 = bucket.acquire("q")
    second, r2 = bucket.acquire("q")
    bucket.settle(second, r2, _cost(available=300.0), "q")
    bucket.settle(first, r1, _cost(available=900.0), "q")  # older and higher: ignored
    assert bucket.available() == pytest.approx(300.0)
    third, r3 = bucket.acquire("q")
    fourth, r4 = bucket.acquire("q")
    bucket.settle(fourth, r4, _cost(available=200.0), "q")
    bucket.settle(third, r3, _cost(available=100.0), "q")  # older but lower: believed
    assert bucket.available() == pytest.approx(100.0)


def test_unknown_query_expects_the_dearest_seen_and_throttle_retry_after(clock: Clock) -> None:
    bucket = CostBucket(clock, clock.sleep)
    seq, reserved = bucket.acquire("page")
    bucket.settle(seq, reserved, _cost(available=1000.0, requested=802.0, actual=120.0), "page")
    assert bucket.expected("page") == 802.0
    assert bucket.expected("never sent") == 802.0
    throttled = _cost(available=30.0, requested=802.0, actual=None)
    assert bucket.retry_after(throttled) == pytest.approx((802.0 - 30.0) / 50.0)
    seq, reserved = bucket.acquire("page")
    bucket.settle(seq, reserved, throttled, "page", throttled=True)
    stats = bucket.stats()
    assert (stats.throttled, stats.spent, stats.answers) == (1, 120.0, 2)
    assert (stats.maximum, stats.restore_rate) == (1000.0, 50.0)


def test_a_call_sent_earlier_but_taken_later_is_not_forgotten(clock: Clock) -> None:
    """Two push threads: A is sent first, B second, but Shopify takes B first. A's answer
    (480 left: both deducted) arrives, then B's (490: taken before A). By send order B's is
    the newer report, and it raised the picture by A's 10 points, which were no longer
    reserved: under load the next mutation was THROTTLED (the pacing test, seen twice in
    full runs). A report is not trusted to count the calls that were on the wire when it was
    sent and were answered before it."""
    bucket = CostBucket(clock, clock.sleep)
    seq0, r0 = bucket.acquire("m")
    bucket.settle(seq0, r0, _cost(available=500.0), "m")
    a, ra = bucket.acquire("m")
    b, rb = bucket.acquire("m")
    bucket.settle(a, ra, _cost(available=480.0), "m")
    bucket.settle(b, rb, _cost(available=490.0), "m")
    assert bucket.available() == pytest.approx(480.0)

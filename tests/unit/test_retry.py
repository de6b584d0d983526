"""The retry policy, the one place every retry rule lives (issue 22, change (d)): a push's
backoff, what a refusal does, and the webhook inbox's backoff while the database is busy."""

from __future__ import annotations

import random

from rxfloor.core.sync.retry import DATABASE_BUSY, RetryPolicy


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=8)
    rng = random.Random(1)
    delays = [policy.delay(n, rng=rng) for n in range(1, 12)]
    assert all(0 < d <= 8 for d in delays)
    assert delays[0] <= 0.5 and max(delays) > 4
    assert policy.delay(3, retry_after=2) == 2


def test_a_first_refusal_is_sent_again_after_refused_s_and_a_second_parks() -> None:
    policy = RetryPolicy(refused_s=42.0)
    assert policy.after_refusal(1) == 42.0
    assert policy.after_refusal(2) is None
    assert policy.after_refusal(3) is None


def test_how_many_refusals_are_retried_is_the_policys_own_number() -> None:
    patient = RetryPolicy(refused_s=5.0, refusals_retried=2)
    assert [patient.after_refusal(n) for n in (1, 2, 3)] == [5.0, 5.0, None]
    assert RetryPolicy(refusals_retried=0).after_refusal(1) is None


def test_the_webhook_inbox_backs_off_from_about_50_ms_to_at_most_5_s() -> None:
    rng = random.Random(7)
    first = [DATABASE_BUSY.delay(1, rng=rng) for _ in range(50)]
    assert all(0.05 <= d <= 0.1 for d in first)
    late = [DATABASE_BUSY.delay(n, rng=rng) for n in range(10, 10_000, 97)]
    assert all(2.5 <= d <= 5.0 for d in late)


def test_a_push_retried_through_a_long_outage_still_gets_a_delay() -> None:
    """Attempt 1,025 doubled past a float (OverflowError in the sync worker): capped."""
    policy = RetryPolicy(base_s=0.5, cap_s=60.0)
    assert 30.0 <= policy.delay(1_025, rng=random.Random(3)) <= 60.0
    assert 30.0 <= policy.delay(10**9, rng=random.Random(3)) <= 60.0

"""The retry policy and the rate limiter: how long to wait after a failure, and how fast to
send at all. Their numbers come from :class:`~rxfloor.core.config.Settings`
(``retry_base_s``, ``retry_cap_s``, ``retry_refused_s``, ``rate_limit_per_s`` and a source's
own section)."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rxfloor.core.config import Settings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; Retry-After wins when the remote sends it.

    A refusal is not backed off: the row is sent once more ``refused_s`` after its first
    refusal (the remote's state may have moved by then; it is read back first), and a second
    refusal parks it for a person."""

    base_s: float = 0.5
    cap_s: float = 60.0
    refused_s: float = 60.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` >= 1)."""
        if retry_after is not None:
            return min(self.cap_s, max(0.0, retry_after))
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(base_s=settings.retry_base_s, cap_s=settings.retry_cap_s,
                   refused_s=settings.retry_refused_s)  # fmt: skip


class RateLimiter:
    """Paces every call of one client (thread-safe) and learns the remote's real rate.

    Requests are spread evenly at the *effective* rate, never above the configured ``rate``
    (with a small margin, ``HEADROOM``, so network jitter never pushes one request too many
    into the remote's sliding one-second window). A slot is only taken when it is due: a
    caller waiting for its turn re-checks after every sleep, so a ``Retry-After`` that
    arrives meanwhile (:meth:`pause`) holds back every caller, including those already
    waiting. The effective rate adapts (AIMD): a 429 lowers it to the rate the remote
    actually accepted over the last second (at most ``DECREASE`` of the current one), and
    each run of accepted requests (about five seconds' worth, at least ``INCREASE_EVERY``;
    four times as many near the rate of the last 429) raises it by ``INCREASE`` until it is
    back at the configured rate.
    """

    HEADROOM = 0.97
    WINDOW_S = 1.0
    DECREASE = 0.9  # a 429 lowers the rate at least this much (halved when nothing got through)
    INCREASE = 1.02
    INCREASE_EVERY = 10
    MIN_RATE = 0.1

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self.effective = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._accepted: deque[float] = deque()  # slot times of requests the remote took
        self._streak = 0
        self._lowered_at = float("-inf")  # slot time of the last decrease
        self._ceiling = float("inf")  # the effective rate when the last 429 came

    def acquire(self) -> float:
        """Wait for a slot; returns its time (give it back to :meth:`accepted` /
        :meth:`rate_limited`)."""
        while True:
            with self._lock:
                now = self._clock()
                if now >= self._next:
                    if self.effective:
                        self._next = now + 1.0 / (self.effective * self.HEADROOM)
                    return now
                wait = self._next - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The remote said Retry-After: nobody sends before then (waiting callers too)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    def accepted(self, slot: float) -> None:
        """The remote took the request sent at ``slot`` (any answer but a 429)."""
        with self._lock:
            self._accepted.append(slot)
            self._trim()
            self._streak += 1
            if not (self.rate and self.effective and self.effective < self.rate):
                return
            # a step per ~5 s of accepted requests; four times slower near the last 429
            needed = max(self.INCREASE_EVERY, int(self.effective * 5))
            if self.effective >= self._ceiling * self.HEADROOM:
                needed *= 4
            if self._streak >= needed:
                self._streak = 0
                self.effective = min(self.rate, self.effective * self.INCREASE)
                if self.effective > self._ceiling * 1.1:
                    self._ceiling = float("inf")  # the remote takes more now

    def rate_limited(self, slot: float, retry_after: float | None) -> None:
        """The request sent at ``slot`` got a 429: pause everyone, lower the rate once per
        episode (requests already in flight when the rate was lowered do not lower it again)."""
        with self._lock:
            self._streak = 0
            now = self._clock()
            if slot > self._lowered_at:
                self._lowered_at = now
                self._trim()
                base = self.effective or self._observed_peak()
                # what the remote took in the window that ended with this request
                since = slot - self.WINDOW_S * 1.05
                observed = sum(1 for t in self._accepted if t > since) / self.WINDOW_S
                lowered = min(base * self.DECREASE, observed) if observed else base * 0.5
                self._ceiling = base
                self.effective = max(self.MIN_RATE, lowered)
            pause = retry_after if retry_after is not None else 1.0 / (self.effective or 1.0)
            self._next = max(self._next, now + pause)

    def _observed_peak(self) -> float:
        return max(1.0, len(self._accepted) / self.WINDOW_S)

    def _trim(self) -> None:
        horizon = self._clock() - 2 * self.WINDOW_S
        while self._accepted and self._accepted[0] <= horizon:
            self._accepted.popleft()

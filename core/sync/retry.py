"""The retry policy and the rate limiter: how long to wait after a failure, whether a
refusal is sent again or parked for a person, and how fast to send at all. Every retry rule
lives here: a push's backoff and its refusals (:class:`RetryPolicy`, used by the sync
worker) and the webhook inbox's backoff while the database is busy
(:data:`DATABASE_BUSY`). Their numbers come from :class:`~rxfloor.core.config.Settings`
(``retry_base_s``, ``retry_cap_s``, ``retry_refused_s``, ``rate_limit_per_s`` and a source's
own section)."""

from __future__ import annotations

import math
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
    refusal parks it for a person (:meth:`after_refusal`)."""

    base_s: float = 0.5
    cap_s: float = 60.0
    refused_s: float = 60.0
    #: refusals sent again on their own before the row is parked for a person
    refusals_retried: int = 1

    def after_refusal(self, refusals: int) -> float | None:
        """Seconds until a refused row is sent again, after its ``refusals``-th refusal
        (counting a person's retry as the one), or None: it is parked for a person."""
        return self.refused_s if refusals <= self.refusals_retried else None

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` >= 1)."""
        if retry_after is not None:
            return min(self.cap_s, max(0.0, retry_after))
        # the doubling stops long before the cap could be passed: 2**1024 is no float (a
        # push retried through a day-long outage reached it and stopped its worker)
        ceiling = min(self.cap_s, self.base_s * 2 ** min(max(0, attempt - 1), 64))
        return (rng or random).uniform(ceiling / 2, ceiling)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_s=settings.retry_base_s,
            cap_s=settings.retry_cap_s,
            refused_s=settings.retry_refused_s,
        )


#: The webhook inbox applying its stored events while the database is busy or gone: from
#: ~0.05 s, doubling, up to 5 s (it never parks: an event stored is applied once it can be).
DATABASE_BUSY = RetryPolicy(base_s=0.1, cap_s=5.0)


class RateLimiter:
    """Paces every call of one client (thread-safe) and learns the remote's real rate.

    Requests are spread evenly at the *effective* rate, never above the configured ``rate``
    (with a small margin, ``HEADROOM``, so network jitter never pushes one request too many
    into the remote's sliding one-second window). A slot is only taken when it is due: a
    caller waiting for its turn re-checks after every sleep, so a ``Retry-After`` that
    arrives meanwhile (:meth:`pause`) holds back every caller, including those already
    waiting.

    The effective rate adapts, judged by answers and by the time since the last 429, never
    by how many answers happened to land in the last second (a slow remote answers few of
    them there). A 429 lowers the rate once per episode: to what the remote took in the
    window before it when answers come well within that window, else to half the current
    rate. Every accepted answer then sets
    the rate from the time since that 429 (a curve, :meth:`_recovered`): back up within
    seconds (``RAMP_S`` per doubling) to the ceiling, the rate the remote took before the
    429 (or the rate of the 429 when that is unknown), a hold there
    (``HOLD_S``), a slow probe 10 % above it (``PROBE_S``) and, once the remote took that
    too, doubling again up to the configured rate. From the floor (``MIN_RATE``) that is
    well within a minute; against a remote really limited below the configured rate it
    settles just under that limit with a 429 every ``HOLD_S + PROBE_S`` or so.
    """

    HEADROOM = 0.97
    WINDOW_S = 1.0
    DECREASE = 0.9  # a 429 lowers the rate at least this much
    FLOOR = 0.5  # the share kept when the last second's answers say nothing
    RAMP_S = 2.0  # seconds per doubling while recovering
    HOLD_S = 15.0  # seconds held just under the rate of the last 429
    PROBE_S = 10.0  # seconds to probe 10 % above it
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
        self._last = float("-inf")  # the last slot given out
        self._paused_until = float("-inf")  # Retry-After: nobody before then
        self._accepted: deque[float] = deque()  # slot times of requests the remote took
        self._lowered_at = float("-inf")  # clock time of the last decrease
        self._lowered_to = 0.0  # the effective rate it set
        self._ceiling = float("inf")  # what the remote took when the last 429 came

    def acquire(self) -> float:
        """Wait for a slot; returns its time (give it back to :meth:`accepted` /
        :meth:`rate_limited`). The spacing is that of the rate at the moment of asking, so
        a rate that recovered meanwhile shortens a wait already begun."""
        while True:
            with self._lock:
                now = self._clock()
                due = self._paused_until
                if self.effective:
                    due = max(due, self._last + 1.0 / (self.effective * self.HEADROOM))
                if now >= due:
                    self._last = now
                    return now
                wait = due - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The remote said Retry-After: nobody sends before then (waiting callers too)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def accepted(self, slot: float) -> None:
        """The remote took the request sent at ``slot`` (any answer but a 429)."""
        with self._lock:
            self._accepted.append(slot)
            self._trim()
            if self.effective is None or (self.rate and self.effective >= self.rate):
                return
            if slot < self._lowered_at:
                return  # sent before the last 429: says nothing about the recovery
            recovered = self._recovered(self._clock() - self._lowered_at)
            if self.rate is None and recovered > 4 * self._ceiling:
                self.effective = None  # no configured rate: unlimited again
                return
            recovered = min(self.rate or recovered, recovered)
            self.effective = max(self.effective, recovered)

    def rate_limited(self, slot: float, retry_after: float | None) -> None:
        """The request sent at ``slot`` got a 429: pause everyone, lower the rate once per
        episode (requests already in flight when the rate was lowered do not lower it again)."""
        with self._lock:
            now = self._clock()
            if slot > self._lowered_at:
                self._trim()
                base = self.effective or self._observed_peak()
                # what the remote took in the window that ended with this request: its rate
                # when answers come quickly, mere chance when they take longer than the window
                since = slot - self.WINDOW_S * 1.05
                observed = sum(1 for t in self._accepted if t > since) / self.WINDOW_S
                if observed and now - slot < self.WINDOW_S / 2:
                    lowered = min(base * self.DECREASE, observed)
                    self._ceiling = min(base, observed)
                else:
                    lowered = base * self.FLOOR
                    self._ceiling = base
                self.effective = max(self.MIN_RATE, lowered)
                self._lowered_at = now
                self._lowered_to = self.effective
            pause = retry_after if retry_after is not None else 1.0 / (self.effective or 1.0)
            self._paused_until = max(self._paused_until, now + pause)

    def _recovered(self, elapsed: float) -> float:
        """The rate ``elapsed`` seconds after the last 429 while the remote accepts."""
        start, ceiling = self._lowered_to, self._ceiling
        climb = self.RAMP_S * math.log2(ceiling / start) if start < ceiling else 0.0
        if elapsed < climb:
            return float(start * 2 ** (elapsed / self.RAMP_S))
        elapsed -= climb
        if elapsed < self.HOLD_S:
            return max(start, ceiling)
        elapsed -= self.HOLD_S
        above = ceiling * 1.1
        if elapsed < self.PROBE_S:
            return max(start, ceiling + (above - ceiling) * elapsed / self.PROBE_S)
        return float(above * 2 ** ((elapsed - self.PROBE_S) / self.RAMP_S))

    def _observed_peak(self) -> float:
        return max(1.0, len(self._accepted) / self.WINDOW_S)

    def _trim(self) -> None:
        horizon = self._clock() - 2 * self.WINDOW_S
        while self._accepted and self._accepted[0] <= horizon:
            self._accepted.popleft()

"""The floor's day from the audit trail: the flow per hour (received vs finished), the
turnaround (received → FINISHED, p50 / p90 per source and priority) and what each person
did. The wall draws it, ``rxfloor report --day`` prints it for the shift hand-over.

:func:`summarise` is pure (events in, figures out; tested with fixed instants);
:func:`day_report` reads the events of one local day and hands them to it. A day is the
floor's local calendar day: from local midnight to the next, so a day with a clock change
has 23 or 25 hours, each of them listed.
"""

from __future__ import annotations

import math
import threading
import time as clock
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import Connection, or_, select

from rxfloor.core.db import audit_events, orders

#: what a person's count lists, in this order (the local moves of the hand-over)
PERSON_ACTIONS = ("start", "fill", "check", "finish", "cancel", "hold")
#: how the turnaround is summed up
PERCENTILES = (50, 90)


@dataclass(frozen=True, slots=True)
class DayEvent:
    """One audit event with what the report needs of its order."""

    order_id: str
    at: datetime
    action: str
    to_status: str | None
    actor: str
    source: str  # local | remote: who made the move
    order_source: str  # whose order (rxscale, shopify, …)
    priority: str


@dataclass(frozen=True, slots=True)
class HourFlow:
    """One hour of the day (``start`` in UTC): orders received and finished in it."""

    start: datetime
    received: int
    finished: int


@dataclass(frozen=True, slots=True)
class Turnaround:
    """Received → FINISHED for the orders finished in the day, in minutes."""

    source: str  # "all" for every source
    priority: str  # "all" for every priority
    count: int
    p50_min: float
    p90_min: float


@dataclass(frozen=True, slots=True)
class DayReport:
    day: date
    start: datetime
    end: datetime
    received: int
    finished: int
    hours: list[HourFlow]
    turnaround: list[Turnaround]  # "all"/"all" first, then per source, then per priority
    people: dict[str, dict[str, int]] = field(default_factory=dict)  # actor -> action -> n


def day_bounds(day: date, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    """Local midnight of ``day`` and of the next day, in ``tz`` (the machine's own zone when
    None), as aware datetimes."""
    start = datetime.combine(day, time(0))
    end = datetime.combine(day + timedelta(days=1), time(0))
    if tz is None:
        return start.astimezone(), end.astimezone()
    return start.replace(tzinfo=tz), end.replace(tzinfo=tz)


def percentile(values: Sequence[float], p: int) -> float:
    """The nearest-rank percentile of ``values`` (a value that occurred, never an average
    of two); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def _turnaround(key: tuple[str, str], minutes: list[float]) -> Turnaround:
    return Turnaround(
        key[0], key[1], len(minutes), percentile(minutes, 50), percentile(minutes, 90)
    )


def summarise(events: Iterable[DayEvent], start: datetime, end: datetime) -> DayReport:
    """The day ``[start, end)`` from its events. ``events`` may hold earlier ones: an order
    received yesterday and finished today counts in today's turnaround (received at its
    ``created`` event), not in today's received."""
    day = start.date()
    # in UTC: aware datetimes sharing a zone compare and subtract by the wall clock
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    hour_starts = [
        start + timedelta(hours=i) for i in range(math.ceil((end - start).total_seconds() / 3600))
    ]
    received_at: dict[str, datetime] = {}
    finished_at: dict[str, DayEvent] = {}
    people: dict[str, Counter[str]] = defaultdict(Counter)
    for event in sorted(events, key=lambda e: e.at):
        if event.action == "created":
            received_at.setdefault(event.order_id, event.at)
        if not start <= event.at < end:
            continue
        if event.to_status == "FINISHED" and event.order_id not in finished_at:
            finished_at[event.order_id] = event
        if event.source == "local" and event.action in PERSON_ACTIONS:
            people[event.actor][event.action] += 1

    def hour_of(when: datetime) -> int:
        return int((when - start).total_seconds() // 3600)

    received_per = Counter(hour_of(t) for t in received_at.values() if start <= t < end)
    finished_per = Counter(hour_of(e.at) for e in finished_at.values())
    hours = [HourFlow(h, received_per[i], finished_per[i]) for i, h in enumerate(hour_starts)]
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for order_id, done in finished_at.items():
        received = received_at.get(order_id)
        if received is None or received > done.at:
            continue  # its arrival is not in the trail: no turnaround to tell
        minutes = (done.at - received).total_seconds() / 60
        for key in (("all", "all"), (done.order_source, "all"), ("all", done.priority)):
            groups[key].append(minutes)
    order = sorted(groups, key=lambda k: (k != ("all", "all"), k[0] == "all", k))
    return DayReport(
        day=day,
        start=start,
        end=end,
        received=sum(received_per.values()),
        finished=len(finished_at),
        hours=hours,
        turnaround=[_turnaround(k, groups[k]) for k in order],
        people={
            actor: {a: counts[a] for a in PERSON_ACTIONS if counts[a]}
            for actor, counts in sorted(people.items())
        },
    )


def day_events(conn: Connection, start: datetime, end: datetime) -> list[DayEvent]:
    """The events of ``[start, end)``, and the ``created`` event of every order finished in
    it (when it was received, for its turnaround)."""
    touched = select(audit_events.c.order_id).where(
        audit_events.c.at >= start, audit_events.c.at < end, audit_events.c.to_status == "FINISHED"
    )
    stmt = (
        select(
            audit_events.c.order_id,
            audit_events.c.at,
            audit_events.c.action,
            audit_events.c.to_status,
            audit_events.c.actor,
            audit_events.c.source,
            orders.c.source.label("order_source"),
            orders.c.priority,
        )
        .join(orders, orders.c.id == audit_events.c.order_id)
        .where(
            or_(
                (audit_events.c.at >= start) & (audit_events.c.at < end),
                (audit_events.c.action == "created") & audit_events.c.order_id.in_(touched),
            )
        )
        .order_by(audit_events.c.at, audit_events.c.id)
    )
    return [
        DayEvent(
            order_id=str(r.order_id),
            at=r.at,
            action=str(r.action),
            to_status=r.to_status,
            actor=str(r.actor),
            source=str(r.source),
            order_source=str(r.order_source),
            priority=str(r.priority),
        )
        for r in conn.execute(stmt)
    ]


def day_report(conn: Connection, day: date, tz: tzinfo | None = None) -> DayReport:
    """The report of the local calendar day ``day`` (in ``tz``; the machine's zone if None)."""
    start, end = day_bounds(day, tz)
    return summarise(day_events(conn, start, end), start, end)


class CachedDayReport:
    """The day's report for a screen that reads its figures every second (the wall).

    A report reads every event of the day: ~0.1-0.2 s at 10,000 orders a day, 1.4-2.3 s at
    100,000 (``/tmp`` script on the 2-core machine, load 8), which once a second kept a
    core busy. It is read again only once ``share`` times its own last cost has passed
    (at most ``max_age_s``): a small floor's report stays as fresh as each read, a large
    one's costs at most 1/``share`` of a core. Thread-safe (the wall reads in two
    workers)."""

    def __init__(self, share: float = 20.0, max_age_s: float = 60.0) -> None:
        self.share = share
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._day: date | None = None
        self._report: DayReport | None = None
        self._until = 0.0

    def get(self, conn: Connection, day: date, tz: tzinfo | None = None) -> DayReport:
        """The report of ``day``: read again when due or another day, else the last one."""
        with self._lock:
            now = clock.monotonic()
            if self._report is not None and self._day == day and now < self._until:
                return self._report
            began = clock.perf_counter()
            report = day_report(conn, day, tz)
            cost = clock.perf_counter() - began
            self._day, self._report = day, report
            self._until = now + min(self.max_age_s, cost * self.share)
            return report

    def forget(self) -> None:
        """The next :meth:`get` reads (another database file, say)."""
        with self._lock:
            self._report = None

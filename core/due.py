"""When an order is promised, and whether it is late: one rule for every screen.

Every order has a promised time: the source's own (``due_at``) when it gives one, else a
target after it arrived (``[floor] targets``: by priority for a stat or waiter order, by
delivery type for a normal one). It is late from that instant on, until it is closed. The
board's cards, column titles and sort, the wall, ``watch --json``, ``orders --json``, the
detail view and the exceptions queue all ask this module (in Python: :func:`promise`,
:func:`is_late`; in SQL, for counts and order over every row: :func:`late_sql`,
:func:`promised_sql`), so they cannot disagree at the same instant.

Pure: no clock of its own (``now`` is always passed in), no Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_

from rxfloor.core.lifecycle import Status

if TYPE_CHECKING:
    from rxfloor.core.config import Settings

_DEFAULT_PRIORITY = {"stat": timedelta(minutes=30), "waiter": timedelta(minutes=15)}
_DEFAULT_DELIVERY = {
    "pickup": timedelta(hours=2),
    "courier": timedelta(hours=4),
    "ship": timedelta(hours=24),
}
_CLOSED = (Status.FINISHED.value, Status.CANCELLED.value)


@dataclass(frozen=True, slots=True)
class Targets:
    """How long after it arrived an order with no promised time of its source is due: a
    stat or waiter order by its priority (whatever its delivery), a normal one by its
    delivery type. An unknown priority is read as normal; an unknown delivery type gets
    the longest delivery target (never earlier than a known one)."""

    by_priority: Mapping[str, timedelta] = field(default_factory=lambda: dict(_DEFAULT_PRIORITY))
    by_delivery: Mapping[str, timedelta] = field(default_factory=lambda: dict(_DEFAULT_DELIVERY))

    @classmethod
    def from_minutes(cls, minutes: Mapping[str, int]) -> Targets:
        """From ``[floor] targets`` (``stat``, ``waiter``, ``pickup``, ``courier``, ``ship``)."""
        spans = {key: timedelta(minutes=value) for key, value in minutes.items()}
        return cls(
            {p: spans[p] for p in _DEFAULT_PRIORITY if p in spans},
            {d: spans[d] for d in _DEFAULT_DELIVERY if d in spans},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Targets:
        """The floor's ``[floor] targets``."""
        return cls.from_minutes(settings.floor.targets.model_dump())

    def of(self, priority: str, delivery: str) -> tuple[str, timedelta]:
        """The target that applies and its name (``stat``, ``ship``)."""
        if priority in self.by_priority:
            return priority, self.by_priority[priority]
        if delivery in self.by_delivery:
            return delivery, self.by_delivery[delivery]
        return delivery, max(self.by_delivery.values(), default=timedelta(hours=24))

    def groups(self) -> list[tuple[ColumnElement[bool], timedelta]]:
        """Each target as a SQL condition on an order's priority and delivery type, in the
        order :meth:`of` decides (every order falls in exactly one)."""
        from rxfloor.core.db.schema import orders

        prio, deliv = orders.c.priority, orders.c.delivery_type
        priorities = list(self.by_priority)
        normal = prio.not_in(priorities) if priorities else literal(True)
        found: list[tuple[ColumnElement[bool], timedelta]] = [
            (prio == p, span) for p, span in self.by_priority.items()
        ]
        found += [(and_(normal, deliv == d), span) for d, span in self.by_delivery.items()]
        known = list(self.by_delivery)
        other = deliv.not_in(known) if known else literal(True)
        fallback = max(self.by_delivery.values(), default=timedelta(hours=24))
        found.append((and_(normal, other), fallback))
        return found


@dataclass(frozen=True, slots=True)
class Promise:
    """When an order is promised: ``at``; ``target`` names the rule when it is a target
    after arrival (``stat 1h``), None when it is the source's own promised time."""

    at: datetime
    target: str | None = None

    @property
    def words(self) -> str:
        """``(target: stat 1h)`` or ``(from the source)``: where the time comes from."""
        return f"(target: {self.target})" if self.target else "(from the source)"


def promise(
    due_at: datetime | None,
    created_at: datetime,
    priority: str,
    delivery: str,
    targets: Targets,
) -> Promise:
    """The order's promised time (see the module)."""
    if due_at is not None:
        return Promise(_aware(due_at))
    name, span = targets.of(priority, delivery)
    return Promise(_aware(created_at) + span, f"{name} {span_words(span)}")


def promise_of(row: Mapping[Any, Any], targets: Targets) -> Promise:
    """:func:`promise` of an order's row (or an ``OrderView``'s dump)."""
    delivery = row.get("delivery_type", row.get("delivery", "pickup"))
    return promise(row["due_at"], row["created_at"], str(row["priority"]), str(delivery), targets)


def is_late(promised: datetime, status: str, now: datetime) -> bool:
    """Late: open work whose promised instant has come (at that very instant too)."""
    return status not in _CLOSED and _aware(now) >= _aware(promised)


def late_sql(targets: Targets, now: datetime) -> ColumnElement[bool]:
    """:func:`is_late` in SQL, for counts over every order: the same instants compared as
    stored (no arithmetic in the database: arrival <= now - target)."""
    from rxfloor.core.db.schema import orders

    o = orders.c
    when = [and_(o.due_at.is_not(None), o.due_at <= now)]
    when += [
        and_(o.due_at.is_(None), group, o.created_at <= now - span)
        for group, span in targets.groups()
    ]
    return and_(o.status.not_in(_CLOSED), or_(*when) if when else false())


def promised_sql(dialect: str, targets: Targets) -> ColumnElement[Any]:
    """The promised instant in seconds since the epoch, for ORDER BY (the database sorts
    10,000 orders as :func:`promise` would): the due time, else arrival + target."""
    from rxfloor.core.db.schema import orders

    def epoch(column: Any) -> ColumnElement[Any]:
        if dialect == "postgresql":
            return func.extract("epoch", column)
        return (func.julianday(column) - 2440587.5) * 86400.0

    span = case(*((group, span.total_seconds()) for group, span in targets.groups()), else_=0.0)
    return func.coalesce(epoch(orders.c.due_at), epoch(orders.c.created_at) + span)


def span_words(span: timedelta) -> str:
    """``30m``, ``1h``, ``1h30``, ``2d``."""
    minutes = int(span.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes >= 24 * 60:
        return f"{minutes // (24 * 60)}d"
    if minutes < 60:
        return f"{minutes}m"
    hours, rest = divmod(minutes, 60)
    return f"{hours}h{rest:02d}" if rest else f"{hours}h"


def _aware(at: datetime) -> datetime:
    """A naive time (SQLite gives them back so) is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def day_start(now: datetime) -> datetime:
    """Local midnight: the floor's day (FINISHED on the board, the wall's today) began then."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)

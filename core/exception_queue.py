"""The exceptions queue: orders that need a person and fit no column, in one list.

Three kinds, each with the actions that settle it (every one of them audited by the
service, so nothing leaves the queue without an audit event):

* a **parked move**: an outbox row ``failed`` (the source refused it, or lost it): the
  source's words are its ``last_error``; retry it, resolve it with a note, open the order;
* a **source status**: the source's own status needs a person (the ``exceptions``
  table of each source's :class:`~rxfloor.core.sources.SourceTraits`: Photon ``error``,
  Konnektive Failed, Shopify INCOMPLETE or a rejected request), until a person resolves
  that very word with a note (``orders.exception_resolved``) or the source says another;
* a **cancel request**: a merchant's cancellation request still unanswered: accept it,
  reject it, open the order.

Oldest first. The words are scrubbed of secrets here; they are shown with
:func:`~rxfloor.core.text.visible` and never parsed as markup.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from rxfloor.core import sources
from rxfloor.core.db import UTCDateTime, audit_events, orders, outbox
from rxfloor.core.due import Targets, is_late, promise_of
from rxfloor.core.models import CANCELLATION, OutboxState
from rxfloor.core.states import held_by_remote
from rxfloor.core.text import scrub


class Kind(StrEnum):
    MOVE = "parked move"
    SOURCE = "source status"
    REQUEST = "cancel request"


class Remedy(StrEnum):
    """What a person can do about an item (the screen and the CLI offer these only)."""

    RETRY = "retry"  # send the parked move again (read back first)
    RESOLVE = "resolve"  # settle it by hand, with a note
    OPEN = "open"  # the order's detail
    ACCEPT = "accept"  # the merchant's cancellation request
    REJECT = "reject"


REMEDIES: dict[Kind, tuple[Remedy, ...]] = {
    Kind.MOVE: (Remedy.RETRY, Remedy.RESOLVE, Remedy.OPEN),
    Kind.SOURCE: (Remedy.RESOLVE, Remedy.OPEN),
    Kind.REQUEST: (Remedy.ACCEPT, Remedy.REJECT, Remedy.OPEN),
}


class ExceptionItem(BaseModel):
    """One line of the queue."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    order_id: str
    order_name: str
    source: str
    source_label: str
    since: datetime  # parked at / the order's last change / the request's arrival
    words: str  # the source's (or the merchant's) own words, scrubbed
    actions: tuple[Remedy, ...]
    outbox_id: int | None = None  # a parked move's row (``rxfloor sync --retry ID``)
    move: str | None = None  # a parked move's action: start, finish, cancel …
    remote_status: str | None = None
    #: the order's status and promised time (:mod:`rxfloor.core.due`): late as the board says
    status: str = "OPEN"
    promised: datetime | None = None
    promised_by: str | None = None  # the target's name ("stat 30m"), None: the source's time

    def late(self, now: datetime) -> bool:
        """The order is late at ``now``, as the board and the wall say it."""
        return self.promised is not None and is_late(self.promised, self.status, now)

    @property
    def key(self) -> str:
        """Stable across reads: the screen keeps its cursor on it."""
        if self.kind is Kind.MOVE:
            return f"move:{self.outbox_id}"
        return f"{self.kind.name.lower()}:{self.order_id}"


def _label(source: str) -> str:
    return sources.traits(source).label if source in sources.names() else source


def _candidates() -> ColumnElement[bool]:
    """SQL: the order's ``remote_status`` is an exceptional word of some source (the index
    on it finds these few) and no person resolved that word yet. Whether the word is
    exceptional for the order's own source is the traits' to say (:func:`sources.exception`),
    on the rows this returns."""
    every = sorted({w for name in sources.names() for w in sources.traits(name).exceptions()})
    if not every:
        return false()
    unresolved = or_(
        orders.c.exception_resolved.is_(None),
        orders.c.exception_resolved != orders.c.remote_status,
    )
    return and_(orders.c.remote_status.in_(every), unresolved)


_REQUESTED = orders.c.request_kind == CANCELLATION
#: what every item names of its order (:func:`_order`)
_ORDER = (
    orders.c.id.label("order_id"),
    orders.c.name,
    orders.c.source,
    orders.c.remote_status,
    orders.c.status,
    orders.c.priority,
    orders.c.delivery_type,
    orders.c.due_at,
    orders.c.created_at,
)


def count(conn: Connection) -> int:
    """How many items the queue holds (the header asks every second): three counting
    queries, each on an index, and the traits' word on a handful of (source, word) pairs."""
    parked = conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.state == OutboxState.FAILED)
    ).scalar_one()
    requests = conn.execute(select(func.count()).where(_REQUESTED)).scalar_one()
    by_word = conn.execute(
        select(orders.c.source, orders.c.remote_status, func.count())
        .where(_candidates())
        .group_by(orders.c.source, orders.c.remote_status)
    ).all()
    exceptional = sum(n for source, word, n in by_word if sources.exception(source, word))
    return int(parked) + int(requests) + int(exceptional)


def queue(conn: Connection, targets: Targets | None = None) -> list[ExceptionItem]:
    """Every item, oldest first (then by order name); each order's promised time under
    ``targets`` (the floor's)."""
    targets = targets or Targets()
    items = [*_moves(conn, targets), *_source_exceptions(conn, targets), *_requests(conn, targets)]
    items.sort(key=lambda i: (i.since, i.order_name, i.key))
    return items


def _moves(conn: Connection, targets: Targets) -> list[ExceptionItem]:
    rows = conn.execute(
        select(
            outbox.c.id,
            outbox.c.action,
            outbox.c.last_error,
            func.coalesce(outbox.c.failed_at, outbox.c.created_at, type_=UTCDateTime).label("at"),
            *_ORDER,
        )
        .join(orders, orders.c.id == outbox.c.order_id)
        .where(outbox.c.state == OutboxState.FAILED)
    ).mappings()
    return [
        ExceptionItem(
            kind=Kind.MOVE,
            outbox_id=r["id"],
            move=r["action"],
            words=scrub(r["last_error"] or "refused by the remote (no message)"),
            since=r["at"],
            actions=REMEDIES[Kind.MOVE],
            **_order(r, targets),
        )
        for r in rows
    ]


def _source_exceptions(conn: Connection, targets: Targets) -> list[ExceptionItem]:
    rows = conn.execute(
        select(
            *_ORDER,
            orders.c.exception_resolved,
            orders.c.updated_at,
            orders.c.on_hold,
            orders.c.hold_by,
            orders.c.hold_reason,
        ).where(_candidates())
    ).mappings()
    items = []
    for r in rows:
        meaning = sources.exception(r["source"], r["remote_status"], r["exception_resolved"])
        if meaning is None:  # another source's exceptional word: not this one's
            continue
        parked_by_source = held_by_remote(r["on_hold"], r["hold_by"]) and r["hold_reason"]
        items.append(
            ExceptionItem(
                kind=Kind.SOURCE,
                # what the source said when it parked the order (Photon's reason), else
                # what its word means
                words=scrub(r["hold_reason"] if parked_by_source else meaning),
                since=r["updated_at"],
                actions=REMEDIES[Kind.SOURCE],
                **_order(r, targets),
            )
        )
    return items


def _requests(conn: Connection, targets: Targets) -> list[ExceptionItem]:
    asked = (
        select(func.max(audit_events.c.at))
        .where(audit_events.c.order_id == orders.c.id, audit_events.c.action == "cancel_request")
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            *_ORDER,
            orders.c.request_message,
            func.coalesce(asked, orders.c.updated_at, type_=UTCDateTime).label("since"),
        ).where(_REQUESTED)
    ).mappings()
    return [
        ExceptionItem(
            kind=Kind.REQUEST,
            words=scrub(r["request_message"] or "the merchant asks to cancel (no message)"),
            since=r["since"],
            actions=REMEDIES[Kind.REQUEST],
            **_order(r, targets),
        )
        for r in rows
    ]


def _order(row: Any, targets: Targets) -> dict[str, Any]:
    promised = promise_of(row, targets)
    return {
        "status": row["status"],
        "promised": promised.at,
        "promised_by": promised.target,
        "order_id": row["order_id"],
        "order_name": row["name"],
        "source": row["source"],
        "source_label": _label(row["source"]),
        "remote_status": row["remote_status"],
    }

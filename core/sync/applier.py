"""Applying remote orders to the local database (the poller and the webhook inbox share this).

It reads only :class:`~rxfloor.core.sources.base.SourceOrder`: whichever source an order
comes from, its board column and hold flag were mapped by that source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, and_, case, select
from sqlalchemy.exc import IntegrityError

from rxfloor.core import sources
from rxfloor.core.db import orders
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import CANCELLATION
from rxfloor.core.service import OrderService
from rxfloor.core.sources import DEFAULT_SOURCE
from rxfloor.core.sources.base import SourceOrder

#: SQL: an order that reached the floor by an event naming it only (no patient, no items)
BARE = and_(orders.c.patient_name == "", orders.c.items_summary == "")
_BARE = case((BARE, True), else_=False)


class RemoteApplier:
    """Turns one source's orders into local ones: new orders inserted, changes applied.

    A source names its orders by its own ids (``uid``); the local order is found by
    (source, ``remote_id``), never by the local key.
    """

    def __init__(self, service: OrderService, source: str = DEFAULT_SOURCE) -> None:
        self.service = service
        self.source = source

    def check(self, order: SourceOrder) -> None:
        """Raises :class:`ValueError` (or :class:`OverflowError`) when :meth:`apply` could
        never apply ``order``: the webhook receiver refuses such an event before its 2xx."""
        order.to_new_order(order.board_status or Status.OPEN)

    def known(self, uid: str) -> bool:
        """Whether this source's order ``uid`` is on the floor (in any column)."""
        with self.service.store.read() as conn:
            found = conn.execute(
                select(orders.c.id).where(orders.c.source == self.source, orders.c.remote_id == uid)
            ).first()
        return found is not None

    def apply(
        self,
        remote: Iterable[SourceOrder],
        *,
        seen_at: Mapping[str, datetime] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Returns how many orders were added or changed. ``seen_at``: when the remote was
        as each order (by uid) says, where that is not now (a webhook event's time, the
        instant a pull began reading). Each known order's update (its details, its
        schedule, its status) is one transaction; ``conn``: all in the caller's (the push's
        writer applying what its read-backs learned, with the answers they settle)."""
        batch = {o.uid: o for o in remote}
        if not batch:
            return 0
        known: dict[str, tuple[str, str | None, bool, bool]] = {}
        bare: set[str] = set()  # known orders with neither patient nor items (see fill_details)
        schedules = self.source in sources.names() and sources.traits(self.source).schedules
        scheduled: dict[str, datetime | None] = {}  # known open orders: their fulfill_at
        uids = list(batch)
        with self._reading(conn) as read:
            for start in range(0, len(uids), 500):
                rows = read.execute(
                    select(
                        orders.c.id,
                        orders.c.remote_id,
                        orders.c.remote_status,
                        orders.c.on_hold,
                        orders.c.request_kind,
                        _BARE.label("bare"),
                        orders.c.fulfill_at,
                        orders.c.status,
                    ).where(
                        orders.c.source == self.source,
                        orders.c.remote_id.in_(uids[start : start + 500]),
                    )
                )
                for r in rows:
                    known[r.remote_id] = (
                        r.id,
                        r.remote_status,
                        r.on_hold,
                        r.request_kind == CANCELLATION,
                    )
                    if r.bare:
                        bare.add(r.remote_id)
                    if schedules and not Status(r.status).is_terminal:
                        scheduled[r.remote_id] = r.fulfill_at
        new = []
        changed = 0
        for uid, o in batch.items():
            if uid not in known:
                board = o.board_status or (Status.OPEN if o.on_hold else None)
                if board is not None and getattr(o, "appears", True):
                    order = o.to_new_order(board)
                    if (order.source, order.remote_id) != (self.source, uid):
                        raise ValueError(
                            f"{self.source} handed out an order of {order.source} ({uid!r})"
                        )
                    new.append(order)
                continue
            local_id, remote_status, on_hold, asked = known[uid]
            fill = uid in bare
            moved = uid in scheduled and scheduled[uid] != o.scheduled_at
            news = (remote_status, on_hold, asked) != (o.status, o.on_hold, o.cancel_requested)
            if not (fill or moved or news):
                continue
            with self._writing(conn) as write:
                changed += self._update(
                    write,
                    local_id,
                    o,
                    fill=fill,
                    moved=moved,
                    news=news,
                    seen_at=(seen_at or {}).get(uid),
                )
        added = 0
        if new:
            if conn is not None:
                added = self.service.add_orders_in(conn, new, source="remote")
            else:
                try:
                    added = self.service.add_orders(new, source="remote")
                except IntegrityError:  # the poller and the webhook receiver raced: once more
                    added = self.service.add_orders(new, source="remote")
        return added + changed

    def _update(
        self,
        conn: Connection,
        local_id: str,
        o: SourceOrder,
        *,
        fill: bool,
        moved: bool,
        news: bool,
        seen_at: datetime | None,
    ) -> int:
        """One known order's update, in one transaction: what it learned (details,
        schedule, status, hold, request). Returns how many of those changed something."""
        changed = 0
        if fill:
            full = o.to_new_order(o.board_status or Status.OPEN)
            if (full.patient_name or full.items) and self.service.fill_details_in(
                conn, local_id, full.patient_name, full.items
            ):
                changed += 1
        if moved:
            changed += self.service.reschedule_in(conn, local_id, o.scheduled_at)
        if news:
            what = self.service.apply_remote_in(
                conn,
                local_id,
                o.status,
                o.board_status,
                remote_hold=o.on_hold,
                hold_comment=o.comment,
                cancel_requested=o.cancel_requested,
                request_message=o.request_message,
                seen_at=seen_at,
            )
            changed += 1 if what else 0
        return changed

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.service.store.read() as read:
                yield read

    @contextmanager
    def _writing(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.service.store.write() as write:
                yield write

"""Applying remote orders to the local database (the poller and the webhook inbox share this).

It reads only :class:`~rxfloor.core.sources.base.SourceOrder`: whichever source an order
comes from, its board column and hold flag were mapped by that source.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rxfloor.core.db import orders
from rxfloor.core.lifecycle import Status
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import SourceOrder


class RemoteApplier:
    """Turns remote orders into local ones: new orders inserted, changes applied."""

    def __init__(self, service: OrderService) -> None:
        self.service = service

    def apply(self, remote: Iterable[SourceOrder]) -> int:
        """Returns how many orders were added or changed."""
        batch = {o.uid: o for o in remote}
        if not batch:
            return 0
        known: dict[str, tuple[str | None, bool]] = {}
        ids = list(batch)
        with self.service.store.read() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(orders.c.id, orders.c.remote_status, orders.c.on_hold).where(
                        orders.c.id.in_(ids[start : start + 500])
                    )
                )
                known.update({r.id: (r.remote_status, r.on_hold) for r in rows})
        new = []
        changed = 0
        for uid, o in batch.items():
            if uid not in known:
                board = o.board_status or (Status.OPEN if o.on_hold else None)
                if board is not None:
                    new.append(o.to_new_order(board))
                continue
            remote_status, on_hold = known[uid]
            if remote_status == o.status and on_hold == o.on_hold:
                continue
            what = self.service.apply_remote(
                uid, o.status, o.board_status, remote_hold=o.on_hold, hold_comment=o.comment
            )
            changed += 1 if what else 0
        added = 0
        if new:
            try:
                added = self.service.add_orders(new, source="remote")
            except IntegrityError:  # the poller and the webhook receiver raced: once more
                added = self.service.add_orders(new, source="remote")
        return added + changed

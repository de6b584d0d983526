"""A board with one item of each kind in the exceptions queue (the screen and CLI tests)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import Store, outbox
from rxfloor.core.models import NewOrder, OutboxState
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from tests.board_fixtures import FROZEN, seed_two_sources, sid

PHOTON = local_id("photon", "ord_9")
PARKED = sid(2)  # Shopify #2002: its start is refused (sample orders push nothing)
HOSTILE = "[/]oops [bold]not markup\x1b[2J out of stock"


def seed_queue(url: str) -> int:
    """Two sources' board (two cancel requests), a Photon error with hostile words and a
    refused start of #2002 parked 40 minutes ago. Returns the parked row."""
    seed_two_sources(url)
    store = Store.open(url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=lambda: FROZEN)
    service.add_orders([NewOrder(id=PHOTON, source="photon", remote_id="ord_9", name="PH-9",
                                 remote_status="placed",
                                 created_at=FROZEN - timedelta(hours=3))],
                       source="remote")  # fmt: skip
    service.clock = lambda: FROZEN - timedelta(hours=2)
    service.apply_remote(PHOTON, "error", None, remote_hold=True,
                         hold_comment=f"Photon reports an error: {HOSTILE}")  # fmt: skip
    with store.write() as conn:
        row_id = int(
            conn.execute(
                select(outbox.c.id).where(outbox.c.state == OutboxState.PENDING,
                                          outbox.c.action == "start")
                .order_by(outbox.c.id).limit(1)
            ).scalar_one()
        )  # fmt: skip
        until_ = FROZEN + timedelta(days=400)
        outbox_rows.claim(conn, [(row_id, OutboxState.PENDING)], "t", until=until_)
        outbox_rows.settle(conn, "t", [outbox_rows.Settle(
            row_id, PARKED, OutboxState.FAILED, 1,
            "409 Conflict: the prescriber locked this order")])  # fmt: skip
        conn.execute(update(outbox).where(outbox.c.id == row_id)
                     .values(failed_at=FROZEN - timedelta(minutes=40)))  # fmt: skip
    store.close()
    return row_id

"""The demo: both stand-ins in-process (no port), remote activity, a worker per source."""

from __future__ import annotations

from sqlalchemy import select

from rxfloor.core.config import load_settings
from rxfloor.core.db import outbox
from rxfloor.core.demo import start_demo_sync
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import ServiceError
from tests.helpers import wait_for


def test_demo_shows_a_live_queue_and_pushes_moves(sqlite_url: str) -> None:
    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    with start_demo_sync(
        settings, remote_orders=8, every_s=0.1, cancel_chance=0.4, interval_s=0.1
    ) as demo:
        store = demo.service.store
        wait_for(lambda: store.count_orders() >= 10, timeout=20)  # seeded ones and newcomers arrive
        wait_for(lambda: any(r["status"] == Status.CANCELLED for r in store.board_rows()), 20)

        def open_one(source: str) -> str:
            rows = store.board_rows([Status.OPEN])
            return str(next(r["id"] for r in rows if r["source"] == source))

        uid = open_one("rxscale")
        try:
            demo.service.act(uid, Action.START)
        except ServiceError:  # the remote may cancel it at this very moment
            uid = open_one("rxscale")
            demo.service.act(uid, Action.START)
        wait_for(lambda: any(r["source"] == "shopify" for r in store.board_rows()), 20)
        shop_id = open_one("shopify")
        try:
            demo.service.act(shop_id, Action.START)
        except ServiceError:  # the merchant may hold it at this very moment
            shop_id = open_one("shopify")
            demo.service.act(shop_id, Action.START)

        def settled() -> bool:
            with store.read() as conn:
                states = set(conn.execute(select(outbox.c.state)).scalars())
            return bool(states) and states <= {"sent", "superseded"}

        wait_for(settled, timeout=20)
        assert store.sync_health(["rxscale"])["rxscale"].online is True
        with store.read() as conn:
            state = conn.execute(select(outbox.c.state).where(outbox.c.order_id == uid)).scalar()
        pushed = [t for t in demo.remote.transitions() if t["by"] == "api"]
        if state == "sent":
            assert [(t["uid"], t["to"]) for t in pushed] == [(uid, "processing")]
        else:  # the remote cancelled it first: the step was superseded, never sent
            assert pushed == [] and demo.service.get(uid).status is Status.CANCELLED
        accepted = [t for t in demo.shop.transitions() if t["by"] == "api"]
        gid = demo.service.get(shop_id).remote_id
        assert [(t["id"], t["to"]) for t in accepted] in (
            [(gid, "IN_PROGRESS/ACCEPTED")],
            [],  # the merchant held or cancelled it first: superseded, never sent
        )

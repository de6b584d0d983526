"""The demo: the four stand-ins in-process (no port), remote activity, a worker per source;
Photon's orders arrive as signed deliveries to the demo's own receiver."""

from __future__ import annotations

from sqlalchemy import select

from rxfloor.core import exception_queue
from rxfloor.core.config import load_settings
from rxfloor.core.db import outbox
from rxfloor.core.demo import start_demo_sync
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import ServiceError
from tests.helpers import wait_for


def test_demo_shows_a_live_queue_and_pushes_moves(sqlite_url: str) -> None:
    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    with start_demo_sync(
        settings, orders={"rxscale": 8}, every_s=0.1, cancel_chance=0.4, interval_s=0.1
    ) as demo:
        store = demo.service.store
        wait_for(lambda: store.count_orders() >= 10, timeout=20)  # seeded ones and newcomers arrive
        wait_for(lambda: any(r["status"] == Status.CANCELLED for r in store.board_rows()), 20)

        def open_one(source: str) -> str:
            rows = store.board_rows([Status.OPEN])
            return str(next(r["id"] for r in rows if r["source"] == source))

        # every source pulls in its own thread: another's orders and cancels may come first
        wait_for(lambda: any(r["source"] == "rxscale" for r in store.board_rows([Status.OPEN])), 20)
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
        pushed = [t for t in demo.states["rxscale"].transitions() if t["by"] == "api"]
        if state == "sent":
            assert [(t["uid"], t["to"]) for t in pushed] == [(uid, "processing")]
        else:  # the remote cancelled it first: the step was superseded, never sent
            assert pushed == [] and demo.service.get(uid).status is Status.CANCELLED
        accepted = [t for t in demo.states["shopify"].transitions() if t["by"] == "api"]
        gid = demo.service.get(shop_id).remote_id
        assert [(t["id"], t["to"]) for t in accepted] in (
            [(gid, "IN_PROGRESS/ACCEPTED")],
            [],  # the merchant held or cancelled it first: superseded, never sent
        )


def test_demo_runs_photon_and_konnektive_each_with_its_worker(sqlite_url: str) -> None:
    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    with start_demo_sync(
        settings, orders={"rxscale": 2, "shopify": 2, "photon": 4, "konnektive": 4},
        every_s=0.1, cancel_chance=0.0, interval_s=0.1,
    ) as demo:  # fmt: skip
        store = demo.service.store

        def cards(source: str) -> list[str]:
            rows = store.board_rows([Status.OPEN])
            return [str(r["id"]) for r in rows if r["source"] == source]

        def queued() -> dict[str, str]:
            with store.read() as conn:
                return {i.order_id: i.source_label for i in exception_queue.queue(conn)}

        # Photon lists nothing: these came as signed events through the demo's receiver
        wait_for(lambda: len(cards("photon")) >= 4 and len(cards("konnektive")) >= 4, 20)
        # something for the exceptions queue from the first minute: one of each
        wait_for(lambda: sorted(queued().values()) == ["Konnektive", "Photon"], 20)
        photon_id = next(c for c in cards("photon") if c not in queued())
        k_id = next(c for c in cards("konnektive") if c not in queued())
        demo.service.act(photon_id, Action.START)
        demo.service.act(k_id, Action.CANCEL, reason="demo test")

        def settled() -> bool:
            with store.read() as conn:
                states = set(conn.execute(select(outbox.c.state)).scalars())
            return states == {"sent"}

        wait_for(settled, timeout=20)
        health = store.sync_health(["photon", "konnektive"])
        assert health["photon"].online and health["konnektive"].online
        photon_uid = demo.service.get(photon_id).remote_id
        reports = [
            (t["order_id"], t["what"]) for t in demo.states["photon"].transitions(by="pharmacy")
        ]
        assert reports == [(photon_uid, "in_progress")]
        k_uid = demo.service.get(k_id).remote_id
        moved = [
            (t["order_id"], t["to"])
            for t in demo.states["konnektive"].transitions()
            if t["by"] == "api"
        ]
        assert moved == [(k_uid, "CANCELLED")]
        # the echo of the report came back as an event: the card stays where the floor put it
        wait_for(lambda: demo.service.get(photon_id).remote_status == "filling", 20)
        assert demo.service.get(photon_id).status is Status.PROCESSING

"""The hand-off of a pickup order in Photon's own words (issue 24 §3).

Pages (facts taken, not text):

* ``GUIDE`` — docs.photon.health ``page/pharmacy-integration-guide`` ("Status Updates",
  ``POST /v1/hooks/pharmacy``): the statuses Photon accepts are new/received, in_progress,
  shipped/out_for_delivery, completed, canceled, error; ``completed`` "should only be sent
  once it has been shipped, picked up, or delivered". There is no ``ready``.
* ``STATUS`` — docs.photon.health ``docs/order-rx-status-retail-pharmacycourier-delivery``:
  a local pickup order goes Placed → Sent → Received → Ready; Ready "only appears if the
  pharmacy provided a ready by time".
* ``SCHEMA`` — github.com/Photon-Health/client ``packages/sdk/src/types.ts`` (the generated
  schema of the older API): ``FulfillmentState`` has ``READY`` and ``PICKED_UP``; the
  organisation's ``Mutation`` has no fulfillment mutation (``markOrderAsPickedUp`` is the
  patient app's own API, ``apps/patient``, the patient's word, not the pharmacy's).

So a pickup order's finish reports nothing (Photon keeps it at filling), and its hand-off
reports ``completed``, exactly once; a mail order's finish is ``shipped`` as before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, Counter, OrderService
from rxfloor.core.sources.photon.mapping import FINISH, HAND_OFF, plan_push
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import photon_fixtures
from tests.photon_fixtures import PhotonServer

photon_factory = photon_fixtures.photon_factory
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def test_the_hand_off_is_planned_as_completed() -> None:
    """GUIDE: ``completed`` once picked up; from filling (the finish sent nothing)."""
    assert HAND_OFF == "completed"
    assert plan_push(Action.HANDOFF, "filling").steps == (HAND_OFF,)
    assert plan_push(Action.HANDOFF, "ready").steps == (HAND_OFF,)
    assert plan_push(Action.HANDOFF, "received").steps == ("in_progress", HAND_OFF)
    assert plan_push(Action.HANDOFF, "completed").done
    assert plan_push(Action.HANDOFF, "delivered").done
    for gone in ("canceled", "rerouted", "error", "shipped"):
        assert plan_push(Action.HANDOFF, gone).stale, gone
    assert plan_push(Action.FINISH, "filling").steps == (FINISH,)  # the source reads first


def test_the_report_knows_no_ready(photon_factory: Any) -> None:
    """GUIDE: ``ready`` is not a status Photon accepts: the stand-in answers 400."""
    server: PhotonServer = photon_factory()
    (uid,) = server.create(1)
    answer = server.post(server.hook_url, headers=server.headers,
                        json={"status": "ready", "order_id": uid}, timeout=10)  # fmt: skip
    assert answer.status_code == 400


@pytest.mark.parametrize("lost", [False, True])
@pytest.mark.network
def test_a_pickup_order_is_completed_at_its_hand_off_exactly_once(
    photon_factory: Any, db_url: str, lost: bool
) -> None:
    server: PhotonServer = photon_factory()
    store = Store.open(db_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = server.source(timeout_s=2.0)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        (uid,) = server.create(1, fulfillment_type="PICK_UP")
        order = source.get_order(uid)
        RemoteApplier(service, "photon").apply([order])
        name = order.name or uid
        service.act(name, Action.START)
        service.act(name, Action.FINISH, counter=Counter(bin="B3"))
        for _ in range(3):
            worker.cycle()
        placed = server.order(uid)
        assert (placed["state"], placed["fulfillment"]["state"]) == ("PLACED", "FILLING")
        if lost:  # the report is applied, its answer lost: read back, never sent twice
            server.set_faults(next=["drop_after"])
        service.act(name, Action.HANDOFF, counter=Counter(id_checked=True))
        for _ in range(4):
            worker.cycle()
        done = server.order(uid)
        assert (done["state"], done["fulfillment"]["state"]) == ("COMPLETED", "PICKED_UP")
        sent = [t["what"] for t in server.transitions(by="pharmacy") if t["order_id"] == uid]
        assert sent == ["in_progress", "completed"]
        with store.read() as conn:
            rows = conn.execute(select(outbox.c.action, outbox.c.state)
                                .order_by(outbox.c.id)).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [("start", "sent"), ("finish", "sent"),
                                            ("handoff", "sent")]  # fmt: skip
    finally:
        source.close()
        store.close()


def test_a_mail_order_is_shipped_at_its_finish_as_before(photon_factory: Any, db_url: str) -> None:
    server: PhotonServer = photon_factory()
    store = Store.open(db_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = server.source(timeout_s=2.0)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        (uid,) = server.create(1, fulfillment_type="MAIL_ORDER")
        order = source.get_order(uid)
        RemoteApplier(service, "photon").apply([order])
        name = order.name or uid
        service.act(name, Action.START)
        service.act(name, Action.FINISH)
        for _ in range(3):
            worker.cycle()
        sent = [t["what"] for t in server.transitions(by="pharmacy") if t["order_id"] == uid]
        assert sent == ["in_progress", "shipped"]
    finally:
        source.close()
        store.close()


def test_a_ready_pickup_order_read_at_filling_is_not_taken_for_a_lost_finish(
    photon_factory: Any, db_url: str
) -> None:
    """STATUS: Photon keeps a ready pickup order at filling until the hand-off; a read of it
    after the finish was settled is Photon as it should be, not a move it lost."""
    server: PhotonServer = photon_factory()
    store = Store.open(db_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = server.source(timeout_s=2.0)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        (uid,) = server.create(1, fulfillment_type="PICK_UP")
        order = source.get_order(uid)
        RemoteApplier(service, "photon").apply([order])
        name = order.name or uid
        service.act(name, Action.START)
        service.act(name, Action.FINISH)
        for _ in range(3):
            worker.cycle()
        view = service.get(name)
        read = source.get_order(uid)  # read after the finish was settled
        assert read.status == "filling"
        service.apply_remote(view.id, read.status, read.board_status,
                             seen_at=view.updated_at + timedelta(minutes=5))  # fmt: skip
        after = service.get(name)
        assert after.sync_error is None
        assert (after.status, after.version) == (view.status, view.version)
        service.act(name, Action.HANDOFF, counter=Counter(id_checked=True))
        for _ in range(3):
            worker.cycle()
        assert server.order(uid)["state"] == "COMPLETED"
    finally:
        source.close()
        store.close()

"""The hand-off of a pickup order as RxScale documents it (issue 24 §3).

Page (facts taken, not text): ``LIFECYCLE`` — docs.rxscale.com ``guides/order-lifecycle``
(the newer version): the pharmacy sets ``ready_for_pickup``; ``completed`` only through
``PATCH /pharmacy_orders/{uid}/complete_order`` (stock reduction). A pickup order is
``ready_for_pickup`` at its finish and completed when the patient has it: at the hand-off.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, Counter, OrderService
from rxfloor.core.sources.rxscale.mapping import HAND_OFF, plan_push
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_factory = remote_fixtures.sandbox_factory
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def test_the_hand_off_is_planned_as_complete_order_from_ready_for_pickup() -> None:
    assert plan_push(Action.HANDOFF, "ready_for_pickup").steps == (HAND_OFF,)
    assert plan_push(Action.HANDOFF, "completed").done
    assert plan_push(Action.HANDOFF, "cancelled").stale
    assert plan_push(Action.HANDOFF, "in-progress").stale  # not ready there: read back
    v1 = plan_push(Action.HANDOFF, "shipped")  # v1: the service completes it by itself
    assert v1.steps == () and not v1.done and not v1.stale


@pytest.mark.network
def test_a_pickup_order_is_completed_at_its_hand_off_exactly_once(
    sandbox_factory: Any, db_url: str
) -> None:
    server: SandboxServer = sandbox_factory(seed=0, dialect="v2")
    store = Store.open(db_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = server.source(rate_limit_per_s=None, timeout_s=2.0)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        uid = server.add_orders(1)[0]
        server.state.get(uid)["delivery_type"] = {  # type: ignore[index]
            "uid": "dt-p", "display_name": "Abholung", "identifier": "pickup"}  # fmt: skip
        worker.cycle()
        view = service.get(uid)
        service.act(uid, Action.START)
        service.act(uid, Action.FINISH, counter=Counter(bin="B3"))
        worker.cycle()
        assert server.state.get(uid)["status"] == "ready_for_pickup"  # type: ignore[index]
        # the complete_order reaches the remote but its answer is lost: read back, not resent
        server.set_faults(next=["drop_after"], methods=["PATCH"])
        service.act(view.name, Action.HANDOFF, counter=Counter(id_checked=True))
        for _ in range(4):
            worker.cycle()
        assert server.state.get(uid)["status"] == "completed"  # type: ignore[index]
        completes = [r for r in server.requests()
                     if str(r.get("path", "")).endswith("/complete_order")]  # fmt: skip
        applied = [t for t in server.transitions() if t["uid"] == uid and t["to"] == "completed"]
        assert len(applied) == 1 and len(completes) >= 1
        with store.read() as conn:
            rows = conn.execute(select(outbox.c.action, outbox.c.state)).all()
        assert [tuple(r) for r in rows] == [("start", "sent"), ("finish", "sent"),
                                            ("handoff", "sent")]  # fmt: skip
    finally:
        source.close()
        store.close()

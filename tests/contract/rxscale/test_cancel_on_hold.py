"""A cancel while RxScale holds the order: the docs do not say, so the client takes either
answer, and a refusal is parked with a sentence a person can act on (never retried forever).

Pages (facts taken, not text):

* ``LIFECYCLE`` — docs.rxscale.com ``guides/order-lifecycle`` (newer version): the diagram
  draws ``cancelled`` from ``waiting for pharmacy`` and ``pending review`` only; the text
  says an order "can be cancelled before completion"; ``on-hold`` is not mentioned in
  either way.
* ``ORDERS`` — docs.rxscale.com ``api-reference/external-pharmacy/orders`` (Update Order
  Status): ``comment`` is required when moving to ``on-hold`` and ignored for every other
  transition; nothing on leaving ``on-hold`` for ``cancelled``.
* ``REMOTE_API.md`` (the API description rxfloor was specified from): "Cancel only from
  open or processing" (v1); the v2 diagram has no arrow from on-hold to cancelled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.rxscale.mapping import plan_push
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_factory = remote_fixtures.sandbox_factory
AT_ONCE = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def _held_and_cancelled(service: OrderService, server: SandboxServer) -> tuple[SyncWorker, str]:
    worker = SyncWorker(service, server.source(rate_limit_per_s=None, timeout_s=2.0),
                        policy=AT_ONCE)  # fmt: skip
    uid = server.state.list_orders(0, 1)[0][0]["uid"]
    worker.cycle()
    with server.api() as api:
        assert api.patch(f"/pharmacy_orders/{uid}/status",
                         json={"status": "pending review"}).is_success  # fmt: skip
    server.remote_status(uid, "on-hold", comment="prescription unreadable")
    worker.cycle()
    order = local_id("rxscale", uid)
    assert service.get(order).hold
    service.act(order, Action.CANCEL, reason="patient withdrew")
    return worker, uid


def _cancel_patches(server: SandboxServer, uid: str) -> int:
    return sum(1 for t in server.requests()
               if t.get("method") == "PATCH" and str(t.get("path", "")).endswith(f"{uid}/status")
               and t.get("status_code") != 200)  # fmt: skip


def test_a_cancel_on_hold_is_planned_the_remote_decides() -> None:
    assert plan_push(Action.CANCEL, "on-hold").steps == ("cancelled",)


def test_a_refused_cancel_on_hold_is_parked_with_a_clear_sentence(
    service: OrderService, sandbox_factory: Any
) -> None:
    server: SandboxServer = sandbox_factory(seed=1, dialect="v2")  # refuses: the diagram
    worker, uid = _held_and_cancelled(service, server)
    for _ in range(4):
        worker.cycle()
    view = service.get(local_id("rxscale", uid))
    assert view.status is Status.CANCELLED  # the pharmacist's move stands here
    assert view.sync_error is not None
    assert "on hold in RxScale" in view.sync_error and "release" in view.sync_error
    assert "cannot change status from 'on-hold'" in view.sync_error  # RxScale's own words
    assert server.state.get(uid)["status"] == "on-hold"  # type: ignore[index]
    # refused, read back and sent again; once more after retry_refused_s; then parked
    assert _cancel_patches(server, uid) == 3
    worker.cycle()
    assert _cancel_patches(server, uid) == 3  # parked: nothing more is sent
    worker.close()


def test_a_remote_that_takes_a_cancel_on_hold_cancels_it(
    service: OrderService, sandbox_factory: Any
) -> None:
    server: SandboxServer = sandbox_factory(seed=1, dialect="v2", cancel_from_hold=True)
    worker, uid = _held_and_cancelled(service, server)
    worker.cycle()
    view = service.get(local_id("rxscale", uid))
    assert (view.status, view.sync_error) == (Status.CANCELLED, None)
    assert server.state.get(uid)["status"] == "cancelled"  # type: ignore[index]
    worker.close()

"""Photon's events through the real receiver (``/webhooks/photon``) over loopback: orders
arrive and follow Photon, the signature good / forged / missing / stale / replayed, events
out of order and twice never move an order back, a reroute while PROCESSING raises the
remote-cancel alert, an error parks the order, and the full loop (events in, reports out
under faults, their echoes in again) sends every report exactly once."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rxfloor.core.db import alerts, audit_events, webhook_inbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import Tracking
from rxfloor.core.service import Counter as AtTheCounter
from rxfloor.core.service import OrderService, Refused
from rxfloor.core.sources.photon.source import PhotonWebhooks
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox.photon import sign
from tests import photon_fixtures
from tests.helpers import inbox_settled, wait_for
from tests.photon_fixtures import PhotonServer
from tests.remote_fixtures import serve_asgi

photon_server = photon_fixtures.photon_server

SECRET = "photon-shared-secret-1"
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)


class Floor:
    """The receiver serving ``/webhooks/photon`` for ``service``, subscribed at the stand-in."""

    def __init__(self, service: OrderService, server: PhotonServer, url: str,
                 receiver: WebhookReceiver) -> None:  # fmt: skip
        self.service, self.server, self.receiver = service, server, receiver
        self.url = url + "/webhooks/photon"

    def settle(self, deliveries: int) -> None:
        self.server.wait_deliveries(deliveries)
        wait_for(lambda: inbox_settled(self.service.store))

    def order(self, uid: str) -> Any:
        return self.service.get(f"photon:{uid}")

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        return httpx.post(self.url, content=body, headers=headers, timeout=5)

    def outcomes(self) -> Counter[str | None]:
        with self.service.store.read() as conn:
            return Counter(conn.execute(select(webhook_inbox.c.outcome)).scalars())


@pytest.fixture
def floor(service: OrderService, photon_server: PhotonServer) -> Iterator[Floor]:
    webhooks = PhotonWebhooks(pharmacy_id=photon_server.pharmacy_id, tolerance_s=300.0)
    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=webhooks, source="photon")
    with serve_asgi(receiver.asgi_app()) as url:
        floor = Floor(service, photon_server, url, receiver)
        photon_server.subscribe(floor.url, SECRET)
        yield floor


def test_orders_arrive_and_follow_photon(floor: Floor) -> None:
    server = floor.server
    a, b, c, d = server.create(4)
    floor.settle(8)  # created + placed each
    for uid in (a, b, c, d):
        order = floor.order(uid)
        assert (order.status, order.remote_status, order.source) == (Status.OPEN, "placed",
                                                                     "photon")  # fmt: skip
    server.reroute(b)
    server.cancel(c)
    server.error(d, "insurance rejected the claim")
    floor.settle(11)
    assert (floor.order(b).status, floor.order(b).remote_status) == (Status.CANCELLED, "rerouted")
    assert floor.order(c).status is Status.CANCELLED
    parked = floor.order(d)
    assert (parked.status, parked.hold, parked.remote_status) == (Status.OPEN, True, "error")
    assert parked.hold_reason == "Photon reports an error: insurance rejected the claim"
    with pytest.raises(Refused, match="hold"):
        floor.service.act(f"photon:{d}", Action.START)
    with floor.service.store.read() as conn:
        assert list(conn.execute(select(alerts.c.kind))) == []  # none was in PROCESSING


def test_a_reroute_while_processing_raises_the_remote_cancel_alert(floor: Floor) -> None:
    server = floor.server
    (uid,) = server.create(1)
    floor.settle(2)
    floor.service.act(f"photon:{uid}", Action.START)
    worker = SyncWorker(floor.service, server.source(timeout_s=2.0), policy=NO_WAIT)
    assert worker.cycle().pushed == 1
    floor.settle(3)  # the echo of in_progress
    assert floor.order(uid).remote_status == "filling"
    server.reroute(uid)
    floor.settle(4)
    worker.close()
    worker.source.close()
    order = floor.order(uid)
    assert (order.status, order.remote_status) == (Status.CANCELLED, "rerouted")
    with floor.service.store.read() as conn:
        kinds = [k for (k,) in conn.execute(select(alerts.c.kind))]
    assert kinds == ["remote_cancel"]


def event_body(uid: str, kind: str = "placed", event_id: str = "01TESTEVENT") -> bytes:
    """An event stamped now (the receiver judges ``time`` against the wall clock: a literal
    date turned this test red a day after it was written)."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {"id": event_id, "type": f"photon:order:{kind}", "specversion": "1.0",
         "time": stamp, "subject": uid, "data": {"id": uid}},
        separators=(",", ":"),
    ).encode()  # fmt: skip


def test_signature_good_forged_missing_stale_future_and_replayed(floor: Floor) -> None:
    body = event_body("ord_direct")
    now = str(int(time.time()))
    good = floor.post(body, **{"X-Photon-Signature": sign(SECRET, body), "X-Photon-Timestamp": now})
    assert good.status_code == 202
    again = floor.post(
        body, **{"X-Photon-Signature": sign(SECRET, body), "X-Photon-Timestamp": now}
    )
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    forged = {"X-Photon-Signature": sign("not-the-secret", body), "X-Photon-Timestamp": now}
    assert floor.post(body, **forged).status_code == 401
    tampered = body.replace(b"ord_direct", b"ord_evil00")
    assert floor.post(tampered, **{"X-Photon-Signature": sign(SECRET, body),
                                   "X-Photon-Timestamp": now}).status_code == 401  # fmt: skip
    assert floor.post(body, **{"X-Photon-Timestamp": now}).status_code == 401
    other = event_body("ord_other", event_id="01OTHER")
    signed = sign(SECRET, other)
    # a stale or unreadable stamp is named and answered 503 (Photon drops an event refused
    # with a 4xx for good; its own retry carries a fresh stamp): tests/contract/photon
    for stamp in (str(int(time.time()) - 400), str(int(time.time()) + 400), "", "soon"):
        answer = floor.post(other, **{"X-Photon-Signature": signed, "X-Photon-Timestamp": stamp})
        assert answer.status_code == 503, stamp
        assert answer.json()["error"].startswith(("stale", "bad timestamp")), stamp
    assert floor.post(other, **{"X-Photon-Signature": signed}).status_code == 503
    wait_for(lambda: inbox_settled(floor.service.store))
    assert floor.receiver.stats.forged == 3 and floor.receiver.stats.accepted == 1
    assert floor.receiver.stats.refused_stamp == 5
    with floor.service.store.read() as conn:
        stored = list(conn.execute(select(webhook_inbox.c.order_uid)).scalars())
    assert stored == ["ord_direct"]


def test_a_replayed_delivery_is_one_event_and_a_stale_replay_is_not_taken(floor: Floor) -> None:
    server = floor.server
    server.create(1)
    floor.settle(2)
    first = server.deliveries()[0]
    fresh = server.replay(first["seq"])  # Photon's own retry: same bytes, a new timestamp
    assert fresh["status_code"] == 200
    floor.receiver.webhooks.clock = lambda: time.time() + 400  # type: ignore[attr-defined]
    stale = server.replay(first["seq"], keep_timestamp=True)  # a captured request, later
    assert stale["status_code"] == 503  # named "stale", never stored
    wait_for(lambda: inbox_settled(floor.service.store))
    outcomes = floor.outcomes()  # created and placed (one may land second: stale)
    assert sum(outcomes.values()) == 2 and outcomes["applied"] >= 1


def test_a_non_order_event_is_acknowledged_not_stored(floor: Floor) -> None:
    body = json.dumps({"id": "e1", "type": "photon:prescription:created", "data": {"id": "rx_1"}})
    headers = {"X-Photon-Signature": sign(SECRET, body.encode()),
               "X-Photon-Timestamp": str(int(time.time()))}  # fmt: skip
    answer = floor.post(body.encode(), **headers)
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    assert sum(floor.outcomes().values()) == 0


@pytest.mark.parametrize("order", ["reverse", "shuffle"])
def test_out_of_order_and_twice_never_moves_an_order_back(floor: Floor, order: str) -> None:
    server = floor.server
    server.deliveries_held(True)
    server.duplicate(True)
    a, b = server.create(2, "MAIL_ORDER")
    with server.client() as client:
        client.report(a, "received")
        client.report(a, "in_progress")
        client.report(a, "shipped", carrier="USPS", tracking_number="9400111")
    server.cancel(b)
    events = server.release(order, seed=7)
    assert events == 8  # 2 created, 2 placed, 3 fulfillment, 1 canceled
    floor.settle(2 * events)
    shipped, cancelled = floor.order(a), floor.order(b)
    assert (shipped.status, shipped.remote_status) == (Status.FINISHED, "shipped")
    assert (cancelled.status, cancelled.remote_status) == (Status.CANCELLED, "canceled")
    outcomes = floor.outcomes()
    assert outcomes["applied"] + outcomes["stale"] == events and outcomes["applied"] >= 2
    rank = {None: -1, "OPEN": 0, "PROCESSING": 1, "FINISHED": 2, "CANCELLED": 3}
    with floor.service.store.read() as conn:
        moves = conn.execute(
            select(audit_events.c.order_id, audit_events.c.from_status, audit_events.c.to_status)
        ).all()
    for _, before, after in moves:
        assert rank[after] >= rank[before], moves


def test_the_full_loop_sends_every_report_exactly_once(floor: Floor) -> None:
    """Events in, the pharmacist's moves out through the worker under lost answers, and the
    echoes of those reports in again while the worker runs."""
    server = floor.server
    uids = server.create(2, "MAIL_ORDER") + server.create(2, "PICK_UP")
    floor.settle(8)
    service = floor.service
    worker = SyncWorker(service, server.source(timeout_s=2.0), policy=NO_WAIT, concurrency=2)
    server.set_faults(
        fail_rate=0.5, fault_seed=11, kinds=["drop_after", "server_error"], next=["drop_after"] * 2
    )
    for uid in uids:
        service.act(f"photon:{uid}", Action.START)
    for _ in range(40):
        if worker.cycle().pending == 0:
            break
    floor.settle(len(server.state.events()))  # the echoes of the starts are in
    parcel = Tracking(company="UPS", number="1Z9")
    for uid, tracking in zip(uids, [parcel, None, None, None], strict=True):
        service.act(f"photon:{uid}", Action.FINISH, tracking=tracking)
    for uid in uids[2:]:  # the pickup orders, ready: the patients have them
        service.act(f"photon:{uid}", Action.HANDOFF, counter=AtTheCounter(id_checked=True))
    for _ in range(40):
        report = worker.cycle()
        if report.pending == 0:
            break
    worker.close()
    worker.source.close()
    assert report.pending == 0 and report.failed == 0, report
    sent = Counter((t["order_id"], t["what"]) for t in server.transitions(by="pharmacy"))
    assert set(sent.values()) == {1}
    assert {w for _, w in sent} == {"in_progress", "shipped", "completed"}
    assert [sent[(u, "shipped")] for u in uids] == [1, 1, 0, 0]  # mail orders, with or without
    assert [sent[(u, "completed")] for u in uids] == [0, 0, 1, 1]  # at the hand-off
    assert server.order(uids[0])["fulfillment"]["trackingNumber"] == "1Z9"
    assert server.order(uids[0])["fulfillment"]["carrier"] == "UPS"
    assert any(r["fault"] == "drop_after" for r in server.requests())
    server.set_faults(fail_rate=0.0)
    floor.settle(len(server.state.events()))
    for uid in uids:
        assert floor.order(uid).status is Status.FINISHED

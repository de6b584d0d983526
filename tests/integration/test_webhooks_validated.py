"""Issue 21 §4: what a delivery needs to be applied is checked before it is acknowledged.

A 2xx promises the event will be applied; a body that can never be applied is a 400 (never
retried: Photon drops an event for good on it) and stored nowhere. A terminal event for an
order never seen here creates no card.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from rxfloor.core.db import webhook_inbox
from rxfloor.core.lifecycle import Status
from rxfloor.core.service import OrderService
from rxfloor.core.sources.photon.source import PhotonWebhooks
from rxfloor.core.sources.rxscale.source import WEBHOOKS
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.sandbox.photon import sign as photon_sign
from tests.e2e.test_webhook_inbox import SECRET, event, seed, signed
from tests.helpers import inbox_settled, wait_for
from tests.remote_fixtures import serve_asgi

PHOTON_SECRET = "photon-shared-secret-1"
PHARMACY = "phr_test000000000001"


def stored(service: OrderService) -> int:
    with service.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_inbox)).scalar_one())


def rxscale(service: OrderService) -> WebhookReceiver:
    return WebhookReceiver(service, SECRET.encode(), webhooks=WEBHOOKS)


def photon(service: OrderService, now: float) -> WebhookReceiver:
    webhooks = PhotonWebhooks(pharmacy_id=PHARMACY, tolerance_s=300.0, clock=lambda: now)
    return WebhookReceiver(service, PHOTON_SECRET.encode(), webhooks=webhooks, source="photon",
                           clock=lambda: now)  # fmt: skip


def photon_event(uid: str, kind: str, stamp: str, **data: Any) -> bytes:
    return json.dumps(
        {"id": f"01{kind.upper()}{uid}", "type": f"photon:order:{kind}", "specversion": "1.0",
         "time": stamp, "subject": uid, "data": {"id": uid, **data}},
        separators=(",", ":"),
    ).encode()  # fmt: skip


def photon_headers(body: bytes, now: float) -> dict[str, str]:
    return {"X-Photon-Signature": photon_sign(PHOTON_SECRET, body),
            "X-Photon-Timestamp": str(int(now))}  # fmt: skip


def iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stamp))


def test_a_lone_surrogate_is_a_clear_400_stored_nowhere(service: OrderService) -> None:
    (uid,) = seed(service, 1)
    body = event(uid, "processing").replace(b'"status"', b'"note":"\\ud800","status"')
    receiver = rxscale(service)
    assert receiver.receive(body, signed(body))[0] == 400
    with serve_asgi(receiver.asgi_app()) as url:  # over HTTP it was a 500
        answer = httpx.post(url + "/hooks", content=body, headers=signed(body), timeout=10)
    assert answer.status_code == 400, answer.text
    assert "malformed" in answer.json()["error"]
    assert stored(service) == 0
    assert service.get(uid).status is Status.OPEN


def test_rxscale_created_at_out_of_range_is_refused_before_the_ack(
    service: OrderService,
) -> None:
    """``created_at: 1e20`` was acknowledged, then given up after 10 tries (order never
    shown, nothing in the exceptions queue)."""
    body = event("po-new", "open", created_at=1e20)
    code, answer = rxscale(service).receive(body, signed(body))
    assert (code, answer) == (400, {"error": "malformed event: created_at"}), answer
    assert stored(service) == 0


def test_photon_time_that_is_not_a_time_is_refused_before_the_ack(
    service: OrderService,
) -> None:
    """``time: "yesterday"`` was acknowledged and applied (it cancelled an order). Refused
    before the ack and stored nowhere; with 500, not 400: Photon drops an event refused
    with a 4xx for good (network/webhooks.mdx), and our parser's refusal may be our fault."""
    now = 1_900_000_000.0
    receiver = photon(service, now)
    placed = photon_event("ord_a", "placed", iso(now - 60), pharmacy={"id": PHARMACY})
    assert receiver.receive(placed, photon_headers(placed, now))[0] == 202
    bad = photon_event("ord_a", "canceled", "yesterday")
    code, answer = receiver.receive(bad, photon_headers(bad, now))
    assert code == 500 and "time" in answer["error"], answer
    assert stored(service) == 1


def test_a_cancel_for_an_order_never_seen_creates_no_card(service: OrderService) -> None:
    now = time.time()
    rx = rxscale(service)
    body = event("po-never-seen", "cancelled")
    assert rx.receive(body, signed(body))[0] == 202
    ph = photon(service, now)
    canceled = photon_event("ord_never", "canceled", iso(now))
    assert ph.receive(canceled, photon_headers(canceled, now))[0] == 202
    for receiver in (rx, ph):
        receiver.start()
    try:
        wait_for(lambda: inbox_settled(service.store))
    finally:
        for receiver in (rx, ph):
            receiver.stop()
    assert service.store.count_orders() == 0


def test_a_receiver_fault_is_503_with_retry_after_never_a_4xx(service: OrderService) -> None:
    """Photon drops an event for good on a 4xx (but 408/429): a fault of the receiver's own
    while checking a delivery asks for a retry instead (it was a 500)."""

    class Broken:
        signature_header = WEBHOOKS.signature_header
        verify = staticmethod(WEBHOOKS.verify)

        def parse(self, body: bytes, headers: Any) -> Any:
            raise RuntimeError("a bug of ours")

    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=Broken())
    body = event("po-1", "open")
    assert receiver.receive(body, signed(body))[0] == 503
    with serve_asgi(receiver.asgi_app()) as url:
        answer = httpx.post(url + "/hooks", content=body, headers=signed(body), timeout=10)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert stored(service) == 0

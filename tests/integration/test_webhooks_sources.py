"""One receiver process, one path per source: ``/webhooks/<source>``, each with its own secret,
its own orders and (where the source names its deliveries) dedupe on the event's id."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping

import httpx
import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import WebhookEvent
from rxfloor.core.sources.rxscale.source import WEBHOOKS
from rxfloor.core.sync.webhooks import WebhookReceiver, serve_app
from rxfloor.sandbox.rxscale import sign
from tests.helpers import inbox_settled, wait_for
from tests.remote_fixtures import serve_asgi
from tests.second_source import RenamedOrder

RX_SECRET, SHOP_SECRET = "whsec_rxscale_0123456789", "shpss_shopify_0123456789"


class NamedDeliveries:
    """RxScale's envelope and signature, the event's id and time in headers (as Shopify
    sends them), the orders as ``shopify``'s: what the receiver must do with headers."""

    signature_header = "X-Webhook-Signature"

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return WEBHOOKS.verify(secret, body, headers)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        event_id = headers.get("X-Event-Id")  # looked up in another case than sent
        if not event_id:
            raise ValueError("no event id")
        inner = WEBHOOKS.parse(body, headers)
        return WebhookEvent(inner.event_type, float(headers["x-triggered-at"]),
                            RenamedOrder(inner.order, "shopify"), inner.raw,
                            event_id=event_id)  # fmt: skip


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "c1"))
    service.add_orders(
        [
            NewOrder(id="po-1", name="#1001", remote_status="open"),
            NewOrder(
                id=local_id("shopify", "po-1"), source="shopify", name="#1001", remote_status="open"
            ),
        ]
    )
    yield service
    store.close()


def _body(status: str, note: str = "") -> bytes:
    data = {"uid": "po-1", "status": status, "comment": note or None}
    return json.dumps({"event_type": "pharmacy_order_updated", "timestamp": time.time(),
                       "data": data}).encode()  # fmt: skip


def test_each_source_has_its_path_its_secret_and_its_orders(service: OrderService) -> None:
    rx = WebhookReceiver(service, RX_SECRET.encode(), webhooks=WEBHOOKS)
    shop = WebhookReceiver(service, SHOP_SECRET.encode(), webhooks=NamedDeliveries(),
                           source="shopify")  # fmt: skip
    app = serve_app({"rxscale": rx, "shopify": shop}, default="rxscale")
    with serve_asgi(app) as url:

        def post(path: str, body: bytes, secret: str, **headers: str) -> httpx.Response:
            signed = {"X-Webhook-Signature": sign(secret, body), **headers}
            return httpx.post(url + path, content=body, headers=signed)

        body = _body("processing")
        assert post("/webhooks/shopify", body, RX_SECRET).status_code == 401  # its own secret
        stamp = {"x-event-id": "ev-1", "X-Triggered-At": str(time.time())}
        assert post("/webhooks/shopify", body, SHOP_SECRET, **stamp).status_code == 202
        wait_for(lambda: inbox_settled(service.store))
        assert service.get("shopify:#1001").status is Status.PROCESSING
        assert service.get("rxscale:#1001").status is Status.OPEN  # the same uid, untouched
        # a retry names the same event: a duplicate, whatever its bytes
        again = post("/webhooks/shopify", _body("cancelled"), SHOP_SECRET, **stamp)
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
        assert post("/webhooks/rxscale", body, SHOP_SECRET).status_code == 401
        assert post("/webhooks/rxscale", _body("cancelled"), RX_SECRET).status_code == 202
        wait_for(lambda: inbox_settled(service.store))
        assert service.get("rxscale:#1001").status is Status.CANCELLED
        assert service.get("shopify:#1001").status is Status.PROCESSING
        assert (rx.stats.applied, shop.stats.applied, shop.stats.duplicates) == (1, 1, 1)
        missing = httpx.post(url + "/webhooks/shopify", content=b"{}")
        assert missing.status_code == 401  # no signature: refused before the body is read


def test_the_old_path_keeps_meaning_rxscale(service: OrderService) -> None:
    rx = WebhookReceiver(service, RX_SECRET.encode(), webhooks=WEBHOOKS)
    with serve_asgi(serve_app({"rxscale": rx}, default="rxscale")) as url:
        body = _body("processing")
        sent = httpx.post(url + "/hooks", content=body,
                          headers={"X-Webhook-Signature": sign(RX_SECRET, body)})  # fmt: skip
        assert sent.status_code == 202, sent.text
        unserved = httpx.post(url + "/webhooks/shopify", content=body,
                              headers={"X-Webhook-Signature": sign(RX_SECRET, body)})  # fmt: skip
        assert unserved.status_code == 404
        assert "no webhook receiver for source 'shopify'" in unserved.text
        wait_for(lambda: inbox_settled(service.store))
    assert service.get("rxscale:#1001").status is Status.PROCESSING
    assert service.get("shopify:#1001").status is Status.OPEN

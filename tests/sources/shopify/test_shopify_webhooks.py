"""Shopify's webhooks into the receiver over loopback: deliveries signed by the stand-in
(base64 HMAC-SHA256 with the app secret) applied once; forged, replayed and stale ones not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.shopify.source import WEBHOOKS
from rxfloor.core.sync.webhooks import WebhookReceiver
from tests.helpers import wait_for
from tests.remote_fixtures import serve_asgi
from tests.shopify_fixtures import ShopifyServer
from tests.sources.shopify.test_shopify_sync import (
    local,
    make_worker,
    shopify_factory,
    shopify_server,
)

__all__ = ["shopify_factory", "shopify_server"]  # the fixtures this module uses


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def _codes(server: ShopifyServer, topic: str) -> list[int | None]:
    return [d["status_code"] for d in server.deliveries() if d["topic"] == topic]


def test_good_forged_replayed_and_stale_deliveries(
    service: OrderService, shopify_server: ShopifyServer
) -> None:
    worker = make_worker(service, shopify_server)
    worker.cycle()
    gid = shopify_server.submit(1)[0]
    worker.cycle()
    service.act(local(gid), Action.START)
    worker.cycle()
    receiver = WebhookReceiver(service, shopify_server.app_secret.encode(), webhooks=WEBHOOKS,
                               source="shopify")  # fmt: skip
    with serve_asgi(receiver.asgi_app()) as url:
        shopify_server.subscribe(url + "/webhooks/shopify")
        # good: the merchant asks to cancel; the delivery brings the request at once
        shopify_server.request_cancellation(gid, "Customer moved away")
        topic = "fulfillment_orders/cancellation_request_submitted"
        wait_for(lambda: receiver.stats.applied == 1, timeout=10)
        view = service.get(local(gid))
        assert view.cancel_requested and view.request_message == "Customer moved away"
        assert view.status is Status.PROCESSING
        assert _codes(shopify_server, topic) == [202]
        # replayed byte for byte (same X-Shopify-Event-Id): acknowledged, not applied again
        seq = next(d["seq"] for d in shopify_server.deliveries() if d["topic"] == topic)
        shopify_server.replay(seq)
        wait_for(lambda: len(_codes(shopify_server, topic)) == 2, timeout=10)
        assert _codes(shopify_server, topic) == [202, 200]
        assert receiver.stats.duplicates == 1 and receiver.stats.applied == 1
        # forged: signed with another secret -> 401, nothing stored
        payload = {"fulfillment_order": {"id": gid, "status": "cancelled",
                                         "request_status": "cancellation_accepted"}}  # fmt: skip
        forged = shopify_server.send_webhook("fulfillment_orders/cancelled", payload,
                                             secret="not-the-app-secret")  # fmt: skip
        assert forged[-1]["status_code"] == 401
        assert receiver.stats.forged == 1
        # stale: triggered two days ago -> acknowledged (200), recorded, never applied
        old = datetime.now(UTC) - timedelta(days=2)
        stale = shopify_server.send_webhook("fulfillment_orders/cancelled", payload,
                                            triggered_at=old)  # fmt: skip
        assert stale[-1]["status_code"] == 200
        wait_for(lambda: receiver.stats.stale == 1, timeout=10)
        assert service.get(local(gid)).status is Status.PROCESSING
    worker.close()

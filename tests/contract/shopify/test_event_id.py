"""One merchant action, two fulfillment orders: one Event-Id, two Webhook-Ids, both applied.

Pages (facts taken, not text):

* ``DELIVERY`` — shopify.dev ``apps/build/webhooks/delivery-structure`` (headers):
  ``X-Shopify-Webhook-Id`` is a unique composite key per delivery, the one to deduplicate
  deliveries on; ``X-Shopify-Event-Id`` is an ID shared across all deliveries produced by
  the same merchant action. (An older page, ``apps/build/webhooks/ignore-duplicates``, still
  advises deduplicating on the Event-Id: followed, it would drop the second fulfillment
  order of a two-order cancellation; the delivery-structure page is the one followed.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.shopify.source import WEBHOOKS
from rxfloor.core.sync.webhooks import WebhookReceiver
from tests.helpers import wait_for
from tests.remote_fixtures import serve_asgi
from tests.sources.shopify.test_shopify_sync import local, make_worker, shopify_factory

__all__ = ["shopify_factory"]  # the fixture, used by name

TOPIC = "fulfillment_orders/cancellation_request_submitted"


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def test_one_action_on_two_fulfillment_orders_shares_the_event_id_and_both_apply(
    service: OrderService, shopify_factory: Any
) -> None:
    s = shopify_factory(seed=0)
    worker = make_worker(service, s)
    first, second = s.submit(2)
    worker.cycle()
    for gid in (first, second):
        service.act(local(gid), Action.START)
    worker.cycle()
    receiver = WebhookReceiver(service, s.app_secret.encode(), webhooks=WEBHOOKS,
                               source="shopify")  # fmt: skip
    with serve_asgi(receiver.asgi_app()) as url:
        s.subscribe(url + "/webhooks/shopify")
        # the merchant cancels the order in the admin: one action, both fulfillment orders
        action = {"ids": [first, second], "message": "order cancelled"}
        done = s.control.post("/merchant/request_cancellation", json=action)
        assert done.status_code == 200 and len(done.json()) == 2
        wait_for(lambda: receiver.stats.applied == 2, timeout=10)
        got = [d for d in s.deliveries() if d["topic"] == TOPIC]
        assert len(got) == 2
        event_ids = {d["headers"]["X-Shopify-Event-Id"] for d in got}
        webhook_ids = {d["headers"]["X-Shopify-Webhook-Id"] for d in got}
        assert len(event_ids) == 1 and len(webhook_ids) == 2
        for gid in (first, second):  # neither taken for the other's duplicate
            view = service.get(local(gid))
            assert view.cancel_requested and view.request_message == "order cancelled"
        # a retry of one delivery (same Webhook-Id) is the duplicate, and only that
        s.replay(got[1]["seq"])
        wait_for(lambda: receiver.stats.duplicates == 1, timeout=10)
        assert receiver.stats.applied == 2
    worker.close()


def test_a_refused_action_on_several_changes_none(shopify_factory: Any) -> None:
    s = shopify_factory(seed=0)
    open_one, accepted = s.submit(2)
    s.cancel(accepted)  # now CANCELLED: a cancellation request is refused
    refused = s.control.post("/merchant/request_cancellation", json={"ids": [open_one, accepted]})
    assert refused.status_code == 409
    assert s.fulfillment_order(open_one)["requestStatus"] == "SUBMITTED"

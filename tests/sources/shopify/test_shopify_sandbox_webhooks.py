"""Webhook deliveries from the Shopify stand-in to a real receiver: Shopify's headers, the
base64 HMAC of the raw body, retries with the same bytes, replay, forged and stale ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import shopify_fixtures
from tests.remote_fixtures import Receiver, serve_receiver
from tests.shopify_fixtures import ShopifyServer

shopify_server = shopify_fixtures.shopify_server
shopify_factory = shopify_fixtures.shopify_factory

ACCEPT = (
    "mutation($id: ID!) { fulfillmentOrderAcceptFulfillmentRequest(id: $id) {"
    " userErrors { message } } }"
)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with serve_receiver(ok=200) as served:
        yield served


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), headers["x-shopify-hmac-sha256"])


def test_a_cancellation_request_is_delivered_signed_with_shopifys_headers(
    shopify_server: ShopifyServer, receiver: tuple[Receiver, str]
) -> None:
    s = shopify_server
    rec, url = receiver
    fo = s.submit(1)[0]
    s.graphql(ACCEPT, {"id": fo})
    s.subscribe(url, ["fulfillment_orders/cancellation_request_submitted"])
    s.request_cancellation(fo, "Kunde hat storniert")
    ((body, headers),) = rec.wait_for(1)
    assert _verify(s.app_secret, body, headers)
    assert not _verify("another-secret", body, headers)
    assert headers["x-shopify-topic"] == "fulfillment_orders/cancellation_request_submitted"
    assert headers["x-shopify-shop-domain"] == s.shop_domain
    assert headers["x-shopify-api-version"] == "2026-01"
    assert headers["x-shopify-event-id"] and headers["x-shopify-webhook-id"]
    assert headers["content-type"] == "application/json"
    when = datetime.fromisoformat(headers["x-shopify-triggered-at"])
    assert abs((datetime.now(UTC) - when).total_seconds()) < 30
    payload = json.loads(body)
    assert payload["fulfillment_order"]["id"] == fo
    assert payload["fulfillment_order"]["status"] == "in_progress"
    assert payload["fulfillment_order"]["request_status"] == "cancellation_request"  # REST word
    request = payload["fulfillment_order_merchant_request"]
    assert request["message"] == "Kunde hat storniert" and request["kind"] == "cancellation_request"


@pytest.mark.network
def test_every_topic_reaches_a_catch_all_subscription(
    shopify_factory: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    s = shopify_factory(seed=0, webhook_url=url)  # subscribed from the start
    fo, other = s.submit(2)
    s.graphql(ACCEPT, {"id": fo})
    s.hold(other, "AWAITING_PAYMENT", "waiting for the bank")
    s.release(other)
    s.schedule(other, datetime.now(UTC) + timedelta(days=1))
    s.ready(other)
    s.cancel(other)
    got = rec.wait_for(8)
    topics = sorted(h["x-shopify-topic"].removeprefix("fulfillment_orders/") for _, h in got)
    assert topics == sorted(
        ["fulfillment_request_submitted"] * 2
        + ["fulfillment_request_accepted", "placed_on_hold", "hold_released", "rescheduled"]
        + ["scheduled_fulfillment_order_ready", "cancelled"]
    )
    by_topic = {h["x-shopify-topic"]: json.loads(b) for b, h in rec.got}
    submitted = by_topic["fulfillment_orders/fulfillment_request_submitted"]
    assert submitted["submitted_fulfillment_order"]["status"] == "open"
    hold = by_topic["fulfillment_orders/placed_on_hold"]
    assert hold["fulfillment_hold"]["reason"] == "awaiting_payment"
    assert by_topic["fulfillment_orders/cancelled"]["fulfillment_order"]["status"] == "cancelled"
    assert all(_verify(s.app_secret, b, h) for b, h in rec.got)
    assert len({h["x-shopify-event-id"] for _, h in rec.got}) == 8


@pytest.mark.network
def test_a_failed_delivery_is_retried_with_the_same_bytes_and_ids(
    shopify_factory: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.answers = [500, 503]
    s = shopify_factory(seed=0, webhook_url=url, webhook_backoff_s=0.05)
    s.submit(1)
    got = rec.wait_for(3)
    assert len({b for b, _ in got}) == 1
    for key in ("x-shopify-hmac-sha256", "x-shopify-event-id", "x-shopify-webhook-id",
                "x-shopify-triggered-at"):  # fmt: skip
        assert len({h[key] for _, h in got}) == 1
    log = s.wait_deliveries(3)
    assert [(d["attempt"], d["status_code"]) for d in log] == [(1, 500), (2, 503), (3, 200)]


@pytest.mark.network
def test_a_dead_receiver_is_tried_as_often_as_configured(shopify_factory: Any) -> None:
    s = shopify_factory(seed=0, webhook_url="http://127.0.0.1:9/hook", webhook_attempts=3,
                        webhook_backoff_s=0.01)  # fmt: skip
    s.submit(1)
    log = s.wait_deliveries(3)
    assert [d["attempt"] for d in log] == [1, 2, 3]
    assert all(d["status_code"] is None and d["error"] for d in log)


def test_replay_sends_the_same_delivery_again(
    shopify_server: ShopifyServer, receiver: tuple[Receiver, str]
) -> None:
    s = shopify_server
    rec, url = receiver
    s.subscribe(url)
    s.submit(1)
    (first,) = rec.wait_for(1)
    (delivery,) = s.wait_deliveries(1)
    again = s.replay(delivery["seq"])
    assert again["replay_of"] == delivery["seq"] and again["status_code"] == 200
    got = rec.wait_for(2)
    assert got[1][0] == first[0]
    assert {k: v for k, v in got[1][1].items() if k.startswith("x-shopify")} == {
        k: v for k, v in first[1].items() if k.startswith("x-shopify")
    }
    assert s.control.post("/webhooks/deliveries/99/replay").status_code == 404


def test_forged_and_stale_deliveries_can_be_sent(
    shopify_server: ShopifyServer, receiver: tuple[Receiver, str]
) -> None:
    s = shopify_server
    rec, url = receiver
    payload = {"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/1", "status": "open"}}
    old = datetime.now(UTC) - timedelta(hours=6)
    s.send_webhook("fulfillment_orders/hold_released", payload, url=url, triggered_at=old,
                   event_id="ev-stale")  # fmt: skip
    s.send_webhook("fulfillment_orders/hold_released", payload, url=url, secret="not-the-secret")
    (stale, forged) = rec.wait_for(2)
    assert _verify(s.app_secret, *stale)
    assert datetime.fromisoformat(stale[1]["x-shopify-triggered-at"]) == old
    assert stale[1]["x-shopify-event-id"] == "ev-stale"
    assert not _verify(s.app_secret, *forged)
    assert json.loads(forged[0]) == payload
    bad = s.control.post("/webhooks/send", json={"topic": "orders/create", "url": url})
    assert bad.status_code == 422


def test_subscriptions_filter_topics_and_can_be_removed(
    shopify_server: ShopifyServer, receiver: tuple[Receiver, str]
) -> None:
    s = shopify_server
    rec, url = receiver
    sub = s.subscribe(url, ["fulfillment_orders/cancelled"])
    fo = s.submit(1)[0]  # fulfillment_request_submitted: not subscribed
    s.cancel(fo)
    ((_, headers),) = rec.wait_for(1)
    assert headers["x-shopify-topic"] == "fulfillment_orders/cancelled"
    assert s.control.delete("/webhooks/subscriptions", params={"id": sub["id"]}).status_code == 204
    s.cancel(s.submit(1)[0])
    time.sleep(0.3)
    assert len(rec.got) == 1
    unknown = s.control.post("/webhooks/subscriptions", json={"url": url, "topics": ["x/y"]})
    assert unknown.status_code == 422

"""Shopify's ``fulfillment_orders/*`` webhooks and its throttling as Shopify documents them.

Pages (facts taken, not text):

* ``DELIVERY`` — shopify.dev ``apps/build/webhooks/delivery-structure``: headers
  ``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw body),
  ``X-Shopify-Webhook-Id`` ("a unique composite key per delivery": the dedupe key, repeated
  by retries), ``X-Shopify-Event-Id`` ("shared across all deliveries produced by the same
  merchant action"), ``X-Shopify-Triggered-At``, ``X-Shopify-API-Version``.
* ``TOPICS`` — shopify.dev ``docs/api/webhooks`` (the topic list, ``fulfillment_orders/*``,
  with a sample payload per topic and version): REST-style bodies that differ by topic;
  ``fulfillment_request_submitted`` carries ``original_fulfillment_order`` and
  ``submitted_fulfillment_order`` (whose ``request_status`` may still read ``unsubmitted``),
  ``cancellation_request_submitted`` carries ``fulfillment_order`` (``request_status``
  ``cancellation_request``) and ``fulfillment_order_merchant_request {message}``, ``moved``
  carries ``original_fulfillment_order`` / ``moved_fulfillment_order``, ``merged``
  ``fulfillment_order_merges`` and ``merge_intents``; many topics carry no status at all.
* ``LIMITS`` — shopify.dev ``docs/api/usage/limits`` (GraphQL Admin API): a throttled call
  answers ``errors[].extensions.code THROTTLED`` with ``extensions.cost {requestedQueryCost,
  actualQueryCost: null, throttleStatus {maximumAvailable, currentlyAvailable,
  restoreRate}}``; the HTTP status is 200 in the GraphQL pages and 429 in the rate-limit
  page: both are handled; plans restore 100 / 200 / 1,000 / 2,000 points per second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Status
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import IgnoredEvent, TransientError
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.source import TOPICS, ShopifyWebhooks
from rxfloor.core.sync.webhooks import WebhookReceiver

SECRET = "shopify-app-secret"
FO = "gid://shopify/FulfillmentOrder/1046000818"
FO2 = "gid://shopify/FulfillmentOrder/1046000819"

#: TOPICS: every fulfillment_orders/* topic of the current list
ALL_TOPICS = (
    "cancellation_request_accepted", "cancellation_request_rejected",
    "cancellation_request_submitted", "cancelled", "fulfillment_request_accepted",
    "fulfillment_request_rejected", "fulfillment_request_submitted",
    "fulfillment_service_failed_to_complete", "hold_released",
    "line_items_prepared_for_local_delivery", "line_items_prepared_for_pickup", "merged",
    "moved", "order_routing_complete", "placed_on_hold", "rescheduled",
    "scheduled_fulfillment_order_ready", "split",
)  # fmt: skip

#: TOPICS' sample payloads, shape for shape (ids as the GraphQL gids the samples carry)
SAMPLES: dict[str, dict[str, Any]] = {
    "fulfillment_request_submitted": {
        "original_fulfillment_order": {"id": FO, "status": "open",
                                       "request_status": "unsubmitted"},
        "submitted_fulfillment_order": {"id": FO, "status": "open",
                                        "request_status": "unsubmitted"},
        "fulfillment_order_merchant_request": {"id": "gid://shopify/FulfillmentOrderMerchantRequest/1",
                                               "message": "Fragile"},
    },
    "fulfillment_request_accepted": {"fulfillment_order": {"id": FO, "status": "in_progress",
                                                           "request_status": "accepted"},
                                     "message": "ok"},
    "fulfillment_request_rejected": {"fulfillment_order": {"id": FO, "status": "open",
                                                           "request_status": "rejected"},
                                     "message": "no stock"},
    "cancellation_request_submitted": {
        "fulfillment_order": {"id": FO, "status": "in_progress",
                              "request_status": "cancellation_request"},
        "fulfillment_order_merchant_request": {"id": "gid://shopify/FulfillmentOrderMerchantRequest/2",
                                               "message": "Customer changed their mind"},
    },
    "cancellation_request_accepted": {"fulfillment_order": {"id": FO, "status": "cancelled",
                                      "request_status": "cancellation_accepted"}, "message": ""},
    "cancellation_request_rejected": {"fulfillment_order": {"id": FO, "status": "in_progress",
                                      "request_status": "cancellation_rejected"}, "message": ""},
    "cancelled": {"fulfillment_order": {"id": FO, "status": "cancelled"},
                  "replacement_fulfillment_order": {"id": FO2, "status": "open"}},
    "placed_on_hold": {"fulfillment_order": {"id": FO, "status": "on_hold"},
                       "remaining_fulfillment_order": None,
                       "fulfillment_hold": {"reason": "awaiting_payment", "reason_notes": ""}},
    "hold_released": {"fulfillment_order": {"id": FO}},
    "rescheduled": {"fulfillment_order": {"id": FO, "status": "scheduled",
                                          "fulfill_at": "2026-12-24T10:00:00Z"}},
    "scheduled_fulfillment_order_ready": {"fulfillment_order": {"id": FO, "status": "open"}},
    "order_routing_complete": {"fulfillment_order": {"id": FO, "status": "open"}},
    "moved": {"original_fulfillment_order": {"id": FO, "status": "closed",
                                             "assigned_location_id": "gid://shopify/Location/1"},
              "moved_fulfillment_order": {"id": FO2, "status": "open",
                                          "assigned_location_id": "gid://shopify/Location/2"},
              "destination_location_id": "gid://shopify/Location/2",
              "fulfillment_order_line_items_requested": [], "source_location": {}},
    "merged": {"merge_intents": [{"fulfillment_order_id": 1046000818,
                                  "fulfillment_order_line_items": []}],
               "fulfillment_order_merges": [{"fulfillment_order": {"id": FO, "status": "open"}}]},
    "split": {"split_line_items": [], "fulfillment_order": {"id": FO, "status": "open"},
              "remaining_fulfillment_order": {"id": FO2, "status": "open"},
              "replacement_fulfillment_order": None},
    "fulfillment_service_failed_to_complete": {"fulfillment_order": {"id": FO,
                                               "status": "in_progress"}, "message": "broken"},
    "line_items_prepared_for_pickup": {"fulfillment_order": {"id": FO}},
    "line_items_prepared_for_local_delivery": {"fulfillment_order": {"id": FO}},
}  # fmt: skip


def _headers(
    topic: str, body: bytes, *, webhook_id: str, event_id: str = "evt-1"
) -> dict[str, str]:
    """DELIVERY: the headers of one delivery."""
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": f"fulfillment_orders/{topic}",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2026-12-07T06:00:00.000Z",
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Shop-Domain": "example.myshopify.com",
    }


def test_every_fulfillment_order_topic_is_mapped() -> None:
    assert set(ALL_TOPICS) == set(SAMPLES) and set(ALL_TOPICS) <= set(TOPICS)


@pytest.fixture
def receiver(service: OrderService) -> WebhookReceiver:
    return WebhookReceiver(service, SECRET.encode(), webhooks=ShopifyWebhooks(),
                           source="shopify", max_age_s=10 * 365 * 86_400.0)  # fmt: skip


def test_dedupe_is_on_the_webhook_id_not_the_event_id(receiver: WebhookReceiver) -> None:
    """DELIVERY: one merchant action touching two fulfillment orders is two deliveries
    with one Event-Id; a retry repeats the Webhook-Id."""
    first = json.dumps({"fulfillment_order": {"id": FO, "status": "in_progress",
                                              "request_status": "accepted"}}).encode()  # fmt: skip
    second = first.replace(b"1046000818", b"1046000819")
    topic = "fulfillment_request_accepted"
    assert receiver.receive(first, _headers(topic, first, webhook_id="wh-1"))[0] == 202
    assert receiver.receive(second, _headers(topic, second, webhook_id="wh-2"))[0] == 202
    code, answer = receiver.receive(first, _headers(topic, first, webhook_id="wh-1"))
    assert (code, answer["status"]) == (200, "duplicate")


def parse(topic: str) -> Any:
    body = json.dumps(SAMPLES[topic]).encode()
    return ShopifyWebhooks().parse(body, _headers(topic, body, webhook_id="wh"))


def test_a_cancellation_request_by_webhook_raises_the_request() -> None:
    order = parse("cancellation_request_submitted")
    assert order.order.cancel_requested
    assert order.order.request_message == "Customer changed their mind"
    assert order.order.board_status is Status.PROCESSING


def test_a_submitted_request_whose_body_says_unsubmitted_is_submitted() -> None:
    order = parse("fulfillment_request_submitted").order
    assert order.status == "OPEN/SUBMITTED" and order.board_status is Status.OPEN


@pytest.mark.parametrize(
    ("topic", "status", "board"),
    [
        ("fulfillment_request_accepted", "IN_PROGRESS/ACCEPTED", Status.PROCESSING),
        ("fulfillment_request_rejected", "OPEN/REJECTED", Status.CANCELLED),
        ("cancellation_request_accepted", "CANCELLED/CANCELLATION_ACCEPTED", Status.CANCELLED),
        ("cancellation_request_rejected", "IN_PROGRESS/CANCELLATION_REJECTED",
         Status.PROCESSING),
    ],
)  # fmt: skip
def test_topics_that_say_where_the_order_is(topic: str, status: str, board: Status) -> None:
    order = parse(topic).order
    assert (order.status, order.board_status) == (status, board)


@pytest.mark.parametrize(
    "topic",
    ["moved", "fulfillment_service_failed_to_complete", "placed_on_hold", "hold_released",
     "scheduled_fulfillment_order_ready", "order_routing_complete", "merged", "split",
     "cancelled", "rescheduled", "line_items_prepared_for_pickup",
     "line_items_prepared_for_local_delivery"],
)  # fmt: skip
def test_topics_that_do_not_say_are_read_back_never_guessed(topic: str) -> None:
    """Never FINISHED for a move or a failure, never SUBMITTED for a hold or a routing:
    where the body does not say the request status, the next pull reads the order back."""
    with pytest.raises(IgnoredEvent, match="read back"):
        parse(topic)


def test_merged_is_acknowledged_not_refused(receiver: WebhookReceiver) -> None:
    body = json.dumps(SAMPLES["merged"]).encode()
    code, answer = receiver.receive(body, _headers("merged", body, webhook_id="wh-m"))
    assert code == 200 and answer["status"] == "ignored"


#: LIMITS: a throttled answer (the Standard plan's figures: 100 points/s restored)
THROTTLED = {
    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/limits"}}],
    "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": None,
                            "throttleStatus": {"maximumAvailable": 2000.0,
                                               "currentlyAvailable": 552, "restoreRate": 100.0}}},
}  # fmt: skip


@pytest.mark.parametrize("code", [200, 429])
def test_throttled_with_200_or_429_waits_the_documented_time(code: int) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(code, json=THROTTLED))
    client = ShopifyClient("https://example.myshopify.com", SecretStr("shpat_abcdef0123456789"),
                           transport=transport)  # fmt: skip
    with pytest.raises(TransientError) as caught:
        client.query("query { shop { name } }")
    client.close()
    assert caught.value.maybe_applied is False
    assert caught.value.retry_after == pytest.approx((752 - 552) / 100.0)

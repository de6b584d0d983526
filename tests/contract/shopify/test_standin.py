"""The Shopify stand-in sends and answers what Shopify documents (the floor's client is
tested against it, so a stand-in that differs from Shopify hides the client's faults).

Pages (facts taken, not text):

* ``DELIVERY`` — shopify.dev ``apps/build/webhooks/delivery-structure``: every delivery has
  its own ``X-Shopify-Webhook-Id``.
* ``TOPICS`` — shopify.dev ``docs/api/webhooks``, the sample payload per topic (REST
  spelling; the shapes are :data:`SAMPLES` of ``test_webhooks_and_throttling``): which keys
  a body has, which fields its fulfillment order carries, ``request_status``
  ``cancellation_request`` for a cancellation request.
* ``LIMITS`` — shopify.dev ``apps/build/apis/graphql-admin/rate-limits``: Standard 100,
  Advanced 200, Plus 1,000, Commerce Components 2,000 points/s; a single query costs at most
  1,000 points. Captured answers of a Standard shop show ``maximumAvailable: 2000.0``,
  ``restoreRate: 100.0`` (the bucket as 20 s of the restore rate on the other plans is
  assumed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rxfloor.sandbox.shopify import ShopConfig
from tests import shopify_fixtures
from tests.contract.shopify.test_webhooks_and_throttling import SAMPLES
from tests.remote_fixtures import Receiver
from tests.sources.shopify.test_shopify_sandbox_webhooks import ACCEPT, receiver

shopify_factory = shopify_fixtures.shopify_factory
__all__ = ["receiver"]  # the fixture, used by name


@pytest.mark.network
def test_every_delivery_has_its_own_webhook_id_and_the_sample_payloads_shape(
    shopify_factory: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    s = shopify_factory(seed=0, webhook_url=url)
    fo, other, third = s.submit(3)
    s.graphql(ACCEPT, {"id": fo})
    s.request_cancellation(fo, "changed their mind")
    s.hold(other, "AWAITING_PAYMENT", "waiting for the bank")
    s.release(other)
    s.schedule(other, datetime.now(UTC) + timedelta(days=1))
    s.ready(other)
    s.cancel(third)
    got = rec.wait_for(10)
    assert len({h["x-shopify-webhook-id"] for _, h in got}) == len(got)
    seen = set()
    for body, headers in got:
        topic = headers["x-shopify-topic"].removeprefix("fulfillment_orders/")
        sample, payload = SAMPLES[topic], json.loads(body)
        seen.add(topic)
        assert set(payload) == set(sample), topic
        for key, value in sample.items():
            if key.endswith("fulfillment_order") and isinstance(payload[key], dict):
                assert isinstance(value, dict)
                assert set(payload[key]) == set(value), (topic, key)
        if topic == "cancellation_request_submitted":
            assert payload["fulfillment_order"]["request_status"] == "cancellation_request"
    assert {"fulfillment_request_submitted", "fulfillment_request_accepted",
            "cancellation_request_submitted", "placed_on_hold", "hold_released",
            "rescheduled", "scheduled_fulfillment_order_ready", "cancelled"} <= seen  # fmt: skip


@pytest.mark.parametrize(("plan", "rate"), [("standard", 100.0), ("advanced", 200.0),
                                            ("plus", 1000.0), ("enterprise", 2000.0)])  # fmt: skip
def test_the_plans_are_presets(plan: str, rate: float) -> None:
    config = ShopConfig(plan=plan)
    assert (config.restore_rate, config.bucket_size) == (rate, 20 * rate)


def test_a_shop_is_a_standard_one_unless_told(shopify_factory: Any) -> None:
    s = shopify_factory(seed=1)
    cost = s.graphql("{ shop { name } }")["extensions"]["cost"]
    assert cost["throttleStatus"]["restoreRate"] == 100.0
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert ShopConfig(plan="plus", restore_rate=5.0).restore_rate == 5.0  # given wins


def test_one_query_costs_at_most_1000_points_on_any_plan(shopify_factory: Any) -> None:
    s = shopify_factory(seed=1, plan="plus")
    answer = s.graphql("{ assignedFulfillmentOrders(first: 100) { nodes { id"
                       " lineItems(first: 10) { nodes { id } } } } }")  # fmt: skip
    (err,) = answer["errors"]
    assert err["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert err["extensions"]["maxCost"] == 1000

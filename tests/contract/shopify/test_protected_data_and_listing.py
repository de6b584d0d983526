"""Protected customer data and the assigned listing, as Shopify documents them.

Pages (facts taken, not text):

* ``PROTECTED`` — shopify.dev ``docs/apps/launch/protected-customer-data``: level 2 is a
  customer's name, address, phone and email; a public app needs Shopify's review for it (a
  custom app has it). "Shipping and fulfillment" (``FulfillmentOrder``) is protected customer
  data. Unapproved fields are redacted: a GraphQL request answers HTTP 200, the field null, and
  an ``errors`` entry whose ``path`` ends at the field ("This app is not approved to access
  the Customer object. See …/customer_data …" in the Admin example, "This app is not
  approved to use the phoneNumber field …" in the Customer Account example). Captured
  answers (public issue threads, e.g. Shopify/shopify-api-js#748) carry
  ``extensions.code: ACCESS_DENIED`` as well.
* ``ASSIGNMENT`` — shopify.dev ``docs/api/admin-graphql/2025-07/enums/
  FulfillmentOrderAssignmentStatus``: ``CANCELLATION_REQUESTED``, ``FULFILLMENT_ACCEPTED``,
  ``FULFILLMENT_REQUESTED``, ``FULFILLMENT_UNSUBMITTED``; ``QueryRoot.assignedFulfillmentOrders``
  without ``assignmentStatus`` returns every assigned fulfillment order but the CLOSED ones.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Status
from rxfloor.core.models import initials
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sources.shopify.wire import FulfillmentOrder
from tests import shopify_fixtures
from tests.shopify_fixtures import ShopifyServer
from tests.sources.shopify.test_shopify_sandbox import ACCEPT, CLOSE, REJECT

shopify_factory = shopify_fixtures.shopify_factory

NAMES = """query($n: Int!) { assignedFulfillmentOrders(first: $n) {
  nodes { id orderName destination { firstName lastName city countryCode } } } }"""


def _source(server: ShopifyServer, **kw: Any) -> ShopifySource:
    return ShopifySource(server.client(timeout_s=5.0), **kw)


def _orders(source: ShopifySource, *, active: bool) -> list[FulfillmentOrder]:
    listed = list(source.iter_orders(25, active=active))
    assert all(isinstance(o, FulfillmentOrder) for o in listed), listed
    return [o for o in listed if isinstance(o, FulfillmentOrder)]


# -- PROTECTED: the stand-in ------------------------------------------------------------------


def test_an_app_without_approval_gets_the_fields_null_and_an_error_at_each(
    shopify_factory: Any,
) -> None:
    s = shopify_factory(seed=2)
    answer = s.graphql(NAMES, {"n": 2})  # HTTP 200 (graphql() asserts it)
    nodes = answer["data"]["assignedFulfillmentOrders"]["nodes"]
    assert [n["orderName"] for n in nodes] == ["#1001", "#1002"]  # the rest of the answer stands
    for node in nodes:
        dest = node["destination"]
        assert dest["firstName"] is None and dest["lastName"] is None and dest["city"] is None
        assert "countryCode" in dest  # not a protected field: no error for it (below)
    paths = sorted(tuple(e["path"]) for e in answer["errors"])
    assert paths == sorted(
        ("assignedFulfillmentOrders", "nodes", i, "destination", f)
        for i in range(2) for f in ("firstName", "lastName", "city")
    )  # fmt: skip
    for error in answer["errors"]:
        field = error["path"][-1]
        assert error["message"].startswith(f"This app is not approved to use the {field} field")
        assert "customer_data" in error["message"]
        assert error["extensions"]["code"] == "ACCESS_DENIED"


def test_an_approved_app_reads_the_name_and_only_the_groups_it_was_approved_for(
    shopify_factory: Any,
) -> None:
    s = shopify_factory(seed=1, customer_fields=["name"])
    answer = s.graphql(NAMES, {"n": 1})
    dest = answer["data"]["assignedFulfillmentOrders"]["nodes"][0]["destination"]
    assert dest["firstName"] and dest["lastName"]
    assert [e["path"][-1] for e in answer["errors"]] == ["city"]  # address: not approved


# -- PROTECTED: the client ------------------------------------------------------------------


def test_the_floor_asks_for_no_protected_field_unless_told_the_app_is_approved() -> None:
    for name in ("ASSIGNED", "ONE"):
        document = queries.ALL[name]
        for field in ("firstName", "lastName", "city", "address1", "zip", "phone", "email"):
            assert field not in document, (name, field)
    for name in ("ASSIGNED_NAMES", "ONE_NAMES"):
        document = queries.ALL[name]
        assert "destination { firstName lastName }" in document
        assert "city" not in document  # the floor shows no address: never asked


def test_an_unapproved_app_pulls_every_order_and_shows_no_initials(shopify_factory: Any) -> None:
    s = shopify_factory(seed=3)
    source = _source(s)
    orders = _orders(source, active=False)
    assert len(orders) == 3 and not s.stats().get("errors")
    for order in orders:
        new = order.to_new_order(order.board_status or Status.OPEN)
        assert new.patient_name == "" and initials(new.patient_name) == "?"
    assert source.client.withheld == set()  # nothing asked, nothing withheld
    source.close()


def test_names_asked_of_an_unapproved_app_are_withheld_not_a_failed_pull(
    shopify_factory: Any,
) -> None:
    s = shopify_factory(seed=2)
    source = _source(s, customer_names=True)
    orders = _orders(source, active=False)
    assert len(orders) == 2
    assert all(o.to_new_order(o.board_status or Status.OPEN).patient_name == "" for o in orders)
    assert source.client.withheld == {"firstName", "lastName"}
    one = source.get_order(orders[0].id)
    assert one.destination is not None and one.destination.first_name is None
    source.close()


def test_an_approved_app_shows_the_initials(shopify_factory: Any) -> None:
    s = shopify_factory(seed=2, customer_fields=["name"])
    source = _source(s, customer_names=True)
    for order in _orders(source, active=False):
        new = order.to_new_order(order.board_status or Status.OPEN)
        assert new.patient_name and initials(new.patient_name) != "?"
    assert source.client.withheld == set()
    source.close()


def _client(answer: dict[str, Any]) -> ShopifyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    return ShopifyClient("https://shop.example", SecretStr("shpat_contract_token_1"),
                         transport=httpx.MockTransport(handler))  # fmt: skip


def test_the_documented_example_shape_without_an_error_code_is_read_too() -> None:
    fo = {"id": "gid://shopify/FulfillmentOrder/1", "status": "OPEN", "requestStatus": "SUBMITTED",
          "destination": {"firstName": None, "lastName": None}}  # fmt: skip
    client = _client({
        "data": {"fulfillmentOrder": fo},
        "errors": [{"message": "This app is not approved to access the Customer object. See "
                               "https://partners.shopify.com/123/apps/456/customer_data for "
                               "more details.",
                    "path": ["fulfillmentOrder", "destination", "lastName"]}],
    })  # fmt: skip
    data = client.query(queries.ONE_NAMES, {"id": fo["id"]})
    assert data["fulfillmentOrder"]["id"] == fo["id"]
    assert client.withheld == {"lastName"}


def test_an_app_refused_the_fulfillment_order_itself_is_told_so() -> None:
    client = _client({
        "data": {"fulfillmentOrder": None},
        "errors": [{"message": "This app is not approved to access the FulfillmentOrder object.",
                    "path": ["fulfillmentOrder"], "extensions": {"code": "ACCESS_DENIED"}}],
    })  # fmt: skip
    with pytest.raises(AuthError, match="not approved this app for the protected customer data"):
        client.query(queries.ONE, {"id": "gid://shopify/FulfillmentOrder/1"})


# -- ASSIGNMENT -------------------------------------------------------------------------------


def test_the_stand_in_filters_by_assignment_status_as_documented(shopify_factory: Any) -> None:
    s = shopify_factory(seed=0)
    requested, accepted, asked, rejected, unsubmitted = s.submit(4) + s.submit(1, submitted=False)
    for fo in (accepted, asked):
        s.graphql(ACCEPT, {"id": fo})
    s.request_cancellation(asked, "wrong size")
    s.graphql(REJECT, {"id": rejected, "reason": "OTHER", "message": "no"})
    listing = """query($s: FulfillmentOrderAssignmentStatus) {
      assignedFulfillmentOrders(first: 50, assignmentStatus: $s) { nodes { id } } }"""

    def ids(status: str | None) -> set[str]:
        nodes = s.graphql(listing, {"s": status})["data"]["assignedFulfillmentOrders"]["nodes"]
        return {n["id"] for n in nodes}

    assert ids("FULFILLMENT_REQUESTED") == {requested}
    assert ids("FULFILLMENT_ACCEPTED") == {accepted}
    assert ids("CANCELLATION_REQUESTED") == {asked}
    assert ids("FULFILLMENT_UNSUBMITTED") == {unsubmitted}
    assert ids(None) == {requested, accepted, asked, rejected, unsubmitted}  # all but CLOSED


def test_a_pull_pages_only_the_orders_that_can_still_change(shopify_factory: Any) -> None:
    s = shopify_factory(seed=0)
    requested, accepted, asked, rejected, closed, cancelled = s.submit(6)
    for fo in (accepted, asked, closed):
        s.graphql(ACCEPT, {"id": fo})
    s.request_cancellation(asked, "wrong size")
    s.graphql(REJECT, {"id": rejected, "reason": "OTHER", "message": "no"})
    s.graphql(CLOSE, {"id": closed, "message": "cannot ship"})  # -> INCOMPLETE
    s.cancel(cancelled)
    source = _source(s)
    active = {o.id for o in _orders(source, active=True)}
    assert active == {requested, accepted, asked}
    everything = {o.id for o in _orders(source, active=False)}
    assert {rejected, closed} <= everything  # Shopify's default listing keeps paging them
    sent = [r for r in s.requests() if r.get("operation") == "query"]
    assert sent  # (the listings above went through the API)
    source.close()


def test_a_full_page_with_names_and_barcodes_stays_under_the_single_query_ceiling(
    shopify_factory: Any,
) -> None:
    """The demo's app (names approved, ``read_products`` for barcodes) pulled nothing: a page
    of 25 with ``variant { barcode }`` on 20 line items asks 1,252 points, over the
    1,000-point ceiling of one query (shopify.dev ``docs/api/usage/limits``: "single query
    max cost limit"), and Shopify refuses the whole query. The page shrinks to fit."""
    s = shopify_factory(seed=30, customer_fields=["name"])
    source = _source(s, customer_names=True, barcodes=True)
    assert len(_orders(source, active=True)) == 30
    assert len(_orders(source, active=False)) == 30

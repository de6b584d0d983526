"""The Shopify stand-in over loopback: the fulfillment-order rules, userErrors, pagination,
the merchant side and the GraphQL layer (real validation errors)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import build_schema, parse, validate

from rxfloor.sandbox.shopify import ShopConfig, ShopState, sdl
from rxfloor.sandbox.shopify.state import encode_cursor, gid_number
from tests import shopify_fixtures
from tests.helpers import wait_for
from tests.shopify_fixtures import ShopifyServer

shopify_server = shopify_fixtures.shopify_server
shopify_factory = shopify_fixtures.shopify_factory

#: no protected customer field (an app without that approval may ask for these)
FO_FIELDS = """
  id status requestStatus fulfillAt orderName
  order { name }
  destination { countryCode location { name } }
  deliveryMethod { methodType presentedName }
  fulfillmentHolds { reason reasonNotes }
  lineItems(first: 10) {
    nodes { id sku productTitle variantTitle totalQuantity remainingQuantity } }
  merchantRequests(first: 5) { nodes { kind message sentAt } }
"""
PAGE = (
    "query($after: String, $status: FulfillmentOrderAssignmentStatus, $n: Int!) {"
    " assignedFulfillmentOrders(first: $n, after: $after, assignmentStatus: $status) {"
    " pageInfo { hasNextPage hasPreviousPage endCursor } nodes { " + FO_FIELDS + " } } }"
)
ONE = "query($id: ID!) { fulfillmentOrder(id: $id) { " + FO_FIELDS + " } }"

ACCEPT = """mutation($id: ID!) {
  fulfillmentOrderAcceptFulfillmentRequest(id: $id, message: "on it") {
  fulfillmentOrder { id status requestStatus } userErrors { field message } } }"""
REJECT = """mutation($id: ID!, $reason: FulfillmentOrderRejectionReason, $message: String) {
  fulfillmentOrderRejectFulfillmentRequest(id: $id, reason: $reason, message: $message) {
  fulfillmentOrder { id status requestStatus } userErrors { field message } } }"""
CLOSE = """mutation($id: ID!, $message: String) {
  fulfillmentOrderClose(id: $id, message: $message) {
  fulfillmentOrder { id status requestStatus } userErrors { field message } } }"""
ACCEPT_CANCEL = """mutation($id: ID!) { fulfillmentOrderAcceptCancellationRequest(id: $id) {
  fulfillmentOrder { id status requestStatus } userErrors { field message } } }"""
REJECT_CANCEL = """mutation($id: ID!, $message: String) {
  fulfillmentOrderRejectCancellationRequest(id: $id, message: $message) {
  fulfillmentOrder { id status requestStatus } userErrors { field message } } }"""
FULFIL = """mutation($fo: ID!, $items: [FulfillmentOrderLineItemInput!],
  $tracking: FulfillmentTrackingInput) {
  fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [{fulfillmentOrderId: $fo,
    fulfillmentOrderLineItems: $items}], notifyCustomer: true, trackingInfo: $tracking}) {
  fulfillment { id name status trackingInfo { company number url } }
  userErrors { field message } } }"""


def _payload(answer: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in answer, answer
    (payload,) = answer["data"].values()
    return payload  # type: ignore[no-any-return]


def _move(s: ShopifyServer, query: str, **variables: Any) -> dict[str, Any]:
    return _payload(s.graphql(query, variables))


def _status(s: ShopifyServer, fo_id: str) -> str:
    fo = s.fulfillment_order(fo_id)
    return f"{fo['status']}/{fo['requestStatus']}"


def _first(s: ShopifyServer) -> str:
    return s.submit(1)[0]


def _accepted(s: ShopifyServer) -> str:
    fo = _first(s)
    assert _move(s, ACCEPT, id=fo)["userErrors"] == []
    return fo


def test_the_sdl_is_the_executed_schema_and_a_typo_is_a_real_graphql_error(
    shopify_server: ShopifyServer,
) -> None:
    schema = build_schema(sdl())
    assert not validate(schema, parse(PAGE))
    answer = shopify_server.graphql("{ assignedFulfillmentOrders(first: 1) { nodes { stauts } } }")
    assert "data" not in answer
    assert (
        "Cannot query field 'stauts' on type 'FulfillmentOrder'" in answer["errors"][0]["message"]
    )
    assert answer["extensions"]["cost"]["requestedQueryCost"] == 0
    broken = shopify_server.graphql("{ shop { name ")
    assert broken["errors"][0]["message"].startswith("Syntax Error")
    bad_enum = shopify_server.graphql(
        "{ assignedFulfillmentOrders(first: 1, assignmentStatus: OPEN) { nodes { id } } }"
    )
    assert "FulfillmentOrderAssignmentStatus" in bad_enum["errors"][0]["message"]
    shop = shopify_server.graphql("{ shop { name myshopifyDomain } }")
    assert shop["data"]["shop"]["myshopifyDomain"] == shopify_server.shop_domain


def test_seeded_orders_are_realistic_and_deterministic(
    shopify_factory: Any,
) -> None:
    approved = ["name", "address"]  # the app may read the destination's name and address
    a = shopify_factory(seed=30, content_seed=7, customer_fields=approved)
    b = shopify_factory(seed=30, content_seed=7, customer_fields=approved)
    page = PAGE.replace("destination { ", "destination { firstName lastName city ")
    page_a = _payload(a.graphql(page, {"n": 30}))["nodes"]
    page_b = _payload(b.graphql(page, {"n": 30}))["nodes"]
    strip = [
        {k: v for k, v in fo.items() if k not in ("merchantRequests", "fulfillAt")} for fo in page_a
    ]
    assert strip == [
        {k: v for k, v in fo.items() if k not in ("merchantRequests", "fulfillAt")} for fo in page_b
    ]
    assert [fo["orderName"] for fo in page_a[:3]] == ["#1001", "#1002", "#1003"]
    assert page_a[0]["id"].startswith("gid://shopify/FulfillmentOrder/")
    assert {fo["status"] + "/" + fo["requestStatus"] for fo in page_a} == {"OPEN/SUBMITTED"}
    methods = {fo["deliveryMethod"]["methodType"] for fo in page_a}
    assert {"SHIPPING", "PICK_UP"} <= methods
    for fo in page_a:
        assert fo["lineItems"]["nodes"], fo
        assert fo["merchantRequests"]["nodes"][0]["kind"] == "FULFILLMENT_REQUEST"
        dest = fo["destination"]
        assert dest["firstName"] and dest["lastName"]
        if fo["deliveryMethod"]["methodType"] == "PICK_UP":
            assert dest["city"] is None and dest["location"]["name"]
        else:
            assert dest["city"] and dest["countryCode"] == "DE"


def test_accept_then_fulfil_with_tracking_closes_it(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = _first(s)
    accepted = _move(s, ACCEPT, id=fo)
    assert accepted == {
        "fulfillmentOrder": {"id": fo, "status": "IN_PROGRESS", "requestStatus": "ACCEPTED"},
        "userErrors": [],
    }
    tracking = {"company": "DHL", "number": "00340434161234567890", "url": "https://dhl.de/t"}
    done = _move(s, FULFIL, fo=fo, tracking=tracking)
    assert done["userErrors"] == []
    assert done["fulfillment"]["status"] == "SUCCESS"
    assert done["fulfillment"]["trackingInfo"] == [tracking]
    assert _status(s, fo) == "CLOSED/ACCEPTED"
    log = s.transitions()
    assert [(t["action"], t["from"], t["to"]) for t in log] == [
        ("fulfillmentOrderAcceptFulfillmentRequest", "OPEN/SUBMITTED", "IN_PROGRESS/ACCEPTED"),
        ("fulfillmentCreate", "IN_PROGRESS/ACCEPTED", "CLOSED/ACCEPTED"),
    ]
    assert log[1]["tracking"] == [tracking] and log[1]["notify_customer"] is True
    requests = {r["seq"]: r for r in s.requests()}
    assert all(requests[t["request_seq"]]["operation"] == "mutation" for t in log)
    # a closed one is no longer listed by default, and a second fulfilment is refused
    listed = s.graphql(PAGE, {"n": 30})["data"]["assignedFulfillmentOrders"]["nodes"]
    assert fo not in {n["id"] for n in listed}
    again = _move(s, FULFIL, fo=fo)
    assert again["fulfillment"] is None
    assert again["userErrors"][0]["message"].startswith("Cannot create a fulfillment")


def test_partial_fulfilment_keeps_it_in_progress(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = _accepted(s)
    items = s.fulfillment_order(fo)["lineItems"]
    first = items[0]
    part = _move(s, FULFIL, fo=fo, items=[{"id": first["id"], "quantity": 1}])
    assert part["userErrors"] == []
    stored = s.fulfillment_order(fo)
    assert stored["lineItems"][0]["remainingQuantity"] == first["totalQuantity"] - 1
    if len(items) > 1 or first["totalQuantity"] > 1:
        assert stored["status"] == "IN_PROGRESS"
    too_many = _move(s, FULFIL, fo=fo, items=[{"id": first["id"], "quantity": 99}])
    assert too_many["userErrors"][0]["field"][-1] == "quantity"
    unknown = _move(
        s, FULFIL, fo=fo, items=[{"id": "gid://shopify/FulfillmentOrderLineItem/1", "quantity": 1}]
    )
    assert "does not exist" in unknown["userErrors"][0]["message"]


@pytest.mark.parametrize(
    ("prepare", "query", "variables"),
    [
        ("open", FULFIL, {}),  # not accepted yet
        ("open", CLOSE, {"message": "no stock"}),
        ("open", ACCEPT_CANCEL, {}),
        ("open", REJECT_CANCEL, {}),
        ("accepted", ACCEPT, {}),
        ("accepted", REJECT, {"reason": "OTHER"}),
        ("accepted", ACCEPT_CANCEL, {}),
        ("held", ACCEPT, {}),
        ("held", REJECT, {}),
        ("scheduled", ACCEPT, {}),
        ("cancel_requested", FULFIL, {}),  # conservative: answer the request first
        ("cancel_requested", CLOSE, {}),
        ("rejected", ACCEPT, {}),
        ("unsubmitted", ACCEPT, {}),
    ],
)
def test_a_move_from_the_wrong_state_is_a_user_error_with_http_200(
    shopify_server: ShopifyServer, prepare: str, query: str, variables: dict[str, Any]
) -> None:
    s = shopify_server
    fo = s.submit(1, submitted=prepare != "unsubmitted")[0]
    if prepare in ("accepted", "cancel_requested"):
        _move(s, ACCEPT, id=fo)
    if prepare == "cancel_requested":
        s.request_cancellation(fo, "changed my mind")
    if prepare == "held":
        s.hold(fo, "AWAITING_PAYMENT")
    if prepare == "scheduled":
        s.schedule(fo, datetime.now(UTC) + timedelta(days=2))
    if prepare == "rejected":
        _move(s, REJECT, id=fo, reason="OTHER")
    before = _status(s, fo)
    count = len(s.transitions())
    key = "fo" if query is FULFIL else "id"
    payload = _move(s, query, **{key: fo}, **variables)
    assert payload.get("fulfillmentOrder", payload.get("fulfillment")) is None
    (err,) = payload["userErrors"]
    assert err["message"].startswith("Cannot ")
    assert err["field"][-1] in ("id", "fulfillmentOrderId")
    assert _status(s, fo) == before
    assert len(s.transitions()) == count
    assert s.requests()[-1]["status_code"] == 200


def test_an_unknown_fulfillment_order_does_not_exist(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    payload = _move(s, ACCEPT, id="gid://shopify/FulfillmentOrder/1")
    assert payload["userErrors"] == [
        {"field": ["id"], "message": "Fulfillment order does not exist."}
    ]
    missing = s.graphql(ONE, {"id": "gid://shopify/FulfillmentOrder/1"})
    assert missing["data"] == {"fulfillmentOrder": None}
    invalid = s.graphql(ONE, {"id": "1001"})
    assert "Invalid global id" in invalid["errors"][0]["message"]


def test_reject_with_a_reason_keeps_it_open_and_the_merchant_may_resubmit(
    shopify_server: ShopifyServer,
) -> None:
    s = shopify_server
    fo = _first(s)
    out = _move(s, REJECT, id=fo, reason="INVENTORY_OUT_OF_STOCK", message="Amoxicillin out")
    assert out["fulfillmentOrder"]["requestStatus"] == "REJECTED"
    assert out["fulfillmentOrder"]["status"] == "OPEN"
    last = s.transitions()[-1]
    assert last["reason"] == "INVENTORY_OUT_OF_STOCK" and last["message"] == "Amoxicillin out"
    requested = s.graphql(PAGE, {"n": 30, "status": "FULFILLMENT_REQUESTED"})
    assert fo not in {n["id"] for n in requested["data"]["assignedFulfillmentOrders"]["nodes"]}
    s.submit_request(fo, "please try again")
    assert _status(s, fo) == "OPEN/SUBMITTED"
    assert _move(s, ACCEPT, id=fo)["userErrors"] == []


def test_close_marks_it_incomplete(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = _accepted(s)
    out = _move(s, CLOSE, id=fo, message="cannot ship: recall")
    assert out["fulfillmentOrder"] == {"id": fo, "status": "INCOMPLETE", "requestStatus": "CLOSED"}
    assert s.transitions()[-1]["message"] == "cannot ship: recall"


def test_cancellation_request_accepted_and_rejected(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    a, b = _accepted(s), _accepted(s)
    for fo in (a, b):
        s.request_cancellation(fo, "Customer changed their mind")
        assert _status(s, fo) == "IN_PROGRESS/CANCELLATION_REQUESTED"
    asked = s.graphql(PAGE, {"n": 10, "status": "CANCELLATION_REQUESTED"})
    nodes = asked["data"]["assignedFulfillmentOrders"]["nodes"]
    assert [n["id"] for n in nodes] == [a, b]
    kinds = [(r["kind"], r["message"]) for r in nodes[0]["merchantRequests"]["nodes"]]
    assert kinds[-1] == ("CANCELLATION_REQUEST", "Customer changed their mind")
    only = s.graphql(
        "query($id: ID!) { fulfillmentOrder(id: $id) { merchantRequests(first: 5, "
        "kind: CANCELLATION_REQUEST) { nodes { message } } } }",
        {"id": a},
    )
    assert only["data"]["fulfillmentOrder"]["merchantRequests"]["nodes"] == [
        {"message": "Customer changed their mind"}
    ]
    assert _move(s, ACCEPT_CANCEL, id=a)["fulfillmentOrder"]["status"] == "CANCELLED"
    assert _status(s, a) == "CANCELLED/CANCELLATION_ACCEPTED"
    out = _move(s, REJECT_CANCEL, id=b, message="already packed")
    assert out["fulfillmentOrder"]["requestStatus"] == "CANCELLATION_REJECTED"
    assert _status(s, b) == "IN_PROGRESS/CANCELLATION_REJECTED"
    # still accepted work: it can be fulfilled and is listed as accepted
    accepted = s.graphql(PAGE, {"n": 30, "status": "FULFILLMENT_ACCEPTED"})
    assert b in {n["id"] for n in accepted["data"]["assignedFulfillmentOrders"]["nodes"]}
    assert _move(s, FULFIL, fo=b)["userErrors"] == []


def test_the_merchant_cancels_an_unaccepted_one_at_once(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = _first(s)
    s.request_cancellation(fo, "wrong address")
    assert _status(s, fo) == "CANCELLED/SUBMITTED"
    assert s.transitions()[-1]["action"] == "cancel"
    refused = s.control.post("/merchant/cancel", json={"id": fo})
    assert refused.status_code == 409 and "CANCELLED" in refused.json()["error"]


def test_hold_and_release_restore_the_status(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    open_one, in_work = _first(s), _accepted(s)
    for fo, back in ((open_one, "OPEN/SUBMITTED"), (in_work, "IN_PROGRESS/ACCEPTED")):
        held = s.hold(fo, "HIGH_RISK_OF_FRAUD", "check the card")
        assert held["status"] == "ON_HOLD"
        assert held["fulfillmentHolds"][0]["reason"] == "HIGH_RISK_OF_FRAUD"
        view = s.graphql(ONE, {"id": fo})["data"]["fulfillmentOrder"]
        assert view["fulfillmentHolds"] == [
            {"reason": "HIGH_RISK_OF_FRAUD", "reasonNotes": "check the card"}
        ]
        s.release(fo)
        assert _status(s, fo) == back
    bad = s.control.post("/merchant/hold", json={"id": open_one, "reason": "BORED"})
    assert bad.status_code == 422


def test_a_schedule_runs_out_by_itself(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = _first(s)
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    assert s.schedule(fo, at)["status"] == "SCHEDULED"
    view = s.graphql(ONE, {"id": fo})["data"]["fulfillmentOrder"]
    assert view["status"] == "SCHEDULED" and view["fulfillAt"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # runs out at ``at`` (about 1.5 s from now): polled, bounded by wait_for's 10 s
    wait_for(lambda: s.graphql(ONE, {"id": fo})["data"]["fulfillmentOrder"]["status"] == "OPEN")
    assert datetime.now(UTC) >= at - timedelta(seconds=1)  # not before its time (to the second)
    assert s.transitions()[-1]["action"] == "ready"
    assert _move(s, ACCEPT, id=fo)["userErrors"] == []
    later = _first(s)
    s.schedule(later, datetime.now(UTC) + timedelta(days=3))
    s.ready(later)
    assert _status(s, later) == "OPEN/SUBMITTED"


def test_arrivals_scheduled_and_unsubmitted(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    (scheduled,) = s.submit(1, fulfill_at=datetime.now(UTC) + timedelta(days=1))
    (quiet,) = s.submit(1, submitted=False, delivery="PICK_UP")
    assert _status(s, scheduled) == "SCHEDULED/SUBMITTED"
    assert _status(s, quiet) == "OPEN/UNSUBMITTED"
    unsubmitted = s.graphql(PAGE, {"n": 30, "status": "FULFILLMENT_UNSUBMITTED"})
    assert [n["id"] for n in unsubmitted["data"]["assignedFulfillmentOrders"]["nodes"]] == [quiet]
    s.submit_request(quiet)
    assert _status(s, quiet) == "OPEN/SUBMITTED"


def test_pagination_walks_every_order_once_both_ways(shopify_factory: Any) -> None:
    s = shopify_factory(seed=57, restore_rate=100_000)
    query = (
        "query($n: Int, $after: String, $last: Int, $before: String, $rev: Boolean) {"
        " assignedFulfillmentOrders(first: $n, after: $after, last: $last, before: $before,"
        " reverse: $rev) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        " edges { cursor node { id } } } }"
    )

    def walk(**fixed: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = s.graphql(query, {**fixed, "after": cursor})["data"]
            conn = page["assignedFulfillmentOrders"]
            seen += [e["node"]["id"] for e in conn["edges"]]
            assert conn["pageInfo"]["hasPreviousPage"] == (cursor is not None)
            if not conn["pageInfo"]["hasNextPage"]:
                return seen
            cursor = conn["pageInfo"]["endCursor"]

    forward = walk(n=10)
    assert len(forward) == 57 == len(set(forward))
    assert forward == sorted(forward, key=lambda g: int(g.rsplit("/", 1)[1]))
    assert walk(n=10, rev=True) == forward[::-1]
    tail = s.graphql(query, {"last": 5})["data"]["assignedFulfillmentOrders"]
    assert [e["node"]["id"] for e in tail["edges"]] == forward[-5:]
    assert tail["pageInfo"]["hasPreviousPage"] and not tail["pageInfo"]["hasNextPage"]
    before = s.graphql(query, {"last": 3, "before": tail["pageInfo"]["startCursor"]})
    conn = before["data"]["assignedFulfillmentOrders"]
    assert [e["node"]["id"] for e in conn["edges"]] == forward[-8:-5]
    assert conn["pageInfo"]["hasNextPage"]
    broken = s.graphql(query, {"n": 5, "after": "not-a-cursor"})
    assert broken["data"] is None and "Invalid cursor" in broken["errors"][0]["message"]


def test_page_size_and_missing_first_are_refused_before_running(
    shopify_server: ShopifyServer,
) -> None:
    s = shopify_server
    too_big = s.graphql("{ assignedFulfillmentOrders(first: 251) { nodes { id } } }")
    assert "250" in too_big["errors"][0]["message"] and "data" not in too_big
    nested = s.graphql(
        "{ assignedFulfillmentOrders(first: 2) { nodes { lineItems { nodes { id } } } } }"
    )
    assert "first or last" in nested["errors"][0]["message"]
    assert s.transitions() == []


@pytest.mark.slow
def test_ten_thousand_assigned_orders_page_in_linear_time() -> None:
    """The shape a 10k pull uses: 40 pages of 250, each costing its page, not the shop."""
    state = ShopState(ShopConfig(seed=10_000))  # seeding takes seconds here: not timed
    started = time.perf_counter()
    seen, after = 0, None
    while True:
        items, has_next, _ = state.page(
            first=250,
            after=after,
            last=None,
            before=None,
            reverse=False,
            assignment="FULFILLMENT_REQUESTED",
            location_ids=None,
        )
        seen += len(items)
        if not has_next:
            break
        n = gid_number(items[-1]["id"], "FulfillmentOrder")
        assert n is not None
        after = encode_cursor(n)
    assert seen == 10_000
    assert time.perf_counter() - started < 1.0

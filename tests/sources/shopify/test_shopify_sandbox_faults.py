"""The Shopify stand-in's HTTP layer over loopback: access token, query cost and the bucket,
THROTTLED, injected faults (applied or not), and concurrent moves on one order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from rxfloor.sandbox.shopify import INVALID_TOKEN
from tests import shopify_fixtures
from tests.helpers import wait_for
from tests.shopify_fixtures import ShopifyServer

shopify_server = shopify_fixtures.shopify_server
shopify_factory = shopify_fixtures.shopify_factory

ACCEPT = (
    "mutation($id: ID!) { fulfillmentOrderAcceptFulfillmentRequest(id: $id) {"
    " fulfillmentOrder { status } userErrors { field message } } }"
)
#: 2 + 10 * (1 node + 1 order + (2 + 5 line items)) = 92 requested
PAGE = (
    "{ assignedFulfillmentOrders(first: 10) { nodes { id order { name }"
    " lineItems(first: 5) { nodes { id } } } } }"
)


def _post(s: ShopifyServer, body: Any, **kw: Any) -> httpx.Response:
    return s.post(s.graphql_url, json=body, timeout=10, **kw)


def _first_id(s: ShopifyServer) -> str:
    fo: dict[str, Any] = s.state.page(
        first=1, after=None, last=None, before=None, reverse=False,
        assignment="FULFILLMENT_REQUESTED", location_ids=None,
    )[0][0]  # fmt: skip
    return str(fo["id"])


def test_the_access_token_is_required(shopify_factory: Any) -> None:
    s = shopify_factory(seed=3, access_token="shpat_right")
    query = {"query": "{ shop { name } }"}
    for headers in ({}, {"X-Shopify-Access-Token": "shpat_wrong"}):
        answer = _post(s, query, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"errors": INVALID_TOKEN}
    ok = _post(s, query, headers={"X-Shopify-Access-Token": "shpat_right"})
    assert ok.status_code == 200 and ok.json()["data"]["shop"]["name"]
    assert ok.headers["X-Shopify-API-Version"] == "2025-10"
    assert s.control.get("/stats").status_code == 200  # control needs no token
    s.set_faults(echo_token=True)
    careless = _post(s, query, headers={"X-Shopify-Access-Token": "shpat_wrong"})
    assert "shpat_wrong" in careless.json()["errors"]


def test_http_level_refusals(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    h = s.headers
    assert s.post(s.base_url + s.graphql_path("2019-01"), json={"query": "{ shop { name } }"},
                      headers=h).status_code == 404  # fmt: skip
    assert s.get(s.graphql_url, headers=h).status_code == 405
    bad = s.post(s.graphql_url, content=b"{not json", headers=h)
    assert bad.status_code == 400 and "JSON" in bad.json()["errors"]
    assert _post(s, {"variables": {}}, headers=h).status_code == 400
    raw = s.post(
        s.graphql_url, content=b"{ shop { name } }",
        headers={**h, "Content-Type": "application/graphql"},
    )  # fmt: skip
    assert raw.status_code == 200 and raw.json()["data"]["shop"]["name"]


def test_every_answer_carries_its_cost_and_the_bucket_refunds_unused_points(
    shopify_factory: Any,
) -> None:
    s = shopify_factory(seed=3, restore_rate=0.001)  # practically no restore in this test
    answer = s.graphql(PAGE)
    cost = answer["extensions"]["cost"]
    items = sum(
        len(n["lineItems"]["nodes"]) for n in answer["data"]["assignedFulfillmentOrders"]["nodes"]
    )
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 1 + 2 + 5)
    assert cost["actualQueryCost"] == 2 + 3 * (1 + 1 + 2) + items
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 2000.0 and status["restoreRate"] == 0.001  # Standard
    assert status["currentlyAvailable"] == 2000 - cost["actualQueryCost"]
    mutation = s.graphql(ACCEPT, {"id": _first_id(s)})["extensions"]["cost"]
    assert mutation["requestedQueryCost"] == mutation["actualQueryCost"] == 10
    assert mutation["throttleStatus"]["currentlyAvailable"] == status["currentlyAvailable"] - 10
    refused = s.graphql("{ shop { nope } }")
    assert refused["extensions"]["cost"]["actualQueryCost"] == 0
    stats = s.stats()
    assert stats["requested_cost"] == cost["requestedQueryCost"] + 10
    assert stats["actual_cost"] == cost["actualQueryCost"] + 10


def test_throttled_answers_as_shopify_does_and_applies_nothing(shopify_factory: Any) -> None:
    s = shopify_factory(seed=3, restore_rate=5)  # 2 s before 10 points are back: no race
    s.set_throttle(currentlyAvailable=0)
    fo = _first_id(s)
    answer = _post(s, {"query": ACCEPT, "variables": {"id": fo}}, headers=s.headers)
    assert answer.status_code == 200
    body = answer.json()
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 10 and cost["actualQueryCost"] is None
    status = cost["throttleStatus"]
    assert status["currentlyAvailable"] < 10 and status["restoreRate"] == 5
    assert s.transitions() == []
    assert s.stats()["throttled"] == 1
    # paced from throttleStatus: wait for the missing points, then it goes through
    time.sleep((10 - status["currentlyAvailable"]) / status["restoreRate"] + 0.05)
    ok = s.graphql(ACCEPT, {"id": fo})
    assert ok["data"]["fulfillmentOrderAcceptFulfillmentRequest"]["userErrors"] == []
    assert len(s.transitions()) == 1


def test_a_query_over_the_bucket_is_refused_outright(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    answer = s.graphql("{ assignedFulfillmentOrders(first: 250) { nodes { id lineItems(first: 10)"
                       " { nodes { id } } } } }")  # fmt: skip
    (err,) = answer["errors"]
    assert err["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert err["extensions"]["cost"] == 2 + 250 * (1 + 2 + 10)
    assert err["extensions"]["maxCost"] == 1000  # a single query's limit, not the bucket
    assert answer["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000


def test_throttle_off_reports_costs_and_never_throttles(shopify_factory: Any) -> None:
    s = shopify_factory(seed=3, throttle=False)
    s.set_throttle(currentlyAvailable=0)
    answer = s.graphql(PAGE)
    assert "errors" not in answer
    assert answer["extensions"]["cost"]["requestedQueryCost"] == 92
    bad = s.control.post("/throttle", json={"restoreRate": -1})
    assert bad.status_code == 422


def _fault(s: ShopifyServer, kind: str, **settings: Any) -> tuple[str, Any]:
    """Force ``kind`` on one accept; what the client saw and whether it was applied."""
    fo = s.submit(1)[0]
    s.set_faults(next=[kind], **settings)
    before = len(s.transitions())
    try:
        with httpx.Client(timeout=0.5) as client:
            answer = client.post(
                s.graphql_url, json={"query": ACCEPT, "variables": {"id": fo}}, headers=s.headers
            )
        try:
            seen: Any = (answer.status_code, answer.json())
        except json.JSONDecodeError:
            seen = (answer.status_code, "malformed")
    except httpx.RemoteProtocolError:
        seen = "dropped"
    except httpx.ReadTimeout:
        seen = "timeout"
    applied = len(s.transitions()) > before
    return fo, (seen, applied)


@pytest.mark.parametrize(
    ("kind", "seen", "applied"),
    [
        ("server_error", 503, False),
        ("drop_before", "dropped", False),
        ("throttled", 200, False),
        ("drop_after", "dropped", True),
        ("malformed", "malformed", True),
        ("slow", "timeout", True),
    ],
)
@pytest.mark.network
def test_each_fault_is_applied_or_not_as_its_kind_says(
    shopify_server: ShopifyServer, kind: str, seen: Any, applied: bool
) -> None:
    s = shopify_server
    fo, (got, was_applied) = _fault(s, kind, slow_s=1.0)
    if isinstance(got, tuple):
        assert got[0] == seen or got[1] == seen, got
        if kind == "throttled":
            assert got[1]["errors"][0]["extensions"]["code"] == "THROTTLED"
    else:
        assert got == seen
    if kind == "slow":  # applied once its 1 s is over: wait for it (bounded), no fixed sleep
        wait_for(lambda: len(s.transitions()) > 0)
        was_applied = len(s.transitions()) > 0
    assert was_applied is applied
    entry = next(r for r in s.requests() if r["fault"] == kind)
    assert entry["operation"] == "mutation"
    if applied:
        (t,) = s.transitions()
        assert t["id"] == fo and t["request_seq"] == entry["seq"]
    if kind == "drop_after":
        assert entry["status_code"] is None


def test_faults_are_reproducible_and_can_spare_queries(shopify_server: ShopifyServer) -> None:
    s = shopify_server

    def run() -> list[str | None]:
        s.set_faults(
            fail_rate=0.5, fault_seed=7, kinds=["server_error", "throttled"],
            operations=["mutation"],
        )  # fmt: skip
        since = len(s.requests())
        unknown = {"id": "gid://shopify/FulfillmentOrder/1"}
        with s.api() as api:
            for _ in range(12):
                api.post(s.graphql_path("2025-10"), json={"query": "{ shop { name } }"})
                api.post(s.graphql_path("2025-10"), json={"query": ACCEPT, "variables": unknown})
        return [r["fault"] for r in s.requests()[since:]]

    first, second = run(), run()
    assert first == second
    assert all(f is None for f in first[::2])  # queries are spared
    assert {f for f in first[1::2]} == {None, "server_error", "throttled"}


def test_concurrent_accepts_of_one_order_apply_exactly_once(shopify_server: ShopifyServer) -> None:
    s = shopify_server
    fo = s.submit(1)[0]
    barrier = threading.Barrier(8)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def accept() -> None:
        with s.http("") as client:
            barrier.wait()
            answer = client.post(
                s.graphql_url, json={"query": ACCEPT, "variables": {"id": fo}}, headers=s.headers
            )
        with lock:
            results.append(answer.json()["data"]["fulfillmentOrderAcceptFulfillmentRequest"])

    threads = [threading.Thread(target=accept) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sum(1 for r in results if not r["userErrors"]) == 1
    assert sum(1 for r in results if r["userErrors"]) == 7
    assert [t["id"] for t in s.transitions()] == [fo]

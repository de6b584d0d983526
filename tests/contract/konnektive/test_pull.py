"""Konnektive's pull and read-back through the Order Query API, the one public pages name.

Sources (facts taken, not text):

* ``ORDER_QUERY`` — GitHub ``luckylion999/Tacticalmastery-API``: ``controllers.js`` (getOrder)
  calls ``https://api.konnektive.com/order/query/`` with ``loginId``, ``password`` and
  ``orderId`` and hands Konnektive's ``message`` on; its ``README.md`` (``GET /order/:id``)
  shows that answer: ``{"result": "SUCCESS", "message": {"totalResults", "resultsPerPage",
  "page", "data": [order]}}`` where an order carries ``items`` (an object keyed by product
  id) and ``fulfillments``, a list of ``{fulfillmentId, fulfillmentHouseId, company,
  clientFulfillmentId, trackingNumber, dateShipped, dateDelivered, shipCarrier, shipMethod,
  responseText, status, dateReturned, rmaNumber, items, dateCreated}``; the status key is
  ``status`` (upper case, ``HOLD`` there).
* ``FH`` — Konnektive's wiki (``konnektive.atlassian.net``, the fulfillment plugin page): a
  fulfillment house that pulls is given an API user and told to "use our Order Query API to
  pull the orders and the Update Fulfillment API to pass back fulfillment updates".
* ``FULFILLMENT_QUERY`` — public code found by string search only (a CheckoutChamp proxy
  client paging ``fulfillment/query`` by ``startDate`` / ``endDate``, a page rendering a
  captured answer): flat fulfillment rows with ``orderId`` and ``status``. No Konnektive page
  documents that call: the client uses it only when an Order Query answer carries no
  ``fulfillments`` at all.
"""

from __future__ import annotations

from typing import Any

from rxfloor.core.lifecycle import Status
from rxfloor.core.sources.konnektive import wire
from tests import konnektive_fixtures
from tests.konnektive_fixtures import KonnektiveServer

konnektive_factory = konnektive_fixtures.konnektive_factory

#: an order as ORDER_QUERY shows one (shape and key names; values made up here)
ORDER: dict[str, Any] = {
    "orderId": "3C9A1F0B77",
    "orderType": "NEW_SALE",
    "orderStatus": "COMPLETE",
    "dateCreated": "2026-11-30 09:12:40",
    "firstName": "Ada",
    "lastName": "Lindqvist",
    "shipFirstName": "Ada",
    "shipLastName": "Lindqvist",
    "items": {"7": {"productId": "7", "name": "Omega capsules", "qty": "2", "price": "9.00"}},
    "fulfillments": [
        {
            "fulfillmentId": 512,
            "fulfillmentHouseId": 4,
            "company": "Pharmacy",
            "clientFulfillmentId": "77AB01",
            "trackingNumber": None,
            "dateShipped": None,
            "dateDelivered": None,
            "shipCarrier": None,
            "shipMethod": None,
            "responseText": None,
            "status": "HOLD",
            "dateReturned": None,
            "rmaNumber": None,
            "items": [{"fulfillmentItemId": "901", "name": "Omega capsules", "sku": "OMG",
                       "qty": "2", "status": "HOLD", "rmaNumber": ""}],
            "dateCreated": "2026-11-30 09:13:02",
        }
    ],
}  # fmt: skip

FULFILLMENT_KEYS = {"fulfillmentId", "fulfillmentHouseId", "company", "clientFulfillmentId",
                    "trackingNumber", "dateShipped", "dateDelivered", "shipCarrier",
                    "shipMethod", "responseText", "status", "dateReturned", "rmaNumber",
                    "items", "dateCreated"}  # fmt: skip


def _order(row: dict[str, Any]) -> wire.KonnektiveOrder:
    detail = wire.OrderDetail.model_validate(row)
    assert detail.fulfillments is not None
    return wire.KonnektiveOrder(detail.order_id, detail, detail.fulfillments)


def test_an_order_query_row_carries_the_fulfillment_state_and_tracking() -> None:
    held = _order(ORDER)
    assert (held.status, held.on_hold, held.tracking_number) == ("HOLD", True, None)
    new = held.to_new_order(held.board_status or Status.OPEN)
    assert new.patient_name == "Ada Lindqvist" and [i.quantity for i in new.items] == [2]
    shipped = {**ORDER["fulfillments"][0], "status": "PENDING_SHIPMENT",
               "trackingNumber": "1Z999AA10123456784", "dateShipped": "2026-12-01"}  # fmt: skip
    moved = _order({**ORDER, "fulfillments": [ORDER["fulfillments"][0], {
        **shipped, "fulfillmentId": 513}]})  # fmt: skip
    assert (moved.status, moved.tracking_number) == ("PENDING_SHIPMENT", "1Z999AA10123456784")
    assert moved.board_status is Status.FINISHED


def test_a_row_without_the_key_is_told_apart_from_one_with_none() -> None:
    assert wire.OrderDetail.model_validate({**ORDER, "fulfillments": []}).fulfillments == []
    bare = {k: v for k, v in ORDER.items() if k != "fulfillments"}
    assert wire.OrderDetail.model_validate(bare).fulfillments is None


def test_fulfillment_rows_are_read_by_status_and_by_the_update_parameter_name() -> None:
    flat = wire.Fulfillment.model_validate(
        {"fulfillmentId": 5, "orderId": "A1", "status": "Shipped"}
    )
    named = wire.Fulfillment.model_validate(
        {"fulfillmentId": 5, "orderId": "A1", "fulfillmentStatus": "Shipped"}
    )
    assert flat.status == named.status == "SHIPPED"


def _call(server: KonnektiveServer, endpoint: str, **params: str) -> dict[str, Any]:
    auth = {"loginId": server.login_id, "password": server.password}
    with server.http(server.base_url) as http:
        answer = http.post(f"/{endpoint}/", params={**auth, **params})
    return answer.json()  # type: ignore[no-any-return]


def test_the_stand_in_answers_order_query_in_that_shape(konnektive_factory: Any) -> None:
    server: KonnektiveServer = konnektive_factory()
    (order_id,) = server.add_orders(1)
    answer = _call(server, "order/query", orderId=order_id)
    assert answer["result"] == "SUCCESS"
    (row,) = answer["message"]["data"]
    (fulfillment,) = row["fulfillments"]
    assert set(fulfillment) == FULFILLMENT_KEYS
    assert fulfillment["status"] == "PENDING" and isinstance(fulfillment["fulfillmentId"], int)
    flat = _call(server, "fulfillment/query", orderId=order_id)["message"]["data"][0]
    assert flat["orderId"] == order_id and flat["status"] == "PENDING"
    assert "fulfillmentStatus" not in flat and "fulfillmentStatus" not in fulfillment


def test_a_pull_a_read_back_and_a_push_call_only_the_documented_apis(
    konnektive_factory: Any,
) -> None:
    server: KonnektiveServer = konnektive_factory(seed=3)
    source = server.source(rate_limit_per_s=None)
    pulled = list(source.iter_orders(200, active=False))
    assert [o.status for o in pulled if isinstance(o, wire.KonnektiveOrder)] == ["PENDING"] * 3
    first = pulled[0]
    assert isinstance(first, wire.KonnektiveOrder)
    assert source.get_order(first.uid).status == "PENDING"
    after = source.push_step(first.uid, "SHIPPED", reason=None, idempotency_key="k",
                             payload={"number": "1Z1"})  # fmt: skip
    assert (after.status, after.tracking_number) == ("PENDING_SHIPMENT", "1Z1")
    endpoints = [r["endpoint"] for r in server.requests()]
    assert set(endpoints) == {"order/query", "fulfillment/update"}, endpoints
    source.close()


def test_an_order_query_without_fulfillments_falls_back_to_fulfillment_query(
    konnektive_factory: Any,
) -> None:
    server: KonnektiveServer = konnektive_factory(seed=2, order_query_fulfillments=False)
    source = server.source(rate_limit_per_s=None)
    pulled = [o for o in source.iter_orders(200, active=False)
              if isinstance(o, wire.KonnektiveOrder)]  # fmt: skip
    assert [o.status for o in pulled] == ["PENDING", "PENDING"]
    assert pulled[0].detail is not None and pulled[0].detail.items
    assert source.get_order(pulled[0].uid).status == "PENDING"
    assert "fulfillment/query" in {r["endpoint"] for r in server.requests()}
    source.close()

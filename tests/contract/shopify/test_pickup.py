"""The hand-off of a pickup order in Shopify's own words (issue 24 §3).

Pages (facts taken, not text), shopify.dev GraphQL Admin reference (2025-10 and latest):

* ``PREPARED`` — ``mutations/fulfillmentOrderLineItemsPreparedForPickup``: marks fulfillment
  order line items ready for customer pickup and sends the customer a "Ready For Pickup"
  notification; for local pickup orders once the items are prepared; one argument
  ``input: FulfillmentOrderLineItemsPreparedForPickupInput!``, whose
  ``lineItemsByFulfillmentOrder: [PreparedFulfillmentOrderLineItemsInput!]!`` names each
  fulfillment order (``fulfillmentOrderId: ID!``). Its payload is ``userErrors`` only (no
  fulfillment order): ``FulfillmentOrderLineItemsPreparedForPickupUserError`` with ``code``,
  ``field``, ``message``.
* ``CODES`` — ``enums/FulfillmentOrderLineItemsPreparedForPickupUserErrorCode``:
  ``FULFILLMENT_ORDER_INVALID`` (invalid fulfillment order id),
  ``NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER`` (the fulfillment order has no line items
  that can be prepared), ``UNABLE_TO_PREPARE_QUANTITY``.
* ``CREATE`` — ``mutations/fulfillmentCreate``: the fulfillment of a fulfillment order's
  line items (``FulfillmentInput.lineItemsByFulfillmentOrder``, ``notifyCustomer``).

Assumed (no page says it): the fulfillment order's status stays IN_PROGRESS / ACCEPTED once
prepared and no field of ``FulfillmentOrder`` shows the mark (``FulfillmentOrderStatus`` has
no "ready"; ``FulfillmentOrderAction`` none either); a second preparation of the same
fulfillment order meets ``NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER`` and tells the
customer nothing again; a shipping fulfillment order is refused ``FULFILLMENT_ORDER_INVALID``.

So a pickup order's finish prepares it (once), its hand-off is the fulfillment (once), and a
ship order's finish is the fulfillment with tracking as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from graphql import build_schema, validate
from graphql.language import parse
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.models import Tracking
from rxfloor.core.service import Actor, Counter, OrderService
from rxfloor.core.sources import traits
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.source import FULFILL, HANDOFF, ShopifySource, plan_push
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox.shopify.schema import sdl
from tests import shopify_fixtures
from tests.shopify_fixtures import ShopifyServer

shopify_factory = shopify_fixtures.shopify_factory
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)
PREPARED = "fulfillmentOrderLineItemsPreparedForPickup"


@pytest.fixture
def server(shopify_factory: Any) -> ShopifyServer:
    found: ShopifyServer = shopify_factory(seed=0, restore_rate=2000.0)
    return found


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def _source(server: ShopifyServer) -> ShopifySource:
    return ShopifySource(server.client(timeout_s=2.0))


def _moves(server: ShopifyServer, gid: str) -> list[str]:
    return [t["action"] for t in server.transitions() if t["by"] == "api" and t["id"] == gid]


def _prepare(server: ShopifyServer, *gids: str) -> dict[str, Any]:
    variables = {"input": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": g}
                                                           for g in gids]}}  # fmt: skip
    body = server.graphql(queries.PREPARE_FOR_PICKUP, variables)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][PREPARED]
    return payload


def _accepted(server: ShopifyServer, delivery: str) -> str:
    (gid,) = server.submit(1, delivery=delivery)
    server.state.accept_request(gid, None, None)
    return gid


def test_the_document_is_the_admin_schemas() -> None:
    """PREPARED: the input and payload as the reference names them (the SDL is the subset)."""
    schema = build_schema(sdl())
    assert validate(schema, parse(queries.PREPARE_FOR_PICKUP)) == []
    mutation = schema.mutation_type
    assert mutation is not None
    field = mutation.fields[PREPARED]
    assert str(field.args["input"].type) == "FulfillmentOrderLineItemsPreparedForPickupInput!"
    given = schema.get_type("FulfillmentOrderLineItemsPreparedForPickupInput")
    assert str(given.fields["lineItemsByFulfillmentOrder"].type) == (  # type: ignore[union-attr]
        "[PreparedFulfillmentOrderLineItemsInput!]!")  # fmt: skip
    codes = schema.get_type("FulfillmentOrderLineItemsPreparedForPickupUserErrorCode")
    assert set(codes.values) == {"FULFILLMENT_ORDER_INVALID",  # type: ignore[union-attr]
                                 "NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER",
                                 "UNABLE_TO_PREPARE_QUANTITY"}  # fmt: skip


def test_the_stand_in_prepares_a_pickup_order_once(server: ShopifyServer) -> None:
    """PREPARED, CODES: prepared (status kept), a repeat has nothing left to prepare."""
    gid = _accepted(server, "PICK_UP")
    assert _prepare(server, gid) == {"userErrors": []}
    assert server.state.prepared(gid)
    assert server.fulfillment_order(gid)["status"] == "IN_PROGRESS"
    again = _prepare(server, gid)["userErrors"]
    assert [e["code"] for e in again] == ["NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER"]
    assert _moves(server, gid).count(PREPARED) == 1


def test_the_stand_in_refuses_what_is_not_a_ready_pickup(server: ShopifyServer) -> None:
    """CODES: a shipping fulfillment order, one not accepted, an unknown id: invalid."""
    shipped = _accepted(server, "SHIPPING")
    (waiting,) = server.submit(1, delivery="PICK_UP")  # not accepted yet
    for gid in (shipped, waiting, "gid://shopify/FulfillmentOrder/999999"):
        errors = _prepare(server, gid)["userErrors"]
        assert [e["code"] for e in errors] == ["FULFILLMENT_ORDER_INVALID"], gid
        assert errors[0]["field"] == ["input", "lineItemsByFulfillmentOrder", "0",
                                      "fulfillmentOrderId"]  # fmt: skip
        assert not server.state.prepared(gid)


def test_a_second_fulfillment_is_refused(server: ShopifyServer) -> None:
    """CREATE: nothing remains once fulfilled (the hand-off's repeat is a state refusal)."""
    gid = _accepted(server, "PICK_UP")
    handed = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": gid}],
              "notifyCustomer": False}  # fmt: skip
    first = server.graphql(queries.FULFILL, {"fulfillment": handed})["data"]["fulfillmentCreate"]
    assert first["userErrors"] == []
    second = server.graphql(queries.FULFILL, {"fulfillment": handed})["data"]["fulfillmentCreate"]
    assert second["userErrors"][0]["message"].startswith("Cannot create a fulfillment")
    assert _moves(server, gid).count("fulfillmentCreate") == 1


def test_the_hand_off_is_planned_as_the_fulfillment() -> None:
    assert traits("shopify").remote_handoff and not traits("shopify").tells_ready
    assert plan_push(Action.HANDOFF, "IN_PROGRESS/ACCEPTED").steps == (HANDOFF,)
    assert plan_push(Action.HANDOFF, "IN_PROGRESS/CANCELLATION_REJECTED").steps == (HANDOFF,)
    assert plan_push(Action.HANDOFF, "CLOSED/ACCEPTED").done
    for gone in ("CANCELLED/CANCELLATION_ACCEPTED", "INCOMPLETE/CLOSED",
                 "IN_PROGRESS/CANCELLATION_REQUESTED"):  # fmt: skip
        assert plan_push(Action.HANDOFF, gone).stale, gone
    # the finish plans the fulfillment step: the source reads the delivery method first
    assert plan_push(Action.FINISH, "IN_PROGRESS/ACCEPTED").steps == (FULFILL,)


@pytest.mark.parametrize("lost", [None, "prepare", "handoff"])
@pytest.mark.network
def test_a_pickup_order_is_prepared_at_its_finish_and_fulfilled_at_its_hand_off_once(
    server: ShopifyServer, service: OrderService, lost: str | None
) -> None:
    """Each mutation applied exactly once; a lost answer is read back (the preparation's
    repeat refused as nothing left to prepare: no second notification)."""
    source = _source(server)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        (gid,) = server.submit(1, delivery="PICK_UP")
        worker.cycle()
        name = f"shopify:{gid}"
        assert service.get(name).delivery_type is DeliveryType.PICKUP
        service.act(name, Action.START)
        worker.cycle()
        if lost == "prepare":  # applied, its answer lost
            server.set_faults(next=["drop_after"], operations=["mutation"])
        service.act(name, Action.FINISH, counter=Counter(bin="B3"))
        for _ in range(3):
            worker.cycle()
        assert server.state.prepared(gid)
        assert server.fulfillment_order(gid)["status"] == "IN_PROGRESS"
        view = service.get(name)
        assert (view.status, view.sync_error) == (Status.FINISHED, None)
        worker.cycle()  # a pull reads it IN_PROGRESS: where a ready order should be
        assert service.get(name).version == view.version
        if lost == "handoff":
            server.set_faults(next=["drop_after"], operations=["mutation"])
        service.act(name, Action.HANDOFF, counter=Counter(id_checked=True))
        for _ in range(3):
            worker.cycle()
        assert server.fulfillment_order(gid)["status"] == "CLOSED"
        assert _moves(server, gid) == ["fulfillmentOrderAcceptFulfillmentRequest", PREPARED,
                                       "fulfillmentCreate"]  # fmt: skip
        sent = [r["operation_name"] for r in server.requests()
                if r["operation_name"] in ("PreparedForPickup", "Fulfill")]  # fmt: skip
        # the lost one was read back, its repeat refused (prepared) or never sent (closed)
        assert sent == (["PreparedForPickup", "PreparedForPickup", "Fulfill"]
                        if lost == "prepare" else ["PreparedForPickup", "Fulfill"])  # fmt: skip
        handed = [t for t in server.transitions() if t["action"] == "fulfillmentCreate"]
        assert handed[0]["notify_customer"] is False and not handed[0].get("tracking")
        with service.store.read() as conn:
            rows = conn.execute(select(outbox.c.action, outbox.c.state)
                                .order_by(outbox.c.id)).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [("start", "sent"), ("finish", "sent"),
                                            ("handoff", "sent")]  # fmt: skip
        view = service.get(name)
        assert (view.status, view.remote_status, view.sync_error) == (
            Status.FINISHED, "CLOSED/ACCEPTED", None)  # fmt: skip
    finally:
        worker.close()


def test_a_ship_order_is_fulfilled_with_tracking_at_its_finish_as_before(
    server: ShopifyServer, service: OrderService
) -> None:
    source = _source(server)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    try:
        (gid,) = server.submit(1, delivery="SHIPPING")
        worker.cycle()
        name = f"shopify:{gid}"
        service.act(name, Action.START)
        parcel = Tracking(company="DHL", number="00340434161234567890")
        service.act(name, Action.FINISH, tracking=parcel)
        for _ in range(2):
            worker.cycle()
        assert _moves(server, gid) == ["fulfillmentOrderAcceptFulfillmentRequest",
                                       "fulfillmentCreate"]  # fmt: skip
        assert not server.state.prepared(gid)
        assert service.get(name).remote_status == "CLOSED/ACCEPTED"
    finally:
        worker.close()

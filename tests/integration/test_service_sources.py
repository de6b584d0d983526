"""The service with several sources: tracking, local holds, merchant holds and cancel requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, alerts, outbox
from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.models import NewOrder, Tracking
from rxfloor.core.service import Actor, OrderService, Refused
from rxfloor.core.sources import local_id
from rxfloor.core.text import register_secret

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GID = "gid://shopify/FulfillmentOrder/7"


@pytest.fixture
def floor(store: Store) -> OrderService:
    service = OrderService(store, Actor("AB", "c1"), clock=lambda: NOW)
    service.add_orders(
        [
            NewOrder(
                id=local_id("shopify", GID),
                source="shopify",
                name="#1001",
                delivery_type=DeliveryType.SHIP,
                remote_status="OPEN/SUBMITTED",
            ),
            NewOrder(id="po-1", name="#2001", remote_status="open"),
        ]
    )
    return service


def _outbox(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()]


def _history(service: OrderService, ref: str) -> list[tuple[str, str | None]]:
    order = service.get(ref)
    return [(e["action"], e["reason"]) for e in service.store.history(order.id)]


def test_a_finish_carries_its_tracking_to_the_order_and_the_outbox(floor: OrderService) -> None:
    floor.act("shopify:#1001", Action.START)
    with pytest.raises(Refused, match="tracking number goes with a finish only"):
        floor.act("#2001", Action.START, tracking=Tracking(number="1Z999"))
    parcel = Tracking(company="UPS", number=" 1Z999AA10123456784 ", url="https://ups.example/t")
    done = floor.act("#1001", Action.ADVANCE, tracking=parcel)
    assert done.order.status is Status.FINISHED
    assert done.order.tracking == Tracking(company="UPS", number="1Z999AA10123456784",
                                           url="https://ups.example/t")  # fmt: skip
    rows = _outbox(floor.store)
    assert [r["action"] for r in rows] == ["start", "finish"]
    assert rows[0]["payload"] is None
    assert json.loads(str(rows[1]["payload"])) == {
        "tracking": {"company": "UPS", "number": "1Z999AA10123456784",
                     "url": "https://ups.example/t"}}  # fmt: skip
    assert _history(floor, "#1001")[-1] == ("finish", "tracking UPS 1Z999AA10123456784")
    undone = floor.undo(done.event_id)
    assert undone.order.tracking is None and undone.order.status is Status.PROCESSING


def test_a_hold_on_a_source_that_cannot_hold_stays_local(floor: OrderService) -> None:
    held = floor.act("#1001", Action.HOLD, reason="waiting for stock")
    assert held.order.hold and held.order.hold_reason == "waiting for stock"
    assert _outbox(floor.store) == []
    assert _history(floor, "#1001")[-1] == (
        "hold",
        "waiting for stock (hold is local: Shopify does not hold orders for the pharmacy)",
    )
    assert not floor.act("#1001", Action.RELEASE).order.hold  # the pharmacist's own hold
    assert _history(floor, "#2001") == [("created", None)]
    floor.act("#2001", Action.HOLD, reason="call the doctor")
    assert _history(floor, "#2001")[-1] == ("hold", "call the doctor")


def test_a_merchants_hold_is_released_in_shopify_not_here(floor: OrderService) -> None:
    order = floor.get("#1001")
    assert floor.apply_remote(order.id, "ON_HOLD/SUBMITTED", Status.OPEN, remote_hold=True,
                              hold_comment="address check")  # fmt: skip
    held = floor.get("#1001")
    assert held.hold and Action.RELEASE not in floor.legal_actions(held)
    with pytest.raises(Refused) as err:
        floor.act("#1001", Action.RELEASE)
    assert str(err.value) == (
        "#1001: cannot release: held by the merchant in Shopify: release it there"
    )
    # RxScale as before: a hold its remote placed may be released on the floor
    floor.apply_remote("po-1", "on-hold", Status.OPEN, remote_hold=True)
    assert not floor.act("#2001", Action.RELEASE).order.hold


def test_a_cancellation_request_is_answered_by_accepting_it(floor: OrderService) -> None:
    secret = "s3cr3t-token-value-123"
    register_secret(secret)
    order = floor.get("#1001")
    floor.act("#1001", Action.START)
    what = floor.apply_remote(order.id, "IN_PROGRESS/CANCELLATION_REQUESTED", Status.PROCESSING,
                              cancel_requested=True,
                              request_message=f"customer\nchanged mind {secret}")  # fmt: skip
    assert what == "cancel request"
    asked = floor.get("#1001")
    assert asked.cancel_requested and asked.request_kind == "cancellation"
    assert asked.request_message is not None and secret not in asked.request_message
    assert floor.legal_actions(asked) == {Action.ACCEPT_CANCEL, Action.REJECT_CANCEL,
                                          Action.HOLD}  # fmt: skip
    with floor.store.read() as conn:
        (alert,) = conn.execute(select(alerts)).mappings().all()
    assert alert["kind"] == "cancel_request" and secret not in alert["message"]
    assert alert["message"].startswith("the merchant asks to cancel #1001: customer")
    with pytest.raises(Refused) as err:
        floor.act("#1001", Action.ADVANCE)
    assert str(err.value) == (
        "cannot finish: the merchant asked to cancel #1001 (accept or reject the request first)"
    )
    # the same pull again: nothing new, no second alert
    assert floor.apply_remote(order.id, "IN_PROGRESS/CANCELLATION_REQUESTED", Status.PROCESSING,
                              cancel_requested=True, request_message="x") is None  # fmt: skip
    accepted = floor.act("#1001", Action.ACCEPT_CANCEL)
    assert accepted.order.status is Status.CANCELLED and not accepted.order.cancel_requested
    assert [r["action"] for r in _outbox(floor.store)] == ["start", "accept_cancel"]
    # a pull before the answer is pushed still shows the request: not raised again
    assert floor.apply_remote(order.id, "IN_PROGRESS/CANCELLATION_REQUESTED", Status.PROCESSING,
                              cancel_requested=True) is None  # fmt: skip
    assert not floor.get("#1001").cancel_requested
    with floor.store.read() as conn:
        assert len(conn.execute(select(alerts)).all()) == 1


def test_a_rejected_request_leaves_the_order_where_it_was(floor: OrderService) -> None:
    order = floor.get("#1001")
    asked = ("OPEN/CANCELLATION_REQUESTED", Status.OPEN)
    floor.apply_remote(order.id, *asked, cancel_requested=True)
    # the merchant withdraws it: cleared, audited
    assert floor.apply_remote(order.id, "OPEN/SUBMITTED", Status.OPEN) == "request closed"
    assert not floor.get("#1001").cancel_requested
    assert floor.apply_remote(order.id, *asked, cancel_requested=True, request_message="wrong size")
    with pytest.raises(Refused, match="reject_cancel needs a reason"):
        floor.act("#1001", Action.REJECT_CANCEL)
    rejected = floor.act("#1001", Action.REJECT_CANCEL, reason="already packed")
    assert rejected.order.status is Status.OPEN and not rejected.order.cancel_requested
    (row,) = _outbox(floor.store)
    assert (row["action"], row["reason"]) == ("reject_cancel", "already packed")
    undone = floor.undo(rejected.event_id)
    assert undone.order.cancel_requested and undone.order.request_message == "wrong size"
    floor.act("#1001", Action.REJECT_CANCEL, reason="already packed")
    assert floor.act("#1001", Action.START).order.status is Status.PROCESSING  # work goes on
    assert [a for a, _ in _history(floor, "#1001")] == [
        "created", "cancel_request", "cancel_request_closed", "cancel_request",
        "reject_cancel", "undo", "reject_cancel", "start"]  # fmt: skip
    # an RxScale order cannot be asked: nothing to accept
    with pytest.raises(Refused, match="nobody asked to cancel"):
        floor.act("#2001", Action.ACCEPT_CANCEL)


def test_answering_a_cancellation_request_closes_its_alert(floor: OrderService) -> None:
    """The alert asks for an answer: once answered — accepted or rejected, from any
    terminal or the CLI, or closed at the remote — it is no longer open, in the same
    transaction as the answer."""

    def open_kinds() -> list[tuple[str, str | None]]:
        with floor.store.read() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.acknowledged_at.is_(None)))
            return [(r.order_id, r.kind) for r in rows]

    asked = ("OPEN/CANCELLATION_REQUESTED", Status.OPEN)
    floor.add_orders([NewOrder(id=local_id("shopify", GID + "2"), source="shopify", name="#1002",
                               remote_status="OPEN/SUBMITTED")])  # fmt: skip
    one, two = floor.get("#1001"), floor.get("#1002")
    floor.apply_remote(one.id, *asked, cancel_requested=True, request_message="wrong size")
    floor.apply_remote(two.id, *asked, cancel_requested=True)
    assert sorted(open_kinds()) == sorted([(one.id, "cancel_request"), (two.id, "cancel_request")])
    floor.act("#1001", Action.REJECT_CANCEL, reason="already packed")
    assert open_kinds() == [(two.id, "cancel_request")]
    floor.apply_remote(two.id, "OPEN/SUBMITTED", Status.OPEN)  # withdrawn at the remote
    assert open_kinds() == []
    floor.apply_remote(two.id, *asked, cancel_requested=True)  # asked again
    assert open_kinds() == [(two.id, "cancel_request")]
    floor.act("#1002", Action.ACCEPT_CANCEL)
    assert open_kinds() == []

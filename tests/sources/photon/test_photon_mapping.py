"""Photon's mapping, row by row: each event type / fulfillment state / read state to its word
and board column (the table of docs/pages/sources/photon.md), and push planning from every word."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.sources.photon import mapping
from rxfloor.core.sources.photon.source import PhotonWebhooks
from rxfloor.core.sources.photon.wire import (
    CloudEvent,
    OrderRead,
    order_of_event,
    order_of_read,
)

US = "phr_us"


def event(kind: str, **data: Any) -> CloudEvent:
    return CloudEvent.model_validate(
        {"id": "01EVT", "type": f"photon:order:{kind}", "specversion": "1.0",
         "time": "2026-12-01T12:00:00.000Z", "subject": "ord_1",
         "data": {"id": "ord_1", "externalId": "EXT-1", "patient": {"id": "pat_1"}} | data}
    )  # fmt: skip


def ful(state: str, kind: str | None = None) -> dict[str, Any]:
    return {"fulfillment": {"type": kind, "state": state}}


# every row of the docs' table: (event, data) -> (word, board column, parked)
EVENT_ROWS: list[tuple[str, dict[str, Any], str, Status | None, bool]] = [
    ("created", {"pharmacyId": US}, "pending", None, False),
    ("created", {"pharmacyId": "phr_other"}, "routing", None, False),
    ("placed", {}, "placed", Status.OPEN, False),
    ("fulfillment", ful("SENT", "MAIL_ORDER"), "sent", Status.OPEN, False),
    ("fulfillment", ful("RECEIVED"), "received", Status.OPEN, False),
    ("fulfillment", ful("FILLING"), "filling", Status.PROCESSING, False),
    ("fulfillment", ful("IN_PROGRESS"), "filling", Status.PROCESSING, False),
    ("fulfillment", ful("READY"), "ready", Status.FINISHED, False),
    ("fulfillment", ful("SHIPPED"), "shipped", Status.FINISHED, False),
    ("fulfillment", ful("OUT_FOR_DELIVERY"), "shipped", Status.FINISHED, False),
    ("fulfillment", ful("DELIVERED"), "delivered", Status.FINISHED, False),
    ("fulfillment", ful("PICKED_UP"), "delivered", Status.FINISHED, False),
    ("fulfillment", ful("SOMETHING_NEW"), "placed", Status.OPEN, False),
    ("completed", {}, "completed", Status.FINISHED, False),
    ("canceled", {}, "canceled", Status.CANCELLED, False),
    ("rerouted", {"pharmacy": {"id": "phr_2", "name": "E"}}, "rerouted", Status.CANCELLED, False),
    ("rerouted", {"pharmacy": {"id": US, "name": "Us"}}, "placed", Status.OPEN, False),
    ("error", {"reason": "insurance rejected"}, "error", None, True),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "data", "word", "board", "parked"), EVENT_ROWS)
def test_every_event_row(
    kind: str, data: dict[str, Any], word: str, board: Status | None, parked: bool
) -> None:
    order = order_of_event(event(kind, **data), US)
    assert (order.status, order.board_status, order.on_hold) == (word, board, parked)
    assert order.uid == "ord_1" and order.name == "EXT-1"


def test_reroute_and_error_say_why() -> None:
    rerouted = order_of_event(event("rerouted", pharmacy={"id": "p2", "name": "Elsewhere"}), US)
    assert rerouted.comment == "rerouted to Elsewhere"
    failed = order_of_event(event("error", reason="insurance rejected"), US)
    assert failed.comment == "Photon reports an error: insurance rejected"
    new = failed.to_new_order(Status.OPEN)
    assert new.on_hold and new.hold_reason == failed.comment and new.remote_status == "error"


def test_created_event_gives_the_card_what_it_documents() -> None:
    order = order_of_event(
        event("created", pharmacyId=US, createdAt="2026-12-01T11:00:00Z",
              fills=[{"id": "fil_1", "prescription": {"id": "rx_1"}}]),
        US,
    )  # fmt: skip
    new = order.to_new_order(Status.OPEN)
    assert [(i.sku, i.drug) for i in new.items] == [("rx_1", "prescription rx_1")]
    assert new.created_at is not None and new.delivery_type is DeliveryType.PICKUP
    mail = order_of_event(event("fulfillment", fulfillment={"type": "MAIL_ORDER", "state": "SENT"}))
    assert mail.to_new_order(Status.OPEN).delivery_type is DeliveryType.SHIP


@pytest.mark.parametrize("bad", ["photon:prescription:created", "photon:order:updated"])
def test_non_order_and_unknown_events_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="event"):
        order_of_event(CloudEvent.model_validate({"id": "e", "type": bad, "data": {"id": "o"}}))


READ_ROWS: list[tuple[str, str | None, str | None, str, Status | None]] = [
    ("ROUTING", None, None, "routing", None),
    ("PENDING", None, US, "pending", None),
    ("PENDING", None, "phr_other", "rerouted", Status.CANCELLED),
    ("PLACED", None, US, "placed", Status.OPEN),
    ("PLACED", "RECEIVED", US, "received", Status.OPEN),
    ("PLACED", "FILLING", US, "filling", Status.PROCESSING),
    ("PLACED", "SHIPPED", US, "shipped", Status.FINISHED),
    ("PLACED", "FILLING", "phr_other", "rerouted", Status.CANCELLED),
    ("COMPLETED", "DELIVERED", US, "completed", Status.FINISHED),
    ("CANCELED", None, US, "canceled", Status.CANCELLED),
    ("ERROR", None, US, "error", None),
]


@pytest.mark.parametrize(("state", "fstate", "at", "word", "board"), READ_ROWS)
def test_every_read_row(
    state: str, fstate: str | None, at: str | None, word: str, board: Status | None
) -> None:
    read = OrderRead.model_validate(
        {"id": "ord_1", "state": state, "pharmacy": {"id": at} if at else None,
         "fulfillment": {"type": "PICK_UP", "state": fstate}}
    )  # fmt: skip
    order = order_of_read(read, US)
    assert (order.status, order.board_status) == (word, board)
    assert order.on_hold is (word == "error")


PLAN_ROWS: list[tuple[Action, str, bool, bool, tuple[str, ...]]] = [
    (Action.START, "placed", False, False, ("in_progress",)),
    (Action.START, "sent", False, False, ("in_progress",)),
    (Action.START, "received", False, False, ("in_progress",)),
    (Action.START, "filling", True, False, ()),
    (Action.START, "shipped", True, False, ()),
    (Action.START, "canceled", False, True, ()),
    (Action.START, "rerouted", False, True, ()),
    (Action.START, "error", False, True, ()),
    (Action.START, "pending", False, True, ()),
    (Action.FINISH, "placed", False, False, ("in_progress", "finish")),
    (Action.FINISH, "received", False, False, ("in_progress", "finish")),
    (Action.FINISH, "filling", False, False, ("finish",)),
    (Action.FINISH, "ready", True, False, ()),
    (Action.FINISH, "shipped", True, False, ()),
    (Action.FINISH, "delivered", True, False, ()),
    (Action.FINISH, "completed", True, False, ()),
    (Action.FINISH, "canceled", False, True, ()),
    (Action.FINISH, "rerouted", False, True, ()),
    (Action.CANCEL, "placed", False, False, ("canceled",)),
    (Action.CANCEL, "filling", False, False, ("canceled",)),
    (Action.CANCEL, "error", False, False, ("canceled",)),
    (Action.CANCEL, "canceled", True, False, ()),
    (Action.CANCEL, "rerouted", False, True, ()),
    (Action.CANCEL, "completed", False, True, ()),
    (Action.CANCEL, "shipped", False, True, ()),
    (Action.HOLD, "placed", True, False, ()),
    (Action.RELEASE, "filling", True, False, ()),
]


@pytest.mark.parametrize(("action", "word", "done", "stale", "steps"), PLAN_ROWS)
def test_every_plan_row(
    action: Action, word: str, done: bool, stale: bool, steps: tuple[str, ...]
) -> None:
    plan = mapping.plan_push(action, word)
    assert (plan.done, plan.stale, plan.steps) == (done, stale, steps)


def test_every_step_is_a_report_photon_documents() -> None:
    documented = {"received", "in_progress", "shipped", "out_for_delivery", "completed",
                  "canceled", "error"}  # fmt: skip
    for _, word, _, _, steps in PLAN_ROWS:
        for step in steps:
            assert step == mapping.FINISH or step in documented, (word, step)


def test_parse_uses_the_event_time_and_id() -> None:
    body = json.dumps(
        {"id": "01E", "type": "photon:order:placed", "time": "2026-12-01T12:00:00.500Z",
         "data": {"id": "ord_9"}}
    ).encode()  # fmt: skip
    got = PhotonWebhooks().parse(body, {"X-Photon-Timestamp": "1"})
    assert got.event_id == "01E" and got.order.uid == "ord_9"
    assert got.timestamp == pytest.approx(1796126400.5)
    no_time = json.dumps({"id": "01F", "type": "photon:order:placed", "data": {"id": "o"}})
    assert PhotonWebhooks().parse(no_time.encode(), {"x-photon-timestamp": "42"}).timestamp == 42
    with pytest.raises(ValueError):
        PhotonWebhooks().parse(b'{"id": "x", "type": "photon:order:placed"}', {})

"""Konnektive's push planning on its own (pure: no stand-in, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.konnektive.plan import (
    FulfillmentUpdate,
    fulfillment_update,
    plan_push,
    tracking_number,
)


@pytest.mark.parametrize(
    ("action", "remote", "plan"),
    [
        # a start is local (nothing queued); a row queued before that settles without a call
        (Action.START, "PENDING", (False, False, ())),
        (Action.START, "SHIPPED", (False, False, ())),
        (Action.FINISH, "PENDING", (False, False, ("SHIPPED",))),
        (Action.FINISH, "RECYCLED", (False, False, ("SHIPPED",))),
        (Action.FINISH, "PENDING_SHIPMENT", (True, False, ())),
        (Action.FINISH, "DELIVERED", (True, False, ())),
        (Action.FINISH, "CANCELLED", (False, True, ())),
        (Action.CANCEL, "PENDING", (False, False, ("CANCELLED",))),
        (Action.CANCEL, "HOLD", (False, False, ("CANCELLED",))),
        (Action.CANCEL, "CANCELLED", (True, False, ())),
        (Action.CANCEL, "SHIPPED", (False, True, ())),
        (Action.HOLD, "PENDING", (False, False, ())),  # a pharmacist's hold stays local
        (Action.RELEASE, "PENDING", (False, False, ())),
    ],
)
def test_plan_push(action: Action, remote: str, plan: tuple[bool, bool, tuple[str, ...]]) -> None:
    got = plan_push(action, remote)
    assert (got.done, got.stale, got.steps) == plan


def test_tracking_number_from_the_payload() -> None:
    assert tracking_number({"tracking": {"number": " 1Z9 ", "company": "UPS"}}) == "1Z9"
    assert tracking_number({"number": "94001"}) == "94001"
    assert tracking_number(None) is None
    assert tracking_number({"tracking": {"number": ""}}) is None


def test_a_shipment_carries_its_tracking_number_and_the_day() -> None:
    at = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    got = fulfillment_update("SHIPPED", {"tracking": {"number": "1Z9"}}, at)
    assert got == FulfillmentUpdate("SHIPPED", "1Z9", "03/09/2026")
    assert fulfillment_update("SHIPPED", None, at) == FulfillmentUpdate(
        "SHIPPED", None, "03/09/2026"
    )


def test_a_cancel_carries_nothing_but_its_status() -> None:
    at = datetime(2026, 3, 9, tzinfo=UTC)
    assert fulfillment_update("CANCELLED", {"number": "1Z9"}, at) == FulfillmentUpdate("CANCELLED")


@pytest.mark.parametrize("spelling", ["Pending Shipment", "pending-shipment", "PENDING_SHIPMENT"])
def test_the_plan_reads_any_spelling_of_a_status(spelling: str) -> None:
    assert plan_push(Action.FINISH, spelling).done

"""Shopify's side of the seam, without a server: the board mapping (docs/pages/sources/
shopify.md), push planning, the pharmacist's reason -> Shopify's rejection reason, the
webhook format, and the documents sent, validated against the stand-in's SDL with
graphql-core."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

import rxfloor.sandbox.shopify as shopify_sandbox
from rxfloor.core import sources
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.mapping import board_status
from rxfloor.core.sources.shopify.source import (
    WEBHOOKS,
    plan_push,
    rejection_reason,
    signature_ok,
)
from rxfloor.core.sources.shopify.wire import FulfillmentOrder

SDL = Path(shopify_sandbox.__file__).parent / "schema.graphql"


# -- the documents -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_document_is_valid_against_the_sdl(name: str) -> None:
    schema = build_schema(SDL.read_text())
    errors = validate(schema, parse(queries.ALL[name]))
    assert errors == [], [e.message for e in errors]


def test_the_check_catches_a_misspelt_field() -> None:
    schema = build_schema(SDL.read_text())
    bad = queries.ONE.replace("requestStatus", "requestState")
    assert validate(schema, parse(bad)), "a misspelt field must fail validation"


# -- the mapping -----------------------------------------------------------------------------

MAPPING = [
    ("OPEN", "SUBMITTED", Status.OPEN),
    ("IN_PROGRESS", "ACCEPTED", Status.PROCESSING),
    ("CLOSED", "ACCEPTED", Status.FINISHED),
    ("OPEN", "REJECTED", Status.CANCELLED),
    ("CLOSED", "REJECTED", Status.CANCELLED),
    ("INCOMPLETE", "CLOSED", Status.CANCELLED),
    ("CANCELLED", "CANCELLATION_ACCEPTED", Status.CANCELLED),
    ("CLOSED", "CANCELLATION_ACCEPTED", Status.CANCELLED),
    ("IN_PROGRESS", "CANCELLATION_REQUESTED", Status.PROCESSING),
    ("IN_PROGRESS", "CANCELLATION_REJECTED", Status.PROCESSING),
    ("ON_HOLD", "SUBMITTED", Status.OPEN),
    ("ON_HOLD", "ACCEPTED", Status.PROCESSING),
    ("SCHEDULED", "UNSUBMITTED", Status.OPEN),
    ("SCHEDULED", "SUBMITTED", Status.OPEN),
    ("OPEN", "UNSUBMITTED", None),
    ("ON_HOLD", "UNSUBMITTED", None),
    ("CLOSED", "UNSUBMITTED", None),
    ("CLOSED", "SUBMITTED", Status.CANCELLED),
]


@pytest.mark.parametrize(("status", "asked", "column"), MAPPING)
def test_board_mapping(status: str, asked: str, column: Status | None) -> None:
    assert board_status(status, asked) is column


def _fo(**fields: object) -> FulfillmentOrder:
    return FulfillmentOrder.model_validate(
        {
            "id": "gid://shopify/FulfillmentOrder/7",
            "status": "OPEN",
            "requestStatus": "SUBMITTED",
            **fields,
        }
    )


def test_flags_and_words() -> None:
    held = _fo(status="ON_HOLD", fulfillmentHolds=[{"reason": "AWAITING_PAYMENT",
                                                   "reasonNotes": "card declined"}])  # fmt: skip
    assert held.on_hold and held.board_status is Status.OPEN
    assert held.comment == "held by the merchant in Shopify: awaiting payment (card declined)"
    assert held.status == "ON_HOLD/SUBMITTED"
    assert not _fo(status="ON_HOLD", requestStatus="UNSUBMITTED").on_hold  # not ours to see
    scheduled = _fo(status="SCHEDULED", requestStatus="UNSUBMITTED",
                    fulfillAt="2026-12-24T08:00:00Z")  # fmt: skip
    assert scheduled.scheduled_at is not None and scheduled.scheduled_at.day == 24
    assert _fo(fulfillAt="2026-12-24T08:00:00Z").scheduled_at is None  # OPEN: not scheduled
    kind = "CANCELLATION_REQUEST"
    requests = [
        {"kind": kind, "message": "old", "sentAt": "2026-12-01T08:00:00Z"},
        {"kind": kind, "message": "customer moved", "sentAt": "2026-12-01T09:00:00Z"},
    ]
    asked = _fo(status="IN_PROGRESS", requestStatus="CANCELLATION_REQUESTED",
                merchantRequests={"nodes": requests})  # fmt: skip
    assert asked.cancel_requested and asked.request_message == "customer moved"
    assert not _fo().cancel_requested and _fo().request_message is None
    assert (
        sources.status_words("shopify", "IN_PROGRESS/ACCEPTED") == "IN_PROGRESS · request ACCEPTED"
    )
    # the webhook spelling of the same order reads the same
    snake = FulfillmentOrder.model_validate(
        {
            "id": "gid://shopify/FulfillmentOrder/7",
            "status": "in_progress",
            "request_status": "accepted",
        }
    )
    assert snake.status == "IN_PROGRESS/ACCEPTED"


# -- push planning -----------------------------------------------------------------------------

PLANS = [
    (Action.START, "OPEN/SUBMITTED", ("accept",), False, False),
    (Action.START, "IN_PROGRESS/ACCEPTED", (), True, False),  # our own lost answer
    (Action.START, "CLOSED/ACCEPTED", (), True, False),
    (Action.START, "OPEN/REJECTED", (), False, True),
    (Action.START, "ON_HOLD/SUBMITTED", (), False, True),  # the merchant held it since
    (Action.START, "SCHEDULED/UNSUBMITTED", (), False, True),
    (Action.START, "IN_PROGRESS/CANCELLATION_REQUESTED", (), False, True),
    (Action.FINISH, "IN_PROGRESS/ACCEPTED", ("fulfill",), False, False),
    (Action.FINISH, "IN_PROGRESS/CANCELLATION_REJECTED", ("fulfill",), False, False),
    (Action.FINISH, "OPEN/SUBMITTED", ("accept", "fulfill"), False, False),
    (Action.FINISH, "CLOSED/ACCEPTED", (), True, False),
    (Action.FINISH, "IN_PROGRESS/CANCELLATION_REQUESTED", (), False, True),
    (Action.FINISH, "INCOMPLETE/CLOSED", (), False, True),
    (Action.CANCEL, "OPEN/SUBMITTED", ("reject",), False, False),
    (Action.CANCEL, "IN_PROGRESS/ACCEPTED", ("close",), False, False),
    (Action.CANCEL, "ON_HOLD/ACCEPTED", ("close",), False, False),
    (Action.CANCEL, "IN_PROGRESS/CANCELLATION_REQUESTED", ("accept_cancellation",), False, False),
    (Action.CANCEL, "OPEN/REJECTED", (), True, False),
    (Action.CANCEL, "INCOMPLETE/CLOSED", (), True, False),
    (Action.CANCEL, "CLOSED/ACCEPTED", (), False, True),
    (Action.CANCEL, "SCHEDULED/UNSUBMITTED", (), False, True),
    (Action.ACCEPT_CANCEL, "IN_PROGRESS/CANCELLATION_REQUESTED", ("accept_cancellation",),
     False, False),
    (Action.ACCEPT_CANCEL, "CANCELLED/CANCELLATION_ACCEPTED", (), True, False),
    (Action.ACCEPT_CANCEL, "IN_PROGRESS/ACCEPTED", (), False, True),  # withdrawn meanwhile
    (Action.REJECT_CANCEL, "IN_PROGRESS/CANCELLATION_REQUESTED", ("reject_cancellation",),
     False, False),
    (Action.REJECT_CANCEL, "IN_PROGRESS/CANCELLATION_REJECTED", (), True, False),
    (Action.REJECT_CANCEL, "CANCELLED/CANCELLATION_ACCEPTED", (), False, True),
]  # fmt: skip


@pytest.mark.parametrize(("action", "remote", "steps", "done", "stale"), PLANS)
def test_plan_push(
    action: Action, remote: str, steps: tuple[str, ...], done: bool, stale: bool
) -> None:
    plan = plan_push(action, remote)
    assert (plan.steps, plan.done, plan.stale) == (steps, done, stale)


@pytest.mark.parametrize(
    ("reason", "enum"),
    [
        ("Out of stock, no substitute", "INVENTORY_OUT_OF_STOCK"),
        ("Prescription invalid or expired", "INELIGIBLE_PRODUCT"),
        ("wrong address, patient moved", "INCORRECT_ADDRESS"),
        ("courier cannot deliver there", "UNDELIVERABLE_DESTINATION"),
        ("Patient cancelled", "OTHER"),
        ("Duplicate order", "OTHER"),
        (None, "OTHER"),
    ],
)
def test_rejection_reason_by_keywords(reason: str | None, enum: str) -> None:
    assert rejection_reason(reason) == enum
    schema = build_schema(SDL.read_text())
    enum_type = schema.get_type("FulfillmentOrderRejectionReason")
    assert enum in enum_type.values  # type: ignore[union-attr]


# -- webhooks ----------------------------------------------------------------------------------


def _signed(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def test_signature_is_base64_hmac_of_the_raw_body() -> None:
    body = b'{"fulfillment_order": {}}'
    good = _signed(b"shpss_secret", body)
    assert signature_ok(b"shpss_secret", body, good)
    assert not signature_ok(b"shpss_secret", body + b" ", good)
    assert not signature_ok(b"other", body, good)
    hex_form = hmac.new(b"shpss_secret", body, hashlib.sha256).hexdigest()
    assert not signature_ok(b"shpss_secret", body, hex_form)  # hex is not Shopify's form
    assert not signature_ok(b"shpss_secret", body, None)
    headers = {"x-shopify-hmac-sha256": good}  # any case
    assert WEBHOOKS.verify(b"shpss_secret", body, headers)


def test_parse_reads_topic_webhook_id_and_triggered_at() -> None:
    body = json.dumps({
        "fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/9", "status": "in_progress",
                              "request_status": "cancellation_requested"},
        "fulfillment_order_merchant_request": {"id": "gid://shopify/FulfillmentOrderMerchantRequest/1",
                                               "message": "wrong size"},
    }).encode()  # fmt: skip
    headers = {
        "X-Shopify-Topic": "fulfillment_orders/cancellation_request_submitted",
        "X-Shopify-Event-Id": "evt-1",  # shared by one merchant action's deliveries
        "X-Shopify-Webhook-Id": "whk-1",  # this delivery's own: the dedupe key
        "X-Shopify-Triggered-At": "2026-12-01T10:00:00.123Z",
    }
    event = WEBHOOKS.parse(body, headers)
    assert event.event_type == "fulfillment_orders/cancellation_request_submitted"
    assert event.event_id == "whk-1"
    assert event.timestamp == pytest.approx(1796119200.123)
    assert event.order.status == "IN_PROGRESS/CANCELLATION_REQUESTED"
    assert event.order.request_message == "wrong size"


def test_parse_infers_the_request_from_the_topic() -> None:
    body = json.dumps({"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/9",
                                             "status": "open"}}).encode()  # fmt: skip
    headers = {"X-Shopify-Topic": "fulfillment_orders/fulfillment_request_submitted",
               "X-Shopify-Triggered-At": "2026-12-01T10:00:00Z"}  # fmt: skip
    event = WEBHOOKS.parse(body, headers)
    assert event.order.status == "OPEN/SUBMITTED" and event.event_id is None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Shopify-Triggered-At": "2026-12-01T10:00:00Z"},  # no topic
        {"X-Shopify-Topic": "fulfillment_orders/cancelled"},  # no moment
        {"X-Shopify-Topic": "fulfillment_orders/cancelled", "X-Shopify-Triggered-At": "soon"},
    ],
)
def test_parse_refuses_what_it_cannot_place(headers: dict[str, str]) -> None:
    body = b'{"fulfillment_order": {"id": "gid://shopify/FulfillmentOrder/9", "status": "open"}}'
    with pytest.raises(ValueError):
        WEBHOOKS.parse(body, headers)

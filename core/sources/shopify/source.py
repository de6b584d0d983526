"""Shopify as an :class:`~rxfloor.core.sources.base.OrderSource`: the pharmacy is a
fulfillment service app; its orders are the fulfillment orders assigned to its location.

Push steps (README, Shopify mapping), each one mutation:

=====================  ===============================================  ====================
step                   mutation                                          sent with
=====================  ===============================================  ====================
``accept``             fulfillmentOrderAcceptFulfillmentRequest          —
``reject``             fulfillmentOrderRejectFulfillmentRequest          reason enum, message
``fulfill``            fulfillmentCreate (notifyCustomer)                tracking (the move's)
``close``              fulfillmentOrderClose (-> INCOMPLETE)             message
``accept_cancellation`` fulfillmentOrderAcceptCancellationRequest        message
``reject_cancellation`` fulfillmentOrderRejectCancellationRequest        message
=====================  ===============================================  ====================

Shopify offers no idempotency key for these: a lost answer is settled by reading the
fulfillment order back (the worker does), and a repeat is refused by Shopify's own state
machine in ``userErrors`` (a conflict: read back, not believed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.base import (
    PermanentError,
    PushPlan,
    TransientError,
    WebhookEvent,
    read_after_write,
)
from rxfloor.core.sources.http import short
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.wire import (
    ACCEPTED,
    ACTIVE_STATUSES,
    CANCELLATION_ACCEPTED,
    CANCELLATION_REJECTED,
    CANCELLATION_REQUESTED,
    CLOSED,
    IN_PROGRESS,
    INCOMPLETE,
    NAME,
    ON_HOLD,
    OPEN,
    REJECTED,
    REQUEST_STATUSES,
    SCHEDULED,
    SUBMITTED,
    UNSUBMITTED,
    FulfillmentOrder,
    FulfillmentOrderPage,
    board_status,
    compact,
    split,
)
from rxfloor.core.text import scrub

# -- push planning (pure) -------------------------------------------------------------------------

ACCEPT, REJECT, FULFILL, CLOSE = "accept", "reject", "fulfill", "close"
ACCEPT_CANCELLATION, REJECT_CANCELLATION = "accept_cancellation", "reject_cancellation"
STEPS = (ACCEPT, REJECT, FULFILL, CLOSE, ACCEPT_CANCELLATION, REJECT_CANCELLATION)

_DONE = PushPlan(True, False, ())
_STALE = PushPlan(False, True, ())


def _send(*steps: str) -> PushPlan:
    return PushPlan(False, False, steps)


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """The mutations that take a fulfillment order in ``remote_status`` (compact form) to
    the target of ``action``, or that it is already there (done) or no longer can be (stale).

    A merchant's hold, schedule or unanswered cancellation request makes start and finish
    stale (the board refuses them too): the merchant moved the order where they no longer
    apply. Cancel answers a pending cancellation request by accepting it.
    """
    status, request = split(remote_status)
    column = board_status(status, request)
    if action is Action.START:
        if column in (Status.PROCESSING, Status.FINISHED) and request != CANCELLATION_REQUESTED:
            return _DONE  # accepted already (our own lost answer) or past it
        if status == OPEN and request == SUBMITTED:
            return _send(ACCEPT)
        return _STALE
    if action is Action.FINISH:
        if column is Status.FINISHED:
            return _DONE
        if status == IN_PROGRESS and request in (ACCEPTED, CANCELLATION_REJECTED):
            return _send(FULFILL)
        if status == OPEN and request == SUBMITTED:
            return _send(ACCEPT, FULFILL)
        return _STALE
    if action is Action.CANCEL:
        if column is Status.CANCELLED:
            return _DONE
        if column is Status.FINISHED or column is None:
            return _STALE
        if request == CANCELLATION_REQUESTED:
            return _send(ACCEPT_CANCELLATION)  # the merchant asked for it already
        if request == SUBMITTED:
            return _send(REJECT)
        if status == IN_PROGRESS or request in (ACCEPTED, CANCELLATION_REJECTED):
            return _send(CLOSE)  # accepted (in progress, on hold): close it as incomplete
        return _STALE  # scheduled without a request: nothing to answer yet
    if action is Action.ACCEPT_CANCEL:
        if column is Status.CANCELLED:
            return _DONE
        if request == CANCELLATION_REQUESTED:
            return _send(ACCEPT_CANCELLATION)
        return _STALE
    if action is Action.REJECT_CANCEL:
        if request == CANCELLATION_REJECTED and column is Status.PROCESSING:
            return _DONE
        if request == CANCELLATION_REQUESTED:
            return _send(REJECT_CANCELLATION)
        return _STALE
    return _STALE  # hold / release stay local: a fulfillment service cannot hold in Shopify


def active_statuses() -> tuple[str, ...]:
    """Every compact status in which the merchant may still move an order by itself."""
    return tuple(compact(s, r) for s in ACTIVE_STATUSES for r in REQUEST_STATUSES
                 if r not in (REJECTED, CANCELLATION_ACCEPTED, "CLOSED"))  # fmt: skip


# -- the pharmacist's reason -> Shopify's rejection reason ---------------------------------------

#: FulfillmentOrderRejectionReason by keywords of the pharmacist's reason (first match wins;
#: OTHER when none matches). The reason's own words always go along as the ``message``.
REJECTION_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("INVENTORY_OUT_OF_STOCK", ("out of stock", "stock", "inventory", "unavailable",
                                "shortage", "backorder", "no substitute")),
    ("INCORRECT_ADDRESS", ("address",)),
    ("UNDELIVERABLE_DESTINATION", ("undeliverable", "destination", "cannot deliver",
                                   "can't deliver", "cannot ship", "can't ship")),
    ("INELIGIBLE_PRODUCT", ("prescription", "ineligible", "not eligible", "controlled",
                            "restricted", "not allowed", "expired", "invalid")),
)  # fmt: skip


def rejection_reason(reason: str | None) -> str:
    text = (reason or "").lower()
    for value, words in REJECTION_REASONS:
        if any(re.search(rf"\b{re.escape(w)}", text) for w in words):
            return value
    return "OTHER"


# -- webhooks ---------------------------------------------------------------------------------

TOPIC_HEADER = "X-Shopify-Topic"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"

#: what a topic says of the request when its payload does not carry ``request_status``
_TOPIC_REQUEST = {
    "fulfillment_orders/fulfillment_request_submitted": SUBMITTED,
    "fulfillment_orders/fulfillment_request_accepted": ACCEPTED,
    "fulfillment_orders/fulfillment_request_rejected": REJECTED,
    "fulfillment_orders/cancellation_request_submitted": CANCELLATION_REQUESTED,
    "fulfillment_orders/cancellation_request_accepted": CANCELLATION_ACCEPTED,
    "fulfillment_orders/cancellation_request_rejected": CANCELLATION_REJECTED,
}
#: ... else what its status implies (the pharmacy only sees orders it was asked to fulfil)
_STATUS_REQUEST = {OPEN: SUBMITTED, ON_HOLD: SUBMITTED, SCHEDULED: UNSUBMITTED,
                   IN_PROGRESS: ACCEPTED, CLOSED: ACCEPTED, INCOMPLETE: "CLOSED",
                   "CANCELLED": CANCELLATION_ACCEPTED}  # fmt: skip
#: where a topic's payload puts the fulfillment order it is about (first present wins)
_PAYLOAD_KEYS = ("fulfillment_order", "submitted_fulfillment_order", "original_fulfillment_order",
                 "fulfillmentOrder")  # fmt: skip


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict given by a caller: look case-insensitively
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def signature_ok(secret: bytes, body: bytes, given: str | None) -> bool:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body, constant time."""
    if not given:
        return False
    expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, given.strip().encode())


def _timestamp(raw: str | None) -> float:
    if not raw:
        raise ValueError(f"no {TRIGGERED_AT_HEADER} header")
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{TRIGGERED_AT_HEADER} is not a timestamp: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{TRIGGERED_AT_HEADER} has no time zone: {raw[:40]!r}")
    return moment.timestamp()


class ShopifyWebhooks:
    """Shopify's ``fulfillment_orders/…`` deliveries: the topic in ``X-Shopify-Topic``, the
    event's id in ``X-Shopify-Event-Id`` (the same for every retry: the inbox dedupes on
    it), its moment in ``X-Shopify-Triggered-At``; the body is the fulfillment order (in
    the REST spelling) under the topic's key."""

    signature_header = HMAC_HEADER

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return signature_ok(secret, body, _header(headers, HMAC_HEADER))

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        topic = (_header(headers, TOPIC_HEADER) or "").strip()
        if not topic:
            raise ValueError(f"no {TOPIC_HEADER} header")
        timestamp = _timestamp(_header(headers, TRIGGERED_AT_HEADER))
        event_id = (_header(headers, EVENT_ID_HEADER) or "").strip() or None
        raw = json.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("the body is not a JSON object")
        found = next((raw[k] for k in _PAYLOAD_KEYS if isinstance(raw.get(k), dict)), None)
        if found is None and "id" in raw and "status" in raw:
            found = raw  # the fulfillment order itself
        if found is None:
            raise ValueError(f"no fulfillment order in the {topic[:60]} payload")
        data = dict(found)
        if not (data.get("request_status") or data.get("requestStatus")):
            status = str(data.get("status") or "").strip().upper()
            data["request_status"] = _TOPIC_REQUEST.get(topic) or _STATUS_REQUEST.get(
                status, UNSUBMITTED
            )
        hold = raw.get("fulfillment_hold")
        if isinstance(hold, dict) and not data.get("fulfillment_holds"):
            data["fulfillment_holds"] = [hold]
        request = raw.get("fulfillment_order_merchant_request")
        if isinstance(request, dict) and "merchant_requests" not in data:
            data["merchant_requests"] = [
                {"kind": request.get("kind") or "CANCELLATION_REQUEST",
                 "message": request.get("message"), "sent_at": request.get("sent_at")}
            ] if topic.endswith("cancellation_request_submitted") else []  # fmt: skip
        order = FulfillmentOrder.model_validate(data)
        return WebhookEvent(topic, timestamp, order, raw, event_id=event_id)


WEBHOOKS = ShopifyWebhooks()


# -- the source ---------------------------------------------------------------------------------


class ShopifySource:
    """Shopify's GraphQL Admin API through one :class:`ShopifyClient` (thread-safe: the
    client pools its connections and its cost bucket locks)."""

    name = NAME
    webhooks = WEBHOOKS
    rate_limit_per_s = None  # paced by query cost (the client's bucket), not by requests

    def __init__(self, client: ShopifyClient, *, location_id: str | None = None) -> None:
        self.client = client
        self.location_id = location_id

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> ShopifySource:
        """The source the configuration describes (``[sources.shopify]``, the token from
        the environment or the keyring). Raises :class:`ValueError` (no shop URL, no
        token) or ``ConfigError`` (a malformed token)."""
        from rxfloor.core.sources.shopify.plugin import access_token, shop_url

        section = settings.sources.shopify
        client = ShopifyClient(
            shop_url(settings) or "",
            access_token(settings),
            api_version=section.api_version,
            timeout_s=section.http_timeout_s or settings.http_timeout_s,
            transport=transport,
        )
        location = section.location_id
        if location and location.isdigit():
            location = f"gid://shopify/Location/{location}"
        return cls(client, location_id=location)

    def active_statuses(self) -> tuple[str, ...]:
        return active_statuses()

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[FulfillmentOrder | str]:
        """Every assigned fulfillment order but the CLOSED ones, page by page along Shopify's
        cursors.

        ``active`` makes no difference: Shopify's unfiltered listing already leaves out the
        closed ones, and it is one listing where the three ``assignmentStatus`` filters
        (requested, cancellation requested, accepted) would be three, each asking for a
        full page's cost, and would still miss the held, scheduled and cancellation-rejected
        ones (each then read back on its own). A local order no longer listed is read back
        by the worker."""
        first = max(1, min(page_size, queries.PAGE_SIZE))
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"first": first, "after": after}
            if self.location_id:
                variables["locationIds"] = [self.location_id]
            data = self.client.query(queries.ASSIGNED, variables)
            try:
                page = FulfillmentOrderPage.from_connection(data.get("assignedFulfillmentOrders"))
            except ValidationError as exc:
                raise TransientError(f"malformed order list from Shopify: {short(exc)}",
                                     maybe_applied=False) from None  # fmt: skip
            for raw in page.nodes:
                try:
                    yield FulfillmentOrder.model_validate(raw)
                except ValidationError as exc:
                    uid = raw.get("id", "?") if isinstance(raw, dict) else "?"
                    yield scrub(f"malformed fulfillment order {uid!r}: {short(exc)}")
            if not page.page_info.has_next_page or not page.nodes:
                break
            after = page.page_info.end_cursor
            if not after:
                break

    def get_order(self, uid: str) -> FulfillmentOrder:
        return self._read(queries.ONE, uid)

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None = None,
    ) -> FulfillmentOrder:
        """Send one mutation. ``idempotency_key`` has no place in Shopify's API (see the
        module docstring); ``payload`` carries a finish's tracking."""
        message = (reason or "").strip()[:255] or None
        if step == ACCEPT:
            return self._mutate(queries.ACCEPT, {"id": uid},
                                "fulfillmentOrderAcceptFulfillmentRequest")  # fmt: skip
        if step == REJECT:
            variables = {"id": uid, "reason": rejection_reason(reason), "message": message}
            return self._mutate(queries.REJECT, variables,
                                "fulfillmentOrderRejectFulfillmentRequest")  # fmt: skip
        if step == CLOSE:
            return self._mutate(queries.CLOSE, {"id": uid, "message": message},
                                "fulfillmentOrderClose")  # fmt: skip
        if step == ACCEPT_CANCELLATION:
            return self._mutate(queries.ACCEPT_CANCELLATION, {"id": uid, "message": message},
                                "fulfillmentOrderAcceptCancellationRequest")  # fmt: skip
        if step == REJECT_CANCELLATION:
            return self._mutate(queries.REJECT_CANCELLATION, {"id": uid, "message": message},
                                "fulfillmentOrderRejectCancellationRequest")  # fmt: skip
        if step == FULFILL:
            fulfillment: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": uid}],
                "notifyCustomer": True,
            }
            tracking = _tracking(payload)
            if tracking:
                fulfillment["trackingInfo"] = tracking
            self.client.mutate(queries.FULFILL, {"fulfillment": fulfillment}, "fulfillmentCreate")
            # a fulfillment's answer names no fulfillment order: read where it stands now;
            # the fulfillment is made whatever that read meets (the next attempt reads back)
            return read_after_write(lambda: self._read(queries.STATE, uid),
                                    f"Shopify made the fulfillment of {uid}")  # fmt: skip
        raise ValueError(f"unknown Shopify push step {step!r}")

    def close(self) -> None:
        self.client.close()

    # -- plumbing
    def _read(self, document: str, uid: str) -> FulfillmentOrder:
        data = self.client.query(document, {"id": uid})
        found = data.get("fulfillmentOrder")
        if found is None:
            raise PermanentError(f"Shopify has no fulfillment order {uid}", conflict=False)
        return _order(found)

    def _mutate(self, document: str, variables: dict[str, Any], field: str) -> FulfillmentOrder:
        payload = self.client.mutate(document, variables, field)
        return _order(payload.get("fulfillmentOrder"), applied=True)


def _order(raw: Any, *, applied: bool = False) -> FulfillmentOrder:
    try:
        return FulfillmentOrder.model_validate(raw)
    except ValidationError as exc:
        raise TransientError(f"malformed fulfillment order from Shopify: {short(exc)}",
                             maybe_applied=applied) from None  # fmt: skip


def _tracking(payload: dict[str, Any] | None) -> dict[str, str]:
    """``trackingInfo`` from a finish's outbox payload (``{"tracking": {company, number, url}}``
    or the tracking itself); only the parts given."""
    if not payload:
        return {}
    tracking = payload.get("tracking", payload)
    if not isinstance(tracking, dict):
        return {}
    return {k: str(tracking[k]).strip() for k in ("company", "number", "url")
            if tracking.get(k) and str(tracking[k]).strip()}  # fmt: skip

"""Shopify as an :class:`~rxfloor.core.sources.base.OrderSource`: the pharmacy is a
fulfillment service app; its orders are the fulfillment orders assigned to its location.

Push steps (docs/pages/sources/shopify.md, the mapping), each one mutation:

=====================  ===============================================  ====================
step                   mutation                                          sent with
=====================  ===============================================  ====================
``accept``             fulfillmentOrderAcceptFulfillmentRequest          —
``reject``             fulfillmentOrderRejectFulfillmentRequest          reason enum, message
``fulfill``            fulfillmentCreate (notifyCustomer)                tracking (the move's)
                       a PICK_UP one: fulfillmentOrderLineItems-
                       PreparedForPickup (ready; Shopify tells them)     —
``handoff``            fulfillmentCreate (a pickup order picked up)      —
``close``              fulfillmentOrderClose (-> INCOMPLETE)             message
``accept_cancellation`` fulfillmentOrderAcceptCancellationRequest        message
``reject_cancellation`` fulfillmentOrderRejectCancellationRequest        message
=====================  ===============================================  ====================

Shopify offers no idempotency key for these: a lost answer is settled by reading the
fulfillment order back (the worker does), and a repeat is refused by Shopify's own state
machine in ``userErrors`` (a conflict: read back, not believed).

A pickup order (delivery method ``PICK_UP``) learns its finish as "ready for pickup" and its
hand-off at the counter as the fulfillment: the ``fulfill`` step reads the fulfillment order
first (a read changes nothing) and, for a pickup one, marks its line items prepared for
pickup instead; the ``handoff`` step makes the fulfillment (no tracking, no shipping mail).
Shopify's fulfillment order keeps IN_PROGRESS / ACCEPTED while it is prepared (no field of
the Admin schema shows the mark: the traits say ``tells_ready=False``), so a lost answer to
the preparation is read back as not yet there and the step is tried again: Shopify refuses a
fulfillment order prepared already with ``NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER``
("does not have any line items that can be prepared"), which is the preparation made, never
a second one. A lost answer to the hand-off's fulfillment is read back CLOSED: done.
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
    IgnoredEvent,
    PermanentError,
    PushPlan,
    TransientError,
    WebhookEvent,
    read_after_write,
)
from rxfloor.core.sources.http import short
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.client import Refused, ShopifyClient
from rxfloor.core.sources.shopify.mapping import (
    ACCEPTED,
    ACTIVE_STATUSES,
    CANCELLATION_ACCEPTED,
    CANCELLATION_REJECTED,
    CANCELLATION_REQUESTED,
    CANCELLED,
    CLOSED,
    IN_PROGRESS,
    INCOMPLETE,
    ON_HOLD,
    OPEN,
    REJECTED,
    REQUEST_STATUSES,
    SCHEDULED,
    SUBMITTED,
    UNSUBMITTED,
    board_status,
    compact,
    split,
)
from rxfloor.core.sources.shopify.wire import NAME, FulfillmentOrder, FulfillmentOrderPage
from rxfloor.core.text import scrub

# -- push planning (pure) -------------------------------------------------------------------------

ACCEPT, REJECT, FULFILL, CLOSE = "accept", "reject", "fulfill", "close"
ACCEPT_CANCELLATION, REJECT_CANCELLATION = "accept_cancellation", "reject_cancellation"
HANDOFF = "handoff"
STEPS = (ACCEPT, REJECT, FULFILL, CLOSE, ACCEPT_CANCELLATION, REJECT_CANCELLATION, HANDOFF)
#: the delivery method whose finish is "ready for pickup" and whose hand-off the fulfillment
PICK_UP = "PICK_UP"
#: Shopify's refusal of a fulfillment order with nothing left to prepare: prepared already
NOTHING_TO_PREPARE = "NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER"

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
    if action is Action.HANDOFF:
        if column is Status.FINISHED:
            return _DONE  # fulfilled already (our own lost answer)
        if status == IN_PROGRESS and request in (ACCEPTED, CANCELLATION_REJECTED):
            return _send(HANDOFF)
        return _STALE  # cancelled, closed incomplete, or a cancellation request waits
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
    """Every compact status in which the merchant may still move an order by itself and
    the filtered listings find it. A scheduled order not yet submitted is left out: no
    ``assignmentStatus`` listing the pull asks for names it, so it would be read back on its
    own every cycle; its submission puts it in the requested listing, a reschedule or a
    cancellation reaches the floor by its webhook or the next full pull."""
    return tuple(
        compact(s, r)
        for s in ACTIVE_STATUSES
        for r in REQUEST_STATUSES
        if r not in (REJECTED, CANCELLATION_ACCEPTED, "CLOSED", UNSUBMITTED)
    )


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
#: unique per delivery and repeated by its retries: the dedupe key (shopify.dev
#: ``apps/build/webhooks/delivery-structure``)
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
#: shared by every delivery one merchant action produces (two fulfillment orders touched:
#: two deliveries, one Event-Id): never a dedupe key
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
TOPIC_PREFIX = "fulfillment_orders/"


class TopicRule:
    """What one ``fulfillment_orders/…`` topic says of its fulfillment order: where the
    order is in the body, and the status / request status the topic itself establishes
    (None: only a known word in the body says it; neither: read back)."""

    __slots__ = ("keys", "request", "status")

    def __init__(self, keys: tuple[str, ...], status: str | None, request: str | None) -> None:
        self.keys, self.status, self.request = keys, status, request


_FO = ("fulfillment_order",)
#: every ``fulfillment_orders/*`` topic (shopify.dev ``docs/api/webhooks``, the topic list and
#: its sample payloads, REST spelling). The request status of a body is not trusted where
#: the topic says it (a submitted order's body may still say ``unsubmitted``; a cancellation
#: request's says ``cancellation_request``, no enum word); a status is never inferred from a
#: missing field: what the body and topic leave open is read back by the next pull (the
#: worker lists the assigned orders and reads back a local one no longer listed).
TOPICS: dict[str, TopicRule] = {
    "fulfillment_request_submitted": TopicRule(
        ("submitted_fulfillment_order", "original_fulfillment_order", *_FO), None, SUBMITTED
    ),
    "fulfillment_request_accepted": TopicRule(_FO, IN_PROGRESS, ACCEPTED),
    "fulfillment_request_rejected": TopicRule(_FO, None, REJECTED),
    "cancellation_request_submitted": TopicRule(_FO, None, CANCELLATION_REQUESTED),
    "cancellation_request_accepted": TopicRule(_FO, None, CANCELLATION_ACCEPTED),
    "cancellation_request_rejected": TopicRule(_FO, IN_PROGRESS, CANCELLATION_REJECTED),
    "cancelled": TopicRule(_FO, CANCELLED, None),
    # the rest say nothing of the request (and some nothing of the status): read back
    "placed_on_hold": TopicRule(_FO, ON_HOLD, None),
    "hold_released": TopicRule(_FO, None, None),
    "rescheduled": TopicRule(_FO, SCHEDULED, None),
    "scheduled_fulfillment_order_ready": TopicRule(_FO, None, None),
    "order_routing_complete": TopicRule(_FO, None, None),
    "moved": TopicRule(("original_fulfillment_order", *_FO), None, None),
    "merged": TopicRule(_FO, None, None),
    "split": TopicRule(_FO, None, None),
    "fulfillment_service_failed_to_complete": TopicRule(_FO, None, None),
    "line_items_prepared_for_pickup": TopicRule(_FO, None, None),
    "line_items_prepared_for_local_delivery": TopicRule(_FO, None, None),
}
#: the REST words of a fulfillment order's status / request status (lower case in bodies)
_REST_STATUS = frozenset({OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED, INCOMPLETE, CLOSED, CANCELLED})
_REST_REQUEST = frozenset(REQUEST_STATUSES)


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


def _word(value: Any, known: frozenset[str]) -> str | None:
    """A body's status word in the enum spelling, or None where it is not one of ``known``."""
    if not isinstance(value, str):
        return None
    word = value.strip().upper().replace("-", "_").replace(" ", "_")
    return word if word in known else None


class ShopifyWebhooks:
    """Shopify's ``fulfillment_orders/…`` deliveries: the topic in ``X-Shopify-Topic``, the
    delivery's id in ``X-Shopify-Webhook-Id`` (repeated by its retries: the inbox dedupes
    on it; ``X-Shopify-Event-Id`` is shared by the deliveries of one merchant action), its
    moment in ``X-Shopify-Triggered-At``; the body is REST-style and differs per topic:
    each is mapped by :data:`TOPICS`, and what a body leaves open is read back (answered
    2xx, not stored: :class:`~rxfloor.core.sources.base.IgnoredEvent`)."""

    signature_header = HMAC_HEADER

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return signature_ok(secret, body, _header(headers, HMAC_HEADER))

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        topic = (_header(headers, TOPIC_HEADER) or "").strip()
        if not topic:
            raise ValueError(f"no {TOPIC_HEADER} header")
        timestamp = _timestamp(_header(headers, TRIGGERED_AT_HEADER))
        delivery = (_header(headers, WEBHOOK_ID_HEADER) or "").strip() or None
        raw = json.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("the body is not a JSON object")
        rule = (
            TOPICS.get(topic.removeprefix(TOPIC_PREFIX)) if topic.startswith(TOPIC_PREFIX) else None
        )
        if rule is None:
            raise IgnoredEvent(f"not a fulfillment order topic rxfloor follows: {topic[:60]}")
        found = next((raw[k] for k in rule.keys if isinstance(raw.get(k), dict)), None)
        if (found is None or not found.get("id")) and rule.request is None:
            raise IgnoredEvent(
                f"{topic[:60]} names no fulfillment order of its own (a merge): "
                "read back by the next pull"
            )
        if found is None or not found.get("id"):
            raise ValueError(f"no fulfillment order in the {topic[:60]} payload")
        data = dict(found)
        status = rule.status or _word(data.get("status"), _REST_STATUS)
        request = rule.request or _word(
            data.get("request_status") or data.get("requestStatus"), _REST_REQUEST
        )
        if status is None or request is None:
            raise IgnoredEvent(
                f"{topic[:60]} does not say where the fulfillment order is: "
                "read back by the next pull"
            )
        data["status"], data["request_status"] = status, request
        data.pop("requestStatus", None)
        hold = raw.get("fulfillment_hold")
        if isinstance(hold, dict) and not data.get("fulfillment_holds"):
            data["fulfillment_holds"] = [hold]
        asked = raw.get("fulfillment_order_merchant_request")
        if request == CANCELLATION_REQUESTED and isinstance(asked, dict):
            data["merchant_requests"] = [
                {
                    "kind": "CANCELLATION_REQUEST",
                    "message": asked.get("message"),
                    "sent_at": asked.get("sent_at") or asked.get("requested_at"),
                }
            ]
        elif "merchant_requests" in data and not isinstance(data["merchant_requests"], list):
            data.pop("merchant_requests")
        order = FulfillmentOrder.model_validate(data)
        return WebhookEvent(topic, timestamp, order, raw, event_id=delivery)


WEBHOOKS = ShopifyWebhooks()


# -- the source ---------------------------------------------------------------------------------


class ShopifySource:
    """Shopify's GraphQL Admin API through one :class:`ShopifyClient` (thread-safe: the
    client pools its connections and its cost bucket locks)."""

    name = NAME
    webhooks = WEBHOOKS
    rate_limit_per_s = None  # paced by query cost (the client's bucket), not by requests

    def __init__(
        self,
        client: ShopifyClient,
        *,
        location_id: str | None = None,
        customer_names: bool = False,
        barcodes: bool = False,
    ) -> None:
        self.client = client
        self.location_id = location_id
        #: the app is approved for the protected customer fields of a name: ask for them
        self.customer_names = customer_names
        #: the app may read products (``read_products``): ask for the variants' barcodes
        self.barcodes = barcodes
        self._assigned, self._one = queries.documents(names=customer_names, barcodes=barcodes)

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
        return cls(
            client,
            location_id=location,
            customer_names=section.customer_names,
            barcodes=section.barcodes,
        )

    def active_statuses(self) -> tuple[str, ...]:
        return active_statuses()

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[FulfillmentOrder | str]:
        """The assigned fulfillment orders, page by page along Shopify's cursors.

        ``active``: only those the pharmacy or the merchant can still move, one listing per
        ``assignmentStatus`` (:data:`queries.ASSIGNMENT_STATUSES`: requested, accepted,
        cancellation requested); rejected, cancelled, closed and incomplete ones are in none
        of them, so they are not paged through again and again. A local order the worker
        had active and no listing names is read back on its own. Otherwise (a full pull:
        the first, then every few) one unfiltered listing, Shopify's default: every
        assigned order but the CLOSED ones (scheduled ones not yet submitted included)."""
        filters: tuple[str | None, ...] = queries.ASSIGNMENT_STATUSES if active else (None,)
        seen: set[str] = set()
        for assignment in filters:
            for item in self._listing(page_size, assignment):
                if isinstance(item, FulfillmentOrder):
                    if item.id in seen:  # it moved between two listings of one pull
                        continue
                    seen.add(item.id)
                yield item

    def _listing(self, page_size: int, assignment: str | None) -> Iterator[FulfillmentOrder | str]:
        most = queries.PAGE_SIZE_BARCODES if self.barcodes else queries.PAGE_SIZE
        first = max(1, min(page_size, most))
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"first": first, "after": after}
            if assignment:
                variables["assignmentStatus"] = assignment
            if self.location_id:
                variables["locationIds"] = [self.location_id]
            data = self.client.query(self._assigned, variables)
            try:
                page = FulfillmentOrderPage.from_connection(data.get("assignedFulfillmentOrders"))
            except ValidationError as exc:
                raise TransientError(
                    f"malformed order list from Shopify: {short(exc)}", maybe_applied=False
                ) from None
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
        return self._read(self._one, uid)

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
            return self._mutate(
                queries.ACCEPT, {"id": uid}, "fulfillmentOrderAcceptFulfillmentRequest"
            )
        if step == REJECT:
            variables = {"id": uid, "reason": rejection_reason(reason), "message": message}
            return self._mutate(
                queries.REJECT, variables, "fulfillmentOrderRejectFulfillmentRequest"
            )
        if step == CLOSE:
            return self._mutate(
                queries.CLOSE, {"id": uid, "message": message}, "fulfillmentOrderClose"
            )
        if step == ACCEPT_CANCELLATION:
            return self._mutate(
                queries.ACCEPT_CANCELLATION,
                {"id": uid, "message": message},
                "fulfillmentOrderAcceptCancellationRequest",
            )
        if step == REJECT_CANCELLATION:
            return self._mutate(
                queries.REJECT_CANCELLATION,
                {"id": uid, "message": message},
                "fulfillmentOrderRejectCancellationRequest",
            )
        if step == FULFILL:
            tracking = _tracking(payload)
            if not tracking:
                read = self._read(queries.STATE, uid)
                if _pickup(read):
                    return self._prepare_for_pickup(uid)
            fulfillment: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": uid}],
                "notifyCustomer": True,
            }
            if tracking:
                fulfillment["trackingInfo"] = tracking
            self.client.mutate(queries.FULFILL, {"fulfillment": fulfillment}, "fulfillmentCreate")
            # a fulfillment's answer names no fulfillment order: read where it stands now;
            # the fulfillment is made whatever that read meets (the next attempt reads back)
            return read_after_write(
                lambda: self._read(queries.STATE, uid), f"Shopify made the fulfillment of {uid}"
            )
        if step == HANDOFF:  # the patient has it: the fulfillment, nothing to ship or mail
            handed = {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": uid}],
                "notifyCustomer": False,
            }
            self.client.mutate(queries.FULFILL, {"fulfillment": handed}, "fulfillmentCreate")
            return read_after_write(
                lambda: self._read(queries.STATE, uid),
                f"Shopify made the pickup fulfillment of {uid}",
            )
        raise ValueError(f"unknown Shopify push step {step!r}")

    def _prepare_for_pickup(self, uid: str) -> FulfillmentOrder:
        """A pickup order ready: its line items prepared for pickup, once (see the module
        docstring); the order as read after it (its status unchanged there)."""
        variables = {"input": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": uid}]}}
        try:
            self.client.mutate(
                queries.PREPARE_FOR_PICKUP, variables, "fulfillmentOrderLineItemsPreparedForPickup"
            )
        except Refused as exc:
            if exc.codes != {NOTHING_TO_PREPARE}:
                raise
            # prepared already: our earlier answer was lost; the customer was told then
        return read_after_write(
            lambda: self._read(queries.STATE, uid), f"Shopify prepared {uid} for pickup"
        )

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


def _pickup(order: FulfillmentOrder) -> bool:
    """Its delivery method is local pickup (``DeliveryMethodType.PICK_UP``)."""
    method = order.delivery_method.method_type if order.delivery_method else None
    return (method or "").strip().upper() == PICK_UP


def _order(raw: Any, *, applied: bool = False) -> FulfillmentOrder:
    try:
        return FulfillmentOrder.model_validate(raw)
    except ValidationError as exc:
        raise TransientError(
            f"malformed fulfillment order from Shopify: {short(exc)}", maybe_applied=applied
        ) from None


def _tracking(payload: dict[str, Any] | None) -> dict[str, str]:
    """``trackingInfo`` from a finish's outbox payload (``{"tracking": {company, number, url}}``
    or the tracking itself); only the parts given."""
    if not payload:
        return {}
    tracking = payload.get("tracking", payload)
    if not isinstance(tracking, dict):
        return {}
    return {
        k: str(tracking[k]).strip()
        for k in ("company", "number", "url")
        if tracking.get(k) and str(tracking[k]).strip()
    }

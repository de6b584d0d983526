"""The Shopify stand-in's memory: fulfillment orders, the rules that move them, the logs.

One :class:`ShopState` per app (``app.state.shop``). Every method takes one lock, so the
GraphQL resolvers (run in worker threads), the merchant side (control endpoints, the demo's
activity) and a test poking the state directly never see half a change. Fulfillment orders
are JSON-ready dicts keyed by the GraphQL field names; a change replaces the dict, never
mutates it, so a resolver keeps reading one consistent version after the lock is released.

The fulfillment service's moves follow Shopify's documentation (``status / requestStatus``):

=========================================  ===========================  ======================
mutation                                   allowed from                 to
=========================================  ===========================  ======================
fulfillmentOrderAcceptFulfillmentRequest   OPEN / SUBMITTED             IN_PROGRESS / ACCEPTED
fulfillmentOrderRejectFulfillmentRequest   OPEN / SUBMITTED             OPEN / REJECTED
fulfillmentCreate (all remaining items)    IN_PROGRESS / ACCEPTED,      CLOSED (request kept)
                                           CANCELLATION_REJECTED
fulfillmentOrderClose                      IN_PROGRESS / ACCEPTED,      INCOMPLETE / CLOSED
                                           CANCELLATION_REJECTED
fulfillmentOrderAcceptCancellationRequest  any / CANCELLATION_REQUESTED CANCELLED /
                                                                        CANCELLATION_ACCEPTED
fulfillmentOrderRejectCancellationRequest  any / CANCELLATION_REQUESTED (status kept) /
                                                                        CANCELLATION_REJECTED
fulfillmentOrderLineItemsPreparedForPickup IN_PROGRESS / ACCEPTED,      (kept; prepared once)
  (PICK_UP fulfillment orders only)        CANCELLATION_REJECTED
=========================================  ===========================  ======================

Anything else is refused with a ``userErrors`` entry (HTTP 200): a refusal because of the
order's state has ``field == ["id"]`` (or the fulfillment order's id path for
``fulfillmentCreate``) and a message starting ``Cannot``; an unknown id says ``does not
exist``. Where the docs are silent the stand-in refuses (conservative): no fulfillment and no
close while the merchant's cancellation request is unanswered, none while ON_HOLD.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import random
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from rxfloor.core.lifecycle import DeliveryType
from rxfloor.core.sample import sample_orders
from rxfloor.sandbox.kit.activity import every
from rxfloor.sandbox.kit.faults import BaseFaults, FaultBox, draw
from rxfloor.sandbox.kit.logs import Deliveries, Logs
from rxfloor.sandbox.kit.refusal import Refusal as Refusal

#: ``refuse``: a mutation answers ``userErrors`` (HTTP 200) with :data:`REFUSED`, nothing
#: applied (asked for by name, never part of the random kinds: not a transport fault)
FaultKind = Literal[
    "server_error", "drop_before", "drop_after", "slow", "malformed", "throttled", "refuse"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "server_error",
    "drop_before",
    "drop_after",
    "slow",
    "malformed",
    "throttled",
)
Operation = Literal["query", "mutation"]

#: every topic the stand-in delivers (Shopify's names)
TOPICS = (
    "fulfillment_orders/fulfillment_request_submitted",
    "fulfillment_orders/fulfillment_request_accepted",
    "fulfillment_orders/fulfillment_request_rejected",
    "fulfillment_orders/cancellation_request_submitted",
    "fulfillment_orders/cancellation_request_accepted",
    "fulfillment_orders/cancellation_request_rejected",
    "fulfillment_orders/cancelled",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "fulfillment_orders/rescheduled",
    "fulfillment_orders/scheduled_fulfillment_order_ready",
    "fulfillment_orders/line_items_prepared_for_pickup",
)
HOLD_REASONS = (
    "AWAITING_PAYMENT",
    "AWAITING_RETURN_ITEMS",
    "HIGH_RISK_OF_FRAUD",
    "INCORRECT_ADDRESS",
    "INVENTORY_OUT_OF_STOCK",
    "ONLINE_STORE_POST_PURCHASE_CROSS_SELL",
    "OTHER",
    "UNKNOWN_DELIVERY_DATE",
)
DELIVERY_METHODS = ("SHIPPING", "PICK_UP", "LOCAL")
#: the largest page a connection serves (Shopify's limit)
MAX_PAGE = 250

ACCEPTED_LIKE = ("ACCEPTED", "CANCELLATION_REJECTED")
TERMINAL = ("CANCELLED", "CLOSED", "INCOMPLETE")


class FaultSettings(BaseFaults):
    """Injected faults. API request ``n`` (counted from the last settings change) draws its
    fault from ``Random(f"{fault_seed}/{n}")``: one seed, one fault sequence."""

    kinds: list[FaultKind] = Field(default_factory=lambda: list(FAULT_KINDS), min_length=1)
    #: only these operations are faulted (None: queries and mutations)
    operations: list[Operation] | None = None
    #: how long a ``slow`` answer is held back (past the client's timeout)
    slow_s: float = Field(default=15.0, ge=0.0, le=600.0)
    #: HTTP status of an injected server error
    server_error_status: int = Field(default=503, ge=500, le=599)
    #: faults forced on the next requests, one each, before any random draw
    next: list[FaultKind] = Field(default_factory=list)
    #: a careless remote: error answers quote the access token they were sent
    echo_token: bool = False


#: points restored per second on each plan (shopify.dev ``apps/build/apis/graphql-admin/
#: rate-limits``)
PLAN_RESTORE_RATES: dict[str, float] = {
    "standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0,
}  # fmt: skip
#: the most one query may cost, whatever the bucket (same page: 1,000 points)
MAX_QUERY_COST = 1000.0


class ShopConfig(BaseModel):
    """How to build a stand-in (``create_app(ShopConfig(...))``)."""

    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr = SecretStr("shpat_sandbox")
    #: the app's client secret: it signs the webhooks
    app_secret: SecretStr = SecretStr("sandbox-app-secret")
    shop_domain: str = "rxfloor-sandbox.myshopify.com"
    shop_name: str = "RxFloor Sandbox Shop"
    api_versions: list[str] = Field(
        default_factory=lambda: ["2025-04", "2025-07", "2025-10", "2026-01", "unstable"],
        min_length=1,
    )
    #: fulfillment orders with a submitted request at start
    seed: int = Field(default=0, ge=0, le=100_000)
    #: and some the merchant has not yet asked to fulfil
    unsubmitted: int = Field(default=0, ge=0, le=100_000)
    #: randomness of the content (same value, same orders)
    content_seed: int = 0
    first_order_number: int = Field(default=1001, ge=1)
    location_id: int = 71_000_000_001
    location_name: str = "RxFloor Pharmacy"
    #: the shop's plan: its restore rate (shopify.dev GraphQL Admin API rate limits: 100 /
    #: 200 / 1,000 / 2,000 points/s) and bucket (20 s of it: 2,000 on Standard, as captured
    #: answers show); ``bucket_size`` / ``restore_rate`` given override the preset
    plan: Literal["standard", "advanced", "plus", "enterprise"] = "standard"
    #: the cost bucket (leaky bucket per app and shop)
    bucket_size: float = Field(default=2000.0, gt=0)
    restore_rate: float = Field(default=100.0, gt=0)
    #: False: costs are reported, nothing is throttled
    throttle: bool = True
    faults: FaultSettings = Field(default_factory=FaultSettings)
    #: subscribe this URL to every topic at start (like an app's TOML subscription)
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    #: Shopify retries a failed delivery 8 times (over hours; here the pauses are short)
    webhook_attempts: int = Field(default=8, ge=1, le=20)
    webhook_backoff_s: float = Field(default=0.1, ge=0)
    #: the protected customer fields Shopify approved this app for (shopify.dev
    #: ``docs/apps/launch/protected-customer-data``: level 2 is name, address, phone, email;
    #: a custom app has them all, a public one only after review). An unapproved field is
    #: answered null with an ``errors`` entry pointing at it, HTTP 200. Default: none (a
    #: public app without that review, the stricter answer)
    customer_fields: list[Literal["name", "address", "phone", "email"]] = Field(
        default_factory=list
    )

    @model_validator(mode="before")
    @classmethod
    def _plan_preset(cls, data: Any) -> Any:
        """The plan's restore rate and bucket where they are not given."""
        if isinstance(data, dict):
            rate = PLAN_RESTORE_RATES.get(str(data.get("plan") or "standard"))
            if rate is not None:
                data = {"restore_rate": rate, "bucket_size": 20 * rate, **data}
        return data


def _barcode(item: Any) -> str | None:
    """A variant's ``barcode`` (shopify.dev ProductVariant: "the value of the barcode
    associated with the product", a GTIN / EAN / UPC / ISBN): the item's own, else the
    German pack's NTIN of its PZN (GS1 prefix 4150 + the PZN + a check digit), else none."""
    if getattr(item, "barcode", None):
        return str(item.barcode)
    pzn = getattr(item, "pzn", None)
    if not pzn or not str(pzn).isdigit() or len(str(pzn)) != 8:
        return None
    body = f"4150{pzn}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def gid_number(value: str, kind: str) -> int | None:
    """The number of ``gid://shopify/<kind>/<n>``, else None."""
    prefix = f"gid://shopify/{kind}/"
    if not value.startswith(prefix):
        return None
    tail = value[len(prefix) :]
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


def iso(t: float) -> str:
    """``2026-12-01T13:05:00Z`` (whole seconds, as Shopify's DateTime)."""
    return _iso_seconds(int(t))


@functools.lru_cache(maxsize=8192)
def _iso_seconds(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | datetime) -> float:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time needs a timezone")
    return moment.timestamp()


def compact(fo: dict[str, Any]) -> str:
    """``STATUS/REQUEST_STATUS``: the remote status a source stores."""
    return f"{fo['status']}/{fo['requestStatus']}"


def error(message: str, *field: str) -> dict[str, Any]:
    return {"field": list(field) or None, "message": message}


def _coded(message: str, code: str, *field: str) -> dict[str, Any]:
    """A userError of a mutation whose errors carry a ``code`` (prepared for pickup)."""
    return {**error(message, *field), "code": code}


#: the words of a repeated preparation for pickup (the code's own description)
NOTHING_TO_PREPARE = "The fulfillment order does not have any line items that can be prepared."

#: the ``userErrors`` message of the ``refuse`` fault
REFUSED = "Fulfillment order could not be updated. Please try again later."


def _refused(request: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``refuse`` fault's userErrors for this request (none: it was not drawn)."""
    return [error(REFUSED, "id")] if request and request.get("fault") == "refuse" else []


def encode_cursor(n: int) -> str:
    return base64.b64encode(json.dumps({"last_id": n}).encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    try:
        value = json.loads(base64.b64decode(cursor, validate=True))
    except (ValueError, UnicodeDecodeError):
        return None
    n = value.get("last_id") if isinstance(value, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) else None


@dataclass(slots=True)
class Event:
    """A webhook event waiting to be delivered (same body and ids on every retry)."""

    topic: str
    event_id: str
    triggered_at: str
    body: bytes


@dataclass
class _Bucket:
    size: float
    rate: float
    available: float
    stamp: float


_STREETS = ("Hauptstraße 12", "Bahnhofstraße 3", "Gartenweg 7", "Lindenallee 21", "Ringstraße 5")
_CITIES = (("10115", "Berlin"), ("20095", "Hamburg"), ("50667", "Köln"), ("80331", "München"))
_NOTES = (None, None, None, "Bitte klingeln", "Allergie: Penicillin", "Please call before")
_METHOD = {
    DeliveryType.SHIP: ("SHIPPING", "DHL Paket", "dhl-standard"),
    DeliveryType.PICKUP: ("PICK_UP", "Abholung in der Apotheke", "pickup"),
    DeliveryType.COURIER: ("LOCAL", "Botendienst", "local-courier"),
}
_SERIES = {
    "FulfillmentOrder": 5_000_000_001,
    "Order": 6_000_000_001,
    "FulfillmentOrderLineItem": 13_000_000_001,
    "LineItem": 14_000_000_001,
    "FulfillmentOrderMerchantRequest": 9_000_000_001,
    "FulfillmentHold": 8_000_000_001,
    "Fulfillment": 4_000_000_001,
    "WebhookSubscription": 1_000_000_001,
}


class ShopState(Logs, Deliveries, FaultBox[FaultSettings]):
    """Fulfillment orders, the cost bucket, faults, logs and webhook subscriptions."""

    def __init__(
        self,
        config: ShopConfig,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        #: the webhook delivery task (owned by the app)
        self.delivery_task: asyncio.Task[None] | None = None
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Back to a fresh start: no logs, the configured faults, bucket and subscription,
        and ``seed`` (default: the configured number of) submitted fulfillment orders."""
        c = self.config
        with self._lock:
            self._rng = random.Random(c.content_seed)
            self._counters = {k: itertools.count(v) for k, v in _SERIES.items()}
            self._names = itertools.count(c.first_order_number)
            self._fos: dict[int, dict[str, Any]] = {}
            self._ids: list[int] = []  # ascending: the ID sort key, appended in order
            self._scheduled: set[int] = set()
            self._requests: list[dict[str, Any]] = []
            self._transitions: list[dict[str, Any]] = []
            self._deliveries: list[dict[str, Any]] = []
            self._events: list[tuple[Event, list[dict[str, Any]]]] = []
            self._action_event: str | None = None
            self._subs: dict[str, dict[str, Any]] = {}
            self._faults = c.faults.model_copy(deep=True)
            self._fault_n = 0
            self._bucket = _Bucket(c.bucket_size, c.restore_rate, c.bucket_size, self._monotonic())
            self._throttle = c.throttle
            if c.webhook_url:
                self._subscribe(c.webhook_url, None)
        count = c.seed if seed is None else seed
        if count:
            self.add_orders(count, notify=False)
        if c.unsubmitted:
            self.add_orders(c.unsubmitted, submitted=False, notify=False)

    def _next(self, kind: str) -> int:
        return next(self._counters[kind])

    @property
    def location_gid(self) -> str:
        return gid("Location", self.config.location_id)

    # -- merchant side: orders arrive -----------------------------------------------------

    def add_orders(
        self,
        count: int,
        *,
        submitted: bool = True,
        delivery: str | None = None,
        fulfill_at: float | None = None,
        message: str | None = None,
        notify: bool = True,
    ) -> list[dict[str, Any]]:
        """``count`` new orders, each with one fulfillment order assigned to the app's
        location; ``submitted``: the merchant requested fulfillment (else UNSUBMITTED);
        ``fulfill_at`` in the future: SCHEDULED until then."""
        if delivery is not None and delivery not in DELIVERY_METHODS:
            raise Refusal(422, {"error": f"delivery must be one of {list(DELIVERY_METHODS)}"})
        with self._lock:
            now = self.clock()
            stamp = datetime.fromtimestamp(now, UTC)
            made = []
            for new in sample_orders(count, self._rng.randrange(2**31), stamp):
                fo = self._build(new, now, submitted, delivery, fulfill_at, message)
                n = gid_number(fo["id"], "FulfillmentOrder")
                assert n is not None
                self._fos[n] = fo
                self._ids.append(n)
                if fo["status"] == "SCHEDULED":
                    self._scheduled.add(n)
                made.append(fo)
                if notify and submitted:
                    self._emit_submitted(fo, now)
            return made

    def _build(
        self,
        new: Any,
        now: float,
        submitted: bool,
        delivery: str | None,
        fulfill_at: float | None,
        message: str | None,
    ) -> dict[str, Any]:
        rng = self._rng
        c = self.config
        n = self._next("FulfillmentOrder")
        order_n = self._next("Order")
        name = f"#{next(self._names)}"
        created = min(now, new.created_at.timestamp()) if new.created_at else now
        method, presented, code = _METHOD[new.delivery_type]
        if delivery is not None:
            method = delivery
            presented, code = next((p, s) for m, p, s in _METHOD.values() if m == method)
        first, _, last = new.patient_name.partition(" ")
        email = f"{first}.{last}@example.org".lower().replace(" ", "")
        phone = f"+49 30 {rng.randrange(10**7):07d}"
        postcode, city = rng.choice(_CITIES)
        pickup = method == "PICK_UP"
        location = {"__typename": "Location", "id": self.location_gid, "name": c.location_name}
        destination = {
            "__typename": "FulfillmentOrderDestination",
            "id": gid("FulfillmentOrderDestination", n),
            "address1": None if pickup else rng.choice(_STREETS),
            "address2": None,
            "city": None if pickup else city,
            "company": None,
            "countryCode": None if pickup else "DE",
            "email": email,
            "firstName": first,
            "lastName": last,
            "location": location if pickup else None,
            "phone": phone,
            "province": None,
            "zip": None if pickup else postcode,
        }
        items = []
        for item in new.items:
            li_n = self._next("LineItem")
            items.append(
                {
                    "__typename": "FulfillmentOrderLineItem",
                    "id": gid("FulfillmentOrderLineItem", self._next("FulfillmentOrderLineItem")),
                    "lineItem": {
                        "__typename": "LineItem",
                        "id": gid("LineItem", li_n),
                        "name": f"{item.drug} - {item.strength}" if item.strength else item.drug,
                        "quantity": item.quantity,
                        "sku": item.sku,
                        "title": item.drug,
                        "variantTitle": item.strength or None,
                    },
                    "productTitle": item.drug,
                    "remainingQuantity": item.quantity,
                    "requiresShipping": method != "PICK_UP",
                    "sku": item.sku,
                    "totalQuantity": item.quantity,
                    "variant": {
                        "__typename": "ProductVariant",
                        "id": gid("ProductVariant", li_n),
                        "barcode": _barcode(item),
                        "sku": item.sku,
                        "title": item.strength or "Default Title",
                    },
                    "variantTitle": item.strength or None,
                    "vendor": "Pharma GmbH",
                }
            )
        scheduled = fulfill_at is not None and fulfill_at > now
        fo: dict[str, Any] = {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", n),
            "createdAt": iso(created),
            "updatedAt": iso(now),
            "status": "SCHEDULED" if scheduled else "OPEN",
            "requestStatus": "UNSUBMITTED",
            "fulfillAt": iso(fulfill_at if fulfill_at is not None else created),
            "fulfillBy": None,
            "orderId": gid("Order", order_n),
            "orderName": name,
            "orderProcessedAt": iso(created),
            "order": {
                "__typename": "Order",
                "id": gid("Order", order_n),
                "name": name,
                "createdAt": iso(created),
                "email": email,
                "note": rng.choice(_NOTES),
                "processedAt": iso(created),
            },
            "assignedLocation": {
                "address1": "Marktplatz 1",
                "address2": None,
                "city": "Berlin",
                "countryCode": "DE",
                "location": location,
                "name": c.location_name,
                "phone": "+49 30 1234567",
                "province": None,
                "zip": "10117",
            },
            "destination": destination,
            "deliveryMethod": {
                "__typename": "DeliveryMethod",
                "id": gid("DeliveryMethod", n),
                "methodType": method,
                "presentedName": presented,
                "serviceCode": code,
                "minDeliveryDateTime": None,
                "maxDeliveryDateTime": None,
            },
            "fulfillmentHolds": [],
            "lineItems": items,
            "merchantRequests": [],
            "fulfillments": [],
            "_held_from": None,
        }
        if submitted:
            fo = self._with_request(fo, "FULFILLMENT_REQUEST", message, now)
            fo["requestStatus"] = "SUBMITTED"
        return fo

    def _with_request(
        self, fo: dict[str, Any], kind: str, message: str | None, now: float
    ) -> dict[str, Any]:
        request = {
            "__typename": "FulfillmentOrderMerchantRequest",
            "id": gid(
                "FulfillmentOrderMerchantRequest", self._next("FulfillmentOrderMerchantRequest")
            ),
            "kind": kind,
            "message": message,
            "requestOptions": {"notify_customer": True} if kind == "FULFILLMENT_REQUEST" else {},
            "responseData": None,
            "sentAt": iso(now),
            "_fo": fo["id"],
        }
        return {**fo, "merchantRequests": [*fo["merchantRequests"], request]}

    # -- reads ----------------------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any] | None:
        """A fulfillment order by gid (or its number), after any due schedule ran out."""
        n = gid_number(ref, "FulfillmentOrder") if not ref.isdigit() else int(ref)
        with self._lock:
            self._promote_due()
            return self._fos.get(n) if n is not None else None

    def page(
        self,
        *,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        reverse: bool,
        assignment: str | None,
        location_ids: list[str] | None,
    ) -> tuple[list[dict[str, Any]], bool, bool]:
        """One page of assigned fulfillment orders (ID order): items, hasNext, hasPrevious.

        Cursors are positions in the ID order, so a page costs its size, not the shop's."""
        after_n = _cursor(after)
        before_n = _cursor(before)
        with self._lock:
            self._promote_due()
            fos, ids = self._fos, self._ids
            if location_ids is not None and self.location_gid not in location_ids:
                return [], False, False

            def wanted(n: int) -> bool:
                return _assigned(fos[n], assignment)

            if reverse:  # display order descending: "after" is below, "before" above
                lo = bisect_right(ids, before_n) if before_n is not None else 0
                hi = bisect_left(ids, after_n) if after_n is not None else len(ids)
                ahead, behind = range(lo - 1, -1, -1), range(hi, len(ids))
                seq: range = range(hi - 1, lo - 1, -1)
            else:
                lo = bisect_right(ids, after_n) if after_n is not None else 0
                hi = bisect_left(ids, before_n) if before_n is not None else len(ids)
                ahead, behind = range(hi, len(ids)), range(lo - 1, -1, -1)
                seq = range(lo, hi)
            backwards = first is None  # last: the end of the window
            size = first if first is not None else last
            assert size is not None
            picked: list[int] = []
            more = False
            for i in reversed(seq) if backwards else seq:
                n = ids[i]
                if not wanted(n):
                    continue
                if len(picked) == size:
                    more = True
                    break
                picked.append(n)
            if backwards:
                picked.reverse()
                has_prev = more
                has_next = before_n is not None and any(wanted(ids[i]) for i in ahead)
            else:
                has_next = more
                has_prev = after_n is not None and any(wanted(ids[i]) for i in behind)
            return [fos[n] for n in picked], has_next, has_prev

    def control_view(self, fo: dict[str, Any]) -> dict[str, Any]:
        """The fulfillment order as the control endpoint shows it (no internal keys)."""
        view: dict[str, Any] = _public(fo)
        return view

    # -- the fulfillment service's moves (GraphQL mutations) ------------------------------

    def accept_request(
        self, ref: str, message: str | None, request: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        def rule(fo: dict[str, Any]) -> str | None:
            if fo["status"] == "OPEN" and fo["requestStatus"] == "SUBMITTED":
                return None
            return "Cannot accept the fulfillment request: " + _state_words(fo)

        return self._move(
            ref,
            "fulfillmentOrderAcceptFulfillmentRequest",
            rule,
            {"status": "IN_PROGRESS", "requestStatus": "ACCEPTED"},
            request,
            message=message,
            topic="fulfillment_orders/fulfillment_request_accepted",
        )

    def reject_request(
        self,
        ref: str,
        reason: str | None,
        message: str | None,
        line_items: list[dict[str, Any]] | None,
        request: dict[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        def rule(fo: dict[str, Any]) -> str | None:
            if fo["status"] == "OPEN" and fo["requestStatus"] == "SUBMITTED":
                known = {li["id"] for li in fo["lineItems"]}
                for i, li in enumerate(line_items or []):
                    if li["fulfillmentOrderLineItemId"] not in known:
                        return f"!lineItems.{i}.fulfillmentOrderLineItemId:Line item not found."
                return None
            return "Cannot reject the fulfillment request: " + _state_words(fo)

        return self._move(
            ref,
            "fulfillmentOrderRejectFulfillmentRequest",
            rule,
            {"requestStatus": "REJECTED"},
            request,
            message=message,
            reason=reason,
            topic="fulfillment_orders/fulfillment_request_rejected",
        )

    def close(
        self, ref: str, message: str | None, request: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        def rule(fo: dict[str, Any]) -> str | None:
            if fo["status"] == "IN_PROGRESS" and fo["requestStatus"] in ACCEPTED_LIKE:
                return None
            return "Cannot close the fulfillment order: " + _state_words(fo)

        return self._move(
            ref,
            "fulfillmentOrderClose",
            rule,
            {"status": "INCOMPLETE", "requestStatus": "CLOSED"},
            request,
            message=message,
        )

    def accept_cancellation(
        self, ref: str, message: str | None, request: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        def rule(fo: dict[str, Any]) -> str | None:
            if fo["requestStatus"] == "CANCELLATION_REQUESTED":
                return None
            return "Cannot accept the cancellation request: " + _state_words(fo)

        return self._move(
            ref,
            "fulfillmentOrderAcceptCancellationRequest",
            rule,
            {
                "status": "CANCELLED",
                "requestStatus": "CANCELLATION_ACCEPTED",
                "fulfillmentHolds": [],
                "_held_from": None,
            },
            request,
            message=message,
            topic="fulfillment_orders/cancellation_request_accepted",
        )

    def reject_cancellation(
        self, ref: str, message: str | None, request: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        def rule(fo: dict[str, Any]) -> str | None:
            if fo["requestStatus"] == "CANCELLATION_REQUESTED":
                return None
            return "Cannot reject the cancellation request: " + _state_words(fo)

        return self._move(
            ref,
            "fulfillmentOrderRejectCancellationRequest",
            rule,
            {"requestStatus": "CANCELLATION_REJECTED"},
            request,
            message=message,
            topic="fulfillment_orders/cancellation_request_rejected",
        )

    def _move(
        self,
        ref: str,
        mutation: str,
        rule: Callable[[dict[str, Any]], str | None],
        changes: dict[str, Any],
        request: dict[str, Any] | None,
        *,
        message: str | None = None,
        reason: str | None = None,
        topic: str | None = None,
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        n = gid_number(ref, "FulfillmentOrder")
        if refused := _refused(request):
            return None, refused
        with self._lock:
            self._promote_due()
            fo = self._fos.get(n) if n is not None else None
            if fo is None:
                return None, [error("Fulfillment order does not exist.", "id")]
            why = rule(fo)
            if why is not None:
                if why.startswith("!"):  # an input error: "!path.to.field:message"
                    path, _, words = why[1:].partition(":")
                    return None, [error(words, *path.split("."))]
                return None, [error(why, "id")]
            now = self.clock()
            new = self._replace(fo, changes, now)
            self._log(fo, new, mutation, "api", now, request, message=message, reason=reason)
            if topic is not None:
                self._emit(topic, {"fulfillment_order": _hook_fo(new)}, now)
            return new, []

    def create_fulfillment(
        self,
        pairs: list[dict[str, Any]],
        tracking: dict[str, Any] | None,
        notify_customer: bool,
        message: str | None,
        request: dict[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """``fulfillmentCreate``: fulfil the given (or all remaining) line items."""
        base = ("fulfillment", "lineItemsByFulfillmentOrder")
        if refused := _refused(request):
            return None, refused
        if not pairs:
            return None, [error("At least one fulfillment order is required.", *base)]
        tracking = tracking or {}
        numbers = [tracking["number"]] if tracking.get("number") else []
        numbers += tracking.get("numbers") or []
        urls = [tracking["url"]] if tracking.get("url") else []
        urls += tracking.get("urls") or []
        for i, url in enumerate(urls):
            if not str(url).startswith(("http://", "https://")):
                return None, [
                    error(
                        "Tracking URL is invalid.",
                        "fulfillment",
                        "trackingInfo",
                        "urls" if i else "url",
                    )
                ]
        with self._lock:
            self._promote_due()
            plan: list[tuple[int, dict[str, Any], dict[str, int]]] = []
            for i, pair in enumerate(pairs):
                where = (*base, str(i), "fulfillmentOrderId")
                n = gid_number(pair["fulfillmentOrderId"], "FulfillmentOrder")
                fo = self._fos.get(n) if n is not None else None
                if fo is None or n is None:
                    return None, [error("Fulfillment order does not exist.", *where)]
                if plan and fo["orderId"] != plan[0][1]["orderId"]:
                    return None, [
                        error("Fulfillment orders must belong to the same order.", *where)
                    ]
                if fo["status"] != "IN_PROGRESS" or fo["requestStatus"] not in ACCEPTED_LIKE:
                    return None, [error("Cannot create a fulfillment: " + _state_words(fo), *where)]
                remaining = {li["id"]: li["remainingQuantity"] for li in fo["lineItems"]}
                wanted: dict[str, int] = {}
                given = pair.get("fulfillmentOrderLineItems")
                if not given:
                    wanted = {k: v for k, v in remaining.items() if v > 0}
                for j, li in enumerate(given or []):
                    at = (*base, str(i), "fulfillmentOrderLineItems", str(j))
                    if li["id"] not in remaining:
                        return None, [
                            error("Fulfillment order line item does not exist.", *at, "id")
                        ]
                    quantity = li["quantity"]
                    if quantity <= 0 or quantity + wanted.get(li["id"], 0) > remaining[li["id"]]:
                        return None, [
                            error(
                                f"Quantity must be between 1 and {remaining[li['id']]}.",
                                *at,
                                "quantity",
                            )
                        ]
                    wanted[li["id"]] = wanted.get(li["id"], 0) + quantity
                if not wanted:
                    return None, [
                        error(
                            "Cannot create a fulfillment: nothing remains to be fulfilled.", *where
                        )
                    ]
                plan.append((n, fo, wanted))
            now = self.clock()
            order_name = plan[0][1]["orderName"]
            count = sum(len(fo["fulfillments"]) for _, fo, _ in plan)
            fulfillment = {
                "__typename": "Fulfillment",
                "id": gid("Fulfillment", self._next("Fulfillment")),
                "createdAt": iso(now),
                "name": f"{order_name}-F{count + 1}",
                "status": "SUCCESS",
                "trackingInfo": [
                    {
                        "company": tracking.get("company"),
                        "number": number,
                        "url": urls[k] if k < len(urls) else None,
                    }
                    for k, number in enumerate(numbers)
                ],
                "updatedAt": iso(now),
            }
            for _n, fo, wanted in plan:
                items = [
                    {**li, "remainingQuantity": li["remainingQuantity"] - wanted.get(li["id"], 0)}
                    for li in fo["lineItems"]
                ]
                done = all(li["remainingQuantity"] == 0 for li in items)
                changes: dict[str, Any] = {
                    "lineItems": items,
                    "fulfillments": [*fo["fulfillments"], fulfillment],
                }
                if done:
                    changes["status"] = "CLOSED"
                new = self._replace(fo, changes, now)
                self._log(
                    fo,
                    new,
                    "fulfillmentCreate",
                    "api",
                    now,
                    request,
                    message=message,
                    tracking=fulfillment["trackingInfo"],
                    notify_customer=notify_customer,
                    fulfillment_id=fulfillment["id"],
                )
            return fulfillment, []

    def prepare_for_pickup(
        self, refs: list[str], request: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """``fulfillmentOrderLineItemsPreparedForPickup``: every given PICK_UP fulfillment
        order's line items ready for the customer (all or none). The status stays
        IN_PROGRESS / ACCEPTED (no field of the schema shows the mark: the stand-in keeps it
        as ``_prepared``); the customer is told (logged ``notify_customer``). Refused with
        the documented codes: an unknown id, a fulfillment order that is not a pickup one or
        not accepted (``FULFILLMENT_ORDER_INVALID``), one already prepared
        (``NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER``: no line item left to prepare,
        assumed to be what a repeat meets; no second notification)."""
        base = ("input", "lineItemsByFulfillmentOrder")
        if refused := _refused(request):
            return [{**e, "code": None} for e in refused]
        if not refs:
            return [
                _coded(
                    "At least one fulfillment order is required.",
                    "FULFILLMENT_ORDER_INVALID",
                    *base,
                )
            ]
        with self._lock:
            self._promote_due()
            found: list[dict[str, Any]] = []
            for i, ref in enumerate(refs):
                where = (*base, str(i), "fulfillmentOrderId")
                n = gid_number(ref, "FulfillmentOrder")
                fo = self._fos.get(n) if n is not None else None
                if fo is None:
                    return [
                        _coded(
                            "Fulfillment order does not exist.", "FULFILLMENT_ORDER_INVALID", *where
                        )
                    ]
                method = (fo.get("deliveryMethod") or {}).get("methodType")
                if method != "PICK_UP":
                    return [
                        _coded(
                            f"Cannot prepare for pickup: the fulfillment order's "
                            f"delivery method is {method}, not PICK_UP.",
                            "FULFILLMENT_ORDER_INVALID",
                            *where,
                        )
                    ]
                if fo["status"] != "IN_PROGRESS" or fo["requestStatus"] not in ACCEPTED_LIKE:
                    return [
                        _coded(
                            "Cannot prepare for pickup: " + _state_words(fo),
                            "FULFILLMENT_ORDER_INVALID",
                            *where,
                        )
                    ]
                if fo.get("_prepared"):
                    code = "NO_LINE_ITEMS_TO_PREPARE_FOR_FULFILLMENT_ORDER"
                    return [_coded(NOTHING_TO_PREPARE, code, *where)]
                found.append(fo)
            now = self.clock()
            for fo in found:
                new = self._replace(fo, {"_prepared": True}, now)
                self._log(
                    fo,
                    new,
                    "fulfillmentOrderLineItemsPreparedForPickup",
                    "api",
                    now,
                    request,
                    notify_customer=True,
                )
                self._emit(
                    "fulfillment_orders/line_items_prepared_for_pickup",
                    {"fulfillment_order": _hook_fo(new)},
                    now,
                )
            return []

    def prepared(self, ref: str) -> bool:
        """The fulfillment order's line items are prepared for pickup (the stand-in's mark)."""
        with self._lock:
            n = gid_number(ref, "FulfillmentOrder")
            fo = self._fos.get(n) if n is not None else None
            return bool(fo and fo.get("_prepared"))

    # -- the merchant's side (control endpoints, demo activity) ---------------------------

    def merchant(self, action: str, ref: str, **kw: Any) -> dict[str, Any]:
        """A merchant-side change: ``submit`` (request fulfillment of an UNSUBMITTED,
        REJECTED or closed-incomplete one), ``request_cancellation`` (message), ``cancel``,
        ``hold`` (reason, notes), ``release``, ``schedule`` (fulfill_at), ``ready`` (a
        scheduled one's time arrives now). Raises :class:`Refusal` (409) when not allowed."""
        return self.merchant_action(action, [ref], **kw)[0]

    def merchant_action(self, action: str, refs: list[str], **kw: Any) -> list[dict[str, Any]]:
        """One merchant action on several fulfillment orders (an order cancelled in the
        admin touches each of its fulfillment orders): every webhook it produces carries the
        same ``X-Shopify-Event-Id`` (shopify.dev ``apps/build/webhooks/delivery-structure``:
        an ID shared across all deliveries produced by the same merchant action), each
        delivery its own ``X-Shopify-Webhook-Id``. All or nothing: a refused one changes none."""
        with self._lock:
            self._promote_due()
            handler = getattr(self, f"_m_{action}", None)
            if handler is None:
                raise Refusal(422, {"error": f"unknown merchant action {action!r}"})
            targets = []
            for ref in refs:
                n = gid_number(ref, "FulfillmentOrder") if not ref.isdigit() else int(ref)
                fo = self._fos.get(n) if n is not None else None
                if fo is None or n is None:
                    raise Refusal(404, {"error": f"fulfillment order {ref} not found"})
                targets.append((n, fo))
            now = self.clock()
            saved = (dict(self._fos), list(self._events), list(self._transitions))
            self._action_event = str(uuid.uuid4())  # unique across resets
            try:
                return [handler(n, self._fos[n], now, **kw) for n, _ in targets]
            except Refusal:
                self._fos, self._events, self._transitions = (dict(saved[0]), saved[1], saved[2])
                raise
            finally:
                self._action_event = None

    def _refuse(self, fo: dict[str, Any], what: str) -> Refusal:
        return Refusal(409, {"error": f"cannot {what}: {_state_words(fo)}"})

    def _m_submit(
        self, n: int, fo: dict[str, Any], now: float, message: str | None = None
    ) -> dict[str, Any]:
        again = fo["requestStatus"] in ("REJECTED", "CLOSED") and fo["status"] in (
            "OPEN",
            "INCOMPLETE",
        )
        if not (
            (fo["requestStatus"] == "UNSUBMITTED" and fo["status"] in ("OPEN", "SCHEDULED"))
            or again
        ):
            raise self._refuse(fo, "submit a fulfillment request")
        new = self._with_request(fo, "FULFILLMENT_REQUEST", message, now)
        status = fo["status"] if fo["status"] == "SCHEDULED" else "OPEN"
        new = self._replace(new, {"status": status, "requestStatus": "SUBMITTED"}, now)
        self._log(fo, new, "submit", "merchant", now, None, message=message)
        self._emit_submitted(new, now)
        return new

    def _m_request_cancellation(
        self, n: int, fo: dict[str, Any], now: float, message: str | None = None
    ) -> dict[str, Any]:
        if fo["status"] in TERMINAL:
            raise self._refuse(fo, "request cancellation")
        if fo["requestStatus"] not in ("ACCEPTED", "CANCELLATION_REJECTED"):
            # not accepted yet: Shopify cancels at once
            return self._m_cancel(n, fo, now, message=message)
        new = self._with_request(fo, "CANCELLATION_REQUEST", message, now)
        new = self._replace(new, {"requestStatus": "CANCELLATION_REQUESTED"}, now)
        self._log(fo, new, "request_cancellation", "merchant", now, None, message=message)
        self._emit(
            "fulfillment_orders/cancellation_request_submitted",
            {
                "fulfillment_order": _hook_fo(new),
                "fulfillment_order_merchant_request": _hook_request(new["merchantRequests"][-1]),
            },
            now,
        )
        return new

    def _m_cancel(
        self, n: int, fo: dict[str, Any], now: float, message: str | None = None
    ) -> dict[str, Any]:
        if fo["status"] in TERMINAL:
            raise self._refuse(fo, "cancel")
        if fo["requestStatus"] in ("ACCEPTED", "CANCELLATION_REJECTED", "CANCELLATION_REQUESTED"):
            if fo["requestStatus"] == "CANCELLATION_REQUESTED":
                raise self._refuse(fo, "cancel (the request is waiting for an answer)")
            return self._m_request_cancellation(n, fo, now, message=message)
        new = self._replace(
            fo, {"status": "CANCELLED", "fulfillmentHolds": [], "_held_from": None}, now
        )
        self._scheduled.discard(n)
        self._log(fo, new, "cancel", "merchant", now, None, message=message)
        self._emit("fulfillment_orders/cancelled", {"fulfillment_order": _hook_fo(new)}, now)
        return new

    def _m_hold(
        self,
        n: int,
        fo: dict[str, Any],
        now: float,
        reason: str = "OTHER",
        notes: str | None = None,
    ) -> dict[str, Any]:
        if reason not in HOLD_REASONS:
            raise Refusal(422, {"error": f"reason must be one of {list(HOLD_REASONS)}"})
        if fo["status"] not in ("OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"):
            raise self._refuse(fo, "hold")
        hold = {
            "__typename": "FulfillmentHold",
            "reason": reason,
            "reasonNotes": notes,
            "id": gid("FulfillmentHold", self._next("FulfillmentHold")),
        }
        held_from = fo["_held_from"] or fo["status"]
        self._scheduled.discard(n)
        new = self._replace(
            fo,
            {
                "status": "ON_HOLD",
                "_held_from": held_from,
                "fulfillmentHolds": [*fo["fulfillmentHolds"], hold],
            },
            now,
        )
        self._log(fo, new, "hold", "merchant", now, None, message=notes, reason=reason)
        self._emit(
            "fulfillment_orders/placed_on_hold",
            {
                "fulfillment_order": _hook_fo(new),
                "fulfillment_hold": {
                    "id": hold["id"],
                    "reason": reason.lower(),
                    "reason_notes": notes,
                },
            },
            now,
        )
        return new

    def _m_release(self, n: int, fo: dict[str, Any], now: float) -> dict[str, Any]:
        if fo["status"] != "ON_HOLD":
            raise self._refuse(fo, "release a hold")
        back = fo["_held_from"] or "OPEN"
        if back == "SCHEDULED" and parse_time(fo["fulfillAt"]) <= now:
            back = "OPEN"
        new = self._replace(fo, {"status": back, "_held_from": None, "fulfillmentHolds": []}, now)
        if back == "SCHEDULED":
            self._scheduled.add(n)
        self._log(fo, new, "release", "merchant", now, None)
        self._emit("fulfillment_orders/hold_released", {"fulfillment_order": _hook_fo(new)}, now)
        return new

    def _m_schedule(
        self, n: int, fo: dict[str, Any], now: float, fulfill_at: str | float | None = None
    ) -> dict[str, Any]:
        if fulfill_at is None:
            raise Refusal(422, {"error": "fulfill_at is required"})
        try:
            at = fulfill_at if isinstance(fulfill_at, float | int) else parse_time(fulfill_at)
        except ValueError as exc:
            raise Refusal(422, {"error": f"fulfill_at: {exc}"}) from None
        if fo["status"] not in ("OPEN", "SCHEDULED") or fo["requestStatus"] in ACCEPTED_LIKE:
            raise self._refuse(fo, "schedule")
        if at <= now:
            raise Refusal(422, {"error": "fulfill_at must be in the future"})
        new = self._replace(fo, {"status": "SCHEDULED", "fulfillAt": iso(at)}, now)
        self._scheduled.add(n)
        self._log(fo, new, "schedule", "merchant", now, None, fulfill_at=iso(at))
        self._emit("fulfillment_orders/rescheduled", {"fulfillment_order": _hook_fo(new)}, now)
        return new

    def _m_ready(self, n: int, fo: dict[str, Any], now: float) -> dict[str, Any]:
        if fo["status"] != "SCHEDULED":
            raise self._refuse(fo, "make ready")
        return self._ready(n, fo, now, iso(now))

    def _ready(self, n: int, fo: dict[str, Any], now: float, fulfill_at: str) -> dict[str, Any]:
        new = self._replace(fo, {"status": "OPEN", "fulfillAt": fulfill_at}, now)
        self._scheduled.discard(n)
        self._log(fo, new, "ready", "merchant", now, None)
        self._emit(
            "fulfillment_orders/scheduled_fulfillment_order_ready",
            {"fulfillment_order": _hook_fo(new)},
            now,
        )
        return new

    def _promote_due(self) -> None:
        """SCHEDULED ones whose ``fulfillAt`` has come become OPEN (lock held)."""
        if not self._scheduled:
            return
        now = self.clock()
        for n in sorted(self._scheduled):
            fo = self._fos[n]
            if parse_time(fo["fulfillAt"]) <= now:
                self._ready(n, fo, now, fo["fulfillAt"])

    def tick(self, rng: random.Random, change_chance: float = 0.2) -> dict[str, list[str]]:
        """One step of merchant-side life: usually a new order, now and then a
        cancellation request on one in work, or a hold / release."""
        done: dict[str, list[str]] = {
            "created": [],
            "cancellation_requested": [],
            "held": [],
            "released": [],
        }
        if rng.random() < change_chance:
            with self._lock:
                fos = [self._fos[n] for n in self._ids[-500:]]
            in_work = [
                f["id"]
                for f in fos
                if compact(f) in ("IN_PROGRESS/ACCEPTED", "IN_PROGRESS/CANCELLATION_REJECTED")
            ]
            held = [f["id"] for f in fos if f["status"] == "ON_HOLD"]
            fresh = [f["id"] for f in fos if compact(f) == "OPEN/SUBMITTED"]
            roll = rng.random()
            with contextlib.suppress(Refusal):  # the pharmacist moved it meanwhile
                if held and roll < 0.3:
                    ref = rng.choice(held)
                    self.merchant("release", ref)
                    done["released"].append(ref)
                    return done
                if fresh and roll < 0.45:
                    ref = rng.choice(fresh)
                    self.merchant("hold", ref, reason="AWAITING_PAYMENT")
                    done["held"].append(ref)
                    return done
                if in_work:
                    ref = rng.choice(in_work)
                    words = rng.choice(
                        ("Customer changed their mind", "Duplicate order", "Kunde hat storniert")
                    )
                    self.merchant("request_cancellation", ref, message=words)
                    done["cancellation_requested"].append(ref)
                    return done
        done["created"] = [fo["id"] for fo in self.add_orders(1)]
        return done

    # -- shared bookkeeping (lock held) ---------------------------------------------------

    def _replace(self, fo: dict[str, Any], changes: dict[str, Any], now: float) -> dict[str, Any]:
        new = {**fo, **changes, "updatedAt": iso(now)}
        n = gid_number(new["id"], "FulfillmentOrder")
        assert n is not None
        self._fos[n] = new
        return new

    def _log(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        action: str,
        by: Literal["api", "merchant"],
        now: float,
        request: dict[str, Any] | None,
        **details: Any,
    ) -> None:
        self._transitions.append(
            {
                "seq": len(self._transitions) + 1,
                "id": new["id"],
                "order_name": new["orderName"],
                "from": compact(old),
                "to": compact(new),
                "action": action,
                "by": by,
                "time": now,
                "request_seq": request["seq"] if request else None,
                **{k: v for k, v in details.items() if v is not None},
            }
        )

    # -- logs -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Fulfillment orders by compact status (for stats and the demo)."""
        with self._lock:
            out: dict[str, int] = {}
            for fo in self._fos.values():
                key = compact(fo)
                out[key] = out.get(key, 0) + 1
            return out

    # -- cost bucket and faults -----------------------------------------------------------

    def spend(self, requested: int, forced_throttle: bool) -> tuple[bool, dict[str, float]]:
        """Take ``requested`` points if the bucket holds them. Returns (admitted, status)."""
        with self._lock:
            b = self._refill()
            admitted = not forced_throttle and (not self._throttle or requested <= b.available)
            if admitted and self._throttle:
                b.available -= requested
            return admitted, self._status()

    def refund(self, points: float) -> dict[str, float]:
        """Give back what a query did not use (requested - actual); the new status."""
        with self._lock:
            b = self._refill()
            if self._throttle:
                b.available = min(b.size, b.available + max(0.0, points))
            return self._status()

    def _refill(self) -> _Bucket:
        b = self._bucket
        now = self._monotonic()
        b.available = min(b.size, b.available + (now - b.stamp) * b.rate)
        b.stamp = now
        return b

    def _status(self) -> dict[str, float]:
        b = self._bucket
        return {
            "maximumAvailable": float(b.size),
            "currentlyAvailable": float(int(b.available)),
            "restoreRate": float(b.rate),
        }

    @property
    def bucket_size(self) -> float:
        with self._lock:
            return self._bucket.size

    def throttle_settings(self) -> dict[str, Any]:
        with self._lock:
            self._refill()
            return {**self._status(), "throttle": self._throttle}

    def set_throttle(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Live bucket settings: ``maximumAvailable``, ``restoreRate``,
        ``currentlyAvailable`` (numbers > 0 / >= 0) and ``throttle`` (bool)."""
        with self._lock:
            b = self._refill()
            for key in changes:
                if key not in ("maximumAvailable", "restoreRate", "currentlyAvailable", "throttle"):
                    raise Refusal(422, {"error": f"unknown throttle setting {key!r}"})
            if "throttle" in changes:
                if not isinstance(changes["throttle"], bool):
                    raise Refusal(422, {"error": "throttle must be true or false"})
                self._throttle = changes["throttle"]
            for key, attr in (("maximumAvailable", "size"), ("restoreRate", "rate")):
                if key in changes:
                    value = changes[key]
                    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                        raise Refusal(422, {"error": f"{key} must be a positive number"})
                    setattr(b, attr, float(value))
            if "currentlyAvailable" in changes:
                value = changes["currentlyAvailable"]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise Refusal(422, {"error": "currentlyAvailable must be a number >= 0"})
                b.available = float(value)
            b.available = min(b.available, b.size)
            return {**self._status(), "throttle": self._throttle}

    def draw_fault(self, operation: str | None) -> FaultKind | None:
        """The fault for this API request, if any (reproducible from the fault seed)."""
        with self._lock:
            f = self._faults
            n = self._fault_n
            self._fault_n += 1
            if f.operations is not None and operation not in f.operations:
                return None
            return draw(f.next, f.fail_rate, f.fault_seed, n, f.kinds)

    # -- webhooks -------------------------------------------------------------------------

    def subscribe(self, url: str, topics: list[str] | None = None) -> dict[str, Any]:
        """Deliver ``topics`` (None: every topic) to ``url``."""
        unknown = sorted(set(topics or ()) - set(TOPICS))
        if unknown:
            raise Refusal(422, {"error": f"unknown topics {unknown} (known: {list(TOPICS)})"})
        with self._lock:
            return dict(self._subscribe(url, topics))

    def _subscribe(self, url: str, topics: list[str] | None) -> dict[str, Any]:
        sub_id = gid("WebhookSubscription", self._next("WebhookSubscription"))
        sub: dict[str, Any] = {"id": sub_id, "url": url, "topics": list(topics) if topics else None}
        self._subs[sub_id] = sub
        return sub

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._subs.values()]

    def unsubscribe(self, sub_id: str) -> bool:
        with self._lock:
            return self._subs.pop(sub_id, None) is not None

    def _emit_submitted(self, fo: dict[str, Any], now: float) -> None:
        hook = _hook_fo(fo)
        self._emit(
            "fulfillment_orders/fulfillment_request_submitted",
            {
                "original_fulfillment_order": hook,
                "submitted_fulfillment_order": hook,
                "fulfillment_order_merchant_request": _hook_request(fo["merchantRequests"][-1]),
            },
            now,
        )

    def _emit(self, topic: str, payload: dict[str, Any], now: float) -> None:
        """Queue an event (lock held) for the subscriptions that want its topic; the body
        shaped as Shopify's sample payload of the topic (:func:`rest_body`)."""
        payload = rest_body(topic, payload)
        subs = [dict(s) for s in self._subs.values() if s["topics"] is None or topic in s["topics"]]
        if not subs:
            return
        event = Event(
            topic=topic,
            # one per merchant action (shared by its deliveries), unique across resets
            event_id=self._action_event or str(uuid.uuid4()),
            triggered_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            body=json.dumps(payload, separators=(",", ":")).encode(),
        )
        self._events.append((event, subs))
        if self._wakeup is not None:
            loop, wake = self._wakeup
            with contextlib.suppress(RuntimeError):  # that loop is gone; events wait
                loop.call_soon_threadsafe(wake.set)

    def queue_event(self, event: Event, subs: list[dict[str, Any]]) -> None:
        """Send a hand-made event (control: forged, stale or odd deliveries)."""
        with self._lock:
            self._events.append((event, subs))
            if self._wakeup is not None:
                loop, wake = self._wakeup
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(wake.set)

    def take_events(self) -> list[tuple[Event, list[dict[str, Any]]]]:
        with self._lock:
            events, self._events = self._events, []
            return events

    def bind_wakeup(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._wakeup = (loop, wake)
            if self._events:
                loop.call_soon_threadsafe(wake.set)


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    n = decode_cursor(value)
    if n is None:
        raise ValueError(f"Invalid cursor: {value[:40]}")
    return n


def _assigned(fo: dict[str, Any], assignment: str | None) -> bool:
    """Whether ``assignedFulfillmentOrders(assignmentStatus:)`` lists it."""
    if assignment is None:
        return bool(fo["status"] != "CLOSED")
    if fo["status"] in TERMINAL:
        return False
    request = fo["requestStatus"]
    wanted: dict[str, bool] = {
        "FULFILLMENT_REQUESTED": request == "SUBMITTED",
        "FULFILLMENT_ACCEPTED": request in ACCEPTED_LIKE,
        "CANCELLATION_REQUESTED": request == "CANCELLATION_REQUESTED",
        "FULFILLMENT_UNSUBMITTED": request == "UNSUBMITTED",
    }
    return wanted.get(assignment, False)


def _state_words(fo: dict[str, Any]) -> str:
    return (
        f"the fulfillment order {fo['orderName']} has status {fo['status']} and request "
        f"status {fo['requestStatus']}."
    )


def _hook_fo(fo: dict[str, Any]) -> dict[str, Any]:
    """The fulfillment order as a webhook body carries it (snake_case, lower-case words)."""
    return {
        "id": fo["id"],
        "status": fo["status"].lower(),
        "request_status": fo["requestStatus"].lower(),
        "fulfill_at": fo["fulfillAt"],
        "order_id": fo["orderId"],
        "order_name": fo["orderName"],
    }


#: per topic, the fields its fulfillment order carries in Shopify's sample payload
#: (shopify.dev ``docs/api/webhooks``, REST spelling): many topics say no status at all
_SAMPLE_FIELDS: dict[str, tuple[str, ...]] = {
    "line_items_prepared_for_pickup": ("id",),
    "fulfillment_request_submitted": ("id", "status", "request_status"),
    "fulfillment_request_accepted": ("id", "status", "request_status"),
    "fulfillment_request_rejected": ("id", "status", "request_status"),
    "cancellation_request_submitted": ("id", "status", "request_status"),
    "cancellation_request_accepted": ("id", "status", "request_status"),
    "cancellation_request_rejected": ("id", "status", "request_status"),
    "cancelled": ("id", "status"),
    "placed_on_hold": ("id", "status"),
    "hold_released": ("id",),
    "rescheduled": ("id", "status", "fulfill_at"),
    "scheduled_fulfillment_order_ready": ("id", "status"),
}
#: what the samples add beside the fulfillment order
_SAMPLE_EXTRAS: dict[str, dict[str, Any]] = {
    "fulfillment_request_accepted": {"message": ""},
    "fulfillment_request_rejected": {"message": ""},
    "cancellation_request_accepted": {"message": ""},
    "cancellation_request_rejected": {"message": ""},
    "cancelled": {"replacement_fulfillment_order": None},
    "placed_on_hold": {"remaining_fulfillment_order": None},
}


def rest_body(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as the topic's sample payload has it: only the fields the sample's
    fulfillment order carries, its REST words (a cancellation request's request status is
    ``cancellation_request``; a submitted order's body still says ``unsubmitted``), and the
    sample's other keys. A topic without a sample shape is sent as given."""
    name = topic.removeprefix("fulfillment_orders/")
    fields = _SAMPLE_FIELDS.get(name)
    if fields is None:
        return payload
    body = {**_SAMPLE_EXTRAS.get(name, {}), **payload}
    for key in ("fulfillment_order", "original_fulfillment_order", "submitted_fulfillment_order"):
        fo = body.get(key)
        if isinstance(fo, dict):
            body[key] = {k: fo[k] for k in fields if k in fo}
            if name == "cancellation_request_submitted":
                body[key]["request_status"] = "cancellation_request"
            elif name == "fulfillment_request_submitted":
                body[key]["request_status"] = "unsubmitted"
    return body


def _hook_request(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": request["id"],
        "kind": request["kind"].lower(),
        "message": request["message"],
        "request_options": request["requestOptions"],
        "sent_at": request["sentAt"],
    }


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _public(v) for k, v in value.items() if not k.startswith("_") or k == "__typename"
        }
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


async def drive_activity(
    state: ShopState,
    every_s: float = 4.0,
    *,
    seed: int = 0,
    change_chance: float = 0.2,
    stop: asyncio.Event | None = None,
) -> None:
    """Merchant-side life for the demo: every ``every_s`` seconds a :meth:`ShopState.tick`."""
    rng = random.Random(seed)
    await every(every_s, lambda: state.tick(rng, change_chance), stop)


def in_future(now: float, **delta: float) -> float:
    """``now`` plus a timedelta's worth of seconds (for tests and the demo)."""
    return now + timedelta(**delta).total_seconds()

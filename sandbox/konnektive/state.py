"""The Konnektive stand-in's memory: orders, their fulfillments, the faults and the logs.

One :class:`KonnektiveState` per app, every method under one lock. Where Konnektive's
public pages are silent the stand-in does the conservative thing: an update that is not a
move the fulfillment can make (a repeat included) is refused with an ERROR, so a resend
shows up instead of passing silently.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rxfloor.core.sample import sample_orders
from rxfloor.sandbox.kit.activity import every
from rxfloor.sandbox.kit.faults import BaseFaults, draw
from rxfloor.sandbox.kit.logs import Logs

FaultKind = Literal[
    "server_error", "rate_limit", "drop_before", "drop_after", "slow", "malformed", "error_200"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "server_error",
    "rate_limit",
    "drop_before",
    "drop_after",
    "slow",
    "malformed",
    "error_200",
)
#: what Konnektive says when a query matches nothing (an ERROR that means an empty page)
NO_ORDERS = "No orders matching those parameters could be found"
NO_FULFILLMENTS = "No fulfillments matching those parameters could be found"
BAD_LOGIN = "Invalid login credentials"
#: the words of the ``error_200`` fault: HTTP 200 carrying an ERROR, nothing applied
BUSY = "Request could not be processed at this time"
MAX_PAGE = 200

#: what the fulfillment house may set with the Update Fulfillment API, from where
_API_MOVES: dict[str, frozenset[str]] = {
    "SHIPPED": frozenset({"PENDING", "RECYCLED"}),
    "CANCELLED": frozenset({"HOLD", "PENDING", "FAILED", "RECYCLED"}),
    "FAILED": frozenset({"PENDING"}),  # the house rejects the fulfillment
}
#: merchant-side changes (control endpoint), from where (None: from anywhere)
_MERCHANT: dict[str, frozenset[str] | None] = {
    "HOLD": frozenset({"PENDING", "FAILED"}),
    "PENDING": frozenset({"HOLD", "FAILED", "RECYCLED"}),  # released / resent
    "CANCELLED": None,
    "RMA_PENDING": frozenset({"PENDING_SHIPMENT", "SHIPPED", "DELIVERED"}),
    "RETURNED": frozenset({"RMA_PENDING", "PENDING_SHIPMENT", "SHIPPED", "DELIVERED"}),
    "FAILED": frozenset({"HOLD", "PENDING", "RECYCLED"}),
    "RECYCLED": frozenset({"FAILED"}),
}
#: carrier-side progress (control endpoint)
_CARRIER: dict[str, frozenset[str]] = {
    "SHIPPED": frozenset({"PENDING_SHIPMENT"}),
    "DELIVERED": frozenset({"PENDING_SHIPMENT", "SHIPPED"}),
}


class FaultSettings(BaseFaults):
    """Injected faults; API request ``n`` (counted from the last change) draws from
    ``Random(f"{fault_seed}/{n}")``, so one seed gives one fault sequence."""

    kinds: list[FaultKind] = Field(default_factory=lambda: list(FAULT_KINDS), min_length=1)
    #: only these endpoints are faulted (e.g. ``["fulfillment/update"]``; None: every one)
    endpoints: list[str] | None = None
    slow_s: float = Field(default=20.0, ge=0.0, le=600.0)
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    #: faults forced on the next faultable requests, one each, before any random draw
    next: list[FaultKind] = Field(default_factory=list)
    #: a careless remote: every ERROR quotes the loginId and password it was sent (as sent
    #: and URL-encoded), to prove no secret from its words is ever shown or stored
    echo_secret: bool = False


class KonnektiveConfig(BaseModel):
    """How to build a stand-in (``create_app(KonnektiveConfig(...))``)."""

    model_config = ConfigDict(extra="forbid")

    login_id: SecretStr = SecretStr("sandbox-api-user")
    password: SecretStr = SecretStr("sandbox-password")
    #: orders (one PENDING fulfillment each) created at start
    seed: int = Field(default=0, ge=0, le=100_000)
    content_seed: int = 0
    #: Konnektive's carrier check: a tracking number gives Pending Shipment (else Shipped)
    carrier_validation: bool = True
    #: an Order Query row carries its ``fulfillments`` (as a public client's captured answer
    #: shows); False: rows without that key (a client must then fall back to the Fulfillment
    #: Query API)
    order_query_fulfillments: bool = True
    faults: FaultSettings = Field(default_factory=FaultSettings)


class Refusal(Exception):
    """An API call Konnektive answers with ``{"result": "ERROR", "message": …}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


class KonnektiveState(Logs):
    """Orders, fulfillments and logs (thread-safe; records are replaced, never mutated)."""

    def __init__(self, config: KonnektiveConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    # -- lifecycle of the stand-in
    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            self.orders: dict[str, dict[str, Any]] = {}
            self.fulfillments: dict[str, dict[str, Any]] = {}
            self._transitions: list[dict[str, Any]] = []
            self._requests: list[dict[str, Any]] = []
            self._next_order = 0
            self._next_fulfillment = 0
            self.faults = self.config.faults.model_copy(deep=True)
            self._drawn: Counter[str] = Counter()
            self.carrier_validation = self.config.carrier_validation
        self.add_orders(self.config.seed if seed is None else seed)

    def credentials_ok(self, login_id: str | None, password: str | None) -> bool:
        return (
            login_id == self.config.login_id.get_secret_value()
            and password == self.config.password.get_secret_value()
        )

    # -- faults and logs
    def set_faults(self, changes: dict[str, Any]) -> FaultSettings:
        with self._lock:
            merged = {**self.faults.model_dump(), **changes}
            self.faults = FaultSettings.model_validate(merged)
            self._drawn = Counter()
            return self.faults

    def draw_fault(self, endpoint: str) -> FaultKind | None:
        with self._lock:
            f = self.faults
            if f.endpoints is not None and endpoint not in f.endpoints:
                return None
            # each endpoint draws its own sequence: which call of which push thread comes
            # first does not change which faults the updates meet (one count for both let
            # a run see no update dropped after being applied)
            n = self._drawn[endpoint]
            drawing = not f.next and f.fail_rate > 0  # a random draw counts, a forced one not
            fault = draw(f.next, f.fail_rate, f"{f.fault_seed}/{endpoint}", n, f.kinds)
            self._drawn[endpoint] += drawing
            return fault

    # -- orders
    def add_orders(self, count: int, status: str = "PENDING") -> list[str]:
        """New orders, one fulfillment each in ``status``."""
        made = []
        with self._lock:
            now = self.clock()
            start = self._next_order
            rng_seed = self.config.content_seed * 1_000_003 + start
            for i, sample in enumerate(
                sample_orders(count, seed=rng_seed, now=datetime.fromtimestamp(now, UTC))
            ):
                self._next_order += 1
                self._next_fulfillment += 1
                order_id = f"K{100000 + start + i:06d}"
                first, _, last = sample.patient_name.partition(" ")
                self.orders[order_id] = {
                    "orderId": order_id,
                    "orderStatus": "COMPLETE",
                    "dateCreated": _stamp(now),
                    "firstName": first,
                    "lastName": last,
                    "shipFirstName": first,
                    "shipLastName": last,
                    "items": {
                        str(n + 1): {
                            "productId": str(500 + n),
                            "productSku": item.sku,
                            "name": f"{item.drug} {item.strength}".strip(),
                            "qty": item.quantity,
                        }
                        for n, item in enumerate(sample.items)
                    },
                }
                fid = str(self._next_fulfillment)
                self.fulfillments[fid] = {
                    "fulfillmentId": fid,
                    "orderId": order_id,
                    "fulfillmentStatus": status,
                    "trackingNumber": None,
                    "dateShipped": None,
                    "dateCreated": _stamp(now),
                }
                made.append(order_id)
        return made

    def fulfillment_of(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._current(order_id)

    def _current(self, order_id: str) -> dict[str, Any] | None:
        mine = [f for f in self.fulfillments.values() if f["orderId"] == order_id]
        mine.sort(key=lambda f: int(f["fulfillmentId"]))
        live = [f for f in mine if f["fulfillmentStatus"] != "CANCELLED"]
        chosen = live or mine
        return chosen[-1] if chosen else None

    def query(
        self, kind: Literal["order", "fulfillment"], params: dict[str, str]
    ) -> dict[str, Any]:
        """``order/query`` / ``fulfillment/query``: a page, or Refusal."""
        try:
            page = int(params.get("page") or 1)
            per_page = int(params.get("resultsPerPage") or 25)
        except ValueError:
            raise Refusal("page and resultsPerPage must be numbers") from None
        if per_page < 1 or per_page > MAX_PAGE:
            raise Refusal(f"resultsPerPage must be between 1 and {MAX_PAGE}")
        if page < 1:
            raise Refusal("page must be 1 or more")
        order_id = params.get("orderId")
        fid = params.get("fulfillmentId") if kind == "fulfillment" else None
        start = end = ""
        if not order_id and not fid:
            first, last = _date(params.get("startDate")), _date(params.get("endDate"))
            if first is None or last is None:
                raise Refusal("startDate and endDate (mm/dd/yyyy) are required")
            start, end = first, last
        with self._lock:
            table = self.orders if kind == "order" else self.fulfillments
            found = []
            for row in table.values():  # insertion order: creation order, stable pages
                if order_id and row["orderId"] != order_id:
                    continue
                if fid and row["fulfillmentId"] != fid:
                    continue
                if not order_id and not fid:
                    day = row["dateCreated"][:10]
                    if not (start <= day <= end):
                        continue
                status = params.get("fulfillmentStatus")
                if kind == "fulfillment" and status and row["fulfillmentStatus"] != status:
                    continue
                found.append(row)
            found = [self._answer_row(kind, row) for row in found]
        chunk = found[(page - 1) * per_page : page * per_page]
        if not chunk:
            raise Refusal(NO_ORDERS if kind == "order" else NO_FULFILLMENTS)
        return {"totalResults": len(found), "resultsPerPage": per_page, "page": page, "data": chunk}

    def _answer_row(
        self, kind: Literal["order", "fulfillment"], row: dict[str, Any]
    ) -> dict[str, Any]:
        """A row as Konnektive answers it (lock held): an order with its ``fulfillments``,
        a flat fulfillment with its ``orderId``; the state as ``status``."""
        if kind == "fulfillment":
            order = self.orders.get(row["orderId"], {})
            return {
                "company": _HOUSE,
                "orderId": row["orderId"],
                **_fulfillment(row, order),
                "dateUpdated": row["dateCreated"],
                "dateExported": None,
                "isReshipment": 0,
                "campaignId": "1",
                "customerId": int(row["orderId"][1:]),
            }
        answer = dict(row)
        if self.config.order_query_fulfillments:
            mine = [f for f in self.fulfillments.values() if f["orderId"] == row["orderId"]]
            answer["fulfillments"] = [_fulfillment(f, row) for f in mine]
        return answer

    def update(self, params: dict[str, str], request_seq: int | None) -> str:
        """``fulfillment/update``: the move applied, or Refusal."""
        target = (params.get("fulfillmentStatus") or "").strip().upper()
        order_id, fid = params.get("orderId"), params.get("fulfillmentId")
        if not order_id and not fid:
            raise Refusal("orderId or fulfillmentId is required")
        if target not in _API_MOVES:
            raise Refusal(f"Invalid fulfillmentStatus {target or '(none)'}")
        with self._lock:
            if fid:
                f = self.fulfillments.get(fid)
                if f is not None and order_id and f["orderId"] != order_id:
                    f = None
            else:
                f = self._current(order_id or "")
            if f is None:
                raise Refusal(NO_FULFILLMENTS)
            now_status = f["fulfillmentStatus"]
            if now_status not in _API_MOVES[target]:
                raise Refusal(
                    f"Fulfillment {f['fulfillmentId']} is {now_status}: "
                    f"it cannot be set to {target}"
                )
            changes: dict[str, Any] = {"fulfillmentStatus": target}
            tracking = (params.get("trackingNumber") or "").strip() or None
            if target == "SHIPPED":
                changes |= {"trackingNumber": tracking, "dateShipped": params.get("dateShipped")}
                if tracking and self.carrier_validation:
                    changes["fulfillmentStatus"] = "PENDING_SHIPMENT"
            self._move(f, changes, by="api", request_seq=request_seq)
        return "Fulfillment updated"

    def merchant(self, order_id: str, status: str, by: str = "merchant") -> dict[str, Any]:
        """A merchant-side (or carrier-side, ``by="carrier"``) change of an order's
        fulfillment; raises Refusal when it cannot happen from where it is."""
        status = status.strip().upper().replace(" ", "_")
        allowed = _CARRIER if by == "carrier" else _MERCHANT
        if status not in allowed:
            raise Refusal(f"{by} cannot set {status} (one of {sorted(allowed)})")
        with self._lock:
            f = self._current(order_id)
            if f is None:
                raise Refusal(NO_FULFILLMENTS)
            sources = allowed[status]
            if sources is not None and f["fulfillmentStatus"] not in sources:
                raise Refusal(f"{order_id} is {f['fulfillmentStatus']}: {by} cannot set {status}")
            return self._move(f, {"fulfillmentStatus": status}, by=by, request_seq=None)

    def tick(self, rng: random.Random, change_chance: float) -> None:
        """One step of merchant- and carrier-side life (the demo): a new order, and now and
        then a pending one cancelled by the merchant or a shipment confirmed by the carrier."""
        self.add_orders(1)
        if rng.random() >= change_chance:
            return
        with self._lock:
            current = [f for f in (self._current(o) for o in self.orders) if f is not None]
        pending = [f["orderId"] for f in current if f["fulfillmentStatus"] == "PENDING"]
        waiting = [f["orderId"] for f in current if f["fulfillmentStatus"] == "PENDING_SHIPMENT"]
        if waiting and rng.random() < 0.5:
            self.merchant(rng.choice(waiting), "SHIPPED", by="carrier")
        elif pending:
            self.merchant(rng.choice(pending), "CANCELLED")

    def _move(
        self, f: dict[str, Any], changes: dict[str, Any], *, by: str, request_seq: int | None
    ) -> dict[str, Any]:
        new = {**f, **changes}
        self.fulfillments[f["fulfillmentId"]] = new
        self._transitions.append(
            {
                "seq": len(self._transitions) + 1,
                "order_id": f["orderId"],
                "fulfillment_id": f["fulfillmentId"],
                "from": f["fulfillmentStatus"],
                "to": new["fulfillmentStatus"],
                "by": by,
                "time": self.clock(),
                "tracking_number": new.get("trackingNumber"),
                "request_seq": request_seq,
            }
        )
        return dict(new)


#: the fulfillment house's name in a fulfillment row (``company``)
_HOUSE = "rxfloor sandbox pharmacy"


def _fulfillment(f: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """A fulfillment as an Order Query row's ``fulfillments`` shows it (the keys of the
    captured answer in ``tests/contract/konnektive/test_pull.py``)."""
    status = f["fulfillmentStatus"]
    delivered = status == "DELIVERED"
    returned = status in ("RMA_PENDING", "RETURNED")
    items = [
        {
            "fulfillmentItemId": f"{f['fulfillmentId']}{n}",
            "name": i.get("name"),
            "sku": i.get("productSku"),
            "qty": str(i.get("qty")),
            "status": status,
            "rmaNumber": "",
        }
        for n, i in enumerate(order.get("items", {}).values(), start=1)
    ]
    return {
        "fulfillmentId": int(f["fulfillmentId"]),
        "fulfillmentHouseId": 1,
        "company": _HOUSE,
        "clientFulfillmentId": f"CF{int(f['fulfillmentId']):08d}",
        "trackingNumber": f.get("trackingNumber"),
        "dateShipped": f.get("dateShipped"),
        "dateDelivered": f.get("dateShipped") if delivered else None,
        "shipCarrier": "USPS" if f.get("trackingNumber") else None,
        "shipMethod": None,
        "responseText": None,
        "status": status,
        "dateReturned": f.get("dateShipped") if returned else None,
        "rmaNumber": f"RMA{f['fulfillmentId']}" if returned else None,
        "items": items,
        "dateCreated": f["dateCreated"],
    }


def _date(raw: str | None) -> str | None:
    """mm/dd/yyyy -> yyyy-mm-dd (compares as text), or None."""
    try:
        return datetime.strptime(raw or "", "%m/%d/%Y").strftime("%Y-%m-%d")
    except ValueError:
        return None


async def drive_activity(
    state: KonnektiveState, every_s: float = 4.0, *, seed: int = 0, change_chance: float = 0.15
) -> None:
    """Merchant-side life for the demo: every ``every_s`` seconds a :meth:`tick`."""
    rng = random.Random(seed)
    await every(every_s, lambda: state.tick(rng, change_chance), None)

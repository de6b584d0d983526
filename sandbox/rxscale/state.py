"""The stand-in's memory: orders, webhook subscriptions and the logs tests read back.

One :class:`RxScaleSandboxState` per app (``app.state.sandbox``). Every method takes one lock, so
the ASGI handlers, a demo activity thread and a test poking the state directly never see
half a change. Orders are plain JSON-ready dicts that are replaced, never mutated, so a
reader may keep one after the lock is released.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from rxfloor.core.lifecycle import DeliveryType, Priority
from rxfloor.core.models import NewOrder
from rxfloor.core.sample import sample_orders
from rxfloor.sandbox.kit.activity import every
from rxfloor.sandbox.kit.faults import BaseFaults, FaultBox, draw
from rxfloor.sandbox.kit.logs import Deliveries, Logs
from rxfloor.sandbox.kit.refusal import Refusal as Refusal
from rxfloor.sandbox.rxscale.dialects import (
    DIALECTS,
    Dialect,
    DialectName,
    external_status,
)

Permission = Literal["orders_read", "orders_write", "webhooks_read", "webhooks_write"]
ALL_PERMISSIONS: frozenset[Permission] = frozenset(
    {"orders_read", "orders_write", "webhooks_read", "webhooks_write"}
)
#: ``refuse``: a 409 as for a transition not allowed, nothing applied (asked for by name,
#: ``next``, never drawn at random: it is not a transport fault)
FaultKind = Literal[
    "server_error", "rate_limit", "drop_before", "drop_after", "slow", "malformed", "refuse"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "server_error",
    "rate_limit",
    "drop_before",
    "drop_after",
    "slow",
    "malformed",
)
EVENT_TYPES = ("pharmacy_order_created", "pharmacy_order_updated", "pharmacy_sku_stock_updated")


class KeyGrant(BaseModel):
    """What one API key may do. A ``group`` key sees every pharmacy of the group and must name
    one with ``pharmacy_uid``; any other key sees only the sandbox's own pharmacy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    permissions: frozenset[Permission] = ALL_PERMISSIONS
    group: bool = False


class FaultSettings(BaseFaults):
    """Injected faults. Each API request ``n`` (counted from the last settings change) draws
    its fault from ``Random(f"{fault_seed}/{n}")``, so one seed gives one fault sequence."""

    kinds: list[FaultKind] = Field(default_factory=lambda: list(FAULT_KINDS), min_length=1)
    #: only requests with these methods are faulted (None: every method)
    methods: list[str] | None = None
    #: how long a ``slow`` answer is held back (past the client's timeout)
    slow_s: float = Field(default=15.0, ge=0.0, le=600.0)
    #: the ``Retry-After`` of a 429 (injected, or the rate window's own wait); None: no
    #: header, as RxScale documents none (the client paces itself); set: a remote that says
    retry_after_s: int | None = Field(default=None, ge=0, le=3600)
    #: faults forced on the next requests, one each, before any random draw
    next: list[FaultKind] = Field(default_factory=list)
    #: a careless remote: every error answer quotes the X-API-Key it was sent (as sent and
    #: URL-encoded), to prove that no secret from a remote's words is ever shown or stored
    echo_key: bool = False

    @field_validator("methods")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return [m.upper() for m in value] if value is not None else None


class RxScaleSandboxConfig(BaseModel):
    """How to build a stand-in (``create_app(RxScaleSandboxConfig(...))``)."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = SecretStr("sandbox-key")
    #: more keys for tests (read-only keys for 403, group keys); ``api_key`` has every permission
    extra_keys: dict[str, KeyGrant] = Field(default_factory=dict)
    #: number of orders (status open, or v2's "waiting for pharmacy") created at start
    seed: int = Field(default=0, ge=0, le=1_000_000)
    #: randomness of the order content (same value, same orders)
    content_seed: int = 0
    dialect: DialectName = "v1"
    #: accepted API requests per second (sliding one-second window); None: unlimited
    rate_limit: float | None = Field(default=None, gt=0)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    pharmacy_uid: str = "ph-sandbox-0001"
    pharmacy_name: str = "Sandbox Pharmacy"
    #: a second pharmacy of the same group: only a group key sees its orders (others get 404)
    other_pharmacy_uid: str = "ph-sandbox-0002"
    other_pharmacy_orders: int = Field(default=0, ge=0, le=100_000)
    #: webhook delivery: timeout per attempt and the attempts made before giving up
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_attempts: int = Field(default=3, ge=1, le=10)
    #: v2: take a cancel of an order on hold. RxScale's docs do not say (the newer diagram
    #: draws no arrow from on-hold to cancelled, its text says "before completion"): the
    #: stand-in refuses by default, the stricter reading; True is the other one
    cancel_from_hold: bool = False


def _error(status_code: int, message: str, **extra: Any) -> Refusal:
    return Refusal(status_code, {"error": message, **extra})


@dataclass(slots=True)
class Event:
    """A webhook event waiting to be delivered (same body on every retry)."""

    event_type: str
    timestamp: int
    order: dict[str, Any]


@dataclass
class _RateWindow:
    limit: float
    stamps: deque[float] = field(default_factory=deque)


_PRIORITY = {Priority.STAT: 2, Priority.WAITER: 1, Priority.NORMAL: 0}
_DELIVERY = {
    DeliveryType.PICKUP: ("Abholung in der Apotheke", "pickup"),
    DeliveryType.SHIP: ("Versand DHL", "shipping"),
    DeliveryType.COURIER: ("Botendienst", "courier"),
}
_STREETS = ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße")
_CITIES = (("10115", "Berlin"), ("20095", "Hamburg"), ("50667", "Köln"), ("80331", "München"))
_DOCTORS = ("Dr. med. A. Wagner", "Dr. med. S. Yilmaz", "Dr. med. K. Nowak", "Dr. E. Becker")
#: keys only the detail call (and webhooks) carry
DETAIL_KEYS = ("patient_data", "doctor_data", "prescription_file", "prepaid")


class RxScaleSandboxState(Logs, Deliveries, FaultBox[FaultSettings]):
    """Orders, subscriptions, logs and live fault settings of one stand-in."""

    def __init__(
        self,
        config: RxScaleSandboxConfig,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.dialect: Dialect = DIALECTS[config.dialect]
        self.clock = clock  # wall time: order timestamps and logs
        self._monotonic = monotonic  # the rate limit's window
        self._lock = threading.Lock()
        self._wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        #: the webhook delivery task (owned by the app, see ``app._ensure_deliverer``)
        self.delivery_task: asyncio.Task[None] | None = None
        self.keys: dict[str, KeyGrant] = {
            config.api_key.get_secret_value(): KeyGrant(),
            **config.extra_keys,
        }
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Back to a fresh start: no logs, no subscriptions, the configured faults and rate
        limit, and ``seed`` (default: the configured number of) new orders."""
        with self._lock:
            self._rng = random.Random(self.config.content_seed)
            self._orders: dict[str, dict[str, Any]] = {}
            self._newest_first: list[str] | None = None  # list order, rebuilt after arrivals
            self._names = 5000  # "#5001"…: clear of the local sample orders (#1001…)
            self._requests: list[dict[str, Any]] = []
            self._transitions: list[dict[str, Any]] = []
            self._webhooks: dict[str, dict[str, Any]] = {}
            self._deliveries: list[dict[str, Any]] = []
            self._events: list[Event] = []
            self._faults = self.config.faults.model_copy(deep=True)
            self._fault_n = 0
            limit = self.config.rate_limit
            self._rate = _RateWindow(limit) if limit else None
        count = self.config.seed if seed is None else seed
        if count:
            self.add_orders(count, notify=False)
        if self.config.other_pharmacy_orders:
            other = self.config.other_pharmacy_uid
            self.add_orders(self.config.other_pharmacy_orders, pharmacy_uid=other, notify=False)

    @property
    def pharmacies(self) -> dict[str, str]:
        """uid -> display name of the pharmacies in the sandbox's group."""
        c = self.config
        return {c.pharmacy_uid: c.pharmacy_name, c.other_pharmacy_uid: "Sandbox Pharmacy (branch)"}

    # -- orders ---------------------------------------------------------------------------

    def add_orders(
        self,
        count: int,
        status: str | None = None,
        *,
        pharmacy_uid: str | None = None,
        notify: bool = True,
    ) -> list[dict[str, Any]]:
        """``count`` new orders with realistic content, arriving now (newest first in lists)."""
        status = status or self.dialect.initial
        if status not in self.dialect.statuses:
            raise _error(422, f"unknown status '{status}' in dialect {self.dialect.name}")
        pharmacy_uid = pharmacy_uid or self.config.pharmacy_uid
        if pharmacy_uid not in self.pharmacies:
            raise _error(422, f"unknown pharmacy '{pharmacy_uid}'")
        pharmacy = {"uid": pharmacy_uid, "display_name": self.pharmacies[pharmacy_uid]}
        with self._lock:
            now = self.clock()
            batch_seed = self._rng.randrange(2**31)
            stamp = datetime.fromtimestamp(now, UTC)
            made = []
            for new in sample_orders(count, batch_seed, stamp):
                self._names += 1
                uid = self._new_uid("po")
                order = self._wire(new, uid, f"#{self._names}", status, now, pharmacy)
                self._orders[uid] = order
                self._newest_first = None
                made.append(order)
                if notify:
                    self._emit("pharmacy_order_created", order, now)
            return made

    def _new_uid(self, prefix: str) -> str:
        while True:
            uid = f"{prefix}-{self._rng.randrange(16**10):010x}"
            if uid not in self._orders and uid not in self._webhooks:
                return uid

    def _wire(
        self,
        new: NewOrder,
        uid: str,
        name: str,
        status: str,
        now: float,
        pharmacy: dict[str, str],
    ) -> dict[str, Any]:
        """The order as the remote API sends it (docs/pages/sources/rxscale.md)."""
        rng = self._rng
        first, _, last = new.patient_name.partition(" ")
        postcode, city = rng.choice(_CITIES)
        address = {
            "first_name": first,
            "last_name": last,
            "street": rng.choice(_STREETS),
            "house_number": str(rng.randint(1, 120)),
            "zip_code": postcode,
            "city": city,
            "country": "DE",
            "phone": f"+49 30 {rng.randrange(10**7):07d}",
        }
        display, identifier = _DELIVERY[new.delivery_type]
        created = int(new.created_at.timestamp()) if new.created_at else int(now)
        items = []
        for item in new.items:
            unit = rng.randint(299, 4999)
            items.append(
                {
                    "uid": f"oi-{rng.randrange(16**10):010x}",
                    "amount": item.quantity,
                    "sku": {
                        "uid": item.sku,
                        "display_name": f"{item.drug} {item.strength}".strip(),
                        "pzn": item.pzn,
                    },
                    "total_paid_amount": unit * item.quantity,
                }
            )
        birth = f"{rng.randint(1935, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        prescription = f"%PDF-1.4\n% e-prescription {uid} for {new.patient_name}\n%%EOF\n"
        return {
            "uid": uid,
            "name": name,
            "shop_order_name": name,
            "status": status,
            "external_status": external_status(status),
            "comment": None,
            "created_at": created,
            "updated_at": int(now),
            "deleted_at": None,
            "pharmacy": pharmacy,
            "order": {
                "uid": f"o-{rng.randrange(16**10):010x}",
                "delivery_address": address,
                "invoice_address": dict(address),
                "priority": _PRIORITY[new.priority],
            },
            "delivery_type": None  # documented as nullable: some orders carry none
            if rng.random() < 0.05
            else {"uid": f"dt-{identifier}", "display_name": display, "identifier": identifier},
            "order_items": items,
            "patient_data": {
                "uid": f"pa-{rng.randrange(16**10):010x}",
                "display_name": new.patient_name,
                "email": f"{first.lower()}.{last.lower()}@example.org".replace(" ", ""),
                "date_of_birth": birth,
            },
            "doctor_data": {
                "display_name": rng.choice(_DOCTORS),
                "lanr": f"{rng.randrange(10**9):09d}",
            },
            "prescription_file": base64.b64encode(prescription.encode()).decode(),
            "prepaid": rng.random() < 0.6,
        }

    def get(self, uid: str, pharmacy_uid: str | None = None) -> dict[str, Any] | None:
        """The order, or None if unknown or (given ``pharmacy_uid``) of another pharmacy."""
        with self._lock:
            order = self._orders.get(uid)
        if order is None or (pharmacy_uid and order["pharmacy"]["uid"] != pharmacy_uid):
            return None
        return order

    def list_orders(
        self,
        page: int,
        limit: int,
        status: str | None = None,
        search: str | None = None,
        pharmacy_uid: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page (newest first) and the number of matching orders."""
        with self._lock:
            if self._newest_first is None:
                orders = self._orders
                self._newest_first = sorted(orders, key=lambda u: (-orders[u]["created_at"], u))
            rows = [self._orders[uid] for uid in self._newest_first]
        if pharmacy_uid is not None:
            rows = [o for o in rows if o["pharmacy"]["uid"] == pharmacy_uid]
        if status is not None:
            rows = [o for o in rows if o["status"] == status]
        if search:
            needle = search.casefold()
            rows = [o for o in rows if needle in _haystack(o)]
        start = page * limit
        return rows[start : start + limit], len(rows)

    def set_status(
        self,
        uid: str,
        target: str,
        *,
        by: Literal["api", "sandbox"],
        comment: str | None = None,
        request: dict[str, Any] | None = None,
        complete: bool = False,
        force: bool = False,
        pharmacy_uid: str | None = None,
    ) -> dict[str, Any]:
        """Apply a status change and log the transition.

        ``by="api"``: the dialect's rules for the pharmacy. ``by="sandbox"``: the remote side
        may set any status, except that a cancelled or completed order stays so unless
        ``force`` (tests that need an odd state).
        """
        d = self.dialect
        with self._lock:
            order = self._orders.get(uid)
            if order is None or (pharmacy_uid and order["pharmacy"]["uid"] != pharmacy_uid):
                raise _error(404, f"pharmacy order {uid} not found")
            current = order["status"]
            if target not in d.statuses:
                raise _error(
                    422,
                    f"unknown status '{target}'",
                    details=[{"field": "status", "message": f"must be one of {list(d.statuses)}"}],
                )
            if by == "api":
                if complete:
                    if current not in d.complete_from:
                        allowed = ", ".join(sorted(d.complete_from))
                        raise _error(
                            409, f"cannot complete an order in status '{current}' (only {allowed})"
                        )
                elif target not in d.patchable:
                    settable = sorted(d.patchable)
                    raise _error(
                        422,
                        f"status '{target}' cannot be set through the API",
                        details=[{"field": "status", "message": f"settable: {settable}"}],
                    )
                else:
                    why = d.refusal(current, target, comment)
                    if target == d.cancelled and current == d.hold and self.config.cancel_from_hold:
                        why = None
                    if why is not None:
                        code = 422 if "comment" in why else 409
                        raise _error(code, why)
            elif current == target:
                return order
            elif current in (d.cancelled, d.completed) and not force:
                raise _error(409, f"the order is already {current} (force to override)")
            now = self.clock()
            keep = comment.strip() if comment and comment.strip() else None
            order = {
                **order,
                "status": target,
                "external_status": external_status(target),
                "comment": keep if target == d.hold else None,
                "updated_at": int(now),
            }
            self._orders[uid] = order
            self._transitions.append(
                {
                    "seq": len(self._transitions) + 1,
                    "uid": uid,
                    "from": current,
                    "to": target,
                    "by": by,
                    "time": now,
                    "comment": keep,
                    "request_seq": request["seq"] if request else None,
                    "idempotency_key": request.get("idempotency_key") if request else None,
                }
            )
            self._emit("pharmacy_order_updated", order, now)
            return order

    def tick(self, rng: random.Random, cancel_chance: float = 0.15) -> dict[str, Any]:
        """One step of remote-side activity: usually a new order, now and then a cancel.

        Returns ``{"created": [uid…], "cancelled": [uid…]}`` for the caller's log.
        """
        done: dict[str, Any] = {"created": [], "cancelled": []}
        if rng.random() < cancel_chance:
            with self._lock:
                active = sorted(
                    uid for uid, o in self._orders.items() if o["status"] in self.dialect.active
                )
                in_work = [u for u in active if self._orders[u]["status"] == self.dialect.in_work]
            # half the cancels hit an order in work, so the demo shows the pharmacist's alert
            if in_work and rng.random() < 0.5:
                active = in_work
            if active:
                uid = rng.choice(active)
                self.set_status(uid, self.dialect.cancelled, by="sandbox")
                done["cancelled"].append(uid)
                return done
        done["created"] = [o["uid"] for o in self.add_orders(1)]
        return done

    # -- rate limit and faults ------------------------------------------------------------

    def admit(self) -> int | None:
        """None if the request is within the rate limit, else the Retry-After in seconds."""
        if self._rate is None:
            return None
        with self._lock:
            now = self._monotonic()
            stamps = self._rate.stamps
            while stamps and stamps[0] <= now - 1.0:
                stamps.popleft()
            if len(stamps) >= self._rate.limit:
                return max(1, math.ceil(stamps[0] + 1.0 - now))
            stamps.append(now)
            return None

    def draw_fault(self, method: str) -> FaultKind | None:
        """The fault for this API request, if any (reproducible from the fault seed)."""
        with self._lock:
            f = self._faults
            n = self._fault_n
            self._fault_n += 1
            if f.methods is not None and method.upper() not in f.methods:
                return None
            return draw(f.next, f.fail_rate, f.fault_seed, n, f.kinds)

    @property
    def rate_limit(self) -> float | None:
        with self._lock:
            return self._rate.limit if self._rate else None

    def set_rate_limit(self, limit: float | None) -> None:
        with self._lock:
            self._rate = _RateWindow(limit) if limit else None

    # -- webhooks -------------------------------------------------------------------------

    def subscribe(
        self, target: str, notification_type: str, pharmacy_uid: str | None = None
    ) -> dict[str, Any]:
        """A subscription to one event type for the orders of one pharmacy."""
        with self._lock:
            uid = self._new_uid("wh")
            sub: dict[str, Any] = {
                "uid": uid,
                "target": target,
                "notification_type": notification_type,
                "pharmacy_uid": pharmacy_uid or self.config.pharmacy_uid,
                "created_at": int(self.clock()),
                "signing_secret": "whsec_" + secrets.token_urlsafe(24),
            }
            self._webhooks[uid] = sub
            return dict(sub)

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {k: v for k, v in s.items() if k != "signing_secret"}
                for s in self._webhooks.values()
            ]

    def signing_secret(self, uid: str) -> str:
        with self._lock:
            secret: str = self._webhooks[uid]["signing_secret"]
            return secret

    def unsubscribe(self, uid: str) -> bool:
        with self._lock:
            return self._webhooks.pop(uid, None) is not None

    def _emit(self, event_type: str, order: dict[str, Any], now: float) -> None:
        """Queue an event (lock held) when someone subscribed to its type."""
        if not any(s["notification_type"] == event_type for s in self._webhooks.values()):
            return
        self._events.append(Event(event_type, int(now), order))
        if self._wakeup is not None:
            loop, wake = self._wakeup
            with contextlib.suppress(RuntimeError):  # that loop is gone; events wait
                loop.call_soon_threadsafe(wake.set)

    def take_events(self) -> list[tuple[Event, list[dict[str, Any]]]]:
        """Pending events, each with the subscriptions (incl. secrets) it goes to."""
        with self._lock:
            events, self._events = self._events, []
            subs = list(self._webhooks.values())
        return [(e, [dict(s) for s in subs if _wants(s, e)]) for e in events]

    def bind_wakeup(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._wakeup = (loop, wake)
            if self._events:
                loop.call_soon_threadsafe(wake.set)


def _wants(sub: dict[str, Any], event: Event) -> bool:
    return bool(
        sub["notification_type"] == event.event_type
        and sub["pharmacy_uid"] == event.order["pharmacy"]["uid"]
    )


def _haystack(order: dict[str, Any]) -> str:
    address = order["order"]["delivery_address"]
    patient = order.get("patient_data") or {}
    parts = [
        order["uid"],
        order["name"],
        address["first_name"],
        address["last_name"],
        patient.get("display_name", ""),
        *(item["sku"]["display_name"] for item in order["order_items"]),
    ]
    return " ".join(parts).casefold()


def list_view(order: dict[str, Any]) -> dict[str, Any]:
    """The order as the list call shows it (no patient, doctor or prescription)."""
    return {k: v for k, v in order.items() if k not in DETAIL_KEYS}


async def drive_activity(
    state: RxScaleSandboxState,
    every_s: float = 4.0,
    *,
    seed: int = 0,
    cancel_chance: float = 0.15,
    stop: asyncio.Event | None = None,
) -> None:
    """Remote-side life for the demo: every ``every_s`` seconds a :meth:`RxScaleSandboxState.tick`.

    Runs until cancelled or until ``stop`` is set.
    """
    rng = random.Random(seed)
    await every(every_s, lambda: state.tick(rng, cancel_chance), stop)

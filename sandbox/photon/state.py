"""The Photon stand-in's state: orders, the prescriber side's actions, the pharmacy's status
reports with their own rules, faults, webhook subscriptions, and the logs tests read.

Its rules are its own reading of Photon's docs, kept apart from the client's tables
(:mod:`rxfloor.core.sources.photon.mapping`) on purpose, and stricter where the docs are
silent: a report that does not move the order forward (a repeat, a step back) is refused
with 409; ``completed`` of a mail order only after ``shipped`` / ``out_for_delivery`` (of a
pickup order: picked up, its fulfillment PICKED_UP); ``ready`` is no status of the report
(400, as any unknown one); any
report on an order that is no longer placed at this pharmacy (rerouted, canceled, in
error, completed) is refused with 409; an unknown order is 404. Idempotency keys are logged
but not honoured (undocumented): a blind resend shows up twice in the transitions log.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rxfloor.sandbox.kit.activity import every
from rxfloor.sandbox.kit.faults import BaseFaults, FaultBox, draw
from rxfloor.sandbox.kit.logs import Deliveries, Logs
from rxfloor.sandbox.kit.refusal import Refusal as Refusal

#: ``refuse``: a 409 with :data:`REFUSED`, nothing applied (asked for by name, never part of
#: the random kinds: not a transport fault)
FaultKind = Literal[
    "drop_before", "drop_after", "server_error", "rate_limit", "slow", "malformed", "refuse"
]
#: the words of the ``refuse`` fault (a 409 as Photon refuses a report the order cannot take)
REFUSED = "order is being updated: report refused"
FAULT_KINDS: tuple[FaultKind, ...] = (
    "drop_before", "drop_after", "server_error", "rate_limit", "slow", "malformed",
)  # fmt: skip

REPORT_STATUSES = ("received", "in_progress", "shipped", "out_for_delivery", "completed",
                   "canceled", "error")  # fmt: skip

#: the stand-in's progress of a placed order's fulfillment (higher: further)
_RANK = {None: 0, "SENT": 0, "RECEIVED": 1, "FILLING": 2, "READY": 3, "SHIPPED": 4,
         "OUT_FOR_DELIVERY": 5, "DELIVERED": 6, "PICKED_UP": 6}  # fmt: skip
#: a report that moves the fulfillment: (its new state, its rank)
_REPORT_STATE = {"received": "RECEIVED", "in_progress": "FILLING", "shipped": "SHIPPED",
                 "out_for_delivery": "OUT_FOR_DELIVERY"}  # fmt: skip

_DRUGS = ("Amoxicillin 500 mg", "Sertraline 50 mg", "Lisinopril 10 mg", "Metformin 500 mg",
          "Atorvastatin 20 mg", "Levothyroxine 50 mcg", "Finasteride 1 mg")  # fmt: skip
#: a treatment's ``codes`` (Photon-Health/client ``packages/sdk/src/types.ts``
#: ``TreatmentCodes``: packageNDC, productNDC, rxcui, SKU, HCPCS); 11-digit package NDCs
#: without hyphens as Photon's own client compares them; the numbers are made up
_CODES = {
    drug: {
        "packageNDC": f"{60000 + n:05d}{1000 + n:04d}01",
        "productNDC": f"{60000 + n:05d}-{1000 + n:04d}",
        "rxcui": None,
        "SKU": None,
        "HCPCS": None,
    }
    for n, drug in enumerate(_DRUGS)
}
_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
          "Donald Knuth", "Frances Allen")  # fmt: skip
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, like Photon's ULIDs


class FaultSettings(BaseFaults):
    """Injected faults, drawn per API request ``n`` from ``Random(f"{fault_seed}/{n}")``."""

    kinds: list[FaultKind] = Field(default_factory=lambda: list(FAULT_KINDS), min_length=1)
    #: faults forced on the next requests, one each, before any random draw
    next: list[FaultKind] = Field(default_factory=list)
    #: only requests to these paths are faulted (None: both API paths)
    paths: list[str] | None = None
    slow_s: float = Field(default=15.0, ge=0.0, le=600.0)
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    #: every API request is answered with this HTTP error (e.g. 500, 401, 422), unapplied
    error_status: int | None = Field(default=None, ge=400, le=599)
    #: a careless remote: every error answer quotes the token it was sent
    echo_token: bool = False


class PhotonSandboxConfig(BaseModel):
    """How to build a stand-in (``create_app(PhotonSandboxConfig(...))``)."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr = SecretStr("photon-sandbox-token")
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    #: this pharmacy (the floor's ``[sources.photon] pharmacy_id``) and where reroutes go
    pharmacy_id: str = "phr_sandbox0000000001"
    pharmacy_name: str = "Sandbox Pharmacy"
    other_pharmacy_id: str = "phr_elsewhere00000002"
    other_pharmacy_name: str = "Elsewhere Drugs"
    organization: str = "org:org_sandbox"
    #: the Backend credential of the client-credentials flow (``POST /oauth/token``)
    client_id: str = "photon-sandbox-client"
    client_secret: SecretStr = SecretStr("photon-sandbox-client-secret")
    #: how long an issued machine token lasts (Photon: 24 h, ``expires_in: 86400``)
    token_lifetime_s: int = Field(default=86_400, ge=1, le=86_400 * 30)
    #: orders created and placed at this pharmacy at start
    seed: int = Field(default=0, ge=0, le=100_000)
    content_seed: int = 0
    webhook_attempts: int = Field(default=3, ge=1, le=10)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: subscribe this URL to every order event at start, signed with ``webhook_secret``
    webhook_url: str | None = None
    webhook_secret: SecretStr = SecretStr("sandbox-photon-secret")
    #: the fault settings at start (and after each reset)
    faults: FaultSettings = Field(default_factory=FaultSettings)


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    event_id: str
    event_type: str
    time: str
    order_id: str
    data: dict[str, Any]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PhotonSandboxState(Logs, Deliveries, FaultBox[FaultSettings]):
    """Everything the stand-in knows; thread-safe (one lock)."""

    def __init__(self, config: PhotonSandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.RLock()
        self.delivery_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        #: machine tokens issued by ``POST /oauth/token``: token -> expiry (kept over resets)
        self._issued: dict[str, float] = {}
        self.reset()

    # -- setup
    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            self._orders: dict[str, dict[str, Any]] = {}
            self._requests: list[dict[str, Any]] = []
            self._transitions: list[dict[str, Any]] = []
            self._deliveries: list[dict[str, Any]] = []
            self._events: list[Event] = []
            self._pending: list[Event] = []
            self._held = False
            self._duplicate = False
            self._subs: dict[str, dict[str, Any]] = {}
            self._faults = self.config.faults.model_copy(deep=True)
            self._fault_n = 0
            self._n = 0
            self._last_time = 0.0
            self._rng = random.Random(self.config.content_seed)
            if self.config.webhook_url:
                self.subscribe(
                    self.config.webhook_url, self.config.webhook_secret.get_secret_value()
                )
            count = self.config.seed if seed is None else seed
            for uid in self.create(count):
                self.place(uid)

    def _new_id(self, prefix: str) -> str:
        self._n += 1
        body = "".join(self._rng.choice(_ALPHABET) for _ in range(20))
        return f"{prefix}_01{body}{self._n:04d}"[: len(prefix) + 27]

    # -- machine tokens
    def issue_token(self, body: Any) -> dict[str, Any]:
        """``POST /oauth/token``: a machine token for the right client credentials."""
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            words = "grant_type must be client_credentials"
            raise Refusal(400, {"error": "unsupported_grant_type", "error_description": words})
        given = str(body.get("client_secret") or "")
        expected = self.config.client_secret.get_secret_value()
        if body.get("client_id") != self.config.client_id or not hmac.compare_digest(
            given.encode(), expected.encode()
        ):
            raise Refusal(401, {"error": "access_denied", "error_description": "Unauthorized"})
        token = "eyJ" + secrets.token_urlsafe(48)
        lifetime = self.config.token_lifetime_s
        with self._lock:
            now = self.clock()
            self._issued = {t: e for t, e in self._issued.items() if e > now}
            self._issued[token] = now + lifetime
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": "read:order write:order",
        }

    def token_valid(self, token: str) -> bool:
        """An issued machine token that has not expired."""
        with self._lock:
            expiry = self._issued.get(token)
        return expiry is not None and self.clock() < expiry

    # -- prescriber side
    def create(
        self, count: int = 1, *, fulfillment_type: str = "PICK_UP", pharmacy_id: str | None = None
    ) -> list[str]:
        """New orders for this pharmacy (or ``pharmacy_id``): ``photon:order:created``."""
        made = []
        with self._lock:
            for _ in range(count):
                uid = self._new_id("ord")
                drugs = [self._rng.choice(_DRUGS) for _ in range(self._rng.randint(1, 2))]
                fills = [
                    {
                        "id": self._new_id("fil"),
                        "treatment": {"name": drug, "codes": dict(_CODES[drug])},
                        "prescription": {"id": self._new_id("rx"), "externalId": None},
                    }
                    for drug in drugs
                ]
                now = self._tick()
                order: dict[str, Any] = {
                    "id": uid,
                    "externalId": f"EXT-{self._n:05d}",
                    "state": "PENDING",
                    "pharmacy": self._pharmacy(pharmacy_id or self.config.pharmacy_id),
                    "fulfillment": {
                        "type": fulfillment_type,
                        "state": None,
                        "carrier": None,
                        "trackingNumber": None,
                    },
                    "patient": {
                        "id": self._new_id("pat"),
                        "externalId": None,
                        "name": {"full": self._rng.choice(_NAMES)},
                    },
                    "fills": fills,
                    "createdAt": iso(now),
                    "reason": None,
                }
                self._orders[uid] = order
                data = {
                    "id": uid,
                    "externalId": order["externalId"],
                    "pharmacyId": order["pharmacy"]["id"],
                    "patient": {"id": order["patient"]["id"], "externalId": None},
                    "fills": [{"id": f["id"], "prescription": f["prescription"]} for f in fills],
                    "createdAt": order["createdAt"],
                }
                self._log_change(order, None, "PENDING", "prescriber", "created")
                self._emit("created", order, data, now)
                made.append(uid)
        return made

    def place(self, uid: str) -> dict[str, Any]:
        """Sent to the pharmacy it names: ``photon:order:placed``."""
        with self._lock:
            order = self._order(uid)
            if order["state"] not in ("PENDING", "ROUTING"):
                raise Refusal(409, {"error": f"order is {order['state']}, not pending"})
            self._set(order, "PLACED", "prescriber", "placed")
            # the pharmacy it is placed at, also when that is another one (an organisation's
            # subscription sees every pharmacy's orders)
            address = {"street1": "1 Sandbox Way", "street2": None, "city": "Brooklyn",
                       "state": "NY", "postalCode": "11201"}  # fmt: skip
            pharmacy = {**order["pharmacy"], "phone": "+15025550123", "address": address}
            self._emit("placed", order, self._base(order) | {"pharmacy": pharmacy})
            return self.view(order)

    def reroute(self, uid: str, to: str | None = None) -> dict[str, Any]:
        """The patient moves the order to another pharmacy (Placed -> Pending there):
        ``photon:order:rerouted`` with the new pharmacy."""
        with self._lock:
            order = self._order(uid)
            if order["state"] != "PLACED":
                raise Refusal(409, {"error": f"order is {order['state']}: cannot reroute"})
            order["pharmacy"] = self._pharmacy(to or self.config.other_pharmacy_id)
            order["fulfillment"] |= {"state": None, "carrier": None, "trackingNumber": None}
            self._set(order, "PENDING", "prescriber", "rerouted")
            pharmacy = {**order["pharmacy"], "address": {"city": "Brooklyn", "state": "NY"}}
            self._emit("rerouted", order, self._base(order) | {"pharmacy": pharmacy})
            return self.view(order)

    def cancel(self, uid: str) -> dict[str, Any]:
        """The provider cancels: ``photon:order:canceled``."""
        with self._lock:
            order = self._order(uid)
            if order["state"] in ("COMPLETED", "CANCELED"):
                raise Refusal(409, {"error": f"order is {order['state']}: cannot cancel"})
            self._set(order, "CANCELED", "prescriber", "canceled")
            self._emit("canceled", order, self._base(order))
            return self.view(order)

    def error(self, uid: str, reason: str = "insurance rejected the claim") -> dict[str, Any]:
        """Something went wrong at Photon: ``photon:order:error`` with its reason."""
        with self._lock:
            order = self._order(uid)
            order["reason"] = reason
            self._set(order, "ERROR", "prescriber", "error", comment=reason)
            self._emit("error", order, self._base(order) | {"reason": reason})
            return self.view(order)

    def deliver(self, uid: str) -> dict[str, Any]:
        """The carrier delivers a shipped order: ``photon:order:fulfillment`` DELIVERED."""
        with self._lock:
            order = self._order(uid)
            if order["fulfillment"]["state"] not in ("SHIPPED", "OUT_FOR_DELIVERY"):
                raise Refusal(409, {"error": "order is not shipped"})
            before = self._word(order)
            order["fulfillment"]["state"] = "DELIVERED"
            self._log_change(order, before, self._word(order), "prescriber", "delivered")
            self._emit("fulfillment", order, self._fulfillment_data(order))
            return self.view(order)

    # -- the pharmacy's report
    def report(
        self, body: Any, *, request_seq: int | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/hooks/pharmacy``: apply one status report or refuse it."""
        if not isinstance(body, dict):
            raise Refusal(400, {"error": "the body must be a JSON object"})
        status, uid = body.get("status"), body.get("order_id")
        if not isinstance(uid, str) or not uid:
            raise Refusal(400, {"error": "order_id is required"})
        if status not in REPORT_STATUSES:
            raise Refusal(400, {"error": f"unknown status {str(status)[:40]!r}"})
        carrier, tracking = body.get("carrier"), body.get("tracking_number")
        for name, value in (("carrier", carrier), ("tracking_number", tracking)):
            if value is not None and not isinstance(value, str):
                raise Refusal(400, {"error": f"{name} must be a string"})
        with self._lock:
            order = self._orders.get(uid)
            if order is None:
                raise Refusal(404, {"error": "order not found"})
            if order["pharmacy"]["id"] != self.config.pharmacy_id:
                raise Refusal(409, {"error": "order is no longer routed to this pharmacy"})
            if order["state"] != "PLACED":
                raise Refusal(409, {"error": f"order is {order['state']}"})
            f = order["fulfillment"]
            rank = _RANK.get(f["state"], 0)
            before = self._word(order)
            extra = {"carrier": carrier, "tracking_number": tracking,
                     "request_seq": request_seq, "idempotency_key": idempotency_key}  # fmt: skip
            if status in _REPORT_STATE:
                new = _REPORT_STATE[status]
                if _RANK[new] <= rank:
                    raise Refusal(409, {"error": f"order is already {f['state']}"})
                f["state"] = new
                if status in ("shipped", "out_for_delivery"):
                    f["carrier"] = carrier or f["carrier"]
                    f["trackingNumber"] = tracking or f["trackingNumber"]
                self._log_change(order, before, self._word(order), "pharmacy", status, **extra)
                self._emit("fulfillment", order, self._fulfillment_data(order))
            elif status == "completed":
                if f["type"] == "MAIL_ORDER" and rank < _RANK["SHIPPED"]:
                    raise Refusal(409, {"error": "completed only after shipped or delivered"})
                if f["type"] != "MAIL_ORDER":
                    f["state"] = "PICKED_UP"  # completed at the counter: the patient has it
                self._set(order, "COMPLETED", "pharmacy", status, **extra)
                self._emit("completed", order, self._base(order))
            elif status == "canceled":
                self._set(order, "CANCELED", "pharmacy", status, **extra)
                self._emit("canceled", order, self._base(order))
            else:
                order["reason"] = "reported by the pharmacy"
                self._set(order, "ERROR", "pharmacy", status, **extra)
                self._emit("error", order, self._base(order) | {"reason": order["reason"]})
            return {"order_id": uid, "status": status}

    # -- reads
    def get(self, uid: str) -> dict[str, Any] | None:
        with self._lock:
            order = self._orders.get(uid)
            return self.view(order) if order else None

    def view(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as ``order(id:)`` answers it (and the control endpoints show it)."""
        out = {k: v for k, v in order.items() if k != "reason"}
        out["fulfillment"] = dict(order["fulfillment"])
        out["fills"] = [dict(x) for x in order["fills"]]
        return out

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.view(o) for o in self._orders.values()]

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    # -- faults
    def draw_fault(self, path: str) -> FaultKind | None:
        with self._lock:
            f = self._faults
            n = self._fault_n
            self._fault_n += 1
            if f.paths is not None and path not in f.paths:
                return None
            return draw(f.next, f.fail_rate, f.fault_seed, n, f.kinds)

    # -- webhooks
    def subscribe(self, target: str, secret: str) -> dict[str, Any]:
        with self._lock:
            uid = f"whk_{len(self._subs) + 1:04d}"
            self._subs[uid] = {"uid": uid, "target": target, "secret": secret}
            return {"uid": uid, "target": target}

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._subs.values()]

    def set_delivery(self, *, hold: bool | None = None, duplicate: bool | None = None) -> None:
        """``hold``: queue events until :meth:`release`; ``duplicate``: send each twice."""
        with self._lock:
            if hold is not None:
                self._held = hold
            if duplicate is not None:
                self._duplicate = duplicate
        self._poke()

    def release(self, order: Literal["fifo", "reverse", "shuffle"] = "fifo", seed: int = 0) -> int:
        """Deliver what was held, in ``order`` (out of order on purpose)."""
        with self._lock:
            if order == "reverse":
                self._pending.reverse()
            elif order == "shuffle":
                random.Random(seed).shuffle(self._pending)
            self._held = False
            count = len(self._pending)
        self._poke()
        return count

    def take_events(self) -> list[tuple[Event, list[dict[str, Any]], int]]:
        """Events due for delivery, each with its subscriptions and how often to send it."""
        with self._lock:
            if self._held or not self._subs:
                return []
            events, self._pending = self._pending, []
            subs = list(self._subs.values())
            return [(e, subs, 2 if self._duplicate else 1) for e in events]

    def bind_wakeup(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._loop, self._wake = loop, wake
        self._poke()

    def tick(self, rng: random.Random, cancel_chance: float) -> None:
        """One step of prescriber-side life (the demo): a new order placed here, and now and
        then a placed one canceled by its provider."""
        (uid,) = self.create(1)
        self.place(uid)
        with self._lock:
            placed = [o["id"] for o in self._orders.values() if o["state"] == "PLACED"]
        if placed and rng.random() < cancel_chance:
            self.cancel(rng.choice(placed))

    # -- internals
    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def _tick(self) -> float:
        """Now, strictly after the last event's time (events of one order stay ordered)."""
        now = max(self.clock(), self._last_time + 0.001)
        self._last_time = now
        return now

    def _order(self, uid: str) -> dict[str, Any]:
        order = self._orders.get(uid)
        if order is None:
            raise Refusal(404, {"error": "order not found"})
        return order

    def _pharmacy(self, pid: str) -> dict[str, str]:
        name = (
            self.config.pharmacy_name
            if pid == self.config.pharmacy_id
            else self.config.other_pharmacy_name
        )
        return {"id": pid, "name": name}

    @staticmethod
    def _base(order: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": order["id"],
            "externalId": order["externalId"],
            "patient": {"id": order["patient"]["id"], "externalId": None},
        }

    def _fulfillment_data(self, order: dict[str, Any]) -> dict[str, Any]:
        return self._base(order) | {"fulfillment": dict(order["fulfillment"])}

    @staticmethod
    def _word(order: dict[str, Any]) -> str:
        state = order["state"]
        f = order["fulfillment"]["state"]
        return f"{state}/{f}" if state == "PLACED" and f else state

    def _set(self, order: dict[str, Any], state: str, by: str, what: str, **extra: Any) -> None:
        before = self._word(order)
        order["state"] = state
        self._log_change(order, before, self._word(order), by, what, **extra)

    def _log_change(
        self,
        order: dict[str, Any],
        before: str | None,
        after: str,
        by: str,
        what: str,
        **extra: Any,
    ) -> None:
        self._transitions.append(
            {
                "seq": len(self._transitions) + 1,
                "order_id": order["id"],
                "from": before,
                "to": after,
                "by": by,
                "what": what,
                "time": self.clock(),
            }
            | extra
        )

    def _emit(
        self, kind: str, order: dict[str, Any], data: dict[str, Any], now: float | None = None
    ) -> None:
        at = now if now is not None else self._tick()
        event = Event(
            len(self._events) + 1,
            self._new_id("evt")[4:],
            f"photon:order:{kind}",
            iso(at),
            order["id"],
            data,
        )
        self._events.append(event)
        self._pending.append(event)
        self._poke()


def envelope(event: Event, organization: str) -> dict[str, Any]:
    """The CloudEvents 1.0 body Photon sends for ``event``."""
    return {
        "id": event.event_id,
        "type": event.event_type,
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "time": event.time,
        "subject": event.order_id,
        "source": organization,
        "data": event.data,
    }


async def drive_activity(
    state: PhotonSandboxState, every_s: float = 4.0, *, seed: int = 0, cancel_chance: float = 0.15
) -> None:
    """Prescriber-side life for the demo: every ``every_s`` seconds a :meth:`tick`."""
    rng = random.Random(seed)
    await every(every_s, lambda: state.tick(rng, cancel_chance), None)

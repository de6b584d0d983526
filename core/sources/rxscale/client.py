"""The client of the remote pharmacy API (REMOTE_API.md): one pooled httpx client.

Everything about talking to the remote lives here: the tolerant wire models (both status
dialects, unknown fields kept out of the way), explicit timeouts, the client-side rate
limit, the retry policy, and the mapping of failures to three kinds a caller acts on:
:class:`TransientError` (try again later), :class:`PermanentError` (a person must look)
and :class:`AuthError` (the key is wrong: stop). The API key is only ever put in the
``X-API-Key`` header; no message built here contains it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action, DeliveryType, Priority, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.text import api_key_problem, register_secret, scrub

# -- status dialects ------------------------------------------------------------------------

V1_STATUSES = frozenset({"created", "open", "processing", "shipped", "completed", "cancelled"})
V2_STATUSES = frozenset(
    {"init", "waiting for pharmacy", "pending review", "on-hold", "in-progress",
     "ready_for_pickup", "completed", "cancelled"}
)  # fmt: skip
V2_ONLY = V2_STATUSES - V1_STATUSES
REMOTE_HOLD = "on-hold"

#: remote status -> board column (None: not shown; on-hold keeps the column, sets the flag)
BOARD_STATUS: dict[str, Status | None] = {
    "created": None,
    "init": None,
    "open": Status.OPEN,
    "waiting for pharmacy": Status.OPEN,
    "pending review": Status.OPEN,
    "processing": Status.PROCESSING,
    "in-progress": Status.PROCESSING,
    "shipped": Status.FINISHED,
    "ready_for_pickup": Status.FINISHED,
    "completed": Status.FINISHED,
    "cancelled": Status.CANCELLED,
}

#: Forward path of each dialect: the PATCH steps that take an order from one status to the
#: next. A local action is pushed as the steps from the remote's current status to its target.
_V1_PATH = ("open", "processing", "shipped", "completed")
_V2_PATH = ("waiting for pharmacy", "pending review", "in-progress", "ready_for_pickup",
            "completed")  # fmt: skip
_TARGET = {
    ("v1", Action.START): "processing",
    ("v1", Action.FINISH): "shipped",
    ("v1", Action.CANCEL): "cancelled",
    ("v2", Action.START): "in-progress",
    ("v2", Action.FINISH): "ready_for_pickup",
    ("v2", Action.CANCEL): "cancelled",
}


#: Statuses in which the remote may still change an order by itself (the poller lists these).
ACTIVE = {
    "v1": ("open", "processing"),
    "v2": ("waiting for pharmacy", "pending review", "on-hold", "in-progress"),
}


def dialect_of(remote_status: str) -> str:
    return "v2" if remote_status in V2_ONLY else "v1"


@dataclass(frozen=True, slots=True)
class PushPlan:
    """What pushing one local action needs, given the remote's current status."""

    done: bool  # the remote is already there (or past it): nothing to send
    stale: bool  # the remote moved where this action no longer applies (superseded)
    steps: tuple[str, ...]  # the PATCH status values to send, in order


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """Pure decision: which PATCH calls bring ``remote_status`` to the target of ``action``."""
    dialect = dialect_of(remote_status)
    target = _TARGET[(dialect, action)]
    path = _V1_PATH if dialect == "v1" else _V2_PATH
    if remote_status == target:
        return PushPlan(True, False, ())
    if remote_status == "completed" and action is Action.FINISH:
        return PushPlan(True, False, ())  # the service completes shipped orders by itself
    if remote_status in ("cancelled", "completed"):
        return PushPlan(False, True, ())
    if action is Action.CANCEL:
        return PushPlan(False, False, (target,))  # the remote says whether it may
    if remote_status == REMOTE_HOLD:
        return PushPlan(False, True, ())
    if remote_status not in path:
        return PushPlan(False, True, ())
    here, there = path.index(remote_status), path.index(target)
    if here > there:
        return PushPlan(True, False, ())  # already past (our earlier answer was lost)
    return PushPlan(False, False, path[here + 1 : there + 1])


# -- wire models (tolerant: unknown fields ignored, optional where the docs waver) ----------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RemoteSku(_Wire):
    uid: str = ""
    display_name: str = ""
    pzn: str | None = None


class RemoteItem(_Wire):
    uid: str = ""
    amount: int = 1
    sku: RemoteSku = Field(default_factory=RemoteSku)


class RemoteAddress(_Wire):
    first_name: str | None = None
    last_name: str | None = None


class RemoteOrderInfo(_Wire):
    uid: str | None = None
    delivery_address: RemoteAddress | None = None
    priority: int | None = 0


class RemoteDeliveryType(_Wire):
    identifier: str | None = None
    display_name: str | None = None


class RemotePatient(_Wire):
    display_name: str | None = None


class RemoteOrder(_Wire):
    """One pharmacy order as the API sends it (list, detail, PATCH answer or webhook)."""

    uid: str = Field(min_length=1, max_length=64)
    name: str | None = None
    shop_order_name: str | None = None
    status: str = Field(min_length=1)
    comment: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    order: RemoteOrderInfo | None = None
    delivery_type: RemoteDeliveryType | None = None
    order_items: list[RemoteItem] = Field(default_factory=list)
    patient_data: RemotePatient | None = None

    @field_validator("status")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def board_status(self) -> Status | None:
        return BOARD_STATUS.get(self.status)

    @property
    def on_hold(self) -> bool:
        return self.status == REMOTE_HOLD

    def to_new_order(self, board_status: Status) -> NewOrder:
        """The local form of a remote order seen for the first time."""
        info = self.order or RemoteOrderInfo()
        rank = info.priority or 0
        priority = Priority.STAT if rank >= 2 else Priority.WAITER if rank == 1 else Priority.NORMAL
        ident = (self.delivery_type.identifier or "") if self.delivery_type else ""
        delivery = {"shipping": DeliveryType.SHIP, "ship": DeliveryType.SHIP,
                    "courier": DeliveryType.COURIER}.get(ident, DeliveryType.PICKUP)  # fmt: skip
        patient = ""
        if self.patient_data and self.patient_data.display_name:
            patient = self.patient_data.display_name
        elif info.delivery_address:
            a = info.delivery_address
            patient = f"{a.first_name or ''} {a.last_name or ''}".strip()
        items = [
            LineItem(
                sku=(i.sku.uid or "?")[:64],
                drug=(i.sku.display_name or i.sku.uid or "item")[:128],
                quantity=max(1, i.amount),
                pzn=(i.sku.pzn or None) and str(i.sku.pzn)[:16],
            )
            for i in self.order_items
        ]
        created = datetime.fromtimestamp(self.created_at, UTC) if self.created_at else None
        return NewOrder(
            id=self.uid,
            name=(self.name or self.shop_order_name or self.uid)[:64],
            status=board_status,
            remote_status=self.status,
            priority=priority,
            delivery_type=delivery,
            patient_name=patient[:128],
            items=items,
            on_hold=self.on_hold,
            hold_reason=(self.comment or "on hold at the remote") if self.on_hold else None,
            created_at=created,
        )


class OrderPage(_Wire):
    data: list[dict[str, Any]] = Field(default_factory=list)
    total_registries: int = Field(default=0, alias="totalRegistries")
    total_pages: int = Field(default=0, alias="totalPages")


class WebhookEvent(_Wire):
    event_type: str
    timestamp: float
    data: dict[str, Any]


# -- errors -----------------------------------------------------------------------------------


class RemoteError(Exception):
    """A failed call; ``str()`` is one line for a person and never contains the API key
    (nor any other registered secret: the message is scrubbed here, whoever builds it)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(scrub(message))
        self.status_code = status_code


class TransientError(RemoteError):
    """Worth retrying: connect errors, timeouts, 429, 5xx, a malformed answer.

    ``maybe_applied`` is True when the request may have reached the remote and been
    applied although no answer came back (the caller reads the order back before retrying).
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        retry_after: float | None = None,
        maybe_applied: bool = True,
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class UnreachableError(TransientError):
    """The remote could not be reached at all (connection refused, no route): offline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_applied=False)


class PermanentError(RemoteError):
    """The remote refused (4xx other than 401/403/429): a person must decide."""


class AuthError(RemoteError):
    """The key is missing, wrong or lacks permission: nothing works until it is fixed."""


# -- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; Retry-After wins when the remote sends it."""

    base_s: float = 0.5
    cap_s: float = 60.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` >= 1)."""
        if retry_after is not None:
            return min(self.cap_s, max(0.0, retry_after))
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


class RateLimiter:
    """Paces every call of one client (thread-safe) and learns the remote's real rate.

    Requests are spread evenly at the *effective* rate, never above the configured ``rate``
    (with a small margin, ``HEADROOM``, so network jitter never pushes one request too many
    into the remote's sliding one-second window). A slot is only taken when it is due: a
    caller waiting for its turn re-checks after every sleep, so a ``Retry-After`` that
    arrives meanwhile (:meth:`pause`) holds back every caller, including those already
    waiting. The effective rate adapts (AIMD): a 429 lowers it to the rate the remote
    actually accepted over the last second (at most ``DECREASE`` of the current one), and
    each run of accepted requests (about five seconds' worth, at least ``INCREASE_EVERY``;
    four times as many near the rate of the last 429) raises it by ``INCREASE`` until it is
    back at the configured rate.
    """

    HEADROOM = 0.97
    WINDOW_S = 1.0
    DECREASE = 0.9  # a 429 lowers the rate at least this much (halved when nothing got through)
    INCREASE = 1.02
    INCREASE_EVERY = 10
    MIN_RATE = 0.1

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self.effective = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._accepted: deque[float] = deque()  # slot times of requests the remote took
        self._streak = 0
        self._lowered_at = float("-inf")  # slot time of the last decrease
        self._ceiling = float("inf")  # the effective rate when the last 429 came

    def acquire(self) -> float:
        """Wait for a slot; returns its time (give it back to :meth:`accepted` /
        :meth:`rate_limited`)."""
        while True:
            with self._lock:
                now = self._clock()
                if now >= self._next:
                    if self.effective:
                        self._next = now + 1.0 / (self.effective * self.HEADROOM)
                    return now
                wait = self._next - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """The remote said Retry-After: nobody sends before then (waiting callers too)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    def accepted(self, slot: float) -> None:
        """The remote took the request sent at ``slot`` (any answer but a 429)."""
        with self._lock:
            self._accepted.append(slot)
            self._trim()
            self._streak += 1
            if not (self.rate and self.effective and self.effective < self.rate):
                return
            # a step per ~5 s of accepted requests; four times slower near the last 429
            needed = max(self.INCREASE_EVERY, int(self.effective * 5))
            if self.effective >= self._ceiling * self.HEADROOM:
                needed *= 4
            if self._streak >= needed:
                self._streak = 0
                self.effective = min(self.rate, self.effective * self.INCREASE)
                if self.effective > self._ceiling * 1.1:
                    self._ceiling = float("inf")  # the remote takes more now

    def rate_limited(self, slot: float, retry_after: float | None) -> None:
        """The request sent at ``slot`` got a 429: pause everyone, lower the rate once per
        episode (requests already in flight when the rate was lowered do not lower it again)."""
        with self._lock:
            self._streak = 0
            now = self._clock()
            if slot > self._lowered_at:
                self._lowered_at = now
                self._trim()
                base = self.effective or self._observed_peak()
                # what the remote took in the window that ended with this request
                since = slot - self.WINDOW_S * 1.05
                observed = sum(1 for t in self._accepted if t > since) / self.WINDOW_S
                lowered = min(base * self.DECREASE, observed) if observed else base * 0.5
                self._ceiling = base
                self.effective = max(self.MIN_RATE, lowered)
            pause = retry_after if retry_after is not None else 1.0 / (self.effective or 1.0)
            self._next = max(self._next, now + pause)

    def _observed_peak(self) -> float:
        return max(1.0, len(self._accepted) / self.WINDOW_S)

    def _trim(self) -> None:
        horizon = self._clock() - 2 * self.WINDOW_S
        while self._accepted and self._accepted[0] <= horizon:
            self._accepted.popleft()


# -- the client -------------------------------------------------------------------------------


class RemoteClient:
    """Calls of the documented API. Each call is one HTTP request (no hidden retries here:
    the sync worker decides, because only it knows whether a lost answer matters)."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        *,
        timeout_s: float = 10.0,
        rate_limit_per_s: float | None = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("no API URL: set RXFLOOR_API_URL")
        if api_key is None or not api_key.get_secret_value():
            raise ValueError("no API key: set RXFLOOR_API_KEY or store it in the OS keyring")
        key = api_key.get_secret_value()
        register_secret(key)  # whatever the remote echoes of it is scrubbed from then on
        problem = api_key_problem(key)
        if problem is not None:
            raise ValueError(f"the API key {problem}")
        self.base_url = base_url.rstrip("/")
        self.limiter = RateLimiter(rate_limit_per_s)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"X-API-Key": key, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls
    def health(self) -> None:
        self._call("GET", "health/")

    def list_page(self, page: int, limit: int = 200, status: str | None = None) -> OrderPage:
        params: dict[str, Any] = {"page": page, "limit": limit}
        if status:
            params["status"] = status
        body = self._call("GET", "pharmacy_orders/", params=params)
        try:
            return OrderPage.model_validate(body)
        except ValidationError as exc:
            raise TransientError(f"malformed order list from the remote: {_short(exc)}") from None

    def iter_orders(
        self, limit: int = 200, status: str | None = None
    ) -> Iterator[RemoteOrder | str]:
        """Every remote order (of ``status``), page by page; a malformed entry is yielded as
        its error line."""
        page = 0
        while True:
            result = self.list_page(page, limit, status)
            for raw in result.data:
                try:
                    yield RemoteOrder.model_validate(raw)
                except ValidationError as exc:
                    yield f"malformed order {raw.get('uid', '?')!r}: {_short(exc)}"
            page += 1
            if page >= result.total_pages or not result.data:
                return

    def get_order(self, uid: str) -> RemoteOrder:
        return self._order(self._call("GET", f"pharmacy_orders/{uid}"))

    def set_status(
        self, uid: str, status: str, *, comment: str | None = None, idempotency_key: str
    ) -> RemoteOrder:
        body: dict[str, Any] = {"status": status}
        if comment:
            body["comment"] = comment
        answer = self._call(
            "PATCH",
            f"pharmacy_orders/{uid}/status",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return self._order(answer)

    # -- plumbing
    def _order(self, body: Any) -> RemoteOrder:
        try:
            return RemoteOrder.model_validate(body)
        except ValidationError as exc:
            raise TransientError(f"malformed order from the remote: {_short(exc)}") from None

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        slot = self.limiter.acquire()
        sends = method != "GET"
        try:
            response = self._http.request(method, path, **kw)
        except httpx.ConnectError:
            raise UnreachableError(f"cannot reach the remote at {self.base_url}") from None
        except httpx.TimeoutException:
            raise TransientError(
                f"the remote did not answer {method} in time", maybe_applied=sends
            ) from None
        except httpx.HTTPError as exc:  # dropped connection, protocol error
            raise TransientError(
                f"connection to the remote failed during {method}: {type(exc).__name__}",
                maybe_applied=sends,
            ) from None
        code = response.status_code
        if code == 429:
            # certainly not applied: everyone backs off and the client learns the real rate
            self.limiter.rate_limited(slot, _retry_after(response.headers.get("Retry-After")))
        else:
            self.limiter.accepted(slot)
        if code == 429 or code >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and code != 429:
                self.limiter.pause(retry_after)
            raise TransientError(
                f"remote answered {code}: {_message(response)}",
                code,
                retry_after=retry_after,
                maybe_applied=code >= 500 and sends,
            )
        if code in (401, 403):
            raise AuthError(f"the remote refused the API key ({code}): {_message(response)}", code)
        if code >= 400:
            raise PermanentError(f"remote refused ({code}): {_message(response)}", code)
        if code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"malformed JSON from the remote ({method} {code})", code, maybe_applied=sends
            ) from None


def client_from_settings(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> RemoteClient:
    """The client the configuration describes (URL, key from env or keyring, limits)."""
    return RemoteClient(
        settings.api_url or "",
        settings.resolved_api_key(),
        timeout_s=settings.http_timeout_s,
        rate_limit_per_s=settings.rate_limit_per_s,
        transport=transport,
    )


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    """The server's own words: ``error``, or ``description``/``code``; else the reason.

    Scrubbed of the key the request carried (a careless remote may quote it) before it is
    cut to length, so a cut can never leave part of the key behind.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    try:
        sent = response.request.headers.get("X-API-Key")
    except RuntimeError:  # a response built by hand (tests) has no request
        sent = None
    if isinstance(body, dict):
        for key in ("error", "description", "message", "detail", "code"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return scrub(value.strip(), [sent]).splitlines()[0][:300]
    return scrub(response.reason_phrase, [sent]) or "no message"


def _short(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"

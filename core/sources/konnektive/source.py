"""Konnektive CRM as an :class:`~rxfloor.core.sources.base.OrderSource`: the pharmacy as
its fulfillment house.

Pull: the Order Query API over a date window (``lookback_days`` back to tomorrow, so an
account in a timezone ahead of UTC loses nothing); each order row carries its
``fulfillments`` (status, tracking). Only where an answer carries no ``fulfillments`` key
is the Fulfillment Query API (on no public page) asked over the same window. An order no
longer listed (older than the window) is read back by id. Push: the Update Fulfillment API
by ``orderId``, then the order is read back (the update answers only SUCCESS).

What a move sends is decided in :mod:`.plan` (no I/O); this module sends it. Konnektive has
no "in progress": a start and a hold stay local (the service queues nothing for them:
``remote_start`` / ``remote_hold`` are False). After a finish (``SHIPPED``) Konnektive shows
Pending Shipment until a carrier confirms (or Shipped at once when its carrier check is
off). There is no idempotency key: a lost answer is settled by the worker's
read-back, never by a blind resend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.base import (
    PermanentError,
    PushPlan,
    WebhookEvent,
    read_after_write,
)
from rxfloor.core.sources.http import short
from rxfloor.core.sources.konnektive import mapping, plan
from rxfloor.core.sources.konnektive.client import KonnektiveClient
from rxfloor.core.sources.konnektive.wire import NAME, Fulfillment, KonnektiveOrder, OrderDetail


class NoWebhooks:
    """Konnektive delivers no events to a fulfillment house (it is polled): every request
    to its webhook path is refused unread, whatever it carries."""

    signature_header = "X-Konnektive-Signature"

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return False

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        raise ValueError("Konnektive sends no webhooks to a fulfillment house")


WEBHOOKS = NoWebhooks()


class KonnektiveSource:
    """The API through one :class:`KonnektiveClient` (thread-safe: no state of its own
    changes after construction)."""

    name = NAME
    webhooks = WEBHOOKS

    def __init__(
        self,
        client: KonnektiveClient,
        *,
        lookback_days: int = 30,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.lookback_days = lookback_days
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> KonnektiveSource:
        """The source ``[sources.konnektive]`` describes, the API user from the environment
        or the keyring. Raises :class:`ValueError` naming what is missing or malformed."""
        from rxfloor.core.sources.konnektive.plugin import api_url, credentials

        section = settings.sources.konnektive
        login_id, password = credentials(settings)
        client = KonnektiveClient(
            api_url(settings) or "",
            login_id,
            password,
            timeout_s=section.http_timeout_s or settings.http_timeout_s,
            rate_limit_per_s=section.rate_limit_per_s,
            transport=transport,
        )
        return cls(client, lookback_days=section.lookback_days)

    @property
    def rate_limit_per_s(self) -> float | None:
        return self.client.limiter.rate

    def active_statuses(self) -> tuple[str, ...]:
        return mapping.ACTIVE

    def window(self) -> dict[str, str]:
        """``startDate`` / ``endDate`` (mm/dd/yyyy) of a listing."""
        today = self._clock().date()
        start = today - timedelta(days=self.lookback_days)
        end = today + timedelta(days=1)
        return {"startDate": start.strftime("%m/%d/%Y"), "endDate": end.strftime("%m/%d/%Y")}

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[KonnektiveOrder | str]:
        """Every order of the window that has a fulfillment (Konnektive's Order Query does
        not filter by fulfillment status, so ``active`` lists the same: the worker reads
        back its active orders the window no longer holds)."""
        window = self.window()
        bare: dict[str, OrderDetail] = {}  # rows without a fulfillments key
        for raw in self.client.orders(window, page_size):
            try:
                detail = OrderDetail.model_validate(raw)
            except ValidationError as exc:
                yield f"malformed Konnektive order {_raw_id(raw)!r}: {short(exc)}"
                continue
            if detail.fulfillments is None:
                bare[detail.order_id] = detail
            elif detail.fulfillments:
                yield KonnektiveOrder(detail.order_id, detail, detail.fulfillments)
        if bare:
            yield from self._joined(window, page_size, bare)

    def _joined(
        self, window: dict[str, str], page_size: int, details: dict[str, OrderDetail]
    ) -> Iterator[KonnektiveOrder | str]:
        """The fallback: the window's Fulfillment Query rows joined to these orders."""
        by_order: dict[str, list[Fulfillment]] = defaultdict(list)
        for raw in self.client.fulfillments(window, page_size):
            try:
                f = Fulfillment.model_validate(raw)
            except ValidationError as exc:
                yield f"malformed Konnektive fulfillment {_raw_id(raw)!r}: {short(exc)}"
                continue
            if f.order_id in details:
                by_order[f.order_id].append(f)
        for order_id, fulfillments in by_order.items():
            yield KonnektiveOrder(order_id, details[order_id], fulfillments)

    def get_order(self, uid: str) -> KonnektiveOrder:
        detail, fulfillments = self.client.order(uid)
        if detail is None and not fulfillments:
            raise PermanentError(f"order {uid} is not in Konnektive (no orders matching)")
        return KonnektiveOrder(uid, detail, fulfillments)

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return plan.plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: Mapping[str, Any] | None = None,
    ) -> KonnektiveOrder:
        """One Update Fulfillment call, then the fulfillments read back. ``reason`` and
        ``idempotency_key`` have no place in Konnektive's API (see the module docstring)."""
        update = plan.fulfillment_update(step, payload, self._clock())
        self.client.update_fulfillment(
            uid,
            update.status,
            tracking_number=update.tracking_number,
            date_shipped=update.date_shipped,
        )
        done = f"Konnektive accepted {step} for {uid}"
        detail, fulfillments = read_after_write(lambda: self.client.order(uid), done)
        return KonnektiveOrder(uid, detail, fulfillments)

    def close(self) -> None:
        self.client.close()


def _raw_id(raw: Any) -> str:
    if isinstance(raw, dict):
        return str(raw.get("orderId") or raw.get("fulfillmentId") or "?")
    return "?"

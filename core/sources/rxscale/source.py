"""RxScale as an :class:`~rxfloor.core.sources.base.OrderSource`: the client, its dialect
and its webhooks behind the protocol the sync engine knows.

The dialect (v1 or v2 statuses) comes from the configuration (``[sources.rxscale]
dialect``) or, when that is unset, from the statuses this source reads: the first v2-only
status it sees makes it v2 for good; statuses seen and none v2-only make it v1. Until it has
read any order it cannot tell, and the worker lists everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.base import PermanentError, PushPlan, WebhookEvent
from rxfloor.core.sources.rxscale import mapping
from rxfloor.core.sources.rxscale.client import RxScaleClient
from rxfloor.core.sources.rxscale.mapping import (
    ACTIVE,
    COMPLETE,
    HAND_OFF,
    TAKES_REASON,
    V2_ONLY,
    DialectName,
)
from rxfloor.core.sources.rxscale.wire import RxScaleOrder, WebhookEnvelope

NAME = "rxscale"
CANCELLED = "cancelled"


def signature_ok(secret: bytes, body: bytes, given: str | None) -> bool:
    """``X-Webhook-Signature`` check: hex HMAC-SHA256 of the raw body, constant-time."""
    if not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


class RxScaleWebhooks:
    """RxScale's deliveries: HMAC-signed JSON envelopes carrying one order each.

    The stand-in signs with its own code (``sandbox.sign``), not this check, for the same
    reason its lifecycle is its own: see :mod:`.mapping`.
    """

    signature_header = "X-Webhook-Signature"

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return signature_ok(secret, body, headers.get(self.signature_header))

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The envelope carries everything (RxScale sends no event id: dedupe by hash)."""
        raw = json.loads(body)
        envelope = WebhookEnvelope.model_validate(raw)
        order = RxScaleOrder.model_validate(envelope.data)
        return WebhookEvent(envelope.event_type, envelope.timestamp, order, raw)


WEBHOOKS = RxScaleWebhooks()


#: a refusal's words that name the hold ("cannot change status from 'on-hold' …")
_ON_HOLD = re.compile(r"\bon[- ]?hold\b", re.IGNORECASE)


def _cancel_refused_on_hold(refused: PermanentError) -> PermanentError:
    """A cancel RxScale refused because it holds the order, in words a person can act on.
    Its docs do not say whether an order on hold can be cancelled (the newer diagram draws
    no such arrow; its text says "before completion"), so the cancel is sent and either
    answer taken; a refusal is read back, sent once more and parked like any other, with
    this sentence and RxScale's own words. (Recognised by those words: no extra read, so
    the requests a refusal costs stay what they were.)"""
    return PermanentError(
        "the order is on hold in RxScale, which refused the cancel while it holds it: "
        "release the hold in RxScale (or ask RxScale to cancel the order), then retry. "
        f"RxScale said: {refused}",
        refused.status_code,
        conflict=refused.conflict,
    )


def ships(order: RxScaleOrder) -> bool:
    """The order leaves by carrier (``delivery_type.identifier`` shipping / ship)."""
    ident = (order.delivery_type.identifier or "") if order.delivery_type else ""
    return ident.strip().lower() in ("shipping", "ship")


class RxScaleSource:
    """The RxScale API through one :class:`RxScaleClient` (thread-safe: the client pools its
    connections; the dialect, once learnt, only ever changes from unknown or v1 to v2)."""

    name = NAME
    webhooks = WEBHOOKS

    def __init__(self, client: RxScaleClient, *, dialect: DialectName | None = None) -> None:
        self.client = client
        self._configured = dialect
        self._dialect: DialectName | None = dialect

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> RxScaleSource:
        """The source the configuration describes (URL, key from env or keyring, limits).

        Raises :class:`ValueError` (no URL, no key) or ``ConfigError`` (a malformed key).
        """
        from rxfloor.core.sources.rxscale.plugin import rxscale_settings

        section = rxscale_settings(settings)
        client = RxScaleClient(
            section.api_url or "",
            settings.resolved_api_key(),
            timeout_s=section.http_timeout_s,
            rate_limit_per_s=section.rate_limit_per_s,
            transport=transport,
        )
        return cls(client, dialect=section.dialect)

    @property
    def dialect(self) -> DialectName | None:
        return self._dialect

    @property
    def rate_limit_per_s(self) -> float | None:
        return self.client.limiter.rate

    def active_statuses(self) -> tuple[str, ...] | None:
        return None if self._dialect is None else ACTIVE[self._dialect]

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[RxScaleOrder | str]:
        statuses = self.active_statuses() if active else None
        for status in statuses or (None,):
            for item in self.client.iter_orders(page_size, status):
                if not isinstance(item, str):
                    self._learn(item.status)
                yield item

    def get_order(self, uid: str) -> RxScaleOrder:
        return self._learn_from(self.client.get_order(uid))

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return mapping.plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None = None,
    ) -> RxScaleOrder:
        """RxScale's PATCH carries the status and the comment; ``payload`` has nothing for it.

        :data:`~mapping.COMPLETE` reads the order first (a read changes nothing): it is sent
        only for an order that ships and stands at ``ready_for_pickup``; otherwise the order
        is answered as it is (picked up: completed at its hand-off; completed already: done)."""
        if step == HAND_OFF:  # the patient has it: completed, whatever the delivery
            return self._learn_from(
                self.client.complete_order(uid, idempotency_key=idempotency_key)
            )
        if step == COMPLETE:
            order = self.get_order(uid)
            if order.status != "ready_for_pickup" or not ships(order):
                return order
            return self._learn_from(
                self.client.complete_order(uid, idempotency_key=idempotency_key)
            )
        comment = reason if step in TAKES_REASON else None
        try:
            answer = self.client.set_status(
                uid, step, comment=comment, idempotency_key=idempotency_key
            )
        except PermanentError as exc:
            if step == CANCELLED and _ON_HOLD.search(str(exc)):
                raise _cancel_refused_on_hold(exc) from None
            raise
        return self._learn_from(answer)

    def close(self) -> None:
        self.client.close()

    def _learn_from(self, order: RxScaleOrder) -> RxScaleOrder:
        self._learn(order.status)
        return order

    def _learn(self, status: str) -> None:
        if self._configured is not None or self._dialect == "v2":
            return
        if status in V2_ONLY:
            self._dialect = "v2"
        elif self._dialect is None:
            self._dialect = "v1"

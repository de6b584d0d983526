"""What a move needs from Konnektive, decided without I/O: which Update Fulfillment calls
take a fulfillment where the move leads (:func:`plan_push`), and what one call carries
(:func:`fulfillment_update`). :mod:`.source` only sends them and reads the answer back.

Konnektive has no "in progress": a start and a hold stay local. A finish sends ``SHIPPED``
with the move's tracking number and the day's ``dateShipped``; a cancel sends
``CANCELLED`` (the API takes no reason: the pharmacist's stays in our audit trail).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.base import PushPlan
from rxfloor.core.sources.konnektive import mapping

#: statuses at or past a finish (the fulfillment left the pharmacy)
_SHIPPED_OR_LATER = frozenset(
    {
        mapping.PENDING_SHIPMENT,
        mapping.SHIPPED,
        mapping.DELIVERED,
        mapping.RMA_PENDING,
        mapping.RETURNED,
    }
)
_NOTHING = PushPlan(done=False, stale=False, steps=())


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """The Update Fulfillment calls that take a fulfillment in ``remote_status`` where
    ``action`` leads: none when it is there already (``done``) or past where the move
    could take it (``stale``)."""
    status = mapping.normalise(remote_status)
    shipped = status in _SHIPPED_OR_LATER
    if action is Action.CANCEL:
        if status == mapping.CANCELLED:
            return PushPlan(done=True, stale=False, steps=())
        if shipped:
            return PushPlan(done=False, stale=True, steps=())
        return PushPlan(done=False, stale=False, steps=(mapping.STEP_CANCEL,))
    if action is Action.FINISH:
        if shipped:
            return PushPlan(done=True, stale=False, steps=())
        if status == mapping.CANCELLED:
            return PushPlan(done=False, stale=True, steps=())
        return PushPlan(done=False, stale=False, steps=(mapping.STEP_SHIP,))
    return _NOTHING  # a start or hold queued before they were local: settled without a call


def tracking_number(payload: Mapping[str, Any] | None) -> str | None:
    """The tracking number a finish carries: ``{"number": …}`` or ``{"tracking": {…}}``."""
    if not payload:
        return None
    inner = payload.get("tracking", payload)
    number = inner.get("number") if isinstance(inner, Mapping) else None
    return str(number).strip() or None if number else None


@dataclass(frozen=True)
class FulfillmentUpdate:
    """One Update Fulfillment call: the status sent, and for a shipment its tracking number
    and ship date (mm/dd/yyyy)."""

    status: str
    tracking_number: str | None = None
    date_shipped: str | None = None


def fulfillment_update(
    step: str, payload: Mapping[str, Any] | None, now: datetime
) -> FulfillmentUpdate:
    """What the call for ``step`` sends (``now``: the day a shipment is dated)."""
    if step != mapping.STEP_SHIP:
        return FulfillmentUpdate(step)
    return FulfillmentUpdate(step, tracking_number(payload), now.strftime("%m/%d/%Y"))

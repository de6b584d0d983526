"""Pydantic models at the core's boundaries: new orders in, order views and events out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from rxfloor.core.lifecycle import DeliveryType, Priority, Status


class OutboxState(StrEnum):
    """Where one queued move stands on its way to the remote (``outbox.state``)."""

    PENDING = "pending"  # waiting to be sent (or sent again after a transient failure)
    SENDING = "sending"  # claimed by a pusher: its PATCH may be on the wire
    SENT = "sent"
    FAILED = "failed"  # refused by the remote (or diverged from it): a person must look
    SUPERSEDED = "superseded"  # made stale by a remote change (or resolved by hand)
    UNDONE = "undone"  # taken back before it was sent: never sent


#: States of a row still on its way: the push queue (a failed row blocks its order).
UNSETTLED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    drug: str = Field(min_length=1, max_length=128)
    strength: str = Field(default="", max_length=64)
    quantity: int = Field(default=1, ge=1)
    pzn: str | None = Field(default=None, max_length=16)

    @property
    def label(self) -> str:
        text = f"{self.drug} {self.strength}".strip()
        return f"{self.quantity}x {text}" if self.quantity != 1 else text


def items_summary(items: list[LineItem], width: int = 256) -> str:
    """One line for a card: ``Amoxicillin 500 mg, 2x Ibuprofen 400 mg``."""
    summary = ", ".join(item.label for item in items)
    return summary if len(summary) <= width else summary[: width - 1] + "…"


class NewOrder(BaseModel):
    """An order entering the local store (seeded, pulled from the remote, or typed in)."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    status: Status = Status.OPEN
    remote_status: str | None = None
    priority: Priority = Priority.NORMAL
    delivery_type: DeliveryType = DeliveryType.PICKUP
    patient_name: str = Field(default="", max_length=128)
    items: list[LineItem] = Field(default_factory=list)
    due_at: AwareDatetime | None = None
    fulfill_at: AwareDatetime | None = None
    on_hold: bool = False
    hold_reason: str | None = None
    sample: bool = False
    created_at: AwareDatetime | None = None

    @field_validator("hold_reason")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None


class OrderView(BaseModel):
    """An order as read back (CLI JSON, detail view).

    ``sync_error`` is not a column of the order: it is the message of the order's parked
    (``failed``) outbox row, the one home of that fact, passed in by whoever read the row.
    """

    id: str
    name: str
    status: Status
    remote_status: str | None
    priority: Priority
    delivery_type: DeliveryType
    patient_name: str
    items_summary: str
    due_at: datetime | None
    fulfill_at: datetime | None
    hold: bool
    hold_reason: str | None
    hold_by: str | None
    hold_since: datetime | None
    sample: bool
    sync_error: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    status_since: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, sync_error: str | None) -> OrderView:
        data = dict(row)
        data["hold"] = data.pop("on_hold")
        data["sync_error"] = sync_error
        return cls.model_validate(data)


class AuditEvent(BaseModel):
    id: int
    order_id: str
    at: datetime
    actor: str
    station: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    source: str
    version: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEvent:
        return cls.model_validate(dict(row))


def initials(name: str) -> str:
    """Patient initials for a card (the full name is only shown in the detail view)."""
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0].upper() for p in parts[:3]) or "?"

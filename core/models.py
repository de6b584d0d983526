"""Pydantic models at the core's boundaries: new orders in, order views and events out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from rxfloor.core import sources
from rxfloor.core.lifecycle import DeliveryType, Priority, Status
from rxfloor.core.states import CANCELLATION as CANCELLATION
from rxfloor.core.states import UNSETTLED as UNSETTLED
from rxfloor.core.states import OutboxState as OutboxState
from rxfloor.core.states import initials as initials


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    drug: str = Field(min_length=1, max_length=128)
    strength: str = Field(default="", max_length=64)
    quantity: int = Field(default=1, ge=1)
    pzn: str | None = Field(default=None, max_length=16)
    #: the number of the pack's barcode where the source gives one beside its SKU (a
    #: Shopify variant's ``barcode``: a GTIN, EAN, UPC): a scan of the pack matches it
    barcode: str | None = Field(default=None, max_length=64)

    @property
    def label(self) -> str:
        text = f"{self.drug} {self.strength}".strip()
        return f"{self.quantity}x {text}" if self.quantity != 1 else text


def items_summary(items: list[LineItem], width: int = 256) -> str:
    """One line for a card: ``Amoxicillin 500 mg, 2x Ibuprofen 400 mg``."""
    summary = ", ".join(item.label for item in items)
    return summary if len(summary) <= width else summary[: width - 1] + "…"


class Tracking(BaseModel):
    """What a finish tells the source about the parcel (a scanner types the number)."""

    model_config = ConfigDict(frozen=True)

    company: str | None = Field(default=None, max_length=128)
    number: str = Field(min_length=1, max_length=128)
    url: str | None = Field(default=None, max_length=2048)

    @field_validator("company", "url", "number", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value


class NewOrder(BaseModel):
    """An order entering the local store (seeded, pulled from the remote, or typed in).

    Its identity is (``source``, :attr:`remote_id`); ``id`` is the local key derived from
    them: ``NewOrder(id=local_id(source, remote_id), source=source, ...)`` (an RxScale
    order's id is its own). Validated from a mapping, ``remote_id`` may be given instead of
    ``id`` (or both, if they agree).
    """

    id: str = Field(min_length=1, max_length=160)
    source: str = Field(default_factory=sources.default_source, min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=64)
    status: Status = Status.OPEN
    remote_status: str | None = None
    priority: Priority = Priority.NORMAL
    delivery_type: DeliveryType = DeliveryType.PICKUP
    patient_name: str = Field(default="", max_length=128)
    #: the patient's date of birth where the source gives it: what the counter confirms
    patient_dob: date | None = None
    items: list[LineItem] = Field(default_factory=list)
    due_at: AwareDatetime | None = None
    fulfill_at: AwareDatetime | None = None
    on_hold: bool = False
    hold_reason: str | None = None
    sample: bool = False
    created_at: AwareDatetime | None = None

    @property
    def remote_id(self) -> str:
        """The source's own id of the order (what is sent to the source)."""
        return sources.remote_id(self.source, self.id)

    @model_validator(mode="before")
    @classmethod
    def _identity(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "remote_id" not in data:
            return data
        data = dict(data)
        remote = data.pop("remote_id")
        if not isinstance(remote, str) or not 1 <= len(remote) <= 128:
            raise ValueError("remote_id must be 1 to 128 characters")
        derived = sources.local_id(data.get("source") or sources.default_source(), remote)
        if data.setdefault("id", derived) != derived:
            raise ValueError(f"id {data['id']!r} is not the local id of {remote!r}")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> NewOrder:
        if not sources.bare_ids(self.source) and not self.id.startswith(f"{self.source}:"):
            raise ValueError(f"id {self.id!r} of a {self.source} order lacks {self.source}:")
        return self

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
    source: str
    remote_id: str
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
    #: "cancellation" while a merchant's request to cancel is unanswered (else None)
    request_kind: str | None = None
    request_message: str | None = None
    tracking: Tracking | None = None
    #: the steps inside PROCESSING on a floor that checks ([floor] check)
    fill_step: str | None = None
    filled_by: str | None = None
    checked_by: str | None = None
    check_note: str | None = None
    note_count: int = 0
    flags: str = ""
    scan_progress: str | None = None
    #: ready and handed off (a FINISHED pickup order): its will-call bin, the patient's date
    #: of birth where the source gave it (ISO), when and by whom it was picked up
    will_call_bin: str | None = None
    patient_dob: str | None = None
    picked_up_at: datetime | None = None
    picked_up_by: str | None = None

    @property
    def cancel_requested(self) -> bool:
        return self.request_kind == CANCELLATION

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, sync_error: str | None) -> OrderView:
        data = dict(row)
        data["hold"] = data.pop("on_hold")
        data["sync_error"] = sync_error
        number = data.pop("tracking_number", None)
        company, url = data.pop("tracking_company", None), data.pop("tracking_url", None)
        data["tracking"] = Tracking(company=company, number=number, url=url) if number else None
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

"""The RxScale API's wire models: tolerant (unknown fields ignored, optional where the docs
waver), both status dialects, and the one mapping from the wire to a new local order.

:class:`RxScaleOrder` is what the sync engine receives as a
:class:`~rxfloor.core.sources.base.SourceOrder`: its ``board_status`` and ``on_hold`` come
from :mod:`.mapping`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rxfloor.core.lifecycle import DeliveryType, Priority, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sources.rxscale.mapping import BOARD_STATUS, REMOTE_HOLD


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RxScaleSku(_Wire):
    uid: str = ""
    display_name: str = ""
    pzn: str | None = None


class RxScaleItem(_Wire):
    uid: str = ""
    amount: int = 1
    sku: RxScaleSku = Field(default_factory=RxScaleSku)


class RxScaleAddress(_Wire):
    first_name: str | None = None
    last_name: str | None = None


class RxScaleOrderInfo(_Wire):
    uid: str | None = None
    delivery_address: RxScaleAddress | None = None
    priority: int | None = 0


class RxScaleDeliveryType(_Wire):
    identifier: str | None = None
    display_name: str | None = None


class RxScalePatient(_Wire):
    display_name: str | None = None
    date_of_birth: str | None = None  # "1961-04-23" (detail call and webhooks)

    @property
    def dob(self) -> date | None:
        """The date of birth when it reads as an ISO date (else None: nothing to confirm)."""
        try:
            return date.fromisoformat((self.date_of_birth or "").strip()[:10])
        except ValueError:
            return None


class RxScaleOrder(_Wire):
    """One pharmacy order as the API sends it (list, detail, PATCH answer or webhook)."""

    uid: str = Field(min_length=1, max_length=64)
    name: str | None = None
    shop_order_name: str | None = None
    status: str = Field(min_length=1)
    comment: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    order: RxScaleOrderInfo | None = None
    delivery_type: RxScaleDeliveryType | None = None
    order_items: list[RxScaleItem] = Field(default_factory=list)
    patient_data: RxScalePatient | None = None

    @field_validator("status")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("created_at", "updated_at")
    @classmethod
    def _a_time(cls, value: float | None) -> float | None:
        """Unix seconds a date can hold (``1e20`` is no time: refused, not given up later)."""
        if value is not None and not -62_135_596_800 < value < 253_402_300_800:
            raise ValueError("not a time (unix seconds between years 1 and 9999)")
        return value

    @property
    def board_status(self) -> Status | None:
        return BOARD_STATUS.get(self.status)

    @property
    def on_hold(self) -> bool:
        return self.status == REMOTE_HOLD

    @property
    def cancel_requested(self) -> bool:
        return False  # RxScale cancels itself; it never asks the floor to

    @property
    def request_message(self) -> str | None:
        return None

    @property
    def scheduled_at(self) -> datetime | None:
        return None  # this source schedules nothing (SourceTraits.schedules is False)

    def to_new_order(self, board_status: Status) -> NewOrder:
        """The local form of a remote order seen for the first time."""
        info = self.order or RxScaleOrderInfo()
        rank = info.priority or 0
        priority = Priority.STAT if rank >= 2 else Priority.WAITER if rank == 1 else Priority.NORMAL
        ident = (self.delivery_type.identifier or "") if self.delivery_type else ""
        delivery = {
            "shipping": DeliveryType.SHIP,
            "ship": DeliveryType.SHIP,
            "courier": DeliveryType.COURIER,
        }.get(ident, DeliveryType.PICKUP)
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
            id=self.uid,  # RxScale's local id is its own (core.sources.local_id)
            source="rxscale",
            remote_id=self.uid,
            name=(self.name or self.shop_order_name or self.uid)[:64],
            status=board_status,
            remote_status=self.status,
            priority=priority,
            delivery_type=delivery,
            patient_name=patient[:128],
            patient_dob=self.patient_data.dob if self.patient_data else None,
            items=items,
            on_hold=self.on_hold,
            hold_reason=(self.comment or "on hold at the remote") if self.on_hold else None,
            created_at=created,
        )


class OrderPage(_Wire):
    data: list[dict[str, Any]] = Field(default_factory=list)
    total_registries: int = Field(default=0, alias="totalRegistries")
    total_pages: int = Field(default=0, alias="totalPages")


class WebhookEnvelope(_Wire):
    """A webhook delivery's body: the order it carries is ``data`` (a :class:`RxScaleOrder`)."""

    event_type: str
    timestamp: float
    data: dict[str, Any]

"""Konnektive CRM's wire models (its statuses and their mapping to the board: :mod:`.mapping`).

The pharmacy is a fulfillment house that pulls, through the Order Query API
(``order/query/``), the one Konnektive tells such houses to use: an order row carries the
patient, its ``items`` and its ``fulfillments`` (``fulfillmentId``, ``status``,
``trackingNumber``, ``dateShipped``, …), as a public client's captured answer shows. The
Fulfillment Query API (``fulfillment/query/``: the same fulfillments, flat, with their
``orderId``), documented on no public page, is read only for an answer without a
``fulfillments`` key. Both answer ``{"result": "SUCCESS", "message": {"totalResults",
"resultsPerPage", "page", "data"}}``; ``data`` is a list, or an object keyed by id (both are
read).

One card per Konnektive order (``orderId`` is the remote id and the name). An order with
several fulfillments (staggered shipments) is shown by its newest one that is not
cancelled; with none, the order is not for the floor yet (not shown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from rxfloor.core.lifecycle import DeliveryType, Priority, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sources import local_id
from rxfloor.core.sources.konnektive.mapping import (
    BOARD_STATUS,
    CANCELLED,
    NO_FULFILLMENT,
    REMOTE_HOLD,
    normalise,
)

#: the source's name (its push lease, its ``[sources.konnektive]`` section, ``orders.source``)
NAME = "konnektive"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class FulfillmentItem(_Wire):
    """An item of a fulfillment (``{fulfillmentItemId, name, sku, qty, status}`` in the
    captured Order Query answer): its ``sku`` is the product code Konnektive shows."""

    name: str | None = None
    sku: str | None = None


class Fulfillment(_Wire):
    """One fulfillment: an element of an Order Query row's ``fulfillments`` (no ``orderId``:
    its order's) or a row of the Fulfillment Query API. Its state is ``status`` in both
    captured answers; ``fulfillmentStatus`` (the Update Fulfillment API's parameter) is
    read too."""

    fulfillment_id: str = Field(alias="fulfillmentId", min_length=1, max_length=64)
    order_id: str | None = Field(default=None, alias="orderId", max_length=64)
    status: str = Field(validation_alias=AliasChoices("status", "fulfillmentStatus"), min_length=1)
    tracking_number: str | None = Field(default=None, alias="trackingNumber")
    items: list[FulfillmentItem] = Field(default_factory=list)
    date_shipped: str | None = Field(default=None, alias="dateShipped")
    date_created: str | None = Field(default=None, alias="dateCreated")

    @field_validator("status")
    @classmethod
    def _norm(cls, value: str) -> str:
        return normalise(value)

    @field_validator("items", mode="before")
    @classmethod
    def _item_rows(cls, value: Any) -> Any:
        return rows(value)


class OrderItem(_Wire):
    product_id: str | None = Field(default=None, alias="productId")
    sku: str | None = Field(default=None, alias="productSku")
    name: str | None = None
    product_name: str | None = Field(default=None, alias="productName")
    qty: int | None = None
    quantity: int | None = None


class OrderDetail(_Wire):
    """One row of the Order Query API (the parts the floor uses)."""

    order_id: str = Field(alias="orderId", min_length=1, max_length=64)
    order_status: str | None = Field(default=None, alias="orderStatus")
    date_created: str | None = Field(default=None, alias="dateCreated")
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    ship_first_name: str | None = Field(default=None, alias="shipFirstName")
    ship_last_name: str | None = Field(default=None, alias="shipLastName")
    items: list[OrderItem] = Field(default_factory=list)
    #: the order's fulfillments; None: the answer had no ``fulfillments`` key (not: none)
    fulfillments: list[Fulfillment] | None = None

    @field_validator("items", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return rows(value)

    @field_validator("fulfillments", mode="before")
    @classmethod
    def _fulfillments(cls, value: Any) -> Any:
        return None if value is None else rows(value)


def rows(data: Any) -> list[Any]:
    """``data`` of an answer as a list: a list as is, an object keyed by id by its values."""
    if isinstance(data, Mapping):
        return list(data.values())
    if isinstance(data, list):
        return data
    return []


def current(fulfillments: Iterable[Fulfillment]) -> Fulfillment | None:
    """The fulfillment that speaks for its order: the newest one not cancelled, else the
    newest (ids compare as numbers when they are numbers)."""
    listed = sorted(fulfillments, key=lambda f: (len(f.fulfillment_id), f.fulfillment_id))
    live = [f for f in listed if f.status != CANCELLED]
    chosen = live or listed
    return chosen[-1] if chosen else None


class KonnektiveOrder:
    """A Konnektive order as a :class:`~rxfloor.core.sources.base.SourceOrder`: its detail
    (None in a push answer, which reads only the fulfillment back) and its fulfillments."""

    __slots__ = ("detail", "fulfillment", "order_id")

    def __init__(
        self, order_id: str, detail: OrderDetail | None, fulfillments: Iterable[Fulfillment]
    ) -> None:
        self.order_id = order_id
        self.detail = detail
        self.fulfillment = current(fulfillments)

    def __repr__(self) -> str:
        return f"KonnektiveOrder({self.order_id!r}, {self.status})"

    @property
    def uid(self) -> str:
        return self.order_id

    @property
    def status(self) -> str:
        return self.fulfillment.status if self.fulfillment else NO_FULFILLMENT

    @property
    def tracking_number(self) -> str | None:
        return self.fulfillment.tracking_number if self.fulfillment else None

    @property
    def comment(self) -> str | None:
        return REMOTE_HOLD.get(self.status)

    @property
    def board_status(self) -> Status | None:
        return BOARD_STATUS.get(self.status)

    @property
    def on_hold(self) -> bool:
        return self.status in REMOTE_HOLD

    @property
    def cancel_requested(self) -> bool:
        return False  # Konnektive cancels a fulfillment outright (CANCELLED), never asks

    @property
    def request_message(self) -> str | None:
        return None

    @property
    def scheduled_at(self) -> datetime | None:
        return None  # this source schedules nothing (SourceTraits.schedules is False)

    def to_new_order(self, board_status: Status) -> NewOrder:
        detail = self.detail
        patient = ""
        if detail is not None:
            ship = f"{detail.ship_first_name or ''} {detail.ship_last_name or ''}".strip()
            bill = f"{detail.first_name or ''} {detail.last_name or ''}".strip()
            patient = ship or bill
        # the product code: the order item's productSku (assumed: no public answer shows
        # it), else the fulfillment's item of that name's ``sku`` (the captured answer)
        shipped = {
            f.name: f.sku
            for f in (self.fulfillment.items if self.fulfillment else [])
            if f.name and f.sku
        }
        items = [
            LineItem(
                sku=(i.sku or shipped.get(i.name or i.product_name or "") or i.product_id or "?")[
                    :64
                ],
                drug=(i.name or i.product_name or i.sku or i.product_id or "item")[:128],
                quantity=max(1, i.qty or i.quantity or 1),
            )
            for i in (detail.items if detail else [])
        ]
        return NewOrder(
            id=local_id(NAME, self.order_id),
            source=NAME,
            name=self.order_id[:64],
            status=board_status,
            remote_status=self.status,
            priority=Priority.NORMAL,
            delivery_type=DeliveryType.SHIP,  # direct to the patient: always shipped
            patient_name=patient[:128],
            items=items,
            on_hold=self.on_hold,
            hold_reason=self.comment if self.on_hold else None,
        )

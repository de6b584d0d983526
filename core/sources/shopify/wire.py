"""Shopify's wire models (the GraphQL answers, and the webhook payloads' snake_case forms);
the mapping of their statuses to the board is :mod:`.mapping`.

A :class:`FulfillmentOrder` is what the sync engine receives as a
:class:`~rxfloor.core.sources.base.SourceOrder`. Its ``status`` is the compact
``"<status>/<requestStatus>"`` (``IN_PROGRESS/ACCEPTED``): both halves decide the column,
and push planning needs both. Tolerant: unknown fields are ignored, both spellings of the
field names (``requestStatus`` / ``request_status``) and of the enum values
(``IN_PROGRESS`` / ``in_progress``) are read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from rxfloor.core.lifecycle import DeliveryType, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sources.shopify.mapping import (
    CANCELLATION_REQUESTED,
    ON_HOLD,
    SCHEDULED,
    UNSUBMITTED,
    board_status,
    compact,
    normalise,
)

NAME = "shopify"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class OrderRef(_Wire):
    name: str | None = None


class Destination(_Wire):
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None


class DeliveryMethod(_Wire):
    method_type: str | None = None


class Hold(_Wire):
    reason: str | None = None
    reason_notes: str | None = None


class MerchantRequest(_Wire):
    kind: str | None = None
    message: str | None = None
    sent_at: datetime | None = None


class Variant(_Wire):
    barcode: str | None = None


class FoLineItem(_Wire):
    id: str | None = None
    sku: str | None = None
    variant: Variant | None = None
    product_title: str | None = None
    variant_title: str | None = None
    total_quantity: int = Field(
        default=1, validation_alias=AliasChoices("totalQuantity", "total_quantity", "quantity")
    )


def _nodes(value: Any) -> Any:
    """A connection (``{nodes: […]}`` or ``{edges: [{node}]}``) or a plain list -> a list."""
    if isinstance(value, dict):
        if "nodes" in value:
            return value["nodes"] or []
        if "edges" in value:
            return [e.get("node") for e in value["edges"] or [] if isinstance(e, dict)]
    return value if value is not None else []


class FulfillmentOrder(_Wire):
    """One fulfillment order as the Admin API (or a webhook) reports it."""

    id: str = Field(min_length=1, max_length=128)
    raw_status: str = Field(min_length=1, validation_alias=AliasChoices("status"))
    request_status: str = UNSUBMITTED
    fulfill_at: datetime | None = None
    fulfill_by: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    order_name: str | None = None
    order: OrderRef | None = None
    destination: Destination | None = None
    delivery_method: DeliveryMethod | None = None
    fulfillment_holds: list[Hold] = Field(default_factory=list)
    merchant_requests: list[MerchantRequest] = Field(default_factory=list)
    line_items: list[FoLineItem] = Field(default_factory=list)

    @field_validator("raw_status", "request_status", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return normalise(value) if isinstance(value, str) else value

    @field_validator("merchant_requests", "line_items", "fulfillment_holds", mode="before")
    @classmethod
    def _connection(cls, value: Any) -> Any:
        return _nodes(value)

    # -- SourceOrder
    @property
    def uid(self) -> str:
        return self.id

    @property
    def status(self) -> str:
        return compact(self.raw_status, self.request_status)

    @property
    def board_status(self) -> Status | None:
        return board_status(self.raw_status, self.request_status)

    @property
    def on_hold(self) -> bool:
        """The merchant holds it (only where the pharmacy sees the order at all)."""
        return self.raw_status == ON_HOLD and self.board_status is not None

    @property
    def comment(self) -> str | None:
        """The merchant's hold reason while it holds the order."""
        if not self.on_hold:
            return None
        for hold in self.fulfillment_holds:
            why = (hold.reason or "").replace("_", " ").strip().lower()
            notes = (hold.reason_notes or "").strip()
            words = f"{why} ({notes})" if why and notes else why or notes
            if words:
                return f"held by the merchant in Shopify: {words}"
        return "held by the merchant in Shopify"

    @property
    def cancel_requested(self) -> bool:
        return self.request_status == CANCELLATION_REQUESTED

    @property
    def request_message(self) -> str | None:
        """The merchant's message with an unanswered cancellation request."""
        if not self.cancel_requested:
            return None
        asked = [
            r for r in self.merchant_requests if normalise(r.kind or "") == "CANCELLATION_REQUEST"
        ]
        asked.sort(key=lambda r: r.sent_at.timestamp() if r.sent_at else 0.0)
        return (asked[-1].message or None) if asked else None

    @property
    def scheduled_at(self) -> datetime | None:
        """When the merchant scheduled it for (only while SCHEDULED)."""
        return self.fulfill_at if self.raw_status == SCHEDULED else None

    @property
    def name(self) -> str:
        name = self.order_name or (self.order.name if self.order else None)
        return name or "#" + self.id.rsplit("/", 1)[-1]

    def to_new_order(self, board_status: Status) -> NewOrder:
        """The local form of a fulfillment order seen for the first time."""
        from rxfloor.core.sources import local_id

        method = normalise(self.delivery_method.method_type or "") if self.delivery_method else ""
        delivery = {"PICK_UP": DeliveryType.PICKUP, "LOCAL": DeliveryType.COURIER}.get(
            method, DeliveryType.SHIP
        )
        patient = ""
        if self.destination:
            d = self.destination
            patient = f"{d.first_name or ''} {d.last_name or ''}".strip()
        items = [
            LineItem(
                sku=(i.sku or (i.id or "?").rsplit("/", 1)[-1])[:64],
                drug=(" ".join(t for t in (i.product_title, i.variant_title) if t) or "item")[:128],
                quantity=max(1, i.total_quantity),
                barcode=(i.variant.barcode or "").strip()[:64] or None if i.variant else None,
            )
            for i in self.line_items
        ]
        return NewOrder(
            id=local_id(NAME, self.id),
            source=NAME,
            remote_id=self.id,
            name=self.name[:64],
            status=board_status,
            remote_status=self.status,
            delivery_type=delivery,
            patient_name=patient[:128],
            items=items,
            due_at=self.fulfill_by,
            fulfill_at=self.scheduled_at,
            on_hold=self.on_hold,
            hold_reason=self.comment,
            created_at=self.created_at,
        )


class PageInfo(_Wire):
    has_next_page: bool = False
    end_cursor: str | None = None


class FulfillmentOrderPage(_Wire):
    """``assignedFulfillmentOrders``: the raw nodes (each validated on its own) and where
    the next page starts."""

    nodes: list[dict[str, Any]] = Field(default_factory=list)
    page_info: PageInfo = Field(default_factory=PageInfo)

    @field_validator("nodes", mode="before")
    @classmethod
    def _connection(cls, value: Any) -> Any:
        return _nodes(value)

    @classmethod
    def from_connection(cls, value: Any) -> FulfillmentOrderPage:
        if isinstance(value, dict) and "edges" in value and "nodes" not in value:
            value = {**value, "nodes": _nodes(value)}
        return cls.model_validate(value)


class ThrottleStatus(_Wire):
    maximum_available: float = Field(gt=0)
    currently_available: float = Field(ge=0)
    restore_rate: float = Field(gt=0)


class Cost(_Wire):
    """``extensions.cost`` of an answer (``actualQueryCost`` is null when throttled)."""

    requested_query_cost: float | None = None
    actual_query_cost: float | None = None
    throttle_status: ThrottleStatus | None = None

"""Photon's wire models: the CloudEvents 1.0 envelope of its webhook events, the event data
of each order event, the ``order(id:)`` read, and :class:`PhotonOrder`, the one form the
sync engine receives (a :class:`~rxfloor.core.sources.base.SourceOrder`).

Tolerant: unknown fields are ignored, everything the docs do not promise is optional. An
event carries only what Photon's order events document (ids, the patient's ids, the fills'
prescription ids; a fulfillment's type, state, carrier and tracking number; a reroute's new
pharmacy; an error's reason): no drug or patient names, so a card made from an event names
the prescriptions by id until a person opens them in Photon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rxfloor.core.lifecycle import DeliveryType, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sources.photon import mapping
from rxfloor.core.text import clip, scrub

SOURCE_NAME = "photon"
EVENT_PREFIX = "photon:order:"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WireRef(_Wire):
    id: str | None = None
    externalId: str | None = None


class WireName(_Wire):
    full: str | None = None


class WirePatient(WireRef):
    name: WireName | None = None


class WireCodes(_Wire):
    """``TreatmentCodes``: the package NDC is the pack's (its UPC-A carries it)."""

    packageNDC: str | None = None
    SKU: str | None = None


class WireTreatment(_Wire):
    name: str | None = None
    codes: WireCodes | None = None


class WireFill(_Wire):
    id: str | None = None
    treatment: WireTreatment | None = None
    prescription: WireRef | None = None


class WireFulfillment(_Wire):
    type: str | None = None  # PICK_UP | MAIL_ORDER
    state: str | None = None
    carrier: str | None = None
    trackingNumber: str | None = None


class WirePharmacy(_Wire):
    id: str | None = None
    name: str | None = None


class OrderData(_Wire):
    """``data`` of an order event (every event type's fields; each sends its own subset)."""

    id: str = Field(min_length=1, max_length=128)
    externalId: str | None = None
    pharmacyId: str | None = None  # created
    patient: WirePatient | None = None
    fills: list[WireFill] = Field(default_factory=list)  # created
    createdAt: str | None = None
    fulfillment: WireFulfillment | None = None  # fulfillment
    pharmacy: WirePharmacy | None = None  # rerouted: where the order went
    reason: str | None = None  # error


class CloudEvent(_Wire):
    """The envelope of every Photon webhook event (CloudEvents 1.0)."""

    id: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=128)
    specversion: str | None = None
    datacontenttype: str | None = None
    time: str | None = None
    subject: str | None = None
    source: str | None = None
    data: dict[str, Any]


class OrderRead(_Wire):
    """An order as Photon's ``order(id:)`` query answers it."""

    id: str = Field(min_length=1, max_length=128)
    externalId: str | None = None
    state: str = Field(min_length=1)
    pharmacy: WirePharmacy | None = None
    fulfillment: WireFulfillment | None = None
    patient: WirePatient | None = None
    fills: list[WireFill] = Field(default_factory=list)
    createdAt: str | None = None


def parse_time(value: str | None) -> float | None:
    """An ISO 8601 time (``2022-01-01T01:00:00.000Z``) as epoch seconds; None if unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True, slots=True)
class PhotonOrder:
    """One Photon order as the floor sees it (from an event, a read or a report's answer)."""

    uid: str
    status: str  # a word of :data:`mapping.BOARD_STATUS`
    comment: str | None = None
    name: str | None = None
    patient_name: str = ""
    items: tuple[LineItem, ...] = field(default_factory=tuple)
    fulfillment_type: str | None = None
    created_at: float | None = None
    #: False: an order this floor never had is not added for this (another pharmacy's
    #: order: placed there, or rerouted from one elsewhere to another); one it has follows
    appears: bool = True

    @property
    def board_status(self) -> Status | None:
        return mapping.BOARD_STATUS.get(self.status)

    @property
    def on_hold(self) -> bool:
        """Photon reports an error: the order is parked (held by the remote, see
        docs/pages/sources/photon.md)."""
        return self.status == mapping.ERROR

    @property
    def cancel_requested(self) -> bool:
        return False

    @property
    def request_message(self) -> str | None:
        return None

    @property
    def scheduled_at(self) -> datetime | None:
        return None  # this source schedules nothing (SourceTraits.schedules is False)

    def to_new_order(self, board_status: Status) -> NewOrder:
        delivery = (
            DeliveryType.SHIP if self.fulfillment_type == "MAIL_ORDER" else DeliveryType.PICKUP
        )
        created = datetime.fromtimestamp(self.created_at, UTC) if self.created_at else None
        return NewOrder(
            id=f"{SOURCE_NAME}:{self.uid}",  # core.sources.local_id
            source=SOURCE_NAME,
            remote_id=self.uid,
            name=(self.name or self.uid)[:64],
            status=board_status,
            remote_status=self.status,
            delivery_type=delivery,
            patient_name=self.patient_name[:128],
            items=list(self.items),
            on_hold=self.on_hold,
            hold_reason=self.comment if self.on_hold else None,
            created_at=created,
        )


def _items(fills: list[WireFill]) -> tuple[LineItem, ...]:
    items = []
    for fill in fills:
        rx = (fill.prescription.id if fill.prescription else None) or fill.id or "?"
        codes = fill.treatment.codes if fill.treatment else None
        # the pack's NDC (a product scan matches it), else the treatment's SKU (an OTC or
        # equipment), else the prescription's id: an event names no treatment
        code = (codes.packageNDC or codes.SKU or "").strip() if codes else ""
        drug = fill.treatment.name if fill.treatment and fill.treatment.name else None
        items.append(LineItem(sku=(code or rx)[:64], drug=(drug or f"prescription {rx}")[:128]))
    return tuple(items)


def _name(order_id: str, external_id: str | None) -> str:
    return (external_id or order_id)[:64]


def _words(text: str | None, limit: int) -> str | None:
    """Remote words for a card: one line, scrubbed, cut to ``limit`` (shown as data)."""
    if not text:
        return None
    line = " ".join(scrub(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_comment(reason: str | None) -> str:
    words = _words(reason, 200)
    return "Photon reports an error" + (f": {words}" if words else "")


def order_of_event(event: CloudEvent, pharmacy_id: str | None = None) -> PhotonOrder:
    """The order an event carries. Raises :class:`ValueError` for a non-order event or an
    order event type Photon does not document (answered 400: subscribe to order events)."""
    if not event.type.startswith(EVENT_PREFIX):
        raise ValueError(f"not an order event: {clip(event.type, 60)}")
    kind = event.type[len(EVENT_PREFIX) :]
    data = OrderData.model_validate(event.data)
    comment = None
    fulfillment_type = data.fulfillment.type if data.fulfillment else None
    if kind == "fulfillment":
        state = data.fulfillment.state if data.fulfillment else None
        word = mapping.word_of_fulfillment(state)
    elif kind in mapping.EVENT_WORD:
        word = mapping.EVENT_WORD[kind]
    else:
        raise ValueError(f"unknown order event type: {clip(event.type, 60)}")
    appears = True
    to = data.pharmacy.id if data.pharmacy else None
    where = _words(data.pharmacy.name if data.pharmacy else None, 80)
    if word == mapping.REROUTED:
        if pharmacy_id and to == pharmacy_id:
            word = "placed"  # rerouted to this pharmacy
        else:
            comment = "rerouted" + (f" to {where}" if where else "")
            appears = False  # an order of another pharmacy's never reaches this floor
    elif kind == "placed" and pharmacy_id and to and to != pharmacy_id:
        # placed at another pharmacy (an organisation's subscription sees them all; a
        # reroute away sends it for the new one): this floor's order, if it was, left it
        word, appears = mapping.REROUTED, False
        comment = "placed at " + (where or "another pharmacy")
    elif word == "pending" and pharmacy_id and data.pharmacyId not in (None, pharmacy_id):
        word = "routing"  # created for another pharmacy: never shown here
    if word == mapping.ERROR:
        comment = error_comment(data.reason)
    patient = data.patient.name.full if data.patient and data.patient.name else None
    return PhotonOrder(
        uid=data.id,
        status=word,
        comment=comment,
        name=_name(data.id, data.externalId),
        patient_name=patient or "",
        items=_items(data.fills),
        fulfillment_type=fulfillment_type,
        created_at=parse_time(data.createdAt),
        appears=appears,
    )


def order_of_read(read: OrderRead, pharmacy_id: str | None = None) -> PhotonOrder:
    """The order as Photon's ``order(id:)`` query has it now."""
    state = read.state.strip().upper()
    word = mapping.ORDER_STATE_WORD.get(state, "placed")
    if state == "PLACED":
        word = mapping.word_of_fulfillment(read.fulfillment.state if read.fulfillment else None)
    at = read.pharmacy.id if read.pharmacy else None
    comment = None
    if state in ("ROUTING", "PENDING", "PLACED") and pharmacy_id and at and at != pharmacy_id:
        word, comment = mapping.REROUTED, "rerouted"
    if word == mapping.ERROR:
        comment = error_comment(None)
    patient = read.patient.name.full if read.patient and read.patient.name else None
    return PhotonOrder(
        uid=read.id,
        status=word,
        comment=comment,
        name=_name(read.id, read.externalId),
        patient_name=patient or "",
        items=_items(read.fills),
        fulfillment_type=read.fulfillment.type if read.fulfillment else None,
        created_at=parse_time(read.createdAt),
    )

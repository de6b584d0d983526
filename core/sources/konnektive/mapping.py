"""Konnektive CRM's fulfillment statuses and the one mapping of them to the board: the board
column, the hold words, the exceptions queue's words, the return badge, the statuses still
active and the steps the pharmacy sends (pure: no I/O here; the wire models are :mod:`.wire`).

Status words are read case-insensitively, spaces or hyphens as underscores
(``Pending Shipment`` == ``PENDING_SHIPMENT``); the stored ``remote_status`` is the
upper-case form, and :func:`status_words` gives it back for a person.
"""

from __future__ import annotations

from rxfloor.core.lifecycle import Status

HOLD = "HOLD"
PENDING = "PENDING"
PENDING_SHIPMENT = "PENDING_SHIPMENT"
SHIPPED = "SHIPPED"
DELIVERED = "DELIVERED"
CANCELLED = "CANCELLED"
RMA_PENDING = "RMA_PENDING"
RETURNED = "RETURNED"
FAILED = "FAILED"
RECYCLED = "RECYCLED"
#: the status of an order that has no fulfillment (never shown, never pushed)
NO_FULFILLMENT = "NONE"

FULFILLMENT_STATUSES = (HOLD, PENDING, PENDING_SHIPMENT, SHIPPED, DELIVERED, CANCELLED,
                        RMA_PENDING, RETURNED, FAILED, RECYCLED)  # fmt: skip

#: fulfillment status -> board column. None: the order keeps the column it has (a new one
#: opens in OPEN with the hold flag, see :data:`REMOTE_HOLD`).
BOARD_STATUS: dict[str, Status | None] = {
    HOLD: None,
    PENDING: Status.OPEN,
    PENDING_SHIPMENT: Status.FINISHED,  # tracking assigned, the carrier has not seen it yet
    SHIPPED: Status.FINISHED,
    DELIVERED: Status.FINISHED,
    CANCELLED: Status.CANCELLED,
    RMA_PENDING: Status.FINISHED,  # with a return badge
    RETURNED: Status.FINISHED,  # with a return badge
    FAILED: None,  # parked: the exceptions queue
    RECYCLED: None,  # Konnektive resends a failed fulfillment once by itself
}

#: statuses in which Konnektive holds the order for us: the card shows the hold flag with
#: these words and no one can start it (release is refused: it is released in Konnektive)
REMOTE_HOLD: dict[str, str] = {
    HOLD: "on hold in Konnektive (not released to the pharmacy yet)",
    FAILED: "Failed in Konnektive: the fulfillment did not reach the pharmacy",
    RECYCLED: "Recycled in Konnektive: it resends the failed fulfillment once",
}

#: statuses that put an order in the exceptions queue (a person must act), with the words
#: the queue shows
EXCEPTIONS: dict[str, str] = {
    FAILED: "Failed in Konnektive: fix the fulfillment there (or resolve it here with a note)",
}

#: the return badge of a FINISHED card
RETURN_BADGE: dict[str, str] = {RMA_PENDING: "return pending", RETURNED: "returned"}

#: statuses in which Konnektive may still change the order by itself
ACTIVE = (HOLD, PENDING, PENDING_SHIPMENT, SHIPPED, RMA_PENDING, FAILED, RECYCLED)

#: fulfillment statuses the pharmacy sends with the Update Fulfillment API
STEP_SHIP = SHIPPED
STEP_CANCEL = CANCELLED


def normalise(word: str) -> str:
    """``Pending Shipment`` / ``pending-shipment`` -> ``PENDING_SHIPMENT``."""
    return "_".join(word.replace("-", " ").split()).upper()


def status_words(remote_status: str | None) -> str:
    """A stored status for a person: ``PENDING_SHIPMENT`` -> ``Pending Shipment``
    (``RMA_PENDING`` -> ``RMA Pending``)."""
    if not remote_status:
        return ""
    return " ".join(w if w == "RMA" else w.capitalize() for w in remote_status.split("_"))


def return_badge(remote_status: str | None) -> str | None:
    """The badge a FINISHED card shows for a return, or None."""
    return RETURN_BADGE.get(remote_status or "")


def exception_words(remote_status: str | None) -> str | None:
    """Why an order of this status belongs in the exceptions queue, or None."""
    return EXCEPTIONS.get(remote_status or "")

"""Shopify's fulfillment order statuses and the one mapping from a fulfillment order to the
board (docs/pages/sources/shopify.md); pure: no I/O here, the wire models are :mod:`.wire`.

A fulfillment order's ``remote_status`` is the compact ``"<status>/<requestStatus>"``
(``IN_PROGRESS/ACCEPTED``): both halves decide the column, and push planning needs both.
Both spellings of the enum values (``IN_PROGRESS`` / ``in_progress``) are read.
"""

from __future__ import annotations

from rxfloor.core.lifecycle import Status

# FulfillmentOrderStatus
OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED = "OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"
INCOMPLETE, CLOSED, CANCELLED = "INCOMPLETE", "CLOSED", "CANCELLED"
# FulfillmentOrderRequestStatus
UNSUBMITTED, SUBMITTED, ACCEPTED, REJECTED = "UNSUBMITTED", "SUBMITTED", "ACCEPTED", "REJECTED"
CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED"
CANCELLATION_ACCEPTED = "CANCELLATION_ACCEPTED"
CANCELLATION_REJECTED = "CANCELLATION_REJECTED"
REQUEST_CLOSED = "CLOSED"

STATUSES = (OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED, INCOMPLETE, CLOSED, CANCELLED)
REQUEST_STATUSES = (UNSUBMITTED, SUBMITTED, ACCEPTED, REJECTED, CANCELLATION_REQUESTED,
                    CANCELLATION_ACCEPTED, CANCELLATION_REJECTED, REQUEST_CLOSED)  # fmt: skip

#: The statuses in which Shopify (the merchant) may still change an order by itself.
ACTIVE_STATUSES = (OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED)


def compact(status: str, request_status: str) -> str:
    """``orders.remote_status`` of a fulfillment order: ``IN_PROGRESS/ACCEPTED``."""
    return f"{status}/{request_status}"


def split(remote_status: str) -> tuple[str, str]:
    """The two halves of a compact status (a lone status reads as request UNSUBMITTED)."""
    status, _, request = remote_status.partition("/")
    return normalise(status), normalise(request) if request else UNSUBMITTED


def board_status(status: str, request: str) -> Status | None:
    """The board column of a fulfillment order (docs/pages/sources/shopify.md), or None where
    the pharmacy has nothing to do with it (no request submitted)."""
    if request == REJECTED:
        return Status.CANCELLED  # we turned the request down
    if status == CLOSED:
        if request == UNSUBMITTED:
            return None  # the merchant fulfilled it elsewhere; never ours
        # fulfilled by us; a request we never accepted was closed by the merchant instead
        return (
            Status.CANCELLED if request in (SUBMITTED, CANCELLATION_ACCEPTED) else Status.FINISHED
        )
    if status in (INCOMPLETE, CANCELLED) or request in (CANCELLATION_ACCEPTED, REQUEST_CLOSED):
        return Status.CANCELLED  # closed incomplete by us, or cancelled (on request)
    if status == IN_PROGRESS or request in (
        ACCEPTED,
        CANCELLATION_REQUESTED,
        CANCELLATION_REJECTED,
    ):
        return Status.PROCESSING
    if request == SUBMITTED or status == SCHEDULED:
        return Status.OPEN  # a scheduled one shows with the scheduled flag (fulfill_at)
    return None  # UNSUBMITTED: the merchant has not asked us yet


def normalise(value: str) -> str:
    """``in_progress`` / ``in-progress`` / ``In Progress`` -> ``IN_PROGRESS``."""
    return value.strip().upper().replace("-", "_").replace(" ", "_")

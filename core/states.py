"""The words the store, the sync and the board share about an order's pushes and requests,
and the patient's initials: no pydantic here (the store and ``orders --json`` import this,
not the models; the models re-export it)."""

from __future__ import annotations

from enum import StrEnum


class OutboxState(StrEnum):
    """Where one queued move stands on its way to the remote (``outbox.state``)."""

    PENDING = "pending"  # waiting to be sent (or sent again after a transient failure)
    SENDING = "sending"  # claimed by a pusher: its PATCH may be on the wire
    SENT = "sent"
    FAILED = "failed"  # refused by the remote (or diverged from it): a person must look
    SUPERSEDED = "superseded"  # made stale by a remote change (or resolved by hand)
    UNDONE = "undone"  # taken back before it was sent: never sent


#: ``orders.request_kind`` while a merchant's cancellation request awaits an answer.
CANCELLATION = "cancellation"


#: The actor recorded for changes made on the remote side (the ``hold_by`` of its holds).
REMOTE_ACTOR = "remote"


def held_by_remote(on_hold: bool | None, hold_by: str | None) -> bool:
    """Whether the order's hold belongs to the remote: the source placed it (the one rule
    the service, the exceptions queue and the board ask)."""
    return bool(on_hold) and hold_by == REMOTE_ACTOR


#: States of a row still on its way: the push queue (a failed row blocks its order).
UNSETTLED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)


def initials(name: str) -> str:
    """Patient initials for a card (the full name is only shown in the detail view)."""
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0].upper() for p in parts[:3]) or "?"

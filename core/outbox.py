"""The outbox's state changes that decide who wins a row: the push's claim and settle, and
undo's guard. Every write here is conditional, so an undo and a push (or two pushers) can
never both win one row.

This is the room that becomes "the only writer of the outbox" (DESIGN.md); enqueueing and
superseding still live in the service for now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, and_, or_, select, update

from rxfloor.core.db import outbox, utcnow


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting to be sent (or sent again after a transient failure)
    SENDING = "sending"  # claimed by a pusher: its PATCH may be on the wire
    SENT = "sent"
    FAILED = "failed"  # refused by the remote: a person must look
    SUPERSEDED = "superseded"  # made stale by a remote change (or resolved by hand)
    UNDONE = "undone"  # taken back before it was sent: never sent


def claim(conn: Connection, rows: Iterable[tuple[int, OutboxState]], holder: str) -> set[int]:
    """Mark rows ``sending`` for ``holder``, each only if it is still in the state it was
    read in (``pending``, or ``sending`` left by a pusher that crashed or lost its lease).

    Returns the ids claimed; a row not among them was taken by something else first (an
    undo, a remote change, another pusher) and must not be sent.
    """
    by_state: dict[OutboxState, list[int]] = {OutboxState.PENDING: [], OutboxState.SENDING: []}
    for row_id, seen in rows:
        if seen in by_state:
            by_state[seen].append(row_id)
    wanted = [
        and_(outbox.c.id.in_(ids), outbox.c.state == state)
        for state, ids in by_state.items()
        if ids
    ]
    if not wanted:
        return set()
    result = conn.execute(
        update(outbox)
        .where(or_(*wanted))
        .values(state=OutboxState.SENDING, claimed_by=holder)
        .returning(outbox.c.id)
    )
    return set(result.scalars())


def settle_one(
    conn: Connection,
    row_id: int,
    holder: str,
    state: OutboxState,
    *,
    attempts: int,
    error: str | None,
    next_attempt_at: datetime | None = None,
    maybe_applied: bool = False,
) -> bool:
    """Record the outcome of one send, only if the row is still ``sending`` for ``holder``
    (False: another pusher took it over since; its outcome stands)."""
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == row_id,
            outbox.c.state == OutboxState.SENDING,
            outbox.c.claimed_by == holder,
        )
        .values(
            state=state,
            attempts=attempts,
            last_error=error,
            next_attempt_at=next_attempt_at,
            maybe_applied=maybe_applied,
            claimed_by=None,
            sent_at=utcnow() if state is OutboxState.SENT else None,
        )
    )
    return result.rowcount == 1


def undo(conn: Connection, audit_event_id: int) -> OutboxState | None:
    """Take back the outbox row of a move: only a ``pending`` row no attempt of which may
    have reached the remote. Returns ``UNDONE`` when taken back, None when the move queued
    nothing, else the state that refuses the undo (``pending`` then means "maybe applied")."""
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.audit_event_id == audit_event_id,
            outbox.c.state == OutboxState.PENDING,
            outbox.c.maybe_applied.is_(False),
        )
        .values(state=OutboxState.UNDONE)
    )
    if result.rowcount == 1:
        return OutboxState.UNDONE
    state = conn.execute(
        select(outbox.c.state).where(outbox.c.audit_event_id == audit_event_id)
    ).scalar_one_or_none()
    return None if state is None else OutboxState(state)

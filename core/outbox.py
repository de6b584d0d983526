"""The only writer of the outbox: enqueue, claim, settle, supersede, undo, park, retry, resolve.

Every function takes the caller's ``Connection`` so that a move, its audit event and its
outbox row commit together (the service calls these inside its own transactions). Every
change of state is conditional on the state the row was read in, so an undo and a push
(or two pushers, or a person and a pusher) can never both win one row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)

from rxfloor.core.db import orders, outbox, utcnow
from rxfloor.core.models import UNSETTLED, OutboxState
from rxfloor.core.reconcile import UNSENT, Row, row_of
from rxfloor.core.sources import DEFAULT_SOURCE


def enqueue(
    conn: Connection,
    *,
    order_id: str,
    audit_event_id: int,
    action: str,
    reason: str | None,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    """Queue a move for the remote, in the transaction that made it (``payload``: what the
    push sends besides the reason, e.g. a finish's tracking; stored as JSON)."""
    conn.execute(
        insert(outbox).values(
            order_id=order_id,
            audit_event_id=audit_event_id,
            action=action,
            reason=reason,
            payload=None if payload is None else json.dumps(payload, sort_keys=True),
            idempotency_key=uuid.uuid4().hex,
            state=OutboxState.PENDING,
            attempts=0,
            created_at=at,
        )
    )


#: the columns a move's outbox row gets from its statement's parameters (``o_*``)
MOVE_COLUMNS = ("action", "reason", "payload", "idempotency_key", "state", "attempts", "created_at")


def move_params(queue: dict[str, Any], at: datetime) -> dict[str, object]:
    """The ``o_*`` parameters of :func:`enqueue_after` for a move's ``queue`` (its action,
    reason and payload)."""
    payload = queue.get("payload")
    return {
        "o_action": str(queue["action"]),
        "o_reason": queue.get("reason"),
        "o_payload": None if payload is None else json.dumps(payload, sort_keys=True),
        "o_idempotency_key": uuid.uuid4().hex,
        "o_state": OutboxState.PENDING,
        "o_attempts": 0,
        "o_created_at": at,
    }


def enqueue_after(event: Any) -> Any:
    """PostgreSQL: :func:`enqueue` as a CTE of a move's one statement, queueing after the
    audit event the CTE ``event`` inserted (its ``order_id`` and ``id``); the values are the
    parameters of :func:`move_params`."""
    names = list(MOVE_COLUMNS)
    return (
        insert(outbox)
        .from_select(
            ["order_id", "audit_event_id", *names],
            select(
                event.c.order_id,
                event.c.id,
                *(bindparam(f"o_{k}", type_=outbox.c[k].type).label(k) for k in names),
            ),
        )
        .returning(outbox.c.id)
        .cte("ob")
    )


def due(
    conn: Connection,
    now: datetime,
    limit: int,
    *,
    alive: Callable[[str], bool],
    source: str = DEFAULT_SOURCE,
) -> list[dict[str, Any]]:
    """The oldest unsettled row of each of ``source``'s orders, if it is due, with the
    order's source id and last known remote status: that source's push queue (another
    source's rows are never its pusher's). A ``failed`` row blocks its order (steps keep
    their order) until a person retries or resolves it.

    A ``sending`` row is on the wire for the pusher that claimed it until its claim runs out
    (``next_attempt_at``, set at the claim): a new lease holder leaves it alone until then,
    since reading it back proves nothing while the old holder's PATCH may still arrive —
    unless ``alive(claimed_by)`` says that pusher is a process that no longer exists."""
    stmt = (
        select(outbox, orders.c.remote_status, orders.c.remote_id, orders.c.source)
        .join(orders, orders.c.id == outbox.c.order_id)
        .where(orders.c.source == source, outbox.c.state.in_(UNSETTLED))
        .order_by(outbox.c.id)
        .limit(limit * 20)
    )
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for row in conn.execute(stmt).mappings():
        if row["order_id"] in seen:
            continue
        seen.add(row["order_id"])
        if row["state"] == OutboxState.FAILED:
            continue
        if row["next_attempt_at"] is not None and row["next_attempt_at"] > now:
            gone = row["state"] == OutboxState.SENDING and not alive(row["claimed_by"] or "")
            if not gone:
                continue
        rows.append(dict(row))
        if len(rows) >= limit:
            break
    return rows


# The push's statements are built once: a drain runs them many times a second, and building
# a statement costs more than running it.
_CLAIM = (
    update(outbox)
    .where(
        or_(
            and_(
                outbox.c.id.in_(bindparam("b_pending", expanding=True)),
                outbox.c.state == OutboxState.PENDING,
            ),
            and_(
                outbox.c.id.in_(bindparam("b_sending", expanding=True)),
                outbox.c.state == OutboxState.SENDING,
            ),
        )
    )
    .values(
        state=OutboxState.SENDING,
        claimed_by=bindparam("b_holder"),
        next_attempt_at=bindparam("b_until"),
    )
    .returning(outbox.c.id)
)


def claim(
    conn: Connection,
    rows: Iterable[tuple[int, OutboxState]],
    holder: str,
    *,
    until: datetime,
) -> set[int]:
    """Mark rows ``sending`` for ``holder`` until ``until`` (by then any send of the claim
    has certainly ended: answered or timed out), each only if it is still in the state it
    was read in (``pending``, or ``sending`` left by a pusher that crashed or lost its lease).

    Returns the ids claimed; a row not among them was taken by something else first (an
    undo, a remote change, another pusher) and must not be sent.
    """
    by_state: dict[OutboxState, list[int]] = {OutboxState.PENDING: [], OutboxState.SENDING: []}
    for row_id, seen in rows:
        if seen in by_state:
            by_state[seen].append(row_id)
    if not any(by_state.values()):
        return set()
    params = {
        "b_pending": by_state[OutboxState.PENDING],
        "b_sending": by_state[OutboxState.SENDING],
        "b_holder": holder,
        "b_until": until,
    }
    return set(conn.execute(_CLAIM, params).scalars())


@dataclass(frozen=True, slots=True)
class Settle:
    """The outcome of one send, as the row will record it."""

    row_id: int
    order_id: str
    state: OutboxState  # pending (sent again later), sent, failed or superseded
    attempts: int
    error: str | None
    next_attempt_at: datetime | None = None
    maybe_applied: bool = False
    refusals: int = 0  # times the remote refused the row so far (one is retried once)


_SETTLE = (
    update(outbox)
    .where(
        outbox.c.id.in_(bindparam("b_ids", expanding=True)),
        outbox.c.state == OutboxState.SENDING,
        outbox.c.claimed_by == bindparam("b_holder"),
    )
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        maybe_applied=bindparam("b_maybe"),
        refusals=bindparam("b_refusals"),
        claimed_by=None,
        sent_at=bindparam("b_sent_at"),
        failed_at=bindparam("b_failed_at"),  # when parked: the exceptions queue's order
    )
    .returning(outbox.c.id)
)


def settle(conn: Connection, holder: str, outcomes: Sequence[Settle]) -> list[Settle]:
    """Record the outcomes of sends, each only if its row is still ``sending`` for
    ``holder``; returns the ones recorded (any other was taken over by another pusher
    since: its outcome stands).

    Outcomes that record the same values (in a drain: nearly all, ``sent`` at the first
    attempt) are written by one statement, so a commit costs the same for one row or many.
    """
    groups: dict[tuple[object, ...], list[Settle]] = {}
    for o in outcomes:
        key = (o.state, o.attempts, o.error, o.next_attempt_at, o.maybe_applied, o.refusals)
        groups.setdefault(key, []).append(o)
    now = utcnow()
    ours: set[int] = set()
    for (state, attempts, error, next_at, maybe, refusals), group in groups.items():
        params = {
            "b_ids": [o.row_id for o in group],
            "b_holder": holder,
            "b_state": state,
            "b_attempts": attempts,
            "b_error": error,
            "b_next": next_at,
            "b_maybe": maybe,
            "b_refusals": refusals,
            "b_sent_at": now if state is OutboxState.SENT else None,
            "b_failed_at": now if state is OutboxState.FAILED else None,
        }
        ours.update(conn.execute(_SETTLE, params).scalars())
    return [o for o in outcomes if o.row_id in ours]


def supersede(
    conn: Connection, order_id: str, why: str, *, keep: frozenset[str] = frozenset()
) -> int:
    """The remote moved the order past its queued steps: they are kept, never sent. A row
    on the wire (``sending``), or queued again after an attempt that may have reached the
    remote (``maybe_applied``), is left to its pusher, which reads the order back: "not sent"
    is never said of a move that may be in effect (the remote's own move may have come
    after it). So are the rows of the actions in ``keep`` (a hand-off, when the remote only
    reached FINISHED)."""
    where = [
        outbox.c.order_id == order_id,
        or_(
            and_(outbox.c.state == OutboxState.PENDING, outbox.c.maybe_applied.is_(False)),
            outbox.c.state == OutboxState.FAILED,
        ),
    ]
    if keep:
        where.append(outbox.c.action.not_in(sorted(keep)))
    return conn.execute(
        update(outbox).where(*where).values(state=OutboxState.SUPERSEDED, last_error=why)
    ).rowcount


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


def has_unsent(conn: Connection, order_id: str) -> bool:
    """A step of the order waits in the queue (``pending``, or parked) and no attempt of it
    may have reached the remote: what the remote says now is not its echo."""
    return _has_row(
        conn,
        order_id,
        outbox.c.state.in_([OutboxState.PENDING, OutboxState.FAILED]),
        outbox.c.maybe_applied.is_(False),
    )


def has_unsettled(conn: Connection, order_id: str, *, besides: int | None = None) -> bool:
    """A step of the order is still queued, on the wire or parked (``besides``: other than
    that row)."""
    other = [] if besides is None else [outbox.c.id != besides]
    return _has_row(conn, order_id, outbox.c.state.in_(UNSETTLED), *other)


def clock() -> datetime:
    """The outbox's clock: a row's ``sent_at`` and the instant a remote page was read are
    taken from the same one, so "read before it was settled" compares like with like."""
    return utcnow()


def weigh(conn: Connection, order_id: str, read_at: datetime | None) -> tuple[Row, bool]:
    """The order's rows as the reconcile rule weighs them when the remote speaks: the row
    that matters (an unsent step first, then an uncertain one, else the latest sent move)
    and whether the remote was read (``read_at``; None: now) before that move was settled."""
    found = conn.execute(
        select(
            outbox.c.state,
            outbox.c.maybe_applied,
            outbox.c.refusals,
            outbox.c.sent_at,
            outbox.c.created_at,
        )
        .where(outbox.c.order_id == order_id, outbox.c.state.in_([*UNSETTLED, OutboxState.SENT]))
        .order_by(outbox.c.id)
    ).all()
    kinds = [
        row_of(
            sending=r.state == OutboxState.SENDING,
            maybe_applied=bool(r.maybe_applied),
            refusals=r.refusals or 0,
            parked=r.state == OutboxState.FAILED,
        )
        for r in found
        if r.state != OutboxState.SENT
    ]
    if kinds:
        return next((k for k in kinds if k in UNSENT), Row.UNCERTAIN), False
    if not found:
        return Row.NONE, False
    last = found[-1]
    return Row.SETTLED, read_at is not None and read_at <= (last.sent_at or last.created_at)


def _has_row(conn: Connection, order_id: str, *where: ColumnElement[bool]) -> bool:
    found = select(outbox.c.id).where(outbox.c.order_id == order_id, *where).limit(1)
    return conn.execute(found).first() is not None


def answer_unsettled(conn: Connection, order_id: str) -> bool:
    """The floor's answer to a cancellation request of the order is still on its way."""
    return _has_row(
        conn,
        order_id,
        outbox.c.state.in_(UNSETTLED),
        outbox.c.action.in_(["accept_cancel", "reject_cancel"]),
    )


def last_sent(conn: Connection, order_id: str) -> RowMapping | None:
    """The order's latest move that the remote confirmed."""
    return (
        conn.execute(
            select(outbox)
            .where(outbox.c.order_id == order_id, outbox.c.state == OutboxState.SENT)
            .order_by(outbox.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def park_again(conn: Connection, sent: RowMapping, message: str, at: datetime) -> None:
    """The remote lost a move it had confirmed: park it once more as ``failed`` with the
    words of the divergence, for a person to retry (read back, then sent) or resolve."""
    conn.execute(
        insert(outbox).values(
            order_id=sent["order_id"],
            audit_event_id=sent["audit_event_id"],
            action=sent["action"],
            reason=sent["reason"],
            payload=sent["payload"],
            idempotency_key=uuid.uuid4().hex,
            state=OutboxState.FAILED,
            attempts=1,  # a retry reads the order back before sending
            last_error=message,
            created_at=at,
            failed_at=at,
        )
    )


def get(conn: Connection, row_id: int) -> RowMapping | None:
    return conn.execute(select(outbox).where(outbox.c.id == row_id)).mappings().first()


def retry(conn: Connection, row_id: int) -> bool:
    """A parked row goes back in the queue (read back before it is sent: it may have been
    applied). A person's retry is the one more send: counted as the automatic retry spent,
    so a refusal parks it again at once. False when the row is not ``failed`` (any more)."""
    spent = case((outbox.c.refusals < 1, 1), else_=outbox.c.refusals)
    return _unpark(conn, row_id, state=OutboxState.PENDING, maybe_applied=True, refusals=spent)


def resolve(conn: Connection, row_id: int, note: str) -> bool:
    """A parked row is settled by hand and never sent. False when it is not ``failed``."""
    return _unpark(conn, row_id, state=OutboxState.SUPERSEDED, last_error=note)


def _unpark(conn: Connection, row_id: int, **values: object) -> bool:
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == OutboxState.FAILED)
        .values(next_attempt_at=None, **values)
    )
    return result.rowcount == 1

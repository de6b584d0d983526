"""Settling pushes: what one send taught the sync worker (sent, refused, read back), written
for the outbox row, the order's ``remote_status`` and its timeline; a send judged on a
read-back is settled by the reconcile rule (:mod:`rxfloor.core.reconcile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, RowMapping, bindparam, case, select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import audit_events, orders, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import OutboxState
from rxfloor.core.reconcile import Case, Plan, Row, Verdict, reconcile
from rxfloor.core.service.base import _NO_STEPS, _NO_TRACKING, REMOTE, ServicePart

#: Built once: a drain records thousands of these. A new word of the source ends a
#: person's resolve of the old one (the exceptions queue: the next exceptional word is news).
_SET_REMOTE_STATUS = (
    update(orders)
    .where(orders.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        remote_status=bindparam("b_status"),
        exception_resolved=case(
            (orders.c.remote_status == bindparam("b_status"), orders.c.exception_resolved),
            else_=None,
        ),
    )
)
#: The order's ``remote_status`` is what a move of ours asked for: resolved in advance.
_EXPECTED_WORD = (
    update(orders)
    .where(orders.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(exception_resolved=orders.c.remote_status)
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """The remote refused a send: retried (at ``retry_at``) or parked, as the retry policy
    says (:meth:`~rxfloor.core.sync.retry.RetryPolicy.after_refusal`)."""

    words: str  # the remote's message
    times: int  # the row's refusals so far
    retry_at: datetime | None = None  # the one automatic retry of a first refusal
    said: bool = False  # the row already carried these very words (a retry refused again)

    @property
    def how(self) -> str:
        return (
            "refused"
            if self.times <= 1
            else "refused twice"
            if self.times == 2
            else ("refused again")
        )

    @property
    def told(self) -> str:
        """The remote's words, with when the move is tried again."""
        if self.retry_at is None:
            return self.words
        return f"{self.words} — retrying once at {self.retry_at.astimezone():%H:%M}"

    @property
    def error(self) -> str:
        """The row's ``last_error`` (the card's sync error)."""
        return f"{self.how}: {self.told}"


@dataclass(frozen=True, slots=True)
class ReadBack:
    """A send judged on the order read back, with no step (left) to send: the remote is
    already where the move leads (``DONE``) or moved where it no longer applies
    (``STALE``). :meth:`OrderService.record_push` asks the reconcile rule whether the move
    is in effect (``sent``), moot or void (``superseded``, the latter also taken back)."""

    plan: Plan
    remote_status: str  # the remote's word as read
    board: Status | None  # its column
    row: Row  # the row before this attempt (uncertain: an earlier attempt may be there)
    sent_now: bool  # a step of this attempt was applied


@dataclass(frozen=True, slots=True)
class PushResult:
    """What one send taught the pusher, for :meth:`OrderService.record_push`."""

    #: the row's outcome; for a ``read_back`` its state is decided by ``record_push``
    settle: outbox_rows.Settle
    action: str  # the move sent (start / finish / cancel)
    #: the order's status at the remote as the answer showed it; None: unknown or unchanged
    remote_status: str | None
    #: the row's ``last_error`` before this attempt (an earlier attempt failed)
    earlier_error: str | None
    #: the remote refused this send (retried once, or parked: ``settle.state`` says which)
    refusal: Refusal | None = None
    read_back: ReadBack | None = None
    #: the reconcile rule's verdict on a ``read_back`` (set by ``judge_read_backs``)
    verdict: Verdict | None = None

    def timeline_note(self) -> tuple[str, str] | None:
        """The audit event (action, reason) this result is worth, if any."""
        if self.refusal is not None:
            r = self.refusal
            return None if r.said else ("refused", f"{self.action} {r.how} by the remote: {r.told}")
        if self.read_back is not None and self.settle.state is OutboxState.SUPERSEDED:
            return OutboxState.SUPERSEDED.value, f"{self.action} not sent: {_moved(self.read_back)}"
        if self.settle.state is OutboxState.SENT and self.earlier_error is not None:
            return "synced", f"{self.action} reached the remote after failed attempts"
        return None


def _moved(read: ReadBack) -> str:
    """Why a move was not sent, in the timeline's words."""
    if read.plan is Plan.DONE:
        return f"the remote had already set the order to {read.remote_status}"
    return f"the remote set the order to {read.remote_status}"


class PushSettling(ServicePart):
    """The pusher's results, settled (see the module's docstring)."""

    def record_push(self, conn: Connection, holder: str, results: Sequence[PushResult]) -> int:
        """Settle sends of the pusher ``holder`` in the caller's transaction: each outbox row
        (only if still this pusher's), the order's ``remote_status`` as the answer showed it,
        and an audit event where the timeline should say something. Returns how many rows
        were settled (another pusher's takeover leaves the rest alone).

        Events: a refusal, retried once or parked (unless it repeats the remote's words the
        row already carried), a
        step superseded by the remote, and a move that reached the remote after failed
        attempts (e.g. a retried divergence). A routine first-time ``sent`` writes none: the
        move's own event says it, and a drain of thousands would double the timeline.
        None of these bumps ``version``: it guards the pharmacist's moves, and a push result
        does not change what the next move may be.
        """
        results = self.judge_read_backs(conn, results)
        void = {r.settle.row_id for r in results if r.verdict is Verdict.REVERT}
        settled = {o.row_id for o in outbox_rows.settle(conn, holder, [r.settle for r in results])}
        done = [r for r in results if r.settle.row_id in settled]
        by_status: dict[str, list[str]] = {}
        for r in done:
            if r.remote_status is not None:
                by_status.setdefault(r.remote_status, []).append(r.settle.order_id)
        for status, ids in by_status.items():  # a drain: one or two statuses per commit
            conn.execute(_SET_REMOTE_STATUS, {"b_ids": ids, "b_status": status})
        # the word our own cancel asked for (Shopify: a rejection or a close) is no exception
        asked = [
            r.settle.order_id
            for r in done
            if r.action == Action.CANCEL and r.settle.state is OutboxState.SENT and r.remote_status
        ]
        if asked:
            conn.execute(_EXPECTED_WORD, {"b_ids": asked})
        void = {
            r.settle.row_id for r in done if r.settle.row_id in void and self._void_move(conn, r)
        }
        notable = [
            (r, why)
            for r in done
            if r.settle.row_id not in void and (why := r.timeline_note()) is not None
        ]
        if notable:
            now = self.clock()
            ids = list({r.settle.order_id for r, _ in notable})
            facts = {
                o.id: o
                for o in conn.execute(
                    select(orders.c.id, orders.c.status, orders.c.version).where(
                        orders.c.id.in_(ids)
                    )
                )
            }
            for r, (action, reason) in notable:
                order = facts[r.settle.order_id]
                self._event(
                    conn,
                    order.id,
                    now,
                    action=action,
                    from_status=order.status,
                    to_status=order.status,
                    reason=reason,
                    version=order.version,
                    source="remote",
                    actor=REMOTE,
                )
            self.store.record_change(conn, ids)
        return len(done)

    def judge_read_backs(self, conn: Connection, results: Sequence[PushResult]) -> list[PushResult]:
        """Settle each send judged on a read-back by the reconcile rule, in the caller's
        transaction (after what the read-back saw was applied): in effect (CONFIRM:
        ``sent``), moot (SUPERSEDE) or void (REVERT: ``superseded`` and, by
        :meth:`record_push`, taken back). Results already judged are left as they are."""
        judged: list[PushResult] = []
        for r in results:
            read = r.read_back
            if read is None or r.verdict is not None:
                judged.append(r)
                continue
            ev = self._move_event(conn, r.settle.row_id)
            local = conn.execute(
                select(orders.c.status).where(orders.c.id == r.settle.order_id)
            ).scalar_one_or_none()
            target = None if ev is None or ev["to_status"] is None else Status(ev["to_status"])
            moves = ev is not None and ev["action"] in (Action.START, Action.FINISH)
            queued = outbox_rows.has_unsettled(conn, r.settle.order_id, besides=r.settle.row_id)
            case = Case(
                Status(local) if local else Status.OPEN,
                read.board,
                read.row,
                plan=read.plan,
                target=target,
                sent_now=read.sent_now,
                queued_after=queued or not moves,
            )
            verdict = reconcile(case)
            if verdict is Verdict.CONFIRM:
                settle = replace(r.settle, state=OutboxState.SENT, error=None)
            else:
                settle = replace(
                    r.settle, state=OutboxState.SUPERSEDED, error=f"superseded: {_moved(read)}"
                )
            judged.append(replace(r, settle=settle, verdict=verdict))
        return judged

    def _move_event(self, conn: Connection, row_id: int) -> RowMapping | None:
        """The audit event of the move an outbox row carries."""
        return (
            conn.execute(
                select(audit_events)
                .join(outbox, outbox.c.audit_event_id == audit_events.c.id)
                .where(outbox.c.id == row_id)
            )
            .mappings()
            .first()
        )

    def _void_move(self, conn: Connection, result: PushResult) -> bool:
        """A start or finish the remote can no longer take, none of which is in effect there
        (the reconcile rule's REVERT: the merchant held or scheduled the order first), is
        taken back here as well: the card shows the order where the remote has it, and the
        timeline says why. Returns whether it did."""
        order_id = result.settle.order_id
        ev = self._move_event(conn, result.settle.row_id)
        row = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
        if ev is None or row is None or row["status"] != ev["to_status"]:
            return False
        now = self.clock()
        since = self._status_since_before(conn, row, ev["id"], ev["from_status"])
        values: dict[str, object] = {
            "status": ev["from_status"],
            "status_since": since or now,
            "version": row["version"] + 1,
            "updated_at": now,
        }
        if ev["action"] == Action.FINISH:
            values |= _NO_TRACKING
        elif ev["action"] == Action.START:
            values |= _NO_STEPS
        conn.execute(update(orders).where(orders.c.id == order_id).values(**values))
        why = _moved(result.read_back) if result.read_back else "the remote moved on"
        self._event(
            conn,
            order_id,
            now,
            action=OutboxState.SUPERSEDED.value,
            from_status=ev["to_status"],
            to_status=ev["from_status"],
            reason=f"{ev['action']} not sent: {why}; back to {ev['from_status']}",
            version=row["version"] + 1,
            source="remote",
            actor=REMOTE,
        )
        self.store.record_change(conn, [order_id])
        return True

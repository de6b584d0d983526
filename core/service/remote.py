"""Applying the remote: what a system of record says of an order it and we both know (its
status, a hold, a cancellation request, a word that needs a person) weighed against our own
moves by the reconcile rule (:mod:`rxfloor.core.reconcile`), which alone decides who wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core import sources
from rxfloor.core.db import alerts, orders
from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.models import CANCELLATION
from rxfloor.core.reconcile import Case, Verdict, reconcile
from rxfloor.core.service.base import _NO_STEPS, REMOTE, REMOTE_ACTOR, ServicePart
from rxfloor.core.states import held_by_remote
from rxfloor.core.text import scrub

#: How much of a merchant's message the floor keeps.
_MESSAGE_MAX = 500


#: Moves inside FINISHED: a remote that reaches FINISHED has not made them moot.
_AFTER_FINISH = frozenset({Action.HANDOFF.value})


class RemoteChanges(ServicePart):
    """What the remote says, applied (see the module's docstring)."""

    def apply_remote(
        self,
        order_id: str,
        remote_status: str,
        board_status: Status | None,
        *,
        remote_hold: bool = False,
        hold_comment: str | None = None,
        cancel_requested: bool = False,
        request_message: str | None = None,
        seen_at: datetime | None = None,
    ) -> str | None:
        """Apply what the remote says about a known order; returns what changed (or None).

        ``seen_at`` is when the remote was so (a webhook event's own time; None: now): a
        remote behind a move sent after that time has not lost the move, it had not yet
        had it (a late echo of an earlier report).

        A merchant's new cancellation request (``cancel_requested``) is recorded on the
        order with its message (scrubbed, clipped), audited and raised as a persistent
        alert (kind ``cancel_request``); a request the remote no longer shows is cleared,
        unless the floor's own answer to it is still on its way there.

        A remote status ahead of ours, or a terminal one that differs, wins: the order
        moves, the move is an audit event with source ``remote``, queued local steps
        become ``superseded`` (kept, not deleted), and a remote cancel of an order in
        PROCESSING raises an alert that stays until acknowledged. A remote status behind
        ours is our own move not yet pushed: only ``remote_status`` is recorded.
        """
        with self.store.write() as conn:
            return self.apply_remote_in(
                conn,
                order_id,
                remote_status,
                board_status,
                remote_hold=remote_hold,
                hold_comment=hold_comment,
                cancel_requested=cancel_requested,
                request_message=request_message,
                seen_at=seen_at,
            )

    def apply_remote_in(
        self,
        conn: Connection,
        order_id: str,
        remote_status: str,
        board_status: Status | None,
        *,
        remote_hold: bool = False,
        hold_comment: str | None = None,
        cancel_requested: bool = False,
        request_message: str | None = None,
        seen_at: datetime | None = None,
    ) -> str | None:
        """:meth:`apply_remote` in the caller's transaction."""
        now = self.clock()
        row = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
        if row is None:
            return None
        local = Status(row["status"])
        weighed, read_before = outbox_rows.weigh(conn, order_id, seen_at)
        verdict = reconcile(
            Case(
                _as_source_tells(row, local),
                board_status,
                weighed,
                news=row["remote_status"] != remote_status,
                read_before_settled=read_before,
            )
        )
        if verdict is Verdict.ADOPT and board_status == local:
            verdict = Verdict.KEEP  # the source caught up with a ready order: nothing moves
        # the remote's status wins (ADOPT), or it ended the order where our own unsent
        # step was taking it (SUPERSEDE: an undo must not bring back a column it left)
        wins = verdict in (Verdict.ADOPT, Verdict.SUPERSEDE)
        hold_on = remote_hold and not row["on_hold"]
        hold_off = not remote_hold and held_by_remote(row["on_hold"], row["hold_by"])
        asked = row["request_kind"] == CANCELLATION
        if cancel_requested != asked and outbox_rows.answer_unsettled(conn, order_id):
            cancel_requested = asked  # our answer is not there yet: the remote is behind
        ending = wins and board_status is not None and board_status.is_terminal
        request_on = cancel_requested and not asked and not ending and not local.is_terminal
        request_off = asked and (not cancel_requested or ending)
        recovered = _exception_left(row, remote_status)
        if not (wins or hold_on or hold_off or request_on or request_off):
            lost = (
                self._divergence(conn, row, remote_status, now)
                if verdict is Verdict.DIVERGED and not remote_hold
                else None
            )
            if row["remote_status"] != remote_status:
                conn.execute(
                    update(orders)
                    .where(orders.c.id == order_id)
                    .values(remote_status=remote_status, exception_resolved=None)
                )
            if recovered is not None:  # it leaves the exceptions queue: say so
                self._remote_said(
                    conn,
                    order_id,
                    now,
                    action="exception_closed",
                    status=local,
                    reason=recovered,
                    version=row["version"],
                )
                self.store.record_change(conn, [order_id])
                return lost or "exception closed"
            return lost
        version = row["version"] + 1
        values: dict[str, object] = {
            "version": version,
            "updated_at": now,
            "remote_status": remote_status,
        }
        if row["remote_status"] != remote_status:
            values["exception_resolved"] = None
        what: list[str] = []
        if recovered is not None:
            self._remote_said(
                conn,
                order_id,
                now,
                action="exception_closed",
                status=local,
                reason=recovered,
                version=version,
            )
            what.append("exception closed")
        if wins:
            assert board_status is not None
            if board_status != local:
                values |= {"status": board_status, "status_since": now}
                if board_status in (Status.OPEN, Status.PROCESSING):
                    values |= _NO_STEPS  # its filling starts over (nobody checked this)
            # a parked step goes too: its sync error is settled; a hand-off waits for its
            # push's read-back (a remote FINISHED is not the patient's pickup)
            keep = _AFTER_FINISH if board_status is Status.FINISHED else frozenset()
            outbox_rows.supersede(
                conn,
                order_id,
                f"superseded: the remote set the order to {remote_status}",
                keep=keep,
            )
            self._event(
                conn,
                order_id,
                now,
                action="remote",
                from_status=local,
                to_status=board_status,
                reason=f"remote status {remote_status}",
                version=version,
                source="remote",
                actor=REMOTE,
            )
            what.append(f"{local} -> {board_status}")
            if board_status is Status.CANCELLED and local is Status.PROCESSING:
                conn.execute(
                    insert(alerts).values(
                        order_id=order_id,
                        kind="remote_cancel",
                        message=f"{row['name']} was cancelled by the remote while in "
                        "PROCESSING here: stop work on it",
                        created_at=now,
                    )
                )
                what.append("alert")
        status_now = str(values.get("status", local))
        if request_on:
            message = _merchant_words(request_message)
            values |= {"request_kind": CANCELLATION, "request_message": message}
            self._remote_said(
                conn,
                order_id,
                now,
                action="cancel_request",
                status=status_now,
                reason=message or "no message",
                version=version,
            )
            conn.execute(
                insert(alerts).values(
                    order_id=order_id,
                    kind="cancel_request",
                    message=f"the merchant asks to cancel {row['name']}"
                    + (f": {message}" if message else "")
                    + " (accept or reject the request)",
                    created_at=now,
                )
            )
            what.append("cancel request")
        elif request_off:
            values |= {"request_kind": None}
            self._close_request_alerts(conn, order_id, now, REMOTE_ACTOR)
            if not ending:
                self._remote_said(
                    conn,
                    order_id,
                    now,
                    action="cancel_request_closed",
                    status=status_now,
                    reason="the cancellation request was closed at the remote",
                    version=version,
                )
            what.append("request closed")
        if hold_on:
            reason = hold_comment or "on hold at the remote"
            values |= {
                "on_hold": True,
                "hold_reason": reason,
                "hold_by": REMOTE_ACTOR,
                "hold_since": now,
            }
            self._remote_said(
                conn,
                order_id,
                now,
                action="hold",
                status=status_now,
                reason=reason,
                version=version,
            )
            what.append("hold")
        elif hold_off:
            values |= {"on_hold": False, "hold_reason": None, "hold_by": None, "hold_since": None}
            self._remote_said(
                conn,
                order_id,
                now,
                action="release",
                status=status_now,
                reason="released at the remote",
                version=version,
            )
            what.append("release")
        conn.execute(update(orders).where(orders.c.id == order_id).values(**values))
        self.store.record_change(conn, [order_id])
        return ", ".join(what)

    def _remote_said(
        self,
        conn: Connection,
        order_id: str,
        now: datetime,
        *,
        action: str,
        status: str,
        reason: str,
        version: int,
    ) -> None:
        """An audit event the remote caused that leaves the order's status as it is (an
        exception closed, a cancellation request opened or closed, a hold or its release, a
        divergence)."""
        self._event(
            conn,
            order_id,
            now,
            action=action,
            from_status=status,
            to_status=status,
            reason=reason,
            version=version,
            source="remote",
            actor=REMOTE,
        )

    def _divergence(
        self, conn: Connection, row: RowMapping, remote_status: str, now: datetime
    ) -> str:
        """The remote is behind a move of ours that was sent and settled, read after it was
        (the reconcile rule's DIVERGED): it may have lost it.

        The latest sent move is parked again as a ``failed`` outbox row with the words of
        the divergence: the card shows a sync error, the header counts it, and a person
        retries (the move is read back and sent again) or resolves it. Returns
        ``"divergence"``.
        """
        local = Status(row["status"])
        order_id = row["id"]
        sent = outbox_rows.last_sent(conn, order_id)
        assert sent is not None  # DIVERGED is judged on a settled move
        when = (sent["sent_at"] or sent["created_at"]).astimezone()
        stamp = when.strftime(
            "%H:%M" if when.date() == now.astimezone().date() else "%Y-%m-%d %H:%M"
        )
        message = (
            f"remote shows {remote_status} but {local.value.lower()} was sent on {stamp} — "
            "the remote may have lost this move; retry or resolve"
        )
        outbox_rows.park_again(conn, sent, message, now)
        self._remote_said(
            conn,
            order_id,
            now,
            action="divergence",
            status=local,
            reason=message,
            version=row["version"],
        )
        self.store.record_change(conn, [order_id])
        return "divergence"


def _exception_left(row: RowMapping, remote_status: str) -> str | None:
    """The audit reason when the source's new word takes the order out of the exceptions
    queue (it was there, unresolved, and the new word needs no person), else None."""
    source, was = row["source"], row["remote_status"]
    if was == remote_status or sources.exception(source, was, row["exception_resolved"]) is None:
        return None
    if sources.exception(source, remote_status) is not None:
        return None  # another word that needs a person: still in the queue
    label = sources.traits(source).label
    now, before = sources.status_words(source, remote_status), sources.status_words(source, was)
    return f"{label} now says {now} (was {before}): out of the exceptions queue"


def _merchant_words(message: str | None) -> str | None:
    """A merchant's message as the floor keeps it: secrets scrubbed, one line, clipped."""
    if not message:
        return None
    text = " ".join(scrub(message).split())
    return (text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…") or None


def _as_source_tells(row: RowMapping, local: Status) -> Status:
    """The column the order's source can tell of it: a pickup order ready here (FINISHED,
    not yet picked up) is still in progress at a source with no word for ready (its
    ``tells_ready`` trait: Photon until the hand-off)."""
    ready = (
        local is Status.FINISHED
        and row["delivery_type"] == DeliveryType.PICKUP
        and row["picked_up_at"] is None
    )
    if not ready:
        return local
    try:
        tells_ready = sources.traits(row["source"]).tells_ready
    except ValueError:  # a source this build does not know: as it says
        return local
    return local if tells_ready else Status.PROCESSING

"""The one door for every change to an order: the only writer of orders, audit events
and alerts (tests/test_quality.py holds it to that).

Each call is one database transaction that writes the new state, an audit event and —
for moves the remote must learn about — an outbox row (through :mod:`rxfloor.core.outbox`,
inside the same transaction), together or not at all. The order's ``version`` column makes
every move conditional, so two terminals racing on the same order can never both win (the
loser gets a :class:`Conflict`). What the sync worker learns from a push comes in here too
(:meth:`OrderService.record_push`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, case, func, insert, or_, select, update

from rxfloor.core import lifecycle, sources
from rxfloor.core import outbox as outbox_rows
from rxfloor.core import tracking as tracking_check
from rxfloor.core.config import Settings
from rxfloor.core.db import (
    AmbiguousOrder,
    Store,
    alerts,
    audit_events,
    changelog,
    changes,
    line_items,
    orders,
    outbox,
    people,
    product_scans,
    queries,
    resolve_order,
    utcnow,
)
from rxfloor.core.flags import FlagRules, item_flags
from rxfloor.core.lifecycle import (
    STEP_ACTIONS,
    Action,
    CheckRule,
    OrderFacts,
    Person,
    Status,
    Step,
    TransitionError,
)
from rxfloor.core.models import (
    CANCELLATION,
    LineItem,
    NewOrder,
    OrderView,
    OutboxState,
    Tracking,
    items_summary,
)
from rxfloor.core.reconcile import Case, Plan, Row, Verdict, reconcile
from rxfloor.core.sources import SourceTraits
from rxfloor.core.text import clip, scrub
from rxfloor.core.tracking import TrackingCheck

#: Which lifecycle actions produce an outbox row (the remote learns of status moves and of
#: the answers to its cancellation requests).
PUSHED_ACTIONS = frozenset({Action.START, Action.FINISH, Action.CANCEL, Action.ACCEPT_CANCEL,
                            Action.REJECT_CANCEL})  # fmt: skip
#: Why an undo is refused, by the state of the move's outbox row.
_UNDO_REFUSED = {
    OutboxState.SENDING: "is already being sent to the remote",
    OutboxState.SENT: "has already been sent to the remote",
    OutboxState.PENDING: "may already have reached the remote (its answer was lost)",
}
#: How a lost race names the move that won it.
_MEANWHILE = {
    "start": "was started",
    "finish": "was finished",
    "cancel": "was cancelled",
    "hold": "was put on hold",
    "release": "was released from hold",
    "undo": "had its last move undone",
    "accept_cancel": "had its cancellation request accepted",
    "reject_cancel": "had its cancellation request rejected",
    "cancel_request": "was asked to be cancelled",
    "note": "had a note added",
    "product_scan": "had a product scanned",
    "fill": "was marked filled",
    "check": "was checked",
    "fail_check": "failed its check",
}
#: The steps' columns as they are before an order begins them (and after a remote move
#: takes it back to OPEN or into PROCESSING anew).
_NO_STEPS: dict[str, object] = {
    "fill_step": None,
    "filled_by": None,
    "checked_by": None,
    "check_note": None,
}
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
#: What a finish sent the source, cleared when the finish is taken back.
_NO_TRACKING: dict[str, object] = {
    "tracking_company": None,
    "tracking_number": None,
    "tracking_url": None,
}


def _item_rows(order_id: str, items: Sequence[LineItem]) -> list[dict[str, object]]:
    """An order's line items as ``line_items`` rows, in their order."""
    return [
        {"order_id": order_id, "position": i, **item.model_dump()} for i, item in enumerate(items)
    ]


#: How long a note of the floor may be.
_NOTE_MAX = 500
#: How much of a merchant's message the floor keeps.
_MESSAGE_MAX = 500
#: The actor recorded for changes made on the remote side.
REMOTE_ACTOR = "remote"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is pressing the keys: pharmacist (initials or OS user) and station (host)."""

    name: str
    station: str


class ServiceError(Exception):
    """Base for refusals; ``str(err)`` is one line that names the order."""


class OrderNotFound(ServiceError):
    pass


class Refused(ServiceError):
    """The lifecycle forbids the action for the order as it is now."""

    def __init__(self, message: str, order: OrderView | None = None) -> None:
        super().__init__(message)
        self.order = order


class Conflict(Refused):
    """Someone else changed the order first (lost race or stale version)."""


@dataclass(frozen=True, slots=True)
class MoveResult:
    order: OrderView
    action: Action
    event_id: int
    from_status: Status
    to_status: Status

    @property
    def summary(self) -> str:
        o = self.order
        if self.action in (Action.HOLD, Action.RELEASE):
            what = "on hold" if self.action is Action.HOLD else "released"
            return f"{o.name} {what} ({o.status})"
        if self.action is Action.REJECT_CANCEL:
            return f"{o.name} cancellation request rejected ({o.status})"
        if self.action is Action.FILL:
            return f"{o.name} filled by {o.filled_by or '?'}: awaiting check"
        if self.action is Action.CHECK:
            return f"{o.name} checked by {o.checked_by or '?'}: ready to finish"
        if self.action is Action.FAIL_CHECK:
            return f"{o.name} failed its check: back to filling ({o.check_note})"
        return f"{o.name} {self.from_status} -> {self.to_status}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The remote refused a send: the first refusal is retried once (at ``retry_at``), the
    second parks the row."""

    words: str  # the remote's message
    times: int  # the row's refusals so far
    retry_at: datetime | None = None  # the one automatic retry of a first refusal
    said: bool = False  # the row already carried these very words (a retry refused again)

    @property
    def how(self) -> str:
        return "refused" if self.times <= 1 else "refused twice" if self.times == 2 else (
            "refused again")  # fmt: skip

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


class OrderService:
    def __init__(
        self,
        store: Store,
        actor: Actor,
        clock: Callable[[], datetime] = utcnow,
        *,
        check: CheckRule = CheckRule.NONE,
        flags: FlagRules | None = None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.clock = clock
        #: ``[floor] check``: who checks a filled order before it can be finished
        self.check = check
        #: ``[floor] require_product_scan``: filled only when every pack was scanned
        self.require_product_scan = False
        #: ``[floor] fridge`` / ``controlled``: the items that set the card's badges
        self.flags = flags or FlagRules()
        #: a board's station signed out (idle, or by hand): nobody fills or checks from it
        self.signed_in = True

    # ------------------------------------------------------------------ reads
    def get(self, ref: str) -> OrderView:
        with self.store.read() as conn:
            return self._view(conn, self._find(conn, ref))

    def legal_actions(self, order: OrderView) -> frozenset[Action]:
        by_remote = order.hold and order.hold_by == REMOTE_ACTOR
        remote_hold = by_remote and not sources.traits(order.source).remote_hold
        facts = OrderFacts(order.status, order.hold, order.fulfill_at,
                           cancel_requested=order.cancel_requested,
                           remote_hold=remote_hold, check=self.check,
                           step=Step(order.fill_step) if order.fill_step else None,
                           filler=order.filled_by)  # fmt: skip
        with self.store.read() as conn:
            by = self._person(conn)
        return lifecycle.legal_actions(facts, self.clock(), by)

    def _person(self, conn: Connection) -> Person | None:
        """The person at the keys, as the check knows them: a pharmacist when the floor's
        list says so (a name not on the list is nobody's pharmacist); None: signed out."""
        if not self.signed_in:
            return None
        if self.check != "pharmacist":  # only that floor asks the role: no read per move
            return Person(self.actor.name, pharmacist=False)
        role = conn.execute(select(people.c.role).where(people.c.name == self.actor.name)).scalar()
        return Person(self.actor.name, pharmacist=role == "pharmacist")

    # ---------------------------------------------------------------- actions
    def act(
        self,
        ref: str,
        action: Action,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
        tracking: Tracking | None = None,
    ) -> MoveResult:
        """Apply one action; raises OrderNotFound / Refused / Conflict with a readable line.

        ``tracking`` goes with a finish: stored on the order and in its outbox row, so the
        push sends what the move said. A hold of a source that cannot hold for the pharmacy
        (``remote_hold`` trait False) is local: the audit event says so; so is a start of a
        source with no "in progress" (``remote_start`` False): nothing is queued for it.
        """
        reason = reason.strip() if reason and reason.strip() else None
        now = self.clock()
        with self.store.moving() as conn:
            # read and decide with no transaction open; the write is conditional on the
            # version read, so a decision on a row that changed since writes nothing
            row = self._find(conn, ref)
            step = self._decide(conn, row, action, reason, expected_version, tracking, now)
            if step is not None:
                outcome, values, why, queue = step
                written = _write_move(
                    conn, order_id=row["id"], version=row["version"], values=values,
                    event=self._event_values(now, outcome.action, row["status"],
                                             outcome.facts.status, why, row["version"] + 1),
                    queue=queue, at=now,
                )  # fmt: skip
                if written is None:  # someone committed in between
                    raise self._lost_race(conn, row, action)
                view = OrderView.from_row(written.row, sync_error=written.sync_error)
                return MoveResult(view, outcome.action, written.event_id,
                                  Status(row["status"]), outcome.facts.status)  # fmt: skip
        # answering a cancellation request also closes its alerts: one transaction for all
        return self._act_in_transaction(ref, action, reason, expected_version, tracking, now)

    def _decide(
        self,
        conn: Connection,
        row: RowMapping,
        action: Action,
        reason: str | None,
        expected_version: int | None,
        tracking: Tracking | None,
        now: datetime,
    ) -> tuple[lifecycle.Outcome, dict[str, object], str | None, dict[str, object] | None] | None:
        """The move's outcome, the order's new values, the audit reason and the outbox row
        (None: not pushed); None when the move must close alerts too (the slow path).
        Raises Conflict / Refused as :meth:`act` says."""
        if expected_version is not None and row["version"] != expected_version:
            changed = self._meanwhile(conn, row, expected_version)
            raise Conflict(f"{changed}: nothing done", self._view(conn, row))
        traits = sources.traits(row["source"])
        facts = _facts(row, traits, self.check)
        if self.require_product_scan and facts.current_step is Step.FILLING:
            total, scanned, _ = _scan_counts(conn, row["id"])
            facts = replace(facts, unscanned=max(0, total - scanned))
        try:
            outcome = lifecycle.apply(facts, action, now, reason, name=row["name"],
                                      held_at=traits.label,
                                      by=self._person(conn))  # fmt: skip
        except TransitionError as exc:
            raise self._refusal(conn, row, action, exc) from None
        if tracking is not None and outcome.action is not Action.FINISH:
            raise Refused(f"{row['name']}: a tracking number goes with a finish only",
                          self._view(conn, row))  # fmt: skip
        self._refuse_tracking(conn, row, tracking)
        if outcome.action in (Action.REJECT_CANCEL, Action.ACCEPT_CANCEL):
            return None
        values: dict[str, object] = {"version": row["version"] + 1, "updated_at": now}
        why = reason
        if outcome.action is Action.HOLD:
            values |= {"on_hold": True, "hold_reason": reason, "hold_by": self.actor.name,
                       "hold_since": now}  # fmt: skip
            if not traits.remote_hold:
                why = f"{reason} ({local_hold_note(traits)})"
        elif outcome.action is Action.RELEASE:
            values |= {"on_hold": False, "hold_reason": None, "hold_by": None,
                       "hold_since": None}  # fmt: skip
            why = f"released the hold of {lifecycle.hold_words(facts)}"  # the event: who did
        elif outcome.action in STEP_ACTIONS:
            values |= _step_values(outcome.action, outcome.facts, self.actor.name, reason)
        else:
            values |= {"status": outcome.facts.status, "status_since": now}
            if outcome.action is Action.START and outcome.facts.step is not None:
                values |= _NO_STEPS | {"fill_step": outcome.facts.step,
                                       "filled_by": outcome.facts.filler}  # fmt: skip
            if tracking is not None:
                values |= {"tracking_company": tracking.company,
                           "tracking_number": tracking.number,
                           "tracking_url": tracking.url}  # fmt: skip
                why = _with_tracking(why, tracking)
        local_start = outcome.action is Action.START and not traits.remote_start
        queue: dict[str, object] | None = None
        if outcome.action in PUSHED_ACTIONS and not row["sample"] and not local_start:
            payload = None if tracking is None else {"tracking": tracking.model_dump()}
            queue = {"action": outcome.action, "reason": reason, "payload": payload}
        return outcome, values, why, queue

    def check_tracking(self, number: str) -> TrackingCheck:
        """Is ``number`` a parcel's tracking number (:mod:`rxfloor.core.tracking`)?"""
        with self.store.read() as conn:
            return tracking_check.check(conn, number)

    def _refuse_tracking(
        self, conn: Connection, row: RowMapping, tracking: Tracking | None
    ) -> None:
        """A finish never sends an order's code as tracking, whatever path it came by (the
        board's dialog checks the carrier's format too, and asks)."""
        if tracking is None or not tracking.number:
            return
        found = tracking_check.order_code(conn, tracking.number)
        if found is not None:
            raise Refused(f"{row['name']}: {found.message}", self._view(conn, row))

    def _event_values(
        self,
        at: datetime,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        version: int,
    ) -> dict[str, object]:
        """An audit event of this terminal's person, as :meth:`_event` writes it."""
        return {"at": at, "actor": self.actor.name, "station": self.actor.station,
                "action": str(action), "from_status": from_status, "to_status": to_status,
                "reason": reason, "source": "local", "version": version}  # fmt: skip

    def _lost_race(self, conn: Connection, row: RowMapping, action: Action) -> Conflict:
        """What happened to the order since ``row`` was read (a fresh read in autocommit)."""
        fresh = self._find(conn, row["id"])
        message = (
            self._refusal(conn, fresh, action, None).args[0]  # "is already PROCESSING"
            if fresh["status"] != row["status"]
            else self._meanwhile(conn, fresh, row["version"])  # e.g. put on hold
        )
        return Conflict(message, self._view(conn, fresh))

    def _act_in_transaction(
        self,
        ref: str,
        action: Action,
        reason: str | None,
        expected_version: int | None,
        tracking: Tracking | None,
        now: datetime,
    ) -> MoveResult:
        """A move in one transaction from its first read (an answer to a cancellation
        request: the order, its alerts, its event and outbox row commit together)."""
        with self.store.write() as conn:
            row = self._find(conn, ref)
            if expected_version is not None and row["version"] != expected_version:
                # the person decided on the order as it was (a dialog may stay open minutes):
                # say who did what since, "#1003 was cancelled by AB meanwhile …"
                changed = self._meanwhile(conn, row, expected_version)
                raise Conflict(f"{changed}: nothing done", self._view(conn, row))
            traits = sources.traits(row["source"])
            facts = _facts(row, traits, self.check)
            if self.require_product_scan and facts.current_step is Step.FILLING:
                total, scanned, _ = _scan_counts(conn, row["id"])
                facts = replace(facts, unscanned=max(0, total - scanned))
            try:
                outcome = lifecycle.apply(facts, action, now, reason, name=row["name"],
                                          held_at=traits.label,
                                          by=self._person(conn))  # fmt: skip
            except TransitionError as exc:
                raise self._refusal(conn, row, action, exc) from None
            if tracking is not None and outcome.action is not Action.FINISH:
                raise Refused(f"{row['name']}: a tracking number goes with a finish only",
                              self._view(conn, row))  # fmt: skip
            self._refuse_tracking(conn, row, tracking)
            values: dict[str, object] = {"version": row["version"] + 1, "updated_at": now}
            why = reason
            if outcome.action is Action.HOLD:
                values |= {"on_hold": True, "hold_reason": reason, "hold_by": self.actor.name,
                           "hold_since": now}  # fmt: skip
                if not traits.remote_hold:
                    why = f"{reason} ({local_hold_note(traits)})"
            elif outcome.action is Action.RELEASE:
                values |= {"on_hold": False, "hold_reason": None, "hold_by": None,
                           "hold_since": None}  # fmt: skip
                why = f"released the hold of {lifecycle.hold_words(facts)}"
            elif outcome.action is Action.REJECT_CANCEL:
                values |= {"request_kind": None}  # the message stays: an undo brings it back
                self._close_request_alerts(conn, row["id"], now, self.actor.name)
            elif outcome.action in STEP_ACTIONS:
                values |= _step_values(outcome.action, outcome.facts, self.actor.name, reason)
            else:
                values |= {"status": outcome.facts.status, "status_since": now}
                if outcome.action is Action.ACCEPT_CANCEL:
                    values |= {"request_kind": None}
                    self._close_request_alerts(conn, row["id"], now, self.actor.name)
                if outcome.action is Action.START and outcome.facts.step is not None:
                    values |= _NO_STEPS | {"fill_step": outcome.facts.step,
                                           "filled_by": outcome.facts.filler}  # fmt: skip
                if tracking is not None:
                    values |= {"tracking_company": tracking.company,
                               "tracking_number": tracking.number,
                               "tracking_url": tracking.url}  # fmt: skip
            done = conn.execute(
                update(orders)
                .where(orders.c.id == row["id"], orders.c.version == row["version"])
                .values(**values)
            )
            if done.rowcount != 1:  # someone committed in between (PostgreSQL READ COMMITTED)
                fresh = self._find(conn, row["id"])  # a new snapshot: what really happened
                message = (
                    self._refusal(conn, fresh, action, None).args[0]  # "is already PROCESSING"
                    if fresh["status"] != row["status"]
                    else self._meanwhile(conn, fresh, row["version"])  # e.g. put on hold
                )
                raise Conflict(message, self._view(conn, fresh))
            event_id = self._event(
                conn,
                row["id"],
                now,
                action=outcome.action,
                from_status=facts.status,
                to_status=outcome.facts.status,
                reason=why if tracking is None else _with_tracking(why, tracking),
                version=row["version"] + 1,
            )
            local_start = outcome.action is Action.START and not traits.remote_start
            if outcome.action in PUSHED_ACTIONS and not row["sample"] and not local_start:
                payload = None if tracking is None else {"tracking": tracking.model_dump()}
                outbox_rows.enqueue(conn, order_id=row["id"], audit_event_id=event_id,
                                    action=outcome.action, reason=reason, at=now,
                                    payload=payload)  # fmt: skip
            self.store.record_change(conn, [row["id"]])
            view = self._view(conn, self._find(conn, row["id"]))
        return MoveResult(view, outcome.action, event_id, facts.status, outcome.facts.status)

    def scan_product(self, ref: str, text: str) -> ProductScanned:
        """A pack scanned while filling the order: one of its items (ticked, its batch and
        serial kept for a recall) or refused — not a product, not on the order, expired, or
        every pack of that item already scanned. A refusal is audited too (``scan_refused``);
        neither is ever sent to a source."""
        from rxfloor.core.products import matching_item, read_product

        scan = read_product(text)
        if scan is None:
            raise Refused(f"{clip(visible_text(text))} is not a product code")
        now = self.clock()
        refusal: str | None = None
        with self.store.write() as conn:
            row = self._find(conn, ref)
            name = row["name"]
            step = _facts(row, sources.traits(row["source"]), self.check).current_step
            if row["status"] != Status.PROCESSING or step not in (None, Step.FILLING):
                raise Refused(f"{name} is not being filled: scan its products while filling it",
                              self._view(conn, row))  # fmt: skip
            items = queries.order_items(conn, row["id"])
            total, scanned, per_item = _scan_counts(conn, row["id"])
            position = matching_item(scan, [(i["sku"], i["pzn"]) for i in items])
            item = items[position] if position is not None else None
            label = _item_label(item) if item is not None else ""
            if item is None:
                code = f"GTIN {scan.gtin}" if scan.gtin else "the product"
                listed = ", ".join(_item_label(i) for i in items) or "no items"
                refusal = f"{code} is not on {name} (it holds {listed})"
            elif scan.expired(now.date()):
                refusal = f"{label} expired {scan.expiry}: not for {name}"
            elif position is not None and per_item.get(position, 0) >= item["quantity"]:
                refusal = f"every pack of {label} on {name} is already scanned ({item['quantity']})"
            if refusal is not None:
                self._event(conn, row["id"], now, action="scan_refused", from_status=row["status"],
                            to_status=row["status"], reason=f"{refusal} «{clip(scan.raw)}»",
                            version=row["version"])  # fmt: skip
                view = self._view(conn, row)
            else:
                assert position is not None
                progress = f"{scanned + 1}/{total}"
                conn.execute(insert(product_scans).values(
                    order_id=row["id"], position=position, at=now, actor=self.actor.name,
                    station=self.actor.station, gtin=scan.gtin, batch=scan.batch,
                    serial=scan.serial, raw=scan.raw[:500],
                    expiry=scan.expiry.isoformat() if scan.expiry else None))  # fmt: skip
                version = row["version"] + 1
                conn.execute(update(orders).where(orders.c.id == row["id"])
                             .values(scan_progress=progress, version=version,
                                     updated_at=now))  # fmt: skip
                pack = " · ".join(
                    p
                    for p in (
                        label,
                        scan.batch and f"batch {scan.batch}",
                        scan.serial and f"serial {scan.serial}",
                    )
                    if p
                )
                self._event(conn, row["id"], now, action="product_scan",
                            from_status=row["status"], to_status=row["status"],
                            reason=f"{pack} ({progress} scanned)", version=version)  # fmt: skip
                self.store.record_change(conn, [row["id"]])
                view = self._view(conn, self._find(conn, row["id"]))
        if refusal is not None:
            raise Refused(refusal, view)
        return ProductScanned(view, label, view.scan_progress or "")

    def add_note(self, ref: str, text: str) -> OrderView:
        """The floor's own note on the order: an audit event ``note`` (the detail and the
        timeline show it, the card a mark); never sent to a source."""
        text = " ".join(text.split())
        if not 1 <= len(text) <= _NOTE_MAX:
            raise Refused(f"a note is 1 to {_NOTE_MAX} characters")
        now = self.clock()
        with self.store.write() as conn:
            row = self._find(conn, ref)
            version = row["version"] + 1
            conn.execute(update(orders).where(orders.c.id == row["id"])
                         .values(note_count=orders.c.note_count + 1, version=version,
                                 updated_at=now))  # fmt: skip
            self._event(conn, row["id"], now, action="note", from_status=row["status"],
                        to_status=row["status"], reason=text, version=version)  # fmt: skip
            self.store.record_change(conn, [row["id"]])
            return self._view(conn, self._find(conn, row["id"]))

    def undo(self, event_id: int) -> MoveResult:
        """Take back one of this terminal's moves while the remote has not seen it yet.

        The undo is a new audit event (nothing is deleted); the outbox row is marked
        ``undone`` so it is never pushed. Refused once the order changed again or the
        move was handed to the remote.
        """
        now = self.clock()
        with self.store.write() as conn:
            ev = (
                conn.execute(select(audit_events).where(audit_events.c.id == event_id))
                .mappings()
                .first()
            )
            if (
                ev is None
                or ev["source"] != "local"
                or ev["action"] not in {a.value for a in Action}
            ):
                raise Refused("nothing to undo")
            row = self._find(conn, ev["order_id"])
            if row["version"] != ev["version"]:
                raise Conflict(
                    f"cannot undo: {self._meanwhile(conn, row, ev['version'])}",
                    self._view(conn, row),
                )
            queued = outbox_rows.undo(conn, event_id)  # only a row no push has claimed
            if queued not in (None, OutboxState.UNDONE):
                raise Refused(
                    f"cannot undo: the {ev['action']} of {row['name']} "
                    + _UNDO_REFUSED.get(queued, f"is {queued}"),
                    self._view(conn, row),
                )
            values: dict[str, object] = {"version": row["version"] + 1, "updated_at": now}
            action = Action(ev["action"])
            if action is Action.HOLD:
                values |= {"on_hold": False, "hold_reason": None, "hold_by": None,
                           "hold_since": None}  # fmt: skip
            elif action is Action.RELEASE:
                prior = self._last_hold_event(conn, row["id"], before=event_id)
                values |= {
                    "on_hold": True,
                    "hold_reason": prior["reason"] if prior else None,
                    "hold_by": prior["actor"] if prior else None,
                    "hold_since": prior["at"] if prior else now,
                }
            elif action is Action.REJECT_CANCEL:
                values |= {"request_kind": CANCELLATION}
            elif action in STEP_ACTIONS:
                values |= _step_undone(action)
            else:  # back in its old status since when it was there before, not since now
                since = self._status_since_before(conn, row, event_id, ev["from_status"])
                values |= {"status": ev["from_status"], "status_since": since or now}
                if action is Action.ACCEPT_CANCEL:
                    values |= {"request_kind": CANCELLATION}
                elif action is Action.FINISH:
                    values |= _NO_TRACKING
                elif action is Action.START:
                    values |= _NO_STEPS
            conn.execute(update(orders).where(orders.c.id == row["id"]).values(**values))
            new_event = self._event(
                conn,
                row["id"],
                now,
                action="undo",
                from_status=ev["to_status"],
                to_status=ev["from_status"],
                reason=f"undo of {ev['action']}",
                version=row["version"] + 1,
            )
            self.store.record_change(conn, [row["id"]])
            view = self._view(conn, self._find(conn, row["id"]))
        return MoveResult(
            view,
            action,
            new_event,
            Status(ev["to_status"]),
            Status(ev["from_status"]),
        )

    def reschedule(self, order_id: str, fulfill_at: datetime | None) -> bool:
        """The source moved (or lifted) the time the merchant scheduled the order for: the
        card's ``fulfill_at`` follows, with an audit event from the remote and a new version
        (as every remote change: whether a start is allowed may have changed). Returns
        whether it changed."""
        with self.store.write() as conn:
            return self.reschedule_in(conn, order_id, fulfill_at)

    def reschedule_in(self, conn: Connection, order_id: str, fulfill_at: datetime | None) -> bool:
        """:meth:`reschedule` in the caller's transaction."""
        now = self.clock()
        row = conn.execute(
            select(orders.c.id, orders.c.status, orders.c.version, orders.c.fulfill_at)
            .where(orders.c.id == order_id)
        ).first()  # fmt: skip
        if row is None or row.fulfill_at == fulfill_at:
            return False
        version = row.version + 1
        conn.execute(update(orders).where(orders.c.id == order_id)
                     .values(fulfill_at=fulfill_at, updated_at=now,
                             version=version))  # fmt: skip
        words = (
            f"scheduled for {fulfill_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if fulfill_at else "no longer scheduled: it can be fulfilled now"
        )  # fmt: skip
        self._event(conn, order_id, now, action="rescheduled", from_status=row.status,
                    to_status=row.status, reason=words, version=version,
                    source="remote", actor=Actor(REMOTE_ACTOR, "remote"))  # fmt: skip
        self.store.record_change(conn, [order_id])
        return True

    def fill_details(self, order_id: str, patient_name: str, items: Sequence[LineItem]) -> bool:
        """Give a bare order (no patient, no items: it reached the floor by an event that
        named it only) what a read-back of the source says. Only what is missing is filled,
        so nothing a person saw changes under them; not a move: no audit event, no version.
        Returns whether anything was filled."""
        with self.store.write() as conn:
            return self.fill_details_in(conn, order_id, patient_name, items)

    def fill_details_in(
        self, conn: Connection, order_id: str, patient_name: str, items: Sequence[LineItem]
    ) -> bool:
        """:meth:`fill_details` in the caller's transaction."""
        patient_name = patient_name.strip()[:128]
        row = conn.execute(
            select(orders.c.patient_name, orders.c.items_summary).where(orders.c.id == order_id)
        ).first()
        if row is None:
            return False
        values: dict[str, object] = {}
        if patient_name and not row.patient_name:
            values["patient_name"] = patient_name
        has_items = conn.execute(
            select(line_items.c.id).where(line_items.c.order_id == order_id).limit(1)
        ).first()
        if items and not has_items and not row.items_summary:
            conn.execute(insert(line_items), _item_rows(order_id, items))
            values["items_summary"] = items_summary(list(items))
            values["flags"] = item_flags(items, self.flags)
        if not values:
            return False
        conn.execute(update(orders).where(orders.c.id == order_id).values(**values))
        self.store.record_change(conn, [order_id])
        return True

    def add_orders(self, new_orders: Iterable[NewOrder], *, source: str = "local") -> int:
        """Insert orders that are not in the store yet (by id); returns how many were added."""
        batch = list(new_orders)
        if not batch:
            return 0
        with self.store.write() as conn:
            return self.add_orders_in(conn, batch, source=source)

    def add_orders_in(
        self, conn: Connection, new_orders: Iterable[NewOrder], *, source: str = "local"
    ) -> int:
        """:meth:`add_orders` in the caller's transaction."""
        batch = list(new_orders)
        if not batch:
            return 0
        now = self.clock()
        who = Actor(REMOTE_ACTOR, "remote") if source == "remote" else self.actor
        existing: set[str] = set()
        for start in range(0, len(batch), 500):  # stay under SQLite's bound-variable limit
            ids = [o.id for o in batch[start : start + 500]]
            existing.update(conn.execute(select(orders.c.id).where(orders.c.id.in_(ids))).scalars())
        fresh = [o for o in batch if o.id not in existing]
        if not fresh:
            return 0
        order_rows: list[dict[str, object]] = []
        item_rows: list[dict[str, object]] = []
        event_rows: list[dict[str, object]] = []
        for o in fresh:
            created = o.created_at or now
            order_rows.append(
                {
                    "id": o.id,
                    "source": o.source,
                    "remote_id": o.remote_id,
                    "name": o.name,
                    "status": o.status,
                    "remote_status": o.remote_status,
                    "priority": o.priority,
                    "delivery_type": o.delivery_type,
                    "patient_name": o.patient_name,
                    "items_summary": items_summary(o.items),
                    "flags": item_flags(o.items, self.flags),
                    "due_at": o.due_at,
                    "fulfill_at": o.fulfill_at,
                    "on_hold": o.on_hold,
                    "hold_reason": o.hold_reason if o.on_hold else None,
                    "hold_by": who.name if o.on_hold else None,
                    "hold_since": now if o.on_hold else None,
                    "sample": o.sample,
                    "version": 1,
                    "created_at": created,
                    "updated_at": now,
                    "status_since": created,
                }
            )
            item_rows.extend(_item_rows(o.id, o.items))
            event_rows.append(
                {
                    "order_id": o.id,
                    # sample orders are made up as created in the past: the timeline says so
                    "at": created if o.sample else now,
                    "actor": who.name,
                    "station": who.station,
                    "action": "created",
                    "from_status": None,
                    "to_status": o.status,
                    "reason": "sample data" if o.sample else None,
                    "source": source,
                    "version": 1,
                }
            )
        conn.execute(insert(orders), order_rows)
        if item_rows:
            conn.execute(insert(line_items), item_rows)
        conn.execute(insert(audit_events), event_rows)
        self.store.record_change(conn, [o.id for o in fresh])
        return len(fresh)

    def acknowledge_alert(self, alert_id: int) -> None:
        """A pharmacist has seen the alert; recorded in the order's audit trail."""
        now = self.clock()
        with self.store.write() as conn:
            alert = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
            if alert is None or alert["acknowledged_at"] is not None:
                return
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(acknowledged_at=now, acknowledged_by=self.actor.name)
            )
            row = self._find(conn, alert["order_id"])
            self._event(
                conn,
                row["id"],
                now,
                action="acknowledge",
                from_status=row["status"],
                to_status=row["status"],
                reason=alert["message"],
                version=row["version"],
            )
            self.store.record_change(conn, [row["id"]])

    def _close_request_alerts(
        self, conn: Connection, order_id: str, now: datetime, by: str
    ) -> None:
        """A cancellation request answered (here, by any terminal or the CLI, or closed at
        the remote): its alert has done its work, in the same transaction as the answer."""
        conn.execute(
            update(alerts)
            .where(
                alerts.c.order_id == order_id,
                alerts.c.kind == "cancel_request",
                alerts.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=now, acknowledged_by=by)
        )

    # ------------------------------------------------------------ remote side
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
        verdict = reconcile(Case(local, board_status, weighed,
                                 news=row["remote_status"] != remote_status,
                                 read_before_settled=read_before))  # fmt: skip
        # the remote's status wins (ADOPT), or it ended the order where our own unsent
        # step was taking it (SUPERSEDE: an undo must not bring back a column it left)
        wins = verdict in (Verdict.ADOPT, Verdict.SUPERSEDE)
        hold_on = remote_hold and not row["on_hold"]
        hold_off = not remote_hold and row["on_hold"] and row["hold_by"] == REMOTE_ACTOR
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
                self._event(conn, order_id, now, action="exception_closed",
                            from_status=local, to_status=local, reason=recovered,
                            version=row["version"], source="remote",
                            actor=Actor(REMOTE_ACTOR, "remote"))  # fmt: skip
                self.store.record_change(conn, [order_id])
                return lost or "exception closed"
            return lost
        version = row["version"] + 1
        values: dict[str, object] = {"version": version, "updated_at": now,
                                     "remote_status": remote_status}  # fmt: skip
        if row["remote_status"] != remote_status:
            values["exception_resolved"] = None
        remote = Actor(REMOTE_ACTOR, "remote")
        what: list[str] = []
        if recovered is not None:
            self._event(conn, order_id, now, action="exception_closed", from_status=local,
                        to_status=local, reason=recovered, version=version,
                        source="remote", actor=remote)  # fmt: skip
            what.append("exception closed")
        if wins:
            assert board_status is not None
            if board_status != local:
                values |= {"status": board_status, "status_since": now}
                if board_status in (Status.OPEN, Status.PROCESSING):
                    values |= _NO_STEPS  # its filling starts over (nobody checked this)
            outbox_rows.supersede(  # a parked step goes too: its sync error is settled
                conn, order_id, f"superseded: the remote set the order to {remote_status}"
            )
            self._event(conn, order_id, now, action="remote", from_status=local,
                        to_status=board_status, reason=f"remote status {remote_status}",
                        version=version, source="remote", actor=remote)  # fmt: skip
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
            self._event(conn, order_id, now, action="cancel_request", from_status=status_now,
                        to_status=status_now, reason=message or "no message",
                        version=version, source="remote", actor=remote)  # fmt: skip
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
                self._event(conn, order_id, now, action="cancel_request_closed",
                            from_status=status_now, to_status=status_now,
                            reason="the cancellation request was closed at the remote",
                            version=version, source="remote", actor=remote)  # fmt: skip
            what.append("request closed")
        if hold_on:
            reason = hold_comment or "on hold at the remote"
            values |= {"on_hold": True, "hold_reason": reason, "hold_by": REMOTE_ACTOR,
                       "hold_since": now}  # fmt: skip
            self._event(conn, order_id, now, action="hold", from_status=status_now,
                        to_status=status_now, reason=reason, version=version,
                        source="remote", actor=remote)  # fmt: skip
            what.append("hold")
        elif hold_off:
            values |= {"on_hold": False, "hold_reason": None, "hold_by": None,
                       "hold_since": None}  # fmt: skip
            self._event(conn, order_id, now, action="release", from_status=status_now,
                        to_status=status_now, reason="released at the remote",
                        version=version, source="remote", actor=remote)  # fmt: skip
            what.append("release")
        conn.execute(update(orders).where(orders.c.id == order_id).values(**values))
        self.store.record_change(conn, [order_id])
        return ", ".join(what)

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
        self._event(conn, order_id, now, action="divergence", from_status=local,
                    to_status=local, reason=message, version=row["version"], source="remote",
                    actor=Actor(REMOTE_ACTOR, "remote"))  # fmt: skip
        self.store.record_change(conn, [order_id])
        return "divergence"

    def retry_failed(self, outbox_id: int) -> str:
        """A person asks to send a refused move again (e.g. after fixing it at the remote)."""
        return self._unpark(outbox_id, None)

    def resolve_failed(self, outbox_id: int, note: str) -> str:
        """A person settles a refused move by hand: it is never sent; the note is audited."""
        note = note.strip()
        if not note:
            raise Refused("resolve needs a note saying what was done")
        return self._unpark(outbox_id, note)

    def _unpark(self, outbox_id: int, note: str | None) -> str:
        """Retry (``note`` None) or resolve one parked move, audited on its order."""
        now = self.clock()
        with self.store.write() as conn:
            row = outbox_rows.get(conn, outbox_id)
            if row is None:
                raise Refused(f"no queued move {outbox_id}")
            done = (
                outbox_rows.retry(conn, outbox_id)
                if note is None
                else outbox_rows.resolve(conn, outbox_id, f"resolved by {self.actor.name}: {note}")
            )
            if not done:
                raise Refused(f"move {outbox_id} is {row['state']}, not {OutboxState.FAILED}")
            order = self._find(conn, row["order_id"])
            self._event(conn, order["id"], now, action="retry" if note is None else "resolve",
                        from_status=order["status"], to_status=order["status"],
                        reason=note or f"{row['action']} sent again",
                        version=order["version"])  # fmt: skip
            self.store.record_change(conn, [order["id"]])
        done_how = "queued again" if note is None else "resolved"
        return f"{order['name']}: {row['action']} {done_how}"

    def resolve_exception(self, ref: str, note: str) -> str:
        """A person settles a source exception (Photon ``error``, Konnektive Failed, …) by
        hand: the order leaves the exceptions queue until its source says another word
        that needs a person. The note is audited; the order itself does not move."""
        note = note.strip()
        if not note:
            raise Refused("resolve needs a note saying what was done")
        now = self.clock()
        with self.store.write() as conn:
            row = self._find(conn, ref)
            said = row["remote_status"]
            label = sources.traits(row["source"]).label
            words = sources.status_words(row["source"], said) or "nothing"
            if sources.exception(row["source"], said, row["exception_resolved"]) is None:
                raise Refused(f"{row['name']} is not a source exception in the queue "
                              f"({label} says {words})")  # fmt: skip
            done = conn.execute(
                update(orders)
                .where(orders.c.id == row["id"], orders.c.remote_status == said)
                .values(exception_resolved=said)
            )
            if done.rowcount != 1:  # the source spoke in between (PostgreSQL READ COMMITTED)
                raise Conflict(f"{row['name']}: {label} changed its status meanwhile; look again")
            self._event(conn, row["id"], now, action="resolve", from_status=row["status"],
                        to_status=row["status"], reason=f"{label} {words}: {note}",
                        version=row["version"])  # fmt: skip
            self.store.record_change(conn, [row["id"]])
        return f"{row['name']}: {label} {words} resolved"

    # ------------------------------------------------------------ push results
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
            remote = Actor(REMOTE_ACTOR, "remote")
            for r, (action, reason) in notable:
                order = facts[r.settle.order_id]
                self._event(conn, order.id, now, action=action, from_status=order.status,
                            to_status=order.status, reason=reason, version=order.version,
                            source="remote", actor=remote)  # fmt: skip
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
            case = Case(Status(local) if local else Status.OPEN, read.board, read.row,
                        plan=read.plan, target=target, sent_now=read.sent_now,
                        queued_after=queued or not moves)  # fmt: skip
            verdict = reconcile(case)
            if verdict is Verdict.CONFIRM:
                settle = replace(r.settle, state=OutboxState.SENT, error=None)
            else:
                settle = replace(r.settle, state=OutboxState.SUPERSEDED,
                                 error=f"superseded: {_moved(read)}")  # fmt: skip
            judged.append(replace(r, settle=settle, verdict=verdict))
        return judged

    def _move_event(self, conn: Connection, row_id: int) -> RowMapping | None:
        """The audit event of the move an outbox row carries."""
        return conn.execute(
            select(audit_events)
            .join(outbox, outbox.c.audit_event_id == audit_events.c.id)
            .where(outbox.c.id == row_id)
        ).mappings().first()  # fmt: skip

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
        values: dict[str, object] = {"status": ev["from_status"], "status_since": since or now,
                                     "version": row["version"] + 1, "updated_at": now}  # fmt: skip
        if ev["action"] == Action.FINISH:
            values |= _NO_TRACKING
        elif ev["action"] == Action.START:
            values |= _NO_STEPS
        conn.execute(update(orders).where(orders.c.id == order_id).values(**values))
        why = _moved(result.read_back) if result.read_back else "the remote moved on"
        self._event(conn, order_id, now, action=OutboxState.SUPERSEDED.value,
                    from_status=ev["to_status"], to_status=ev["from_status"],
                    reason=f"{ev['action']} not sent: {why}; back to {ev['from_status']}",
                    version=row["version"] + 1, source="remote",
                    actor=Actor(REMOTE_ACTOR, "remote"))  # fmt: skip
        self.store.record_change(conn, [order_id])
        return True

    # ---------------------------------------------------------------- helpers
    def _view(self, conn: Connection, row: RowMapping) -> OrderView:
        """The order as read back, with its sync error from its one home (the outbox)."""
        errors = queries.sync_errors_by_order(conn, [row["id"]])
        return OrderView.from_row(row, sync_error=errors.get(row["id"]))

    def _find(self, conn: Connection, ref: str) -> RowMapping:
        """The one order ``ref`` names (see :func:`resolve_order` for the forms accepted)."""
        try:
            row = resolve_order(conn, ref)
        except AmbiguousOrder as exc:
            raise OrderNotFound(str(exc)) from None
        if row is None:
            raise OrderNotFound(f"order {clip(ref)} does not exist")
        return row

    def _event(
        self,
        conn: Connection,
        order_id: str,
        at: datetime,
        *,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        version: int,
        source: str = "local",
        actor: Actor | None = None,
    ) -> int:
        who = actor or self.actor
        result = conn.execute(
            insert(audit_events)
            .values(
                order_id=order_id,
                at=at,
                actor=who.name,
                station=who.station,
                action=str(action),
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                source=source,
                version=version,
            )
            .returning(audit_events.c.id)
        )
        return int(result.scalar_one())

    def _last_by(self, conn: Connection, row: RowMapping) -> str:
        """``by AB at 10:02`` from the order's latest audit event."""
        ev = (
            conn.execute(
                select(audit_events.c.actor, audit_events.c.at)
                .where(audit_events.c.order_id == row["id"])
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if ev is None:
            return "by unknown"
        return f"by {ev['actor']} at {ev['at'].astimezone().strftime('%H:%M')}"

    def _status_since_before(
        self, conn: Connection, row: RowMapping, event_id: int, status: str
    ) -> datetime | None:
        """When the order entered ``status`` before event ``event_id``: what its time in
        status counted from before the move that is being undone."""
        ev = (
            conn.execute(
                select(audit_events.c.at, audit_events.c.from_status)
                .where(
                    audit_events.c.order_id == row["id"],
                    audit_events.c.id < event_id,
                    audit_events.c.to_status == status,
                    or_(audit_events.c.from_status.is_(None),
                        audit_events.c.from_status != status),
                )
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )  # fmt: skip
        if ev is None:
            return None
        since: datetime = row["created_at"] if ev["from_status"] is None else ev["at"]
        return since

    def _last_hold_event(self, conn: Connection, order_id: str, before: int) -> RowMapping | None:
        return (
            conn.execute(
                select(audit_events)
                .where(
                    audit_events.c.order_id == order_id,
                    audit_events.c.action == Action.HOLD.value,
                    audit_events.c.id < before,
                )
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )

    def _changed_message(self, conn: Connection, row: RowMapping) -> str:
        return f"{row['name']} changed meanwhile: now {row['status']} ({self._last_by(conn, row)})"

    def _meanwhile(self, conn: Connection, row: RowMapping, seen_version: int) -> str:
        """What another terminal (or the remote) did to the order after ``seen_version``:
        ``#5120 was put on hold by XY meanwhile (now OPEN, on hold)``."""
        ev = (  # the event that made the order's current version (not a later note on it,
            # e.g. an acknowledge, which keeps the version)
            conn.execute(
                select(audit_events)
                .where(audit_events.c.order_id == row["id"],
                       audit_events.c.version > seen_version)
                .order_by(audit_events.c.version.desc(), audit_events.c.id.asc())
                .limit(1)
            )
            .mappings()
            .first()
        )  # fmt: skip
        if ev is None:
            return self._changed_message(conn, row)
        what = _MEANWHILE.get(ev["action"]) or f"had {ev['action']} applied"
        if ev["action"] == "remote":
            what = f"was set to {ev['to_status']} at the remote"
        by = "" if ev["actor"] == REMOTE_ACTOR else f" by {ev['actor']}"
        at = ev["at"].astimezone().strftime("%H:%M")
        now = f"now {row['status']}" + (", on hold" if row["on_hold"] else "")
        return f"{row['name']} {what}{by} meanwhile at {at} ({now})"

    def _refusal(
        self, conn: Connection, row: RowMapping, action: Action, exc: TransitionError | None
    ) -> Refused:
        status = Status(row["status"])
        order = self._view(conn, row)
        if lifecycle.already_there(status, action) or exc is None:
            message = f"{row['name']} is already {status} ({self._last_by(conn, row)})"
        elif exc.named:
            message = str(exc)
        else:
            message = f"{row['name']}: {exc}"
        return Conflict(message, order) if exc is None else Refused(message, order)


def local_hold_note(traits: SourceTraits) -> str:
    """What the timeline says of a hold the source will never hear of."""
    return f"hold is local: {traits.label} does not hold orders for the pharmacy"


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


def _facts(row: RowMapping, traits: SourceTraits, check: CheckRule = CheckRule.NONE) -> OrderFacts:
    """What the lifecycle decides on, from the order's row."""
    remote_hold = bool(row["on_hold"]) and row["hold_by"] == REMOTE_ACTOR
    return OrderFacts(
        Status(row["status"]),
        row["on_hold"],
        row["fulfill_at"],
        cancel_requested=row["request_kind"] == CANCELLATION,
        remote_hold=remote_hold and not traits.remote_hold,
        check=check,
        step=Step(row["fill_step"]) if row["fill_step"] else None,
        filler=row["filled_by"],
        hold_reason=row["hold_reason"],
        hold_by=row["hold_by"],
        hold_since=row["hold_since"],
    )


@dataclass(frozen=True, slots=True)
class ProductScanned:
    """A pack that ticked one of the order's items."""

    order: OrderView
    item: str  # the item's label, "Amoxicillin 500 mg"
    progress: str  # "2/3"

    @property
    def summary(self) -> str:
        return f"{self.order.name}: {self.item} ticked, {self.progress} scanned"


def _item_label(item: RowMapping) -> str:
    return " ".join(p for p in (item["drug"], item["strength"]) if p)


def visible_text(text: str) -> str:
    return "".join(c if c.isprintable() else "␣" for c in text)


def _scan_counts(conn: Connection, order_id: str) -> tuple[int, int, dict[int, int]]:
    """(packs the items call for, packs scanned, scanned per item position)."""
    total = sum(int(i["quantity"]) for i in queries.order_items(conn, order_id))
    mine = product_scans.c.order_id == order_id
    rows = conn.execute(select(product_scans.c.position).where(mine))
    per: dict[int, int] = {}
    for (position,) in rows:
        per[position] = per.get(position, 0) + 1
    return total, sum(per.values()), per


def _step_values(
    action: Action, after: OrderFacts, actor: str, reason: str | None
) -> dict[str, object]:
    """The columns a step inside PROCESSING writes."""
    values: dict[str, object] = {"fill_step": after.step, "filled_by": after.filler}
    if action is Action.CHECK:
        values |= {"checked_by": actor, "check_note": None}
    elif action is Action.FAIL_CHECK:
        values |= {"checked_by": None, "check_note": reason}
    return values


def _step_undone(action: Action) -> dict[str, object]:
    """The columns after an undo of a step (the filler stays: who fills it now)."""
    if action is Action.FILL:
        return {"fill_step": Step.FILLING}
    if action is Action.CHECK:
        return {"fill_step": Step.FILLED, "checked_by": None}
    return {"fill_step": Step.FILLED, "check_note": None}  # a failed check taken back


def _merchant_words(message: str | None) -> str | None:
    """A merchant's message as the floor keeps it: secrets scrubbed, one line, clipped."""
    if not message:
        return None
    text = " ".join(scrub(message).split())
    return (text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…") or None


def _with_tracking(reason: str | None, tracking: Tracking) -> str:
    """A finish's audit reason names the parcel it sent."""
    parcel = " ".join(p for p in (tracking.company, tracking.number) if p)
    return f"{reason}; tracking {parcel}" if reason else f"tracking {parcel}"


def open_service(settings: Settings, role: str = "cli") -> OrderService:
    """Open the configured store (migrating it on first use) and a service acting as the user.
    ``role``: the command, for the connections' name (``rxfloor board@counter-1``)."""
    store = Store.open(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.db_pool_size,
        app_name=f"rxfloor {role}@{settings.station}",
        pgbouncer=settings.db_pgbouncer,
    )
    if settings.people:  # [people] of the config: whoever the list lacks is added (audited)
        from rxfloor.core.people import People, Role

        People(store, settings.actor, settings.station).seed(
            {name: (Role(p.role), p.badge) for name, p in settings.people.items()}
        )
    service = OrderService(store, Actor(settings.actor, settings.station),
                           check=settings.floor.check,
                           flags=FlagRules.of(settings.floor.fridge,
                                              settings.floor.controlled))  # fmt: skip
    service.require_product_scan = settings.floor.require_product_scan
    return service


# ------------------------------------------------------------ a move's write (issue 26 §4)
# The service decides on a row read with no transaction open; the write is conditional on the
# version it read. PostgreSQL: ONE statement (the order's UPDATE … RETURNING, its audit event,
# its outbox row (core/outbox.py's CTE), its change-log row and the pg_notify as data-modifying
# CTEs) in autocommit: its own transaction, nothing held between round trips. SQLite (no
# data-modifying CTEs; its round trips are calls in the process): BEGIN IMMEDIATE, the writes,
# COMMIT.


@dataclass(frozen=True, slots=True)
class _Written:
    row: dict[str, Any]
    event_id: int
    sync_error: str | None


def _write_move(
    conn: Connection,
    *,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> _Written | None:
    """Write the move if the order is still at ``version``; None when it is not."""
    if conn.dialect.name == "sqlite":
        return _write_move_sqlite(conn, order_id, version, values, event, queue, at)
    params: dict[str, object] = {"m_id": order_id, "m_version": version, "m_at": at}
    params |= {f"v_{k}": v for k, v in values.items()}
    params |= {f"e_{k}": v for k, v in event.items()}
    if queue is not None:
        params |= outbox_rows.move_params(queue, at)
    stmt = _move_statement(tuple(values), tuple(event), queue is not None)
    found = conn.execute(stmt, params).mappings().first()
    if found is None:
        return None
    changelog.trim(conn, int(found["rx_seq"]))
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return _Written(row, int(found["rx_event_id"]), found["rx_sync_error"])


def _bind(table: Any, prefix: str, name: str) -> Any:
    return bindparam(f"{prefix}_{name}", type_=table.c[name].type)


@functools.lru_cache(maxsize=64)
def _move_statement(values: tuple[str, ...], event: tuple[str, ...], queued: bool) -> Any:
    """The move's one statement for a shape of move, built once per process (building it
    costs more than running it)."""
    upd = (
        update(orders)
        .where(orders.c.id == bindparam("m_id"), orders.c.version == bindparam("m_version"))
        .values({k: _bind(orders, "v", k) for k in values})
        .returning(*orders.c)
        .cte("upd")
    )
    ev = (
        insert(audit_events)
        .from_select(
            ["order_id", *event],
            select(upd.c.id, *(_bind(audit_events, "e", k).label(k) for k in event)),
        )
        .returning(audit_events.c.id, audit_events.c.order_id)
        .cte("ev")
    )
    ch = changelog.record_change_after(upd.c.id, bindparam("m_at", type_=changes.c.at.type))
    note = changelog.notify_after(ch)
    extra: list[Any] = []
    if queued:
        ob = outbox_rows.enqueue_after(ev)
        extra.append(select(func.count()).select_from(ob).scalar_subquery().label("rx_queued"))
    return select(
        upd,
        select(ev.c.id).scalar_subquery().label("rx_event_id"),
        select(ch.c.seq).scalar_subquery().label("rx_seq"),
        select(func.count()).select_from(note).scalar_subquery().label("rx_notified"),
        queries.sync_error_of(upd.c.id).label("rx_sync_error"),
        *extra,
    )


def _write_move_sqlite(
    conn: Connection,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> _Written | None:
    if conn.in_transaction():  # the reads' (no BEGIN was sent: see Store.moving)
        conn.commit()
    conn.execution_options(rx_write=True)  # BEGIN IMMEDIATE: take the write lock up front
    with conn.begin():
        found = (
            conn.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.version == version)
                .values(**values)
                .returning(*orders.c, queries.sync_error_of(orders.c.id).label("rx_sync_error"))
            )
            .mappings()
            .first()
        )
        if found is None:
            return None
        event_id = int(
            conn.execute(
                insert(audit_events).values(order_id=order_id, **event).returning(audit_events.c.id)
            ).scalar_one()
        )
        if queue is not None:
            outbox_rows.enqueue(conn, order_id=order_id, audit_event_id=event_id,
                                action=str(queue["action"]), reason=queue.get("reason"), at=at,
                                payload=queue.get("payload"))  # fmt: skip
        changelog.record_change(conn, [order_id])
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return _Written(row, event_id, found["rx_sync_error"])

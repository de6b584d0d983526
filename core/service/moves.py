"""Local moves: what a person at the keys does to an order (a lifecycle action and its undo,
a note, a product scan) and what the floor learns of orders without moving them (new orders,
their details filled in, a new schedule). Each call is one transaction: the order's new state,
its audit event and, for a move the remote must learn about, its outbox row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from rxfloor.core import lifecycle, sources
from rxfloor.core import outbox as outbox_rows
from rxfloor.core import tracking as tracking_check
from rxfloor.core.db import audit_events, line_items, orders, product_scans, queries
from rxfloor.core.flags import item_flags
from rxfloor.core.lifecycle import (
    STEP_ACTIONS,
    Action,
    DeliveryType,
    OrderFacts,
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
from rxfloor.core.service.base import (
    _NO_STEPS,
    _NO_TRACKING,
    _NOT_PICKED_UP,
    REMOTE,
    Conflict,
    Refused,
    ServicePart,
    _facts,
    local_hold_note,
)
from rxfloor.core.service.write import write_move
from rxfloor.core.text import clip
from rxfloor.core.tracking import TrackingCheck

#: Which lifecycle actions produce an outbox row (the remote learns of status moves and of
#: the answers to its cancellation requests).
PUSHED_ACTIONS = frozenset({Action.START, Action.FINISH, Action.CANCEL, Action.ACCEPT_CANCEL,
                            Action.REJECT_CANCEL, Action.HANDOFF})  # fmt: skip
#: A will-call bin's label: letters, digits and dashes (``B12``, ``COLD-3``).
_BIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,15}")
#: Why an undo is refused, by the state of the move's outbox row.
_UNDO_REFUSED = {
    OutboxState.SENDING: "is already being sent to the remote",
    OutboxState.SENT: "has already been sent to the remote",
    OutboxState.PENDING: "may already have reached the remote (its answer was lost)",
}

#: How long a note of the floor may be.
_NOTE_MAX = 500


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
        if self.action is Action.HANDOFF:
            return f"{o.name} picked up (handed off by {o.picked_up_by or '?'})"
        if self.action is Action.FINISH and o.will_call_bin:
            moved = f"{o.name} {self.from_status} -> {self.to_status}"
            return f"{moved}: ready in bin {o.will_call_bin}"
        return f"{o.name} {self.from_status} -> {self.to_status}"


@dataclass(frozen=True, slots=True)
class ProductScanned:
    """A pack that ticked one of the order's items."""

    order: OrderView
    item: str  # the item's label, "Amoxicillin 500 mg"
    progress: str  # "2/3"

    @property
    def summary(self) -> str:
        return f"{self.order.name}: {self.item} ticked, {self.progress} scanned"


@dataclass(frozen=True, slots=True)
class Counter:
    """What a move at the counter carries besides: the will-call bin of a finish, and how the
    patient was confirmed at a hand-off (their date of birth, or a tick that identity was
    checked)."""

    bin: str | None = None
    dob: date | None = None
    id_checked: bool = False


_NO_COUNTER = Counter()


@dataclass(frozen=True, slots=True)
class _Move:
    """What an action makes of an order as read: the lifecycle's outcome, the order's new
    values, the audit reason, the outbox row (None: the remote is not told)."""

    outcome: lifecycle.Outcome
    values: dict[str, object]
    why: str | None
    queue: dict[str, Any] | None
    #: an answer to a cancellation request: its alerts close in the move's transaction
    closes_request: bool = False


class Moves(ServicePart):
    """The moves a person makes (see the module's docstring)."""

    def act(
        self,
        ref: str,
        action: Action,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
        tracking: Tracking | None = None,
        counter: Counter = _NO_COUNTER,
    ) -> MoveResult:
        """Apply one action; raises OrderNotFound / Refused / Conflict with a readable line.

        ``counter`` goes with a finish (the will-call bin of a pickup order) or a hand-off
        (how the patient was confirmed: refused unless they were).

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
            move = self._decide(conn, row, action, reason, expected_version, tracking, now, counter)
            if not move.closes_request:
                written = write_move(
                    conn,
                    order_id=row["id"],
                    version=row["version"],
                    values=move.values,
                    event=self._event_values(
                        now,
                        move.outcome.action,
                        row["status"],
                        move.outcome.facts.status,
                        move.why,
                        row["version"] + 1,
                    ),
                    queue=move.queue,
                    at=now,
                )
                if written is None:  # someone committed in between
                    raise self._lost_race(conn, row, action)
                view = OrderView.from_row(written.row, sync_error=written.sync_error)
                return MoveResult(
                    view,
                    move.outcome.action,
                    written.event_id,
                    Status(row["status"]),
                    move.outcome.facts.status,
                )
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
        counter: Counter = _NO_COUNTER,
    ) -> _Move:
        """The move the action makes of the order as read (both paths of :meth:`act` write
        what this decides). Raises Conflict / Refused as :meth:`act` says."""
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
            outcome = lifecycle.apply(
                facts,
                action,
                now,
                reason,
                name=row["name"],
                held_at=traits.label,
                by=self._person(conn),
            )
        except TransitionError as exc:
            raise self._refusal(conn, row, action, exc) from None
        if tracking is not None and outcome.action is not Action.FINISH:
            raise Refused(
                f"{row['name']}: a tracking number goes with a finish only", self._view(conn, row)
            )
        self._refuse_tracking(conn, row, tracking)
        values: dict[str, object] = {"version": row["version"] + 1, "updated_at": now}
        why = reason
        if counter.bin is not None:
            label = values["will_call_bin"] = self._bin(conn, row, outcome.action, counter.bin)
            why = f"{why}; bin {label}" if why else f"ready in bin {label}"
        if outcome.action is Action.HANDOFF:
            try:
                on_file = date.fromisoformat(row["patient_dob"]) if row["patient_dob"] else None
                why = lifecycle.confirm_patient(
                    row["name"], on_file, counter.dob, counter.id_checked
                )
            except (TransitionError, ValueError) as exc:
                refused = TransitionError(str(exc), named=True)
                raise self._refusal(conn, row, action, refused) from None
            values |= {"picked_up_at": now, "picked_up_by": self.actor.name}
        if outcome.action is Action.HOLD:
            values |= {
                "on_hold": True,
                "hold_reason": reason,
                "hold_by": self.actor.name,
                "hold_since": now,
            }
            if not traits.remote_hold:
                why = f"{reason} ({local_hold_note(traits)})"
        elif outcome.action is Action.RELEASE:
            values |= {"on_hold": False, "hold_reason": None, "hold_by": None, "hold_since": None}
            why = f"released the hold of {lifecycle.hold_words(facts)}"  # the event: who did
        elif outcome.action is Action.REJECT_CANCEL:
            values |= {"request_kind": None}  # the message stays: an undo brings it back
        elif outcome.action in STEP_ACTIONS:
            values |= _step_values(outcome.action, outcome.facts, self.actor.name, reason)
        else:
            values |= {"status": outcome.facts.status, "status_since": now}
            if outcome.action is Action.ACCEPT_CANCEL:
                values |= {"request_kind": None}
            if outcome.action is Action.START and outcome.facts.step is not None:
                values |= _NO_STEPS | {
                    "fill_step": outcome.facts.step,
                    "filled_by": outcome.facts.filler,
                }
            if tracking is not None:
                values |= {
                    "tracking_company": tracking.company,
                    "tracking_number": tracking.number,
                    "tracking_url": tracking.url,
                }
                why = _with_tracking(why, tracking)
        local_start = (outcome.action is Action.START and not traits.remote_start) or (
            outcome.action is Action.HANDOFF and not traits.remote_handoff
        )
        queue: dict[str, Any] | None = None
        if outcome.action in PUSHED_ACTIONS and not row["sample"] and not local_start:
            payload = None if tracking is None else {"tracking": tracking.model_dump()}
            if outcome.action is Action.HANDOFF:
                payload = {"picked_up": {"at": now.isoformat(), "by": self.actor.name}}
            queue = {"action": outcome.action, "reason": reason, "payload": payload}
        closes = outcome.action in (Action.REJECT_CANCEL, Action.ACCEPT_CANCEL)
        return _Move(outcome, values, why, queue, closes_request=closes)

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
        return {
            "at": at,
            "actor": self.actor.name,
            "station": self.actor.station,
            "action": str(action),
            "from_status": from_status,
            "to_status": to_status,
            "reason": reason,
            "source": "local",
            "version": version,
        }

    def _lost_race(self, conn: Connection, row: RowMapping, action: Action) -> Conflict:
        """What happened to the order since ``row`` was read (a fresh read: autocommit, or
        a new snapshot under PostgreSQL's READ COMMITTED)."""
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
            move = self._decide(conn, row, action, reason, expected_version, tracking, now)
            outcome = move.outcome
            if move.closes_request:
                self._close_request_alerts(conn, row["id"], now, self.actor.name)
            done = conn.execute(
                update(orders)
                .where(orders.c.id == row["id"], orders.c.version == row["version"])
                .values(**move.values)
            )
            if done.rowcount != 1:  # someone committed in between (PostgreSQL READ COMMITTED)
                raise self._lost_race(conn, row, action)
            event_id = self._event(
                conn,
                row["id"],
                now,
                action=outcome.action,
                from_status=Status(row["status"]),
                to_status=outcome.facts.status,
                reason=move.why,
                version=row["version"] + 1,
            )
            if move.queue is not None:
                outbox_rows.enqueue(
                    conn,
                    order_id=row["id"],
                    audit_event_id=event_id,
                    action=outcome.action,
                    reason=reason,
                    at=now,
                    payload=move.queue["payload"],
                )
            self.store.record_change(conn, [row["id"]])
            view = self._view(conn, self._find(conn, row["id"]))
        return MoveResult(
            view, outcome.action, event_id, Status(row["status"]), outcome.facts.status
        )

    def _bin(self, conn: Connection, row: RowMapping, action: Action, label: str) -> str:
        """The will-call bin a finish puts a pickup order in (``B12``; ``bin B12`` as a
        scanned label reads), or a refusal: only with a finish of a pickup order."""
        words = label.split()
        text = words[-1] if len(words) == 2 and words[0].lower() == "bin" else label.strip()
        if action is not Action.FINISH or row["delivery_type"] != "pickup":
            raise Refused(
                f"{row['name']}: a will-call bin goes with the finish of a pickup order only",
                self._view(conn, row),
            )
        if not _BIN.fullmatch(text):
            raise Refused(
                f"{clip(visible_text(label))} is not a bin (letters, digits, dashes: B12)",
                self._view(conn, row),
            )
        return text.upper()

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
                raise Refused(
                    f"{name} is not being filled: scan its products while filling it",
                    self._view(conn, row),
                )
            items = queries.order_items(conn, row["id"])
            total, scanned, per_item = _scan_counts(conn, row["id"])
            position = matching_item(scan, [(i["sku"], i["pzn"], i["barcode"]) for i in items])
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
                self._event(
                    conn,
                    row["id"],
                    now,
                    action="scan_refused",
                    from_status=row["status"],
                    to_status=row["status"],
                    reason=f"{refusal} «{clip(scan.raw)}»",
                    version=row["version"],
                )
                view = self._view(conn, row)
            else:
                assert position is not None
                progress = f"{scanned + 1}/{total}"
                conn.execute(
                    insert(product_scans).values(
                        order_id=row["id"],
                        position=position,
                        at=now,
                        actor=self.actor.name,
                        station=self.actor.station,
                        gtin=scan.gtin,
                        batch=scan.batch,
                        serial=scan.serial,
                        raw=scan.raw[:500],
                        expiry=scan.expiry.isoformat() if scan.expiry else None,
                    )
                )
                version = row["version"] + 1
                conn.execute(
                    update(orders)
                    .where(orders.c.id == row["id"])
                    .values(scan_progress=progress, version=version, updated_at=now)
                )
                pack = " · ".join(
                    p
                    for p in (
                        label,
                        scan.batch and f"batch {scan.batch}",
                        scan.serial and f"serial {scan.serial}",
                    )
                    if p
                )
                self._event(
                    conn,
                    row["id"],
                    now,
                    action="product_scan",
                    from_status=row["status"],
                    to_status=row["status"],
                    reason=f"{pack} ({progress} scanned)",
                    version=version,
                )
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
            conn.execute(
                update(orders)
                .where(orders.c.id == row["id"])
                .values(note_count=orders.c.note_count + 1, version=version, updated_at=now)
            )
            self._event(
                conn,
                row["id"],
                now,
                action="note",
                from_status=row["status"],
                to_status=row["status"],
                reason=text,
                version=version,
            )
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
                values |= {
                    "on_hold": False,
                    "hold_reason": None,
                    "hold_by": None,
                    "hold_since": None,
                }
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
                elif action is Action.HANDOFF:
                    values |= _NOT_PICKED_UP
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
            select(orders.c.id, orders.c.status, orders.c.version, orders.c.fulfill_at).where(
                orders.c.id == order_id
            )
        ).first()
        if row is None or row.fulfill_at == fulfill_at:
            return False
        version = row.version + 1
        conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(fulfill_at=fulfill_at, updated_at=now, version=version)
        )
        words = (
            f"scheduled for {fulfill_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if fulfill_at
            else "no longer scheduled: it can be fulfilled now"
        )
        self._event(
            conn,
            order_id,
            now,
            action="rescheduled",
            from_status=row.status,
            to_status=row.status,
            reason=words,
            version=version,
            source="remote",
            actor=REMOTE,
        )
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
        who = REMOTE if source == "remote" else self.actor
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
                    "patient_dob": o.patient_dob.isoformat() if o.patient_dob else None,
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
                    # one that arrives FINISHED is not waiting at this counter
                    "picked_up_at": created
                    if o.status is Status.FINISHED and o.delivery_type is DeliveryType.PICKUP
                    else None,
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


def _item_rows(order_id: str, items: Sequence[LineItem]) -> list[dict[str, object]]:
    """An order's line items as ``line_items`` rows, in their order."""
    return [
        {"order_id": order_id, "position": i, **item.model_dump()} for i, item in enumerate(items)
    ]


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


def _with_tracking(reason: str | None, tracking: Tracking) -> str:
    """A finish's audit reason names the parcel it sent."""
    parcel = " ".join(p for p in (tracking.company, tracking.number) if p)
    return f"{reason}; tracking {parcel}" if reason else f"tracking {parcel}"

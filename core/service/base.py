"""What every part of the service shares: the store it writes through (one transaction per
call: the unit of work), the person at the keys, the clock, and how an order is found, shown,
refused and audited. The parts (:mod:`.moves`, :mod:`.remote`, :mod:`.pushes`, :mod:`.queue`)
each add one job on top; :class:`rxfloor.core.service.OrderService` composes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, or_, select, update

from rxfloor.core import lifecycle, sources
from rxfloor.core.db import (
    AmbiguousOrder,
    Store,
    alerts,
    audit_events,
    people,
    queries,
    resolve_order,
    utcnow,
)
from rxfloor.core.flags import FlagRules
from rxfloor.core.lifecycle import (
    Action,
    CheckRule,
    DeliveryType,
    OrderFacts,
    Person,
    Status,
    Step,
    TransitionError,
)
from rxfloor.core.models import CANCELLATION, OrderView
from rxfloor.core.sources import SourceTraits
from rxfloor.core.states import REMOTE_ACTOR as REMOTE_ACTOR
from rxfloor.core.states import held_by_remote
from rxfloor.core.text import clip


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is pressing the keys: pharmacist (initials or OS user) and station (host)."""

    name: str
    station: str


#: Who the audit trail names for what the remote did.
REMOTE = Actor(REMOTE_ACTOR, "remote")


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
    "handoff": "was handed off",
}
#: The steps' columns as they are before an order begins them (and after a remote move
#: takes it back to OPEN or into PROCESSING anew).
_NO_STEPS: dict[str, object] = {
    "fill_step": None,
    "filled_by": None,
    "checked_by": None,
    "check_note": None,
}

#: What a hand-off wrote, cleared when it is taken back.
_NOT_PICKED_UP: dict[str, object] = {"picked_up_at": None, "picked_up_by": None}

#: What a finish sent the source (and the will-call bin it went to), cleared when the finish
#: is taken back.
_NO_TRACKING: dict[str, object] = {
    "will_call_bin": None,
    "tracking_company": None,
    "tracking_number": None,
    "tracking_url": None,
}


class ServicePart:
    """The shared state and helpers of the service's parts (see the module's docstring)."""

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

    def get(self, ref: str) -> OrderView:
        with self.store.read() as conn:
            return self._view(conn, self._find(conn, ref))

    def legal_actions(self, order: OrderView) -> frozenset[Action]:
        remote_hold = (  # the lifecycle's remote_hold: one its source does not share
            held_by_remote(order.hold, order.hold_by)
            and not sources.traits(order.source).remote_hold
        )
        facts = OrderFacts(
            order.status,
            order.hold,
            order.fulfill_at,
            cancel_requested=order.cancel_requested,
            remote_hold=remote_hold,
            check=self.check,
            step=Step(order.fill_step) if order.fill_step else None,
            filler=order.filled_by,
            delivery=order.delivery_type,
            picked_up=order.picked_up_at is not None,
        )
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
                    or_(audit_events.c.from_status.is_(None), audit_events.c.from_status != status),
                )
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
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
                .where(audit_events.c.order_id == row["id"], audit_events.c.version > seen_version)
                .order_by(audit_events.c.version.desc(), audit_events.c.id.asc())
                .limit(1)
            )
            .mappings()
            .first()
        )
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


def local_hold_note(traits: SourceTraits) -> str:
    """What the timeline says of a hold the source will never hear of."""
    return f"hold is local: {traits.label} does not hold orders for the pharmacy"


def _facts(row: RowMapping, traits: SourceTraits, check: CheckRule = CheckRule.NONE) -> OrderFacts:
    """What the lifecycle decides on, from the order's row."""
    return OrderFacts(
        Status(row["status"]),
        row["on_hold"],
        row["fulfill_at"],
        cancel_requested=row["request_kind"] == CANCELLATION,
        remote_hold=held_by_remote(row["on_hold"], row["hold_by"]) and not traits.remote_hold,
        check=check,
        step=Step(row["fill_step"]) if row["fill_step"] else None,
        filler=row["filled_by"],
        hold_reason=row["hold_reason"],
        hold_by=row["hold_by"],
        hold_since=row["hold_since"],
        delivery=DeliveryType(row["delivery_type"]),
        picked_up=row["picked_up_at"] is not None,
    )

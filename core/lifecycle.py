"""The order lifecycle: statuses, actions and the only moves allowed between them.

Pure functions only — no database, no clock of its own (``now`` is always passed in) —
so the board, the CLI, the service and the property tests share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum


class Status(StrEnum):
    """Board columns."""

    OPEN = "OPEN"
    PROCESSING = "PROCESSING"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.FINISHED, Status.CANCELLED)


class Action(StrEnum):
    """What a pharmacist (or the remote) can do to an order."""

    START = "start"
    FINISH = "finish"
    ADVANCE = "advance"
    CANCEL = "cancel"
    HOLD = "hold"
    RELEASE = "release"
    #: answers to a merchant's cancellation request (legal only while one is open)
    ACCEPT_CANCEL = "accept_cancel"
    REJECT_CANCEL = "reject_cancel"
    #: the steps inside PROCESSING when the floor checks before finish (local: never sent)
    FILL = "fill"  #: the filler says it is filled
    CHECK = "check"  #: another person (or a pharmacist) checked it: it may be finished
    FAIL_CHECK = "fail_check"  #: the check found a fault (a reason): back to filling
    #: a FINISHED pickup order (ready, in its will-call bin) given to the patient at the
    #: counter: the order stays FINISHED, picked up; the source learns it (issue 24 §3)
    HANDOFF = "handoff"


class CheckRule(StrEnum):
    """``[floor] check``: who must check a filled order before it can be finished."""

    NONE = "none"  #: nobody: PROCESSING -> FINISHED in one step (the default)
    SECOND_PERSON = "second_person"  #: anyone but the person who filled it
    PHARMACIST = "pharmacist"  #: a pharmacist, not the person who filled it


class Step(StrEnum):
    """Where a PROCESSING order is when the floor checks before finish."""

    FILLING = "filling"
    FILLED = "filled"  #: filled · awaiting check
    CHECKED = "checked"


@dataclass(frozen=True, slots=True)
class Person:
    """Who is at the keys, as the check needs to know them."""

    name: str
    pharmacist: bool = False


class Priority(StrEnum):
    STAT = "stat"
    WAITER = "waiter"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        """Sort key: most urgent first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.STAT: 0, Priority.WAITER: 1, Priority.NORMAL: 2}


class DeliveryType(StrEnum):
    PICKUP = "pickup"
    SHIP = "ship"
    COURIER = "courier"


#: Status moves: (from, action) -> to. ADVANCE is resolved to START/FINISH first.
MOVES: dict[tuple[Status, Action], Status] = {
    (Status.OPEN, Action.START): Status.PROCESSING,
    (Status.PROCESSING, Action.FINISH): Status.FINISHED,
    (Status.OPEN, Action.CANCEL): Status.CANCELLED,
    (Status.PROCESSING, Action.CANCEL): Status.CANCELLED,
    (Status.OPEN, Action.ACCEPT_CANCEL): Status.CANCELLED,
    (Status.PROCESSING, Action.ACCEPT_CANCEL): Status.CANCELLED,
}

#: Steps inside PROCESSING: (step, action) -> step. Only with a :class:`CheckRule` other than
#: NONE; the status stays PROCESSING, and no source hears of them.
STEPS: dict[tuple[Step, Action], Step] = {
    (Step.FILLING, Action.FILL): Step.FILLED,
    (Step.FILLED, Action.CHECK): Step.CHECKED,
    (Step.FILLED, Action.FAIL_CHECK): Step.FILLING,
}
#: The step actions (local: an audit event, never an outbox row).
STEP_ACTIONS = frozenset(action for (_, action) in STEPS)
#: Step actions that are a check: never by the person who filled the order.
CHECKS = frozenset({Action.CHECK, Action.FAIL_CHECK})
#: How ADVANCE reads on each step.
_ADVANCE_STEP = {Step.FILLING: Action.FILL, Step.FILLED: Action.CHECK, Step.CHECKED: Action.FINISH}

#: What each status move aims for, to tell "already there" from "not allowed".
_TARGET = {action: to for (_, action), to in MOVES.items()}

#: The forward path; CANCELLED is off it (reachable from any status before FINISHED).
ORDER = (Status.OPEN, Status.PROCESSING, Status.FINISHED)

#: Actions that need a non-blank reason.
NEEDS_REASON = frozenset({Action.CANCEL, Action.HOLD, Action.REJECT_CANCEL, Action.FAIL_CHECK})
#: Actions that answer a merchant's cancellation request.
ANSWERS = frozenset({Action.ACCEPT_CANCEL, Action.REJECT_CANCEL})
#: Work on an order the merchant asked to cancel waits for the answer (a cancel too:
#: accepting the request is how it is cancelled then).
_HELD_BY_REQUEST = frozenset({Action.START, Action.FINISH, Action.CANCEL})


#: How a refusal for a hold ends: the board adds its key (``with p``), the CLI its command.
RELEASE_FIRST = "release it first"


def hold_words(facts: OrderFacts) -> str:
    """``AB 09:12: Patient calling back about dose``: whose hold, since when (local time), why
    (the reason as stored: a screen shows it with its controls visible)."""
    since = facts.hold_since.astimezone().strftime("%H:%M") if facts.hold_since else ""
    who = " ".join(part for part in (facts.hold_by or "", since) if part)
    reason = facts.hold_reason or "no reason given"
    return f"{who}: {reason}" if who else reason


class TransitionError(ValueError):
    """An action that the lifecycle forbids for the order as it is now.

    ``named``: the sentence already names the order (else the caller puts its name first).
    """

    def __init__(self, message: str, *, named: bool = False) -> None:
        super().__init__(message)
        self.named = named


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The parts of an order the lifecycle decides on.

    ``cancel_requested``: the merchant asked to cancel and nobody answered yet;
    ``remote_hold``: the hold was placed at a source where the floor cannot release it.
    """

    status: Status
    on_hold: bool = False
    fulfill_at: datetime | None = None
    cancel_requested: bool = False
    remote_hold: bool = False
    #: the floor's check rule, the order's step inside PROCESSING (None: not begun here,
    #: read as FILLING) and who fills (or filled) it
    check: CheckRule = CheckRule.NONE
    step: Step | None = None
    filler: str | None = None
    #: packs still to scan before it counts as filled (``[floor] require_product_scan``)
    unscanned: int = 0
    #: the hold's why, who placed it and since when (the refusal of a start / finish says so)
    hold_reason: str | None = None
    hold_by: str | None = None
    hold_since: datetime | None = None
    #: how it leaves the pharmacy (a pickup order is handed off at the counter) and whether
    #: it was (FINISHED: ready until picked up)
    delivery: DeliveryType = DeliveryType.PICKUP
    picked_up: bool = False

    @property
    def current_step(self) -> Step | None:
        """The step the order is at: None when the floor does not check or it is not
        PROCESSING (an order that reached PROCESSING elsewhere is being filled)."""
        if self.check is CheckRule.NONE or self.status is not Status.PROCESSING:
            return None
        return self.step or Step.FILLING


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a legal action: the concrete action and the state after it."""

    action: Action
    facts: OrderFacts


def resolve(status: Status, action: Action, step: Step | None = None) -> Action:
    """Turn ADVANCE into the concrete next step for ``status`` (START or FINISH) and, on a
    floor that checks, the ``step`` inside PROCESSING (FILL, CHECK, then FINISH)."""
    if action is not Action.ADVANCE:
        return action
    if status is Status.OPEN:
        return Action.START
    if status is Status.PROCESSING:
        return _ADVANCE_STEP[step] if step is not None else Action.FINISH
    raise TransitionError(f"nothing to advance: the order is {status}")


def target(action: Action) -> Status | None:
    """The status a status move aims for (None for hold, release and unresolved ADVANCE)."""
    return _TARGET.get(action)


def is_past(status: Status, mark: Status) -> bool:
    """``status`` is further along :data:`ORDER` than ``mark`` (False if either is off it)."""
    return status in ORDER and mark in ORDER and ORDER.index(status) > ORDER.index(mark)


def already_there(status: Status, action: Action) -> bool:
    """The order is at or beyond where ``action`` aims, or closed: a refusal that reads
    "is already FINISHED" rather than "cannot start" (a lost race, a repeated scan)."""
    try:
        concrete = resolve(status, action)
    except TransitionError:
        concrete = action
    goal = target(concrete)
    return goal is not None and (status == goal or status.is_terminal or is_past(status, goal))


def is_scheduled(fulfill_at: datetime | None, now: datetime) -> bool:
    """Not to be started before ``fulfill_at`` (shown on the card, refused by START)."""
    return fulfill_at is not None and fulfill_at > now


def apply(
    facts: OrderFacts,
    action: Action,
    now: datetime,
    reason: str | None = None,
    *,
    name: str = "the order",
    held_at: str = "the remote",
    by: Person | None = None,
) -> Outcome:
    """Decide one action. Raises :class:`TransitionError` with a sentence a person can read.

    ``name`` (``#1001``) and ``held_at`` (the source's label) only shape the sentences;
    ``by`` is the person at the keys (the check asks who they are; None: nobody signed in)."""
    action = resolve(facts.status, action, facts.current_step)
    if action in NEEDS_REASON and not (reason and reason.strip()):
        raise TransitionError(f"{action} needs a reason")
    if action is Action.HANDOFF:
        return _handoff(facts, name, by)
    if facts.status.is_terminal:
        raise TransitionError(f"cannot {action}: the order is already {facts.status}")
    if action in ANSWERS and not facts.cancel_requested:
        raise TransitionError(f"cannot {action}: nobody asked to cancel the order")
    if action is Action.REJECT_CANCEL:
        return Outcome(action, replace(facts, cancel_requested=False))
    if facts.cancel_requested and action in _HELD_BY_REQUEST:
        raise TransitionError(
            f"cannot {action}: the merchant asked to cancel {name} "
            "(accept or reject the request first)",
            named=True,
        )
    if action in STEP_ACTIONS:
        return _step(facts, action, name, by)
    if action is Action.HOLD:
        if facts.on_hold:
            raise TransitionError("cannot hold: the order is already on hold")
        return Outcome(action, replace(facts, on_hold=True))
    if action is Action.RELEASE:
        if not facts.on_hold:
            raise TransitionError("cannot release: the order is not on hold")
        if facts.remote_hold:
            raise TransitionError(
                f"cannot release: held by the merchant in {held_at}: release it there"
            )
        return Outcome(action, replace(facts, on_hold=False))
    target = MOVES.get((facts.status, action))
    if target is None:
        raise TransitionError(f"cannot {action}: the order is {facts.status}")
    if action in (Action.START, Action.FINISH) and facts.on_hold:
        # a hold stops the work both ways (cancel stays possible): whose, when and why
        raise TransitionError(
            f"{name} is on hold ({hold_words(facts)}): {RELEASE_FIRST}", named=True
        )
    if action is Action.START and is_scheduled(facts.fulfill_at, now):
        assert facts.fulfill_at is not None
        when = facts.fulfill_at.strftime("%Y-%m-%d %H:%M UTC")
        raise TransitionError(f"cannot start: the order is scheduled for {when}")
    step = facts.current_step
    if action is Action.FINISH and step is not None and step is not Step.CHECKED:
        waits = "is still being filled" if step is Step.FILLING else "awaits its check"
        raise TransitionError(
            f"cannot finish: {name} {waits} (only a checked order is finished)", named=True
        )
    after = replace(facts, status=target, cancel_requested=False)
    if action is Action.START and facts.check is not CheckRule.NONE:
        if by is None:
            raise TransitionError(
                "cannot start: sign in first (scan your badge): the card shows who fills it"
            )
        after = replace(after, step=Step.FILLING, filler=by.name)
    return Outcome(action, after)


def _step(facts: OrderFacts, action: Action, name: str, by: Person | None) -> Outcome:
    """A step inside PROCESSING (fill, check, failed check), on a floor that checks."""
    step = facts.current_step
    if facts.check is CheckRule.NONE:
        raise TransitionError(
            f"cannot {action}: this floor does not check orders ([floor] check = none)"
        )
    if step is None:
        raise TransitionError(f"cannot {action}: the order is {facts.status}")
    if facts.on_hold:
        raise TransitionError(
            f"{name} is on hold ({hold_words(facts)}): {RELEASE_FIRST}", named=True
        )
    after = STEPS.get((step, action))
    if after is None:
        where = {
            Step.FILLING: "is being filled",
            Step.FILLED: "awaits its check",
            Step.CHECKED: "is already checked",
        }[step]
        raise TransitionError(f"cannot {action}: {name} {where}", named=True)
    if by is None:
        raise TransitionError(f"cannot {action}: sign in first (scan your badge)")
    if action is Action.FILL and facts.unscanned:
        packs = "pack is" if facts.unscanned == 1 else "packs are"
        raise TransitionError(
            f"cannot fill: {facts.unscanned} {packs} not scanned yet on {name} (scan each product)",
            named=True,
        )
    if action in CHECKS:
        if facts.filler is not None and by.name == facts.filler:
            raise TransitionError(
                f"{name} was filled by {facts.filler}: another person checks it", named=True
            )
        if facts.check is CheckRule.PHARMACIST and not by.pharmacist:
            raise TransitionError(
                f"{name} is checked by a pharmacist: {by.name} is not one", named=True
            )
    filler = by.name if action is Action.FILL else facts.filler
    return Outcome(action, replace(facts, step=after, filler=filler))


def _handoff(facts: OrderFacts, name: str, by: Person | None) -> Outcome:
    """The hand-off at the counter: a FINISHED pickup order, not yet picked up, to the patient,
    by a person signed in (who confirms the patient: :func:`confirm_patient`)."""
    if facts.status is not Status.FINISHED:
        waits = "was cancelled" if facts.status is Status.CANCELLED else "is not ready yet"
        raise TransitionError(f"cannot hand off: {name} {waits} ({facts.status})", named=True)
    if facts.delivery is not DeliveryType.PICKUP:
        raise TransitionError(
            f"cannot hand off: {name} is a {facts.delivery} order: it was "
            "handed off when it left (its finish)",
            named=True,
        )
    if facts.picked_up:
        raise TransitionError(f"cannot hand off: {name} was already picked up", named=True)
    if by is None:
        raise TransitionError(
            "cannot hand off: sign in first (scan your badge): the person "
            "at the keys confirms the patient"
        )
    return Outcome(Action.HANDOFF, replace(facts, picked_up=True))


def confirm_patient(
    name: str, dob_on_file: date | None, dob_given: date | None, id_checked: bool
) -> str:
    """How the person at the counter confirmed the patient, in words for the audit trail:
    the date of birth the patient gave matches the one the source gave, or (none on file) a
    tick that their identity was checked. Raises :class:`TransitionError` otherwise."""
    if dob_given is not None:
        if dob_on_file is None:
            if id_checked:
                return "identity checked (no date of birth on file)"
            raise TransitionError(
                f"cannot hand off: {name} has no date of birth on file: "
                "check the patient's identity",
                named=True,
            )
        if dob_given != dob_on_file:
            raise TransitionError(
                f"cannot hand off: the date of birth does not match {name}'s patient", named=True
            )
        return "date of birth confirmed"
    if dob_on_file is not None:
        raise TransitionError(
            f"cannot hand off: ask the patient's date of birth ({name} has one on file)", named=True
        )
    if not id_checked:
        raise TransitionError(
            f"cannot hand off: confirm the patient of {name} (date of birth or identity checked)",
            named=True,
        )
    return "identity checked"


def legal_actions(facts: OrderFacts, now: datetime, by: Person | None = None) -> frozenset[Action]:
    """Every action :func:`apply` would accept now from ``by`` (reasons assumed given)."""
    legal = set()
    for action in Action:
        try:
            apply(facts, action, now, reason="-", by=by)
        except TransitionError:
            continue
        legal.add(action)
    return frozenset(legal)

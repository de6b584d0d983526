"""The order lifecycle: statuses, actions and the only moves allowed between them.

Pure functions only — no database, no clock of its own (``now`` is always passed in) —
so the board, the CLI, the service and the property tests share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
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

#: What each status move aims for, to tell "already there" from "not allowed".
_TARGET = {action: to for (_, action), to in MOVES.items()}

#: The forward path; CANCELLED is off it (reachable from any status before FINISHED).
ORDER = (Status.OPEN, Status.PROCESSING, Status.FINISHED)

#: Actions that need a non-blank reason.
NEEDS_REASON = frozenset({Action.CANCEL, Action.HOLD, Action.REJECT_CANCEL})
#: Actions that answer a merchant's cancellation request.
ANSWERS = frozenset({Action.ACCEPT_CANCEL, Action.REJECT_CANCEL})
#: Work on an order the merchant asked to cancel waits for the answer (a cancel too:
#: accepting the request is how it is cancelled then).
_HELD_BY_REQUEST = frozenset({Action.START, Action.FINISH, Action.CANCEL})


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


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a legal action: the concrete action and the state after it."""

    action: Action
    facts: OrderFacts


def resolve(status: Status, action: Action) -> Action:
    """Turn ADVANCE into the concrete next step for ``status`` (START or FINISH)."""
    if action is not Action.ADVANCE:
        return action
    if status is Status.OPEN:
        return Action.START
    if status is Status.PROCESSING:
        return Action.FINISH
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
) -> Outcome:
    """Decide one action. Raises :class:`TransitionError` with a sentence a person can read.

    ``name`` (``#1001``) and ``held_at`` (the source's label) only shape the sentences."""
    action = resolve(facts.status, action)
    if action in NEEDS_REASON and not (reason and reason.strip()):
        raise TransitionError(f"{action} needs a reason")
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
    if action is Action.HOLD:
        if facts.on_hold:
            raise TransitionError("cannot hold: the order is already on hold")
        return Outcome(action, replace(facts, on_hold=True))
    if action is Action.RELEASE:
        if not facts.on_hold:
            raise TransitionError("cannot release: the order is not on hold")
        if facts.remote_hold:
            raise TransitionError(f"cannot release: held by the merchant in {held_at}: "
                                  "release it there")  # fmt: skip
        return Outcome(action, replace(facts, on_hold=False))
    target = MOVES.get((facts.status, action))
    if target is None:
        raise TransitionError(f"cannot {action}: the order is {facts.status}")
    if action is Action.START:
        if facts.on_hold:
            raise TransitionError("cannot start: the order is on hold (release it first)")
        if is_scheduled(facts.fulfill_at, now):
            assert facts.fulfill_at is not None
            when = facts.fulfill_at.strftime("%Y-%m-%d %H:%M UTC")
            raise TransitionError(f"cannot start: the order is scheduled for {when}")
    return Outcome(action, replace(facts, status=target, cancel_requested=False))


def legal_actions(facts: OrderFacts, now: datetime) -> frozenset[Action]:
    """Every action :func:`apply` would accept now (reasons assumed given)."""
    legal = set()
    for action in Action:
        try:
            apply(facts, action, now, reason="-")
        except TransitionError:
            continue
        legal.add(action)
    return frozenset(legal)

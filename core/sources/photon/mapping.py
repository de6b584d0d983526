"""Photon's status words as the client reads them: the board mapping, the words of events,
of the order read and of the pharmacy's own reports, and push planning (pure: no I/O).

``orders.remote_status`` of a Photon order is one of the prescriber-side status words of
Photon's order status guide, lower case (``placed``, ``received``, ``filling``, …), plus
``rerouted``: the patient moved the order to another pharmacy (Placed -> Pending there),
which takes it off this floor.

The stand-in has its own tables (:mod:`rxfloor.sandbox.photon.state`), on
purpose, for the reason given in :mod:`rxfloor.core.sources.rxscale.mapping`.
"""

from __future__ import annotations

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.base import PushPlan

#: the word of an order Photon reports an error on: parked (remote hold), not a column
ERROR = "error"
REROUTED = "rerouted"

#: remote word -> board column (None: not shown / not moved; ``error`` parks the order)
BOARD_STATUS: dict[str, Status | None] = {
    "routing": None,  # waiting for the patient to pick a pharmacy
    "pending": None,  # created, not yet sent to the pharmacy
    "placed": Status.OPEN,
    "sent": Status.OPEN,
    "received": Status.OPEN,
    "filling": Status.PROCESSING,
    "ready": Status.FINISHED,
    "shipped": Status.FINISHED,
    "delivered": Status.FINISHED,
    "completed": Status.FINISHED,
    "canceled": Status.CANCELLED,
    REROUTED: Status.CANCELLED,
    ERROR: None,
}

#: event type (after ``photon:order:``) -> word; ``fulfillment`` reads its state instead
EVENT_WORD: dict[str, str] = {
    "created": "pending",
    "placed": "placed",
    "completed": "completed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "rerouted": REROUTED,
    "error": ERROR,
}

#: a fulfillment state (event ``data.fulfillment.state`` or the order read) -> word
FULFILLMENT_WORD: dict[str, str] = {
    "SENT": "sent",
    "NEW": "received",
    "RECEIVED": "received",
    "IN_PROGRESS": "filling",
    "FILLING": "filling",
    "FILLED": "ready",
    "READY": "ready",
    "SHIPPED": "shipped",
    "OUT_FOR_DELIVERY": "shipped",
    "DELIVERED": "delivered",
    "PICKED_UP": "delivered",
}

#: the order read's ``state`` -> word (PLACED reads the fulfillment state)
ORDER_STATE_WORD: dict[str, str] = {
    "ROUTING": "routing",
    "PENDING": "pending",
    "PLACED": "placed",
    "COMPLETED": "completed",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",
    "ERROR": ERROR,
}

#: a status the pharmacy reports (``POST /v1/hooks/pharmacy``) -> the word it leads to
REPORT_WORD: dict[str, str] = {
    "received": "received",
    "in_progress": "filling",
    "shipped": "shipped",
    "out_for_delivery": "shipped",
    "completed": "completed",
    "canceled": "canceled",
}

#: push steps: the reports sent, plus ``finish`` (``shipped`` with the carrier and tracking
#: number when the move carries tracking; a mail order without: ``shipped``; one picked up:
#: nothing, see :data:`HAND_OFF`)
FINISH = "finish"
#: The hand-off of a pickup order at the counter: ``completed``, Photon's own word for it
#: ("the prescription (or order) has been fully completed. This should only be sent once it
#: has been shipped, picked up, or delivered": docs.photon.health, pharmacy integration
#: guide). Photon shows such an order COMPLETED, its fulfillment PICKED_UP. The finish before
#: it (ready for pickup) has no report of its own: the guide's statuses have no ``ready``
#: (Photon's READY "only appears if the pharmacy provided a ready by time", which the report
#: cannot carry), so Photon keeps the order at ``filling`` until the patient has it.
HAND_OFF = "completed"
#: the reports that take an order from a word on the way to ``filling`` (START's target).
#: ``received`` is not sent on the way: one report per move, so the echo of an intermediate
#: report (Photon sends an event for each) can never arrive after the move settled and look
#: like Photon lost it
_TO_FILLING: dict[str, tuple[str, ...]] = {
    "placed": ("in_progress",),
    "received": ("in_progress",),
    "filling": (),
}
_DONE_WORDS = frozenset({"ready", "shipped", "delivered", "completed"})
_PLACED = frozenset({"placed", "sent"})


def word_of_fulfillment(state: str | None, fallback: str = "placed") -> str:
    """The word of a fulfillment state (an unknown one keeps ``fallback``)."""
    if not state:
        return fallback
    return FULFILLMENT_WORD.get(state.strip().upper(), fallback)


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """Pure decision: which reports bring an order at ``remote_status`` to ``action``'s target.

    Photon's status call takes no reason: a cancel's reason stays in the local audit trail.
    Holds are local (Photon does not hold orders for the pharmacy): nothing to send.
    """
    word = remote_status.strip().lower()
    if action is Action.CANCEL:
        if word == "canceled":
            return PushPlan(True, False, ())
        if word == REROUTED or word in _DONE_WORDS or word in ("routing", "pending"):
            return PushPlan(False, True, ())
        return PushPlan(False, False, ("canceled",))
    if action is Action.HANDOFF:
        return _plan_handoff(word)
    if action not in (Action.START, Action.FINISH):
        return PushPlan(True, False, ())  # nothing of it travels to Photon
    if word in _DONE_WORDS:
        return PushPlan(True, False, ())  # already past (our earlier answer was lost)
    if word == "filling" and action is Action.START:
        return PushPlan(True, False, ())
    steps = _TO_FILLING.get("placed" if word in _PLACED else word)
    if steps is None:  # canceled, rerouted, error, not yet at this pharmacy
        return PushPlan(False, True, ())
    return PushPlan(False, False, steps + ((FINISH,) if action is Action.FINISH else ()))


def _plan_handoff(word: str) -> PushPlan:
    """A hand-off: ``completed`` from wherever a ready pickup order stands at Photon
    (``filling``: its finish sent nothing; ``ready``: the pharmacy gave a ready-by time
    elsewhere), preceded by ``in_progress`` when Photon lacks even that. Completed (or
    delivered) already: done (our earlier answer was lost). Canceled, rerouted, in error or
    shipped: the hand-off no longer applies there."""
    if word in ("completed", "delivered"):
        return PushPlan(True, False, ())
    if word in ("filling", "ready"):
        return PushPlan(False, False, (HAND_OFF,))
    steps = _TO_FILLING.get("placed" if word in _PLACED else word)
    if steps is None:
        return PushPlan(False, True, ())
    return PushPlan(False, False, (*steps, HAND_OFF))

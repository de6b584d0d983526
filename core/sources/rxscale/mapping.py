"""The RxScale API's two status dialects as the client reads them: statuses, board mapping,
the active statuses the poller lists, and push planning (pure: no I/O here).

The stand-in has its own tables (:mod:`rxfloor.sandbox.rxscale.dialects`), on
purpose: each is an independent reading of the RxScale page of the docs, the stand-in's
strict (it refuses every arrow the diagram does not draw), this one tolerant (it maps
whatever it is sent). A misreading shared by both would let the tests pass against a
stand-in that agrees with the client's bug; kept apart, a misreading on either side makes
the sync tests fail.
"""

from __future__ import annotations

from typing import Literal

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.base import PushPlan

DialectName = Literal["v1", "v2"]

V1_STATUSES = frozenset({"created", "open", "processing", "shipped", "completed", "cancelled"})
V2_STATUSES = frozenset(
    {"init", "waiting for pharmacy", "pending review", "on-hold", "in-progress",
     "ready_for_pickup", "completed", "cancelled"}
)  # fmt: skip
V2_ONLY = V2_STATUSES - V1_STATUSES
REMOTE_HOLD = "on-hold"

#: remote status -> board column (None: not shown; on-hold keeps the column, sets the flag)
BOARD_STATUS: dict[str, Status | None] = {
    "created": None,
    "init": None,
    "open": Status.OPEN,
    "waiting for pharmacy": Status.OPEN,
    "pending review": Status.OPEN,
    "processing": Status.PROCESSING,
    "in-progress": Status.PROCESSING,
    "shipped": Status.FINISHED,
    "ready_for_pickup": Status.FINISHED,
    "completed": Status.FINISHED,
    "cancelled": Status.CANCELLED,
}

#: Forward path of each dialect: the PATCH steps that take an order from one status to the
#: next. A local action is pushed as the steps from the remote's current status to its target.
_V1_PATH = ("open", "processing", "shipped", "completed")
_V2_PATH = ("waiting for pharmacy", "pending review", "in-progress", "ready_for_pickup",
            "completed")  # fmt: skip
_TARGET = {
    ("v1", Action.START): "processing",
    ("v1", Action.FINISH): "shipped",
    ("v1", Action.CANCEL): "cancelled",
    ("v2", Action.START): "in-progress",
    ("v2", Action.FINISH): "ready_for_pickup",
    ("v2", Action.CANCEL): "cancelled",
}

#: The v2 step after ``ready_for_pickup`` for a finish: ``PATCH …/complete_order`` ("Do not
#: set completed through the generic status endpoint. Use complete_order so RxScale can
#: reduce stock and emit shipment and order update events": docs.rxscale.com
#: ``guides/order-lifecycle``). The source sends it for an order that ships; one picked up
#: is completed at its hand-off (the pharmacy-workflow issue), so for it the step sends
#: nothing.
COMPLETE = "complete_order"
#: The hand-off of a pickup order at the counter: ``PATCH …/complete_order`` from
#: ``ready_for_pickup`` (the same call, sent whatever the delivery: the patient has it now).
HAND_OFF = "complete_order:picked_up"

#: Statuses that are sent with the pharmacist's reason as the PATCH ``comment``.
TAKES_REASON = frozenset({"cancelled", REMOTE_HOLD})

#: Statuses in which the remote may still change an order by itself (the poller lists these).
ACTIVE: dict[DialectName, tuple[str, ...]] = {
    "v1": ("open", "processing"),
    "v2": ("waiting for pharmacy", "pending review", "on-hold", "in-progress"),
}


def dialect_of(remote_status: str) -> DialectName:
    return "v2" if remote_status in V2_ONLY else "v1"


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """Pure decision: which PATCH calls bring ``remote_status`` to the target of ``action``."""
    dialect = dialect_of(remote_status)
    if action is Action.HANDOFF:
        return _plan_handoff(dialect, remote_status)
    target = _TARGET[(dialect, action)]
    path = _V1_PATH if dialect == "v1" else _V2_PATH
    if remote_status == target and dialect == "v2" and action is Action.FINISH:
        return PushPlan(False, False, (COMPLETE,))  # nothing is sent for a pickup order
    if remote_status == target:
        return PushPlan(True, False, ())
    if remote_status == "completed" and action is Action.FINISH:
        return PushPlan(True, False, ())  # the service completes shipped orders by itself
    if remote_status in ("cancelled", "completed"):
        return PushPlan(False, True, ())
    if action is Action.CANCEL:
        return PushPlan(False, False, (target,))  # the remote says whether it may
    if remote_status == REMOTE_HOLD:
        return PushPlan(False, True, ())
    if remote_status not in path:
        return PushPlan(False, True, ())
    here, there = path.index(remote_status), path.index(target)
    if here > there:
        return PushPlan(True, False, ())  # already past (our earlier answer was lost)
    steps = path[here + 1 : there + 1]
    if dialect == "v2" and action is Action.FINISH:
        steps += (COMPLETE,)  # sent for an order that ships (the source reads it first)
    return PushPlan(False, False, steps)


def _plan_handoff(dialect: DialectName, remote_status: str) -> PushPlan:
    """A hand-off: ``complete_order`` from ``ready_for_pickup`` (v2). In v1 the service
    completes a finished order by itself: nothing to send, and the move is settled as sent
    (it was no remote's to refuse)."""
    if remote_status == "completed":  # either dialect: the patient's order is done there
        return PushPlan(True, False, ())
    if dialect == "v1" and remote_status == "shipped":
        return PushPlan(False, False, ())
    if remote_status == "ready_for_pickup":
        return PushPlan(False, False, (HAND_OFF,))
    return PushPlan(False, True, ())  # cancelled, or not (or no longer) ready at the remote

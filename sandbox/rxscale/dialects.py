"""The two documented status dialects of the remote API (docs/pages/sources/rxscale.md), as data.

Where the documentation's diagram is the only source, the stand-in allows exactly the
arrows drawn there and refuses everything else: a client that copes with the strict
stand-in copes with the real service.

The client has its own tables (:mod:`rxfloor.core.sources.rxscale.dialects`), on purpose:
this is a second, independent reading of the documentation, not a shared module, so that a
misreading in either one makes the sync tests fail instead of agreeing with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DialectName = Literal["v1", "v2"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: DialectName
    #: every status an order can have in this dialect
    statuses: tuple[str, ...]
    #: the status new orders arrive in (assigned to the pharmacy, ready)
    initial: str
    #: what the pharmacy may set through ``PATCH …/status``: target -> allowed sources
    patchable: dict[str, frozenset[str]]
    #: targets reached only through ``PATCH …/complete_order`` (v2): target -> sources
    complete_from: frozenset[str]
    #: statuses that need a non-blank ``comment`` when set through the API
    needs_comment: frozenset[str]
    #: the remote side's cancel / complete / hold (control endpoints, activity driver)
    cancelled: str
    completed: str
    hold: str | None
    #: statuses in which an order can still be cancelled by the remote side's activity
    active: frozenset[str]
    #: the status of an order the pharmacy is working on (a remote cancel then raises an alert)
    in_work: str

    def refusal(self, current: str, target: str, comment: str | None) -> str | None:
        """Why PATCH status ``target`` is refused for an order in ``current`` (None: allowed)."""
        sources = self.patchable.get(target)
        if sources is None:
            return None  # checked by the caller as a validation error (unknown / not settable)
        if current not in sources:
            allowed = ", ".join(sorted(sources))
            return f"cannot change status from '{current}' to '{target}' (allowed from: {allowed})"
        if target in self.needs_comment and not (comment and comment.strip()):
            return f"a non-blank comment is required to set status '{target}'"
        return None


V1 = Dialect(
    name="v1",
    statuses=("created", "open", "processing", "shipped", "completed", "cancelled"),
    initial="open",
    patchable={
        "processing": frozenset({"open"}),
        "shipped": frozenset({"processing"}),
        "cancelled": frozenset({"open", "processing"}),
    },
    complete_from=frozenset(),
    needs_comment=frozenset(),
    cancelled="cancelled",
    completed="completed",
    hold=None,
    active=frozenset({"open", "processing"}),
    in_work="processing",
)

V2 = Dialect(
    name="v2",
    statuses=(
        "init",
        "waiting for pharmacy",
        "pending review",
        "on-hold",
        "in-progress",
        "ready_for_pickup",
        "completed",
        "cancelled",
    ),
    initial="waiting for pharmacy",
    patchable={
        "pending review": frozenset({"waiting for pharmacy", "on-hold"}),
        "on-hold": frozenset({"pending review"}),
        "in-progress": frozenset({"pending review"}),
        "ready_for_pickup": frozenset({"in-progress"}),
        # the newer diagram: a cancel from waiting for pharmacy or pending review
        "cancelled": frozenset({"waiting for pharmacy", "pending review"}),
    },
    complete_from=frozenset({"ready_for_pickup"}),
    needs_comment=frozenset({"on-hold"}),
    cancelled="cancelled",
    completed="completed",
    hold="on-hold",
    active=frozenset({"waiting for pharmacy", "pending review", "on-hold", "in-progress"}),
    in_work="in-progress",
)

DIALECTS: dict[str, Dialect] = {"v1": V1, "v2": V2}


def external_status(status: str) -> str:
    """``in-progress`` -> ``IN_PROGRESS``: the upper-case mirror the service also sends."""
    return status.upper().replace(" ", "_").replace("-", "_")

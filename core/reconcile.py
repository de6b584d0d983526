"""The one rule: the remote's status against our move, given the state of its outbox row.

Pure (no database, no clock): both paths ask it — applying what the remote says
(:meth:`OrderService.apply_remote`, a pull or a webhook) and settling what a push learned
by reading the order back (:meth:`OrderService.record_push`). The table of cases is
:data:`TABLE` below; tests/unit/test_reconcile.py walks every row and holds the function to the
invariants with hypothesis.

Inputs (:class:`Case`):

* ``local``: the order's status here; ``remote``: the remote's board column as read (None:
  not on the board);
* ``row``: the order's outbox row that matters (:class:`Row`): none, queued, refused once,
  parked, uncertain (``sending``, or an attempt that may have been applied: only a
  read-back tells), or settled (the last move sent and confirmed, nothing unsettled);
* on the apply path: ``news`` (the remote's word differs from the one recorded) and
  ``read_before_settled`` (the remote was read before our last move was settled: a page
  or an event older than the move never judges it);
* on the push path (``plan`` set: what the source planned for the move on the read-back,
  :class:`Plan`): ``target`` (where the move takes the order), ``sent_now`` (a step of this
  attempt was applied) and ``queued_after`` (another step of the order waits behind it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rxfloor.core.lifecycle import Status, is_past


class Verdict(StrEnum):
    """What becomes of the order and of its move."""

    #: our side stands: the remote is where we are, or behind a move still on its way (or
    #: read before our move was settled); on the push path: the plan's steps are sent
    KEEP = "keep"
    #: our move is in effect at the remote (or, uncertain, may have been before the remote
    #: went on from it): its row is ``sent`` without a new call
    CONFIRM = "confirm"
    #: the remote's status wins: the order moves there, its queued steps are superseded
    ADOPT = "adopt"
    #: our step is moot (the remote is already where it was going, or moved on by itself):
    #: ``superseded``, never sent; the order stays where it is
    SUPERSEDE = "supersede"
    #: our move is void at the remote and none of it is in effect: ``superseded`` and the
    #: order goes back where it was (the remote has it there)
    REVERT = "revert"
    #: the remote is behind a move it confirmed: parked again for a person to retry
    DIVERGED = "diverged"


class Row(StrEnum):
    """The state of the order's outbox row that the rule weighs."""

    NONE = "none"  # nothing queued, nothing sent (never pushed, or superseded / undone)
    QUEUED = "queued"  # pending; no attempt of it may have reached the remote
    REFUSED = "refused"  # pending after one refusal (the remote said no: not applied)
    PARKED = "parked"  # failed: waits for a person; none of it reached the remote
    UNCERTAIN = "uncertain"  # sending, or an attempt's answer was lost: maybe applied
    SETTLED = "settled"  # the latest move was sent and confirmed, nothing unsettled


#: rows of which nothing reached the remote
UNSENT = frozenset({Row.QUEUED, Row.REFUSED, Row.PARKED})


class Plan(StrEnum):
    """What the source's plan said of the move, given the remote's status read back."""

    SEND = "send"  # steps to send
    DONE = "done"  # the remote is already there (or past it)
    STALE = "stale"  # the remote moved where the move no longer applies


@dataclass(frozen=True, slots=True)
class Case:
    local: Status
    remote: Status | None
    row: Row
    news: bool = True
    read_before_settled: bool = False
    plan: Plan | None = None
    target: Status | None = None
    sent_now: bool = False
    queued_after: bool = False


def row_of(*, sending: bool, maybe_applied: bool, refusals: int, parked: bool = False) -> Row:
    """How an unsettled outbox row weighs: a row found ``sending`` (its pusher died or
    lost the lease mid-send) or marked maybe applied is uncertain until a read-back proves
    otherwise, whatever its state says."""
    if sending or maybe_applied:
        return Row.UNCERTAIN
    if parked:
        return Row.PARKED
    return Row.REFUSED if refusals > 0 else Row.QUEUED


def still_uncertain(row: Row, *, read_back: bool, sent_now: bool, request_lost: bool) -> bool:
    """Whether an attempt leaves its row maybe applied: a step of it reached the remote, or
    a request's answer was lost, or the row was uncertain and no read-back of this attempt
    answered (a 429 on the read-back proves nothing: issue 21 §2.3)."""
    return sent_now or request_lost or (row is Row.UNCERTAIN and not read_back)


def reconcile(case: Case) -> Verdict:
    """The verdict for ``case`` (see :data:`TABLE`)."""
    return _settle(case) if case.plan is not None else _apply(case)


def _apply(c: Case) -> Verdict:
    """The remote's news about an order (a pull, a webhook, a read-back applied)."""
    remote, local = c.remote, c.local
    if remote is None:
        return Verdict.KEEP
    if remote == local:
        # the remote ended the order where our own unsent step was taking it: the step is
        # moot there, and an undo must not bring back a column the source left
        if remote.is_terminal and c.news and c.row in UNSENT:
            return Verdict.SUPERSEDE
        return Verdict.KEEP
    if remote.is_terminal or is_past(remote, local):
        return Verdict.ADOPT
    behind = (local.is_terminal and not remote.is_terminal) or is_past(local, remote)
    if behind and c.row is Row.SETTLED and not c.read_before_settled:
        return Verdict.DIVERGED
    return Verdict.KEEP  # our move on its way (or an older read): the remote will follow


def _settle(c: Case) -> Verdict:
    """A push's read-back: is the move in effect, moot, or void?"""
    if c.plan is Plan.SEND:
        return Verdict.KEEP
    uncertain = c.row is Row.UNCERTAIN or c.sent_now
    in_effect = c.remote is not None and c.remote == c.target
    if c.plan is Plan.DONE:  # there already: ours if it may have been ours
        return Verdict.CONFIRM if uncertain else Verdict.SUPERSEDE
    # stale: the remote moved where the move no longer applies
    if uncertain and (in_effect or _moved_on_from(c.target, c.remote)):
        # an uncertain attempt is never "not sent" where it may be in effect: it is there, or
        # the remote went on from where it led (a start, then the remote's own cancel)
        return Verdict.CONFIRM
    if c.sent_now or in_effect:
        return Verdict.SUPERSEDE  # part of it (or the remote's own move) is in effect
    if c.local == c.target and not c.queued_after:
        return Verdict.REVERT  # none of it in effect: the card goes where the remote has it
    return Verdict.SUPERSEDE


def _moved_on_from(target: Status | None, remote: Status | None) -> bool:
    """The remote may have got where it is from ``target``: further along the path, or
    cancelled from a status before FINISHED (a read-back keeps no history: a remote cancelled
    after our start looks the same as one cancelled before it)."""
    if target is None or remote is None or target.is_terminal:
        return False
    return is_past(remote, target) or remote is Status.CANCELLED


#: The table of cases, one line each: (what, verdict). The function above is its code; the
#: tests check every line.
TABLE: tuple[tuple[str, Verdict], ...] = (
    ("apply: the remote shows no column", Verdict.KEEP),
    ("apply: the remote is where we are", Verdict.KEEP),
    (
        "apply: the remote ended the order where our unsent step (queued, refused, parked) "
        "was taking it, with a new word",
        Verdict.SUPERSEDE,
    ),
    ("apply: the remote is terminal elsewhere, or past us", Verdict.ADOPT),
    (
        "apply: the remote is behind a move it confirmed, read after that move was settled",
        Verdict.DIVERGED,
    ),
    ("apply: the remote is behind a move settled after it was read (issue 21 §2.2)", Verdict.KEEP),
    ("apply: the remote is behind a move queued, refused, parked or uncertain", Verdict.KEEP),
    ("push: the plan has steps to send", Verdict.KEEP),
    ("push: the remote is there already and the row was uncertain (or sent now)", Verdict.CONFIRM),
    (
        "push: the remote is there already and nothing of ours may have reached it",
        Verdict.SUPERSEDE,
    ),
    (
        "push: stale, but the read-back shows an uncertain move in effect (issue 21 §2.1)",
        Verdict.CONFIRM,
    ),
    (
        "push: stale, the remote went on from where an uncertain move led (cancelled after a "
        "start: the read-back cannot tell after from before)",
        Verdict.CONFIRM,
    ),
    ("push: stale, a step of this attempt or the remote's own move in effect", Verdict.SUPERSEDE),
    (
        "push: stale, none of it in effect, the order still where the move put it and nothing "
        "queued behind",
        Verdict.REVERT,
    ),
    (
        "push: stale, none of it in effect, the order moved since or a step queued behind",
        Verdict.SUPERSEDE,
    ),
)

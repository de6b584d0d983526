"""The reconcile rule on its own (no database, no stand-in): every line of its table, and
hypothesis holding it to the invariants the sync's bookkeeping rests on."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rxfloor.core.lifecycle import Status, is_past
from rxfloor.core.reconcile import (
    TABLE,
    UNSENT,
    Case,
    Plan,
    Row,
    Verdict,
    reconcile,
    row_of,
    still_uncertain,
)

OPEN, P, F, C = Status.OPEN, Status.PROCESSING, Status.FINISHED, Status.CANCELLED

#: one case per line of TABLE, in its order
CASES: list[tuple[Case, Verdict]] = [
    (Case(P, None, Row.SETTLED), Verdict.KEEP),
    (Case(P, P, Row.QUEUED), Verdict.KEEP),
    (Case(C, C, Row.QUEUED, news=True), Verdict.SUPERSEDE),
    (Case(P, C, Row.UNCERTAIN), Verdict.ADOPT),
    (Case(P, OPEN, Row.SETTLED), Verdict.DIVERGED),
    (Case(P, OPEN, Row.SETTLED, read_before_settled=True), Verdict.KEEP),
    (Case(P, OPEN, Row.UNCERTAIN), Verdict.KEEP),
    (Case(P, OPEN, Row.QUEUED, plan=Plan.SEND, target=P), Verdict.KEEP),
    (Case(P, P, Row.UNCERTAIN, plan=Plan.DONE, target=P), Verdict.CONFIRM),
    (Case(P, P, Row.QUEUED, plan=Plan.DONE, target=P), Verdict.SUPERSEDE),
    (Case(P, P, Row.UNCERTAIN, plan=Plan.STALE, target=P), Verdict.CONFIRM),
    (Case(C, C, Row.UNCERTAIN, plan=Plan.STALE, target=P), Verdict.CONFIRM),
    (Case(F, P, Row.QUEUED, plan=Plan.STALE, target=F, sent_now=True), Verdict.SUPERSEDE),
    (Case(P, OPEN, Row.UNCERTAIN, plan=Plan.STALE, target=P), Verdict.REVERT),
    (Case(P, OPEN, Row.QUEUED, plan=Plan.STALE, target=P, queued_after=True), Verdict.SUPERSEDE),
]


@pytest.mark.parametrize(("line", "case"), list(zip(TABLE, CASES, strict=True)),
                         ids=[t[0][:60] for t in TABLE])  # fmt: skip
def test_every_line_of_the_table(line: tuple[str, Verdict], case: tuple[Case, Verdict]) -> None:
    assert reconcile(case[0]) is line[1] is case[1]


statuses = st.sampled_from(list(Status))
remotes = st.one_of(st.none(), statuses)
rows = st.sampled_from(list(Row))
applied = st.builds(Case, local=statuses, remote=remotes, row=rows, news=st.booleans(),
                    read_before_settled=st.booleans())  # fmt: skip
pushed = st.builds(Case, local=statuses, remote=remotes, row=rows, plan=st.sampled_from(list(Plan)),
                   target=statuses, sent_now=st.booleans(),
                   queued_after=st.booleans())  # fmt: skip


@given(applied)
@example(Case(P, OPEN, Row.SETTLED, read_before_settled=True))  # issue 21 §2.2: an older page
def test_applying_the_remote(case: Case) -> None:
    verdict = reconcile(case)
    assert verdict in {Verdict.KEEP, Verdict.ADOPT, Verdict.SUPERSEDE, Verdict.DIVERGED}
    remote, local = case.remote, case.local
    wins = remote is not None and remote != local and (remote.is_terminal or is_past(remote, local))
    assert (verdict is Verdict.ADOPT) == wins
    if verdict is Verdict.DIVERGED:  # only a confirmed move, judged by a read made after it
        assert case.row is Row.SETTLED and not case.read_before_settled
        assert remote is not None and remote != local
    if verdict is Verdict.SUPERSEDE:  # only a step nothing of which reached the remote
        assert case.row in UNSENT and remote == local and local.is_terminal and case.news
    if case.read_before_settled:
        assert verdict is not Verdict.DIVERGED


@given(pushed)
@example(Case(P, P, Row.UNCERTAIN, plan=Plan.STALE, target=P))  # issue 21 §2.1
@example(Case(P, P, Row.UNCERTAIN, plan=Plan.DONE, target=P))  # issue 21 §2.3
@example(Case(P, C, Row.UNCERTAIN, plan=Plan.STALE, target=P))  # a start, then the remote's cancel
def test_settling_a_push(case: Case) -> None:
    verdict = reconcile(case)
    assert verdict in {Verdict.KEEP, Verdict.CONFIRM, Verdict.SUPERSEDE, Verdict.REVERT}
    uncertain = case.row is Row.UNCERTAIN or case.sent_now
    assert (verdict is Verdict.KEEP) == (case.plan is Plan.SEND)
    if verdict is Verdict.CONFIRM:  # only what may be ours is recorded as ours
        assert uncertain
    if uncertain and case.plan is Plan.DONE:
        assert verdict is Verdict.CONFIRM  # never "not sent" when it may have been
    in_effect = case.remote is not None and case.remote == case.target
    if uncertain and in_effect and case.plan is not Plan.SEND:
        assert verdict is Verdict.CONFIRM  # the read-back shows it: it was sent
    went_on = (
        case.target is not None
        and case.remote is not None
        and not case.target.is_terminal
        and (is_past(case.remote, case.target) or case.remote is C)
    )
    if uncertain and went_on and case.plan is not Plan.SEND:
        assert verdict is Verdict.CONFIRM  # it may be there, and then the remote went on
    if verdict is Verdict.REVERT:  # the card goes back only where nothing of it is there
        assert not case.sent_now and case.remote != case.target
        assert case.local == case.target and not case.queued_after


@given(st.booleans(), st.booleans(), st.integers(0, 3), st.booleans())
def test_a_row_that_was_sending_is_uncertain(
    sending: bool, maybe: bool, refusals: int, parked: bool
) -> None:
    row = row_of(sending=sending, maybe_applied=maybe, refusals=refusals, parked=parked)
    assert (row is Row.UNCERTAIN) == (sending or maybe)
    assert row in UNSENT or row is Row.UNCERTAIN


@given(rows, st.booleans(), st.booleans(), st.booleans())
@example(Row.UNCERTAIN, False, False, False)  # issue 21 §2.3: the read-back got a 429
def test_uncertainty_ends_only_by_a_read_back(
    row: Row, read_back: bool, sent_now: bool, lost: bool
) -> None:
    left = still_uncertain(row, read_back=read_back, sent_now=sent_now, request_lost=lost)
    if row is Row.UNCERTAIN and not read_back:
        assert left
    if sent_now or lost:
        assert left
    if not (sent_now or lost) and (read_back or row is not Row.UNCERTAIN):
        assert not left

"""Check before finish (issue 24 §1): fill, check by a second person or a pharmacist,
a failed check back to filling; local steps, audited, never sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from rxfloor.core import lifecycle
from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import (
    Action,
    CheckRule,
    OrderFacts,
    Person,
    Status,
    Step,
    TransitionError,
    apply,
    legal_actions,
)
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.people import People, Role
from rxfloor.core.service import Actor, OrderService, Refused

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TJ = Person("TJ")
AB = Person("AB", pharmacist=True)
CD = Person("CD")


def _processing(rule: CheckRule, step: Step | None, filler: str | None = "TJ") -> OrderFacts:
    return OrderFacts(Status.PROCESSING, check=rule, step=step, filler=filler)


# ------------------------------------------------------------------ the pure rule
def test_no_check_floor_is_unchanged() -> None:
    facts = OrderFacts(Status.PROCESSING)
    assert apply(facts, Action.ADVANCE, NOW, by=TJ).action is Action.FINISH
    assert not legal_actions(facts, NOW, TJ) & lifecycle.STEP_ACTIONS
    with pytest.raises(TransitionError, match="does not check orders"):
        apply(facts, Action.FILL, NOW, by=TJ)


def test_start_begins_filling_by_whoever_started() -> None:
    out = apply(OrderFacts(Status.OPEN, check=CheckRule.SECOND_PERSON), Action.ADVANCE, NOW, by=TJ)
    assert (out.action, out.facts.step, out.facts.filler) == (Action.START, Step.FILLING, "TJ")


@pytest.mark.parametrize("rule", [CheckRule.SECOND_PERSON, CheckRule.PHARMACIST])
def test_advance_walks_fill_check_finish(rule: CheckRule) -> None:
    facts = _processing(rule, Step.FILLING)
    filled = apply(facts, Action.ADVANCE, NOW, by=TJ)
    assert (filled.action, filled.facts.step, filled.facts.filler) == (
        Action.FILL, Step.FILLED, "TJ")  # fmt: skip
    checked = apply(filled.facts, Action.ADVANCE, NOW, by=AB)
    assert (checked.action, checked.facts.step) == (Action.CHECK, Step.CHECKED)
    done = apply(checked.facts, Action.ADVANCE, NOW, by=TJ)
    assert (done.action, done.facts.status) == (Action.FINISH, Status.FINISHED)


def test_the_filler_does_not_check_their_own_fill() -> None:
    facts = _processing(CheckRule.SECOND_PERSON, Step.FILLED)
    with pytest.raises(TransitionError, match="#1012 was filled by TJ: another person checks it"):
        apply(facts, Action.CHECK, NOW, name="#1012", by=TJ)
    with pytest.raises(TransitionError, match="another person checks it"):
        apply(facts, Action.FAIL_CHECK, NOW, "wrong strength", name="#1012", by=TJ)
    assert Action.CHECK not in legal_actions(facts, NOW, TJ)
    assert Action.CHECK in legal_actions(facts, NOW, CD)


def test_pharmacist_rule_refuses_a_technician() -> None:
    facts = _processing(CheckRule.PHARMACIST, Step.FILLED)
    with pytest.raises(TransitionError, match="#1012 is checked by a pharmacist: CD is not one"):
        apply(facts, Action.CHECK, NOW, name="#1012", by=CD)
    assert apply(facts, Action.CHECK, NOW, by=AB).facts.step is Step.CHECKED


def test_every_step_needs_someone_signed_in() -> None:
    for step, action in ((Step.FILLED, Action.CHECK), (Step.FILLING, Action.FILL)):
        with pytest.raises(TransitionError, match="sign in first"):
            apply(_processing(CheckRule.SECOND_PERSON, step), action, NOW, by=None)
    with pytest.raises(TransitionError, match="sign in first"):
        apply(OrderFacts(Status.OPEN, check=CheckRule.PHARMACIST), Action.START, NOW, by=None)


@pytest.mark.parametrize("step", [None, Step.FILLING, Step.FILLED])
def test_only_a_checked_order_is_finished(step: Step | None) -> None:
    facts = _processing(CheckRule.SECOND_PERSON, step)
    with pytest.raises(TransitionError, match="only a checked order is finished"):
        apply(facts, Action.FINISH, NOW, name="#1012", by=AB)
    assert Action.FINISH not in legal_actions(facts, NOW, AB)


def test_failed_check_needs_a_reason_and_goes_back_to_filling() -> None:
    facts = _processing(CheckRule.SECOND_PERSON, Step.FILLED)
    with pytest.raises(TransitionError, match="needs a reason"):
        apply(facts, Action.FAIL_CHECK, NOW, " ", by=AB)
    out = apply(facts, Action.FAIL_CHECK, NOW, "wrong strength", by=AB)
    assert (out.facts.step, out.facts.filler) == (Step.FILLING, "TJ")


def test_steps_refused_out_of_order_on_hold_and_outside_processing() -> None:
    with pytest.raises(TransitionError, match="is being filled"):
        apply(_processing(CheckRule.SECOND_PERSON, Step.FILLING), Action.CHECK, NOW, by=AB)
    with pytest.raises(TransitionError, match="is already checked"):
        apply(_processing(CheckRule.SECOND_PERSON, Step.CHECKED), Action.FILL, NOW, by=AB)
    held = OrderFacts(Status.PROCESSING, on_hold=True, check=CheckRule.SECOND_PERSON)
    with pytest.raises(TransitionError, match="on hold"):
        apply(held, Action.FILL, NOW, by=TJ)
    with pytest.raises(TransitionError, match="the order is OPEN"):
        apply(OrderFacts(Status.OPEN, check=CheckRule.SECOND_PERSON), Action.FILL, NOW, by=TJ)


_FACTS = st.builds(
    OrderFacts,
    status=st.sampled_from(Status),
    on_hold=st.booleans(),
    cancel_requested=st.booleans(),
    check=st.sampled_from(CheckRule),
    step=st.none() | st.sampled_from(Step),
    filler=st.none() | st.sampled_from(["TJ", "AB"]),
)


@given(_FACTS, st.none() | st.sampled_from([TJ, AB, CD]))
def test_legal_actions_are_what_apply_accepts(facts: OrderFacts, by: Person | None) -> None:
    legal = legal_actions(facts, NOW, by)
    for action in Action:
        try:
            apply(facts, action, NOW, "-", by=by)
        except TransitionError:
            assert action not in legal
        else:
            assert action in legal
    if facts.check is not CheckRule.NONE and facts.status is Status.PROCESSING:
        assert (Action.FINISH in legal) <= (facts.step is Step.CHECKED)


# ------------------------------------------------------------------ on the database
def _order() -> NewOrder:
    item = LineItem(sku="sku-1", drug="Amoxicillin", strength="500 mg", quantity=1)
    return NewOrder(id="po-12", name="#1012", patient_name="Anna Müller", items=[item])


def _svc(store: Store, who: str, rule: CheckRule = CheckRule.SECOND_PERSON) -> OrderService:
    return OrderService(store, Actor(who, "bench-1"), clock=lambda: NOW, check=rule)


def _sent(store: Store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(outbox.c.action).order_by(outbox.c.id)).scalars())


def test_a_whole_check_on_the_database(store: Store) -> None:
    tj, ab = _svc(store, "TJ"), _svc(store, "AB")
    tj.add_orders([_order()])
    assert tj.act("#1012", Action.ADVANCE).order.fill_step == "filling"
    filled = tj.act("#1012", Action.ADVANCE)
    assert (filled.action, filled.order.fill_step, filled.order.filled_by) == (
        Action.FILL, "filled", "TJ")  # fmt: skip
    assert filled.summary == "#1012 filled by TJ: awaiting check"
    with pytest.raises(Refused, match="#1012 was filled by TJ: another person checks it"):
        tj.act("#1012", Action.ADVANCE)
    with pytest.raises(Refused, match="only a checked order is finished"):
        tj.act("#1012", Action.FINISH)
    failed = ab.act("#1012", Action.FAIL_CHECK, reason="wrong strength")
    assert (failed.order.fill_step, failed.order.check_note) == ("filling", "wrong strength")
    tj.act("#1012", Action.FILL)
    checked = ab.act("#1012", Action.CHECK)
    assert (checked.order.fill_step, checked.order.checked_by) == ("checked", "AB")
    assert checked.order.check_note is None
    assert tj.act("#1012", Action.ADVANCE).order.status is Status.FINISHED
    steps = [(e["action"], e["actor"], e["reason"]) for e in store.history("po-12")]
    assert steps == [
        ("created", "TJ", None),
        ("start", "TJ", None),
        ("fill", "TJ", None),
        ("fail_check", "AB", "wrong strength"),
        ("fill", "TJ", None),
        ("check", "AB", None),
        ("finish", "TJ", None),
    ]
    assert _sent(store) == ["start", "finish"]  # the steps are local: no outbox row


def test_pharmacist_check_asks_the_floors_list(store: Store) -> None:
    People(store, "admin", "bench-1").add("AB", Role.PHARMACIST, badge="badge-AB")
    People(store, "admin", "bench-1").add("CD", Role.TECHNICIAN)
    tj = _svc(store, "TJ", CheckRule.PHARMACIST)
    tj.add_orders([_order()])
    tj.act("#1012", Action.START)
    tj.act("#1012", Action.FILL)
    before = len(store.history("po-12"))
    with pytest.raises(Refused, match="CD is not one"):
        _svc(store, "CD", CheckRule.PHARMACIST).act("#1012", Action.CHECK)
    assert len(store.history("po-12")) == before  # a refused check writes nothing
    assert _sent(store) == ["start"]
    ab = _svc(store, "AB", CheckRule.PHARMACIST)
    assert Action.CHECK in ab.legal_actions(ab.get("#1012"))
    assert ab.act("#1012", Action.CHECK).order.checked_by == "AB"


def test_undo_takes_a_step_back(store: Store) -> None:
    tj, ab = _svc(store, "TJ"), _svc(store, "AB")
    tj.add_orders([_order()])
    tj.act("#1012", Action.START)
    filled = tj.act("#1012", Action.FILL)
    assert tj.undo(filled.event_id).order.fill_step == "filling"
    tj.act("#1012", Action.FILL)
    checked = ab.act("#1012", Action.CHECK)
    view = ab.undo(checked.event_id).order
    assert (view.fill_step, view.checked_by) == ("filled", None)
    failed = ab.act("#1012", Action.FAIL_CHECK, reason="label smudged")
    view = ab.undo(failed.event_id).order
    assert (view.fill_step, view.check_note) == ("filled", None)


def test_no_check_floor_finishes_in_one_step(store: Store) -> None:
    tj = _svc(store, "TJ", CheckRule.NONE)
    tj.add_orders([_order()])
    assert tj.act("#1012", Action.ADVANCE).order.fill_step is None
    assert tj.act("#1012", Action.ADVANCE).order.status is Status.FINISHED

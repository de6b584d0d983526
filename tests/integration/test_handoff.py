"""Ready, and handed off (issue 24 §3): a finished pickup order waits in its will-call bin
until the counter hands it off; the patient is confirmed (date of birth, or identity checked);
the source learns the hand-off through the outbox like every move."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import (
    Action,
    DeliveryType,
    OrderFacts,
    Person,
    Status,
    TransitionError,
    apply,
    confirm_patient,
    legal_actions,
)
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.service import Actor, Counter, OrderService, Refused

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AB = Person("AB", pharmacist=True)
DOB = date(1961, 4, 23)


# ------------------------------------------------------------------ the pure rule
def test_a_ready_pickup_order_is_handed_off_once() -> None:
    ready = OrderFacts(Status.FINISHED)
    assert Action.HANDOFF in legal_actions(ready, NOW, AB)
    done = apply(ready, Action.HANDOFF, NOW, name="#1012", by=AB)
    assert (done.action, done.facts.status, done.facts.picked_up) == (
        Action.HANDOFF, Status.FINISHED, True)  # fmt: skip
    with pytest.raises(TransitionError, match="#1012 was already picked up"):
        apply(done.facts, Action.HANDOFF, NOW, name="#1012", by=AB)
    assert Action.HANDOFF not in legal_actions(done.facts, NOW, AB)


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (OrderFacts(Status.OPEN), "#1012 is not ready yet"),
        (OrderFacts(Status.PROCESSING), "#1012 is not ready yet"),
        (OrderFacts(Status.CANCELLED), "#1012 was cancelled"),
        (OrderFacts(Status.FINISHED, delivery=DeliveryType.SHIP), "is a ship order"),
        (OrderFacts(Status.FINISHED, delivery=DeliveryType.COURIER), "is a courier order"),
    ],
)
def test_only_a_finished_pickup_order_is_handed_off(facts: OrderFacts, words: str) -> None:
    with pytest.raises(TransitionError, match=words):
        apply(facts, Action.HANDOFF, NOW, name="#1012", by=AB)
    assert Action.HANDOFF not in legal_actions(facts, NOW, AB)


def test_nobody_signed_in_hands_nothing_off() -> None:
    with pytest.raises(TransitionError, match="sign in first"):
        apply(OrderFacts(Status.FINISHED), Action.HANDOFF, NOW, by=None)


def test_the_patient_is_confirmed_by_date_of_birth_or_an_identity_check() -> None:
    assert confirm_patient("#1", DOB, DOB, False) == "date of birth confirmed"
    assert confirm_patient("#1", None, None, True) == "identity checked"
    with pytest.raises(TransitionError, match="does not match"):
        confirm_patient("#1", DOB, date(1961, 4, 24), False)
    with pytest.raises(TransitionError, match="ask the patient's date of birth"):
        confirm_patient("#1", DOB, None, True)  # on file: the tick alone is not enough
    with pytest.raises(TransitionError, match="confirm the patient"):
        confirm_patient("#1", None, None, False)


# ------------------------------------------------------------------ on the database
def _order(uid: str = "po-12", delivery: DeliveryType = DeliveryType.PICKUP,
           dob: date | None = DOB) -> NewOrder:  # fmt: skip
    item = LineItem(sku="sku-1", drug="Amoxicillin", strength="500 mg", quantity=1)
    return NewOrder(id=uid, name=f"#{uid[3:]}", patient_name="Anna Müller", items=[item],
                    delivery_type=delivery, patient_dob=dob)  # fmt: skip


def _svc(store: Store, who: str = "AB") -> OrderService:
    return OrderService(store, Actor(who, "counter-1"), clock=lambda: NOW)


def _sent(store: Store) -> list[tuple[str, str | None]]:
    with store.read() as conn:
        rows = conn.execute(select(outbox.c.action, outbox.c.payload).order_by(outbox.c.id))
        return [(r.action, r.payload) for r in rows]


def test_finish_into_a_bin_then_hand_off(store: Store) -> None:
    svc = _svc(store)
    svc.add_orders([_order()])
    svc.act("#12", Action.START)
    done = svc.act("#12", Action.FINISH, counter=Counter(bin="bin b12"))
    assert done.order.will_call_bin == "B12"
    assert done.summary == "#12 PROCESSING -> FINISHED: ready in bin B12"
    assert Action.HANDOFF in svc.legal_actions(done.order)
    with pytest.raises(Refused, match="does not match"):
        svc.act("#12", Action.HANDOFF, counter=Counter(dob=date(1970, 1, 1)))
    handed = svc.act("B12", Action.HANDOFF, counter=Counter(dob=DOB))  # found by its bin
    assert (handed.order.status, handed.order.picked_up_by) == (Status.FINISHED, "AB")
    assert handed.order.picked_up_at == NOW
    assert handed.summary == "#12 picked up (handed off by AB)"
    with pytest.raises(Refused, match="#12 was already picked up"):
        svc.act("#12", Action.HANDOFF, counter=Counter(dob=DOB))
    steps = [(e["action"], e["from_status"], e["to_status"], e["reason"])
             for e in store.history("po-12")]  # fmt: skip
    assert steps[-2:] == [
        ("finish", "PROCESSING", "FINISHED", "ready in bin B12"),
        ("handoff", "FINISHED", "FINISHED", "date of birth confirmed"),
    ]
    sent = _sent(store)
    assert [a for a, _ in sent] == ["start", "finish", "handoff"]
    assert sent[-1][1] is not None and '"by": "AB"' in sent[-1][1]


def test_a_refused_hand_off_writes_nothing(store: Store) -> None:
    svc = _svc(store)
    svc.add_orders([_order(dob=None), _order("po-13", DeliveryType.SHIP)])
    svc.act("#12", Action.START)
    with pytest.raises(Refused, match="#12 is not ready yet"):
        svc.act("#12", Action.HANDOFF, counter=Counter(id_checked=True))
    svc.act("#12", Action.FINISH)
    before = len(store.history("po-12"))
    with pytest.raises(Refused, match="confirm the patient of #12"):
        svc.act("#12", Action.HANDOFF)
    assert len(store.history("po-12")) == before
    assert svc.act("#12", Action.HANDOFF, counter=Counter(id_checked=True)).order.picked_up_by
    assert store.history("po-12")[-1]["reason"] == "identity checked"
    svc.act("#13", Action.START)
    with pytest.raises(Refused, match="goes with the finish of a pickup order only"):
        svc.act("#13", Action.FINISH, counter=Counter(bin="B1"))
    svc.act("#13", Action.FINISH)
    with pytest.raises(Refused, match="#13 is a ship order"):
        svc.act("#13", Action.HANDOFF, counter=Counter(id_checked=True))


def test_a_bin_label_is_checked(store: Store) -> None:
    svc = _svc(store)
    svc.add_orders([_order()])
    svc.act("#12", Action.START)
    with pytest.raises(Refused, match="is not a bin"):
        svc.act("#12", Action.FINISH, counter=Counter(bin="B 1 2 x"))
    assert svc.get("#12").status is Status.PROCESSING


def test_undo_of_a_hand_off_before_it_was_sent(store: Store) -> None:
    svc = _svc(store)
    svc.add_orders([_order()])
    svc.act("#12", Action.START)
    svc.act("#12", Action.FINISH, counter=Counter(bin="B12"))
    handed = svc.act("#12", Action.HANDOFF, counter=Counter(dob=DOB))
    back = svc.undo(handed.event_id).order
    assert (back.status, back.picked_up_at, back.picked_up_by, back.will_call_bin) == (
        Status.FINISHED, None, None, "B12")  # fmt: skip
    assert [a for a, _ in _sent(store)] == ["start", "finish", "handoff"]  # the row is undone


# ------------------------------------------------------------------ the command line
def test_the_command_line_finishes_into_a_bin_and_hands_off(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rxfloor.tui.cli.exit_codes import ExitCode
    from rxfloor.tui.cli.main import main

    s = Store.open(db_url)
    try:
        _svc(s).add_orders([_order()])
    finally:
        s.close()
    base = ["--database", db_url, "--actor", "AB"]
    assert main([*base, "start", "#12"]) == ExitCode.OK
    assert main([*base, "finish", "#12", "--bin", "B12"]) == ExitCode.OK
    assert capsys.readouterr().out.strip().endswith("ready in bin B12")
    assert main([*base, "handoff", "B12", "--dob", "1961-04-24"]) == ExitCode.REFUSED
    assert "does not match" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one of --dob / --id-checked is asked for
        main([*base, "handoff", "#12"])
    capsys.readouterr()
    assert main([*base, "handoff", "bin B12", "--dob", "1961-04-23"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == "#12 picked up (handed off by AB)"
    assert main([*base, "history", "#12", "--json"]) == ExitCode.OK
    last = json.loads(capsys.readouterr().out)[-1]
    assert (last["action"], last["actor"], last["reason"]) == (
        "handoff", "AB", "date of birth confirmed")  # fmt: skip


def test_the_remote_reaching_finished_leaves_a_queued_hand_off_to_its_push(store: Store) -> None:
    """Found by the SIGKILL test: the finish's own echo (``shipped``, ``ready_for_pickup``)
    seen while the hand-off waits must not supersede it (the patient's pickup would never
    reach the source); a cancel there still does."""
    svc = _svc(store)
    svc.add_orders([_order(), _order("po-13")])
    for name in ("#12", "#13"):
        svc.act(name, Action.START)
        svc.act(name, Action.FINISH)
        svc.act(name, Action.HANDOFF, counter=Counter(dob=DOB))
    svc.apply_remote("po-12", "ready_for_pickup", Status.FINISHED)
    svc.apply_remote("po-13", "cancelled", Status.CANCELLED)
    with store.read() as conn:
        rows = conn.execute(
            select(outbox.c.order_id, outbox.c.action, outbox.c.state)
            .where(outbox.c.action == "handoff").order_by(outbox.c.order_id)
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [("po-12", "handoff", "pending"),
                                        ("po-13", "handoff", "superseded")]  # fmt: skip


# ------------------------------------------------------------------ back to stock
def test_ready_orders_older_than_the_will_call_days_go_back_to_stock(store: Store) -> None:
    """Ready (finished, pickup, not handed off) and finished more than N whole days before
    ``now``: the longest waiting first; the limit caps the list, never the count."""
    from datetime import timedelta

    from rxfloor.core.db.queries import ready_older_than

    def finish_at(uid: str, days_ago: float, delivery: DeliveryType = DeliveryType.PICKUP,
                  bin: str | None = None, handoff: bool = False) -> None:  # fmt: skip
        at = NOW - timedelta(days=days_ago)
        svc = OrderService(store, Actor("AB", "counter-1"), clock=lambda: at)
        svc.add_orders([_order(uid, delivery)])
        svc.act(uid, Action.START)
        svc.act(uid, Action.FINISH, counter=Counter(bin=bin))
        if handoff:
            svc.act(uid, Action.HANDOFF, counter=Counter(dob=DOB))

    finish_at("po-20", 10.5, bin="B3")
    finish_at("po-21", 9, bin="B12")
    finish_at("po-22", 7)  # exactly 7 days: not older than 7
    finish_at("po-23", 2)
    finish_at("po-24", 12, handoff=True)  # picked up
    finish_at("po-25", 12, DeliveryType.SHIP)
    finish_at("po-26", 12, DeliveryType.COURIER)
    with store.read() as conn:
        back = ready_older_than(conn, NOW, 7)
        capped = ready_older_than(conn, NOW, 7, limit=1)
        none = ready_older_than(conn, NOW, 11)
    assert (back.days, back.count) == (7, 2)
    assert [(o.name, o.initials, o.bin, o.days) for o in back.orders] == [
        ("#20", "AM", "B3", 10), ("#21", "AM", "B12", 9)]  # fmt: skip
    assert back.orders[0].since == NOW - timedelta(days=10.5)
    assert (capped.count, [o.name for o in capped.orders]) == (2, ["#20"])
    assert (none.count, none.orders) == (0, [])


def test_the_back_to_stock_count_reads_the_ready_index(sqlite_url: str) -> None:
    """The wall asks every second: the ready pickup orders come from ``ix_orders_ready``,
    never from a read of every FINISHED order (45 ms on 100,000 orders without it)."""
    from datetime import timedelta

    from sqlalchemy import func

    from rxfloor.core.db import orders
    from rxfloor.core.db.queries import _ready_pickup

    store = Store.open(sqlite_url)
    try:
        older = [*_ready_pickup(), orders.c.status_since < NOW - timedelta(days=7)]
        stmt = select(func.count()).where(*older)
        with store.read() as conn:
            sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        store.close()
    assert "ix_orders_ready" in plan, plan

"""The service on real databases (a SQLite file and a fresh PostgreSQL database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.service import Actor, Conflict, OrderNotFound, OrderService, Refused

NOW = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)


def _order(uid: str = "po-1", name: str = "#1001", **kw: object) -> NewOrder:
    item = LineItem(sku="sku-1", drug="Amoxicillin", strength="500 mg caps", quantity=2)
    return NewOrder(id=uid, name=name, patient_name="Anna Müller", items=[item], **kw)


@pytest.fixture
def svc(store: Store) -> OrderService:
    s = OrderService(store, Actor("AB", "counter-1"), clock=lambda: NOW)
    s.add_orders([_order(), _order("po-2", "#1002"), _order("po-3", "#1003", sample=True)])
    return s


def _outbox(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()]


def test_full_path_writes_state_event_and_outbox_together(svc: OrderService, store: Store) -> None:
    started = svc.act("#1001", Action.ADVANCE)
    assert (started.from_status, started.to_status) == (Status.OPEN, Status.PROCESSING)
    assert started.order.version == 2
    finished = svc.act("po-1", Action.ADVANCE)
    assert finished.order.status is Status.FINISHED
    events = store.history("po-1")
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "OPEN"),
        ("start", "OPEN", "PROCESSING"),
        ("finish", "PROCESSING", "FINISHED"),
    ]
    last = events[-1]
    assert (last["actor"], last["station"], last["source"], last["at"]) == (
        "AB", "counter-1", "local", NOW
    )  # fmt: skip
    rows = _outbox(store)
    assert [(r["action"], r["state"]) for r in rows] == [
        ("start", "pending"),
        ("finish", "pending"),
    ]
    assert rows[0]["audit_event_id"] == events[1]["id"]
    assert len({r["idempotency_key"] for r in rows}) == 2


def test_a_hold_stops_finish_too_and_says_whose_it_is(svc: OrderService, store: Store) -> None:
    """Issue 23: a held PROCESSING order was finished by ``a`` with no word. A hold stops
    start and finish alike (cancel stays possible), saying whose hold, since when and why;
    the release's event says who released which hold."""
    svc.act("#1001", Action.START)
    svc.act("#1001", Action.HOLD, reason="Patient calling back about dose")
    at = NOW.astimezone().strftime("%H:%M")
    for action in (Action.FINISH, Action.ADVANCE):
        with pytest.raises(Refused) as refused:
            svc.act("#1001", action)
        assert str(refused.value) == (
            f"#1001 is on hold (AB {at}: Patient calling back about dose): release it first"
        )
    assert svc.get("#1001").status is Status.PROCESSING
    other = OrderService(store, Actor("CD", "counter-2"), clock=lambda: NOW)
    other.act("#1001", Action.RELEASE)
    last = store.history("po-1")[-1]
    assert (last["action"], last["actor"]) == ("release", "CD")
    assert last["reason"] == f"released the hold of AB {at}: Patient calling back about dose"
    assert svc.act("#1001", Action.FINISH).order.status is Status.FINISHED


def test_a_held_order_can_still_be_cancelled(svc: OrderService) -> None:
    svc.act("#1001", Action.HOLD, reason="Awaiting prescriber callback")
    assert svc.act("#1001", Action.CANCEL, reason="prescriber stopped it").order.status is (
        Status.CANCELLED
    )


def test_cancel_needs_reason_and_records_it(svc: OrderService, store: Store) -> None:
    with pytest.raises(Refused, match="#1002: cancel needs a reason"):
        svc.act("#1002", Action.CANCEL, reason="  ")
    result = svc.act("#1002", Action.CANCEL, reason="patient moved away")
    assert result.order.status is Status.CANCELLED
    assert store.history("po-2")[-1]["reason"] == "patient moved away"
    with pytest.raises(Refused, match=r"#1002 is already CANCELLED \(by AB at"):
        svc.act("#1002", Action.START)


def test_hold_blocks_start_until_released(svc: OrderService, store: Store) -> None:
    held = svc.act("#1001", Action.HOLD, reason="Awaiting prescriber callback")
    assert held.order.hold and held.order.hold_by == "AB" and held.order.hold_since == NOW
    with pytest.raises(Refused, match="on hold"):
        svc.act("#1001", Action.START)
    released = svc.act("#1001", Action.RELEASE)
    assert not released.order.hold and released.order.hold_reason is None
    assert svc.act("#1001", Action.START).order.status is Status.PROCESSING
    assert [r["action"] for r in _outbox(store)] == ["start"]  # hold/release stay local


def test_scheduled_order_cannot_start_early(store: Store) -> None:
    svc = OrderService(store, Actor("AB", "c1"), clock=lambda: NOW)
    svc.add_orders([_order(fulfill_at=NOW + timedelta(hours=3))])
    with pytest.raises(Refused, match="scheduled for"):
        svc.act("#1001", Action.START)
    later = OrderService(store, Actor("AB", "c1"), clock=lambda: NOW + timedelta(hours=4))
    assert later.act("#1001", Action.START).order.status is Status.PROCESSING


def test_no_skipping_and_nothing_leaves_finished(svc: OrderService) -> None:
    with pytest.raises(Refused, match="cannot finish: the order is OPEN"):
        svc.act("#1001", Action.FINISH)
    svc.act("#1001", Action.START)
    svc.act("#1001", Action.FINISH)
    for action in (Action.START, Action.FINISH, Action.ADVANCE, Action.HOLD, Action.RELEASE):
        with pytest.raises(Refused, match="FINISHED"):
            svc.act("#1001", action, reason="x")
    with pytest.raises(Refused, match="already FINISHED"):
        svc.act("#1001", Action.CANCEL, reason="too late")


def test_unknown_order(svc: OrderService) -> None:
    with pytest.raises(OrderNotFound, match="'#9999' does not exist"):
        svc.act("#9999", Action.START)


def test_stale_version_is_a_conflict_naming_who_moved_it(store: Store, svc: OrderService) -> None:
    seen = svc.get("#1001")
    other = OrderService(store, Actor("CD", "counter-2"), clock=lambda: NOW)
    other.act("#1001", Action.START)
    with pytest.raises(
        Conflict,
        match=r"^#1001 was started by CD meanwhile at \d\d:\d\d \(now PROCESSING\): nothing done$",
    ) as err:
        svc.act("#1001", Action.START, expected_version=seen.version)
    assert err.value.order is not None and err.value.order.status is Status.PROCESSING
    assert [e["action"] for e in store.history("po-1")] == ["created", "start"]


def test_sample_orders_are_never_queued_for_the_remote(svc: OrderService, store: Store) -> None:
    svc.act("#1003", Action.START)
    assert _outbox(store) == []


def test_undo_before_the_remote_saw_it(svc: OrderService, store: Store) -> None:
    moved = svc.act("#1001", Action.START)
    undone = svc.undo(moved.event_id)
    assert undone.order.status is Status.OPEN
    assert [r["state"] for r in _outbox(store)] == ["undone"]
    events = store.history("po-1")
    assert [e["action"] for e in events] == ["created", "start", "undo"]
    assert (events[-1]["from_status"], events[-1]["to_status"]) == ("PROCESSING", "OPEN")
    with pytest.raises(Conflict, match="cannot undo: #1001 had its last move undone by"):
        svc.undo(moved.event_id)


def test_a_cancel_the_remote_also_made_cannot_be_undone_back_to_open(
    svc: OrderService, store: Store
) -> None:
    """The floor cancels; before the cancel is sent, the remote cancels (Photon: rerouted)
    by itself. Our cancel is moot there, and an undo must not bring the order back to a
    column the source left for good (found by the Photon property test: OPEN here,
    rerouted there, for ever: Photon lists nothing that would put it right)."""
    moved = svc.act("#1001", Action.CANCEL, reason="Patient cancelled")
    svc.apply_remote("po-1", "cancelled", Status.CANCELLED)
    assert [r["state"] for r in _outbox(store)] == ["superseded"]
    with pytest.raises(Conflict, match="cannot undo: #1001 "):
        svc.undo(moved.event_id)
    assert svc.get("#1001").status is Status.CANCELLED
    events = store.history("po-1")
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events][-1] == (
        "remote", "CANCELLED", "CANCELLED")  # fmt: skip


def test_undo_refused_once_sent(svc: OrderService, store: Store) -> None:
    moved = svc.act("#1001", Action.START)
    with store.write() as conn:
        conn.execute(outbox.update().values(state="sent"))
    with pytest.raises(Refused, match="already been sent to the remote"):
        svc.undo(moved.event_id)
    assert svc.get("#1001").status is Status.PROCESSING


def test_undo_hold_and_release(svc: OrderService) -> None:
    held = svc.act("#1001", Action.HOLD, reason="Insurance check")
    assert not svc.undo(held.event_id).order.hold
    svc.act("#1001", Action.HOLD, reason="Insurance check")
    released = svc.act("#1001", Action.RELEASE)
    back = svc.undo(released.event_id).order
    assert back.hold and back.hold_reason == "Insurance check"


def test_add_orders_is_idempotent_and_feeds_the_change_log(svc: OrderService, store: Store) -> None:
    cursor = store.change_cursor()
    assert svc.add_orders([_order(), _order("po-9", "#1009")]) == 1
    new_cursor, ids = store.changes_since(cursor)
    assert ids == {"po-9"} and store.changes_since(new_cursor)[1] == set()
    assert store.count_orders() == 4
    assert [i["drug"] for i in store.line_items("po-9")] == ["Amoxicillin"]


def test_refused_move_writes_nothing(svc: OrderService, store: Store) -> None:
    cursor = store.change_cursor()
    with pytest.raises(Refused):
        svc.act("#1001", Action.FINISH)
    assert store.changes_since(cursor)[1] == set()
    assert len(store.history("po-1")) == 1
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0


def test_alert_acknowledgement_is_audited(svc: OrderService, store: Store) -> None:
    from rxfloor.core.db import alerts

    with store.write() as conn:
        conn.execute(
            alerts.insert().values(
                order_id="po-1", kind="remote_cancel", message="cancelled remotely", created_at=NOW
            )
        )
    (alert,) = store.open_alerts()
    assert alert["order_name"] == "#1001"
    svc.acknowledge_alert(alert["id"])
    assert store.open_alerts() == []
    assert store.history("po-1")[-1]["action"] == "acknowledge"

"""Ready and handed off on the board (issue 24 §3): with ``[floor] will_call_bins`` the
finish of a pickup order asks for its bin (scanned), the card says ``ready · B7 · …``; the
bin (or the order) scanned and H at the counter hand it off once the patient is confirmed;
at 80x24 and 160x48."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, orders, outbox
from rxfloor.core.lifecycle import Action, DeliveryType
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.handoff import (
    BinScreen,
    Confirmation,
    HandoffScreen,
    read_confirmation,
)
from tests.board_fixtures import frozen, make_app, on_top, press, ready, scan, seed_board, until

SIZES = [(80, 24), (160, 48)]
DOB = date(1961, 4, 23)


@pytest.fixture
def url(db_url: str) -> str:
    seed_board(db_url)
    store = Store.open(db_url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
    item = LineItem(sku="sku-9", drug="Ramipril", strength="5 mg", quantity=1)
    service.add_orders([
        NewOrder(id="po-h1", name="#7001", patient_name="Hanna Hoff", items=[item],
                 delivery_type=DeliveryType.PICKUP, patient_dob=DOB),
        NewOrder(id="po-h2", name="#7002", patient_name="Otto Ohne", items=[item],
                 delivery_type=DeliveryType.PICKUP),
    ])  # fmt: skip
    for name in ("#7001", "#7002"):
        service.act(name, Action.START)
    store.close()
    return db_url


def _row(url: str, name: str) -> tuple[str, str | None, str | None]:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            row = conn.execute(
                select(orders.c.status, orders.c.will_call_bin, orders.c.picked_up_by)
                .where(orders.c.name == name)
            ).one()  # fmt: skip
    finally:
        store.close()
    return row.status, row.will_call_bin, row.picked_up_by


def card_line(app: BoardApp, name: str) -> str:
    card = next(c for c in app.board.model.cards.values() if c.name == name)
    col = app.board.view.column_for(card.status)
    return "".join(s.text for s in col._render_card(card, 78, selected=False)[0])


def errors(app: BoardApp) -> list[str]:
    return [m for s, m in app.said if s == "error"]  # type: ignore[attr-defined]


def test_the_counter_types_a_date_of_birth_or_id() -> None:
    assert read_confirmation(" 1961-04-23 ") == Confirmation(DOB)
    assert read_confirmation("23.04.1961") == Confirmation(DOB)
    assert read_confirmation("04/23/1961") == Confirmation(DOB)
    assert read_confirmation("ID") == Confirmation(id_checked=True)
    assert read_confirmation("yesterday") is None


@pytest.mark.parametrize("size", SIZES)
async def test_finish_into_a_bin_then_hand_off_at_the_counter(
    url: str, size: tuple[int, int]
) -> None:
    app = make_app(url, floor={"will_call_bins": True}, repeat_guard_s=0)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await scan(pilot, "#7001")
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#7001")
        await press(pilot, "a")  # the finish asks for the bin: its label is scanned
        await on_top(pilot, BinScreen)
        await scan(pilot, "bin B7")
        await until(pilot, lambda: _row(url, "#7001") == ("FINISHED", "B7", None))
        await until(pilot, lambda: "ready · B7" in card_line(app, "#7001"))
        await scan(pilot, "#7002")
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#7002")
        await press(pilot, "a")
        await on_top(pilot, BinScreen)
        await pilot.press("enter")  # finished without a bin
        await until(pilot, lambda: _row(url, "#7002")[0] == "FINISHED")
        await scan(pilot, "bin B7")  # at the counter: the bin finds its order
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#7001")
        await press(pilot, "H")
        await on_top(pilot, HandoffScreen)
        await pilot.press(*"1961-04-24", "enter")  # the wrong date: refused loudly
        await until(pilot, lambda: any("does not match" in m for m in errors(app)))
        assert _row(url, "#7001") == ("FINISHED", "B7", None)
        await on_top(pilot, BoardScreen)
        await press(pilot, "H")
        await on_top(pilot, HandoffScreen)
        await pilot.press(*"1961-04-23", "enter")
        await until(pilot, lambda: _row(url, "#7001") == ("FINISHED", "B7", "AB"))
        await until(pilot, lambda: "picked up" in card_line(app, "#7001"))
        assert "by AB" in card_line(app, "#7001")
        await scan(pilot, "#7002")  # no date of birth on file: identity checked
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#7002")
        await press(pilot, "H")
        await on_top(pilot, HandoffScreen)
        await pilot.press("i", "d", "enter")
        await until(pilot, lambda: _row(url, "#7002")[2] == "AB")
    store = Store.open(url, migrate=False)
    with store.read() as conn:
        sent = list(conn.execute(select(outbox.c.action).order_by(outbox.c.id)).scalars())
    store.close()
    assert sent[-2:] == ["handoff", "handoff"]

"""The check before finish on the board (issue 24 §1): sign in by badge (and PIN), fill,
check by another person, a failed check with its reason on the card; at 80x24 and 160x48."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox, people_events
from rxfloor.core.people import People, Role
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.goto import PinScreen
from rxfloor.tui.screens.reason import ReasonScreen
from tests.board_fixtures import make_app, on_top, press, ready, scan, seed_board, until

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def url(db_url: str) -> str:
    seed_board(db_url)
    store = Store.open(db_url)
    people = People(store, "admin", "office")
    people.add("TJ", Role.TECHNICIAN, badge="badge-TJ")
    people.add("AB", Role.PHARMACIST, badge="badge-AB", pin="2468")
    people.add("CD", Role.TECHNICIAN, badge="badge-CD")
    store.close()
    return db_url


def _app(url: str, check: str = "second_person", **kw: Any) -> BoardApp:
    return make_app(url, floor={"check": check, **kw}, repeat_guard_s=0)


def header(app: BoardApp) -> str:
    return str(app.board.query_one("#header").render())


def card_line(app: BoardApp, name: str) -> str:
    card = next(c for c in app.board.model.cards.values() if c.name == name)
    col = app.board.view.column_for(card.status)
    return "".join(s.text for s in col._render_card(card, 70, selected=False)[0])


def errors(app: Any) -> list[str]:
    return [m for s, m in app.said if s == "error"]


def step_of(url: str, name: str) -> tuple[str, str | None]:
    store = Store.open(url, migrate=False)
    try:
        view = store_view(store, name)
    finally:
        store.close()
    return view


def store_view(store: Store, name: str) -> tuple[str, str | None]:
    from rxfloor.core.db import orders

    with store.read() as conn:
        row = conn.execute(
            select(orders.c.status, orders.c.fill_step).where(orders.c.name == name)
        ).one()
    return row.status, row.fill_step


async def _to_processing(pilot: Any, app: BoardApp) -> str:
    await press(pilot, "l")
    card = app.board.card
    assert card is not None and card.status == "PROCESSING"
    return card.name


@pytest.mark.parametrize("size", SIZES)
async def test_fill_check_by_another_person_then_finish(url: str, size: tuple[int, int]) -> None:
    app = _app(url)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        assert "signed out" in header(app)  # AB has a PIN: the station starts signed out
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: "TJ" in header(app))
        name = await _to_processing(pilot, app)
        await press(pilot, "a")  # TJ marks it filled
        await until(pilot, lambda: step_of(url, name) == ("PROCESSING", "filled"))
        await until(pilot, lambda: "filled TJ · check" in card_line(app, name))
        await press(pilot, "a")  # TJ may not check their own fill
        await until(pilot, lambda: any("another person checks it" in m for m in errors(app)))
        assert f"{name} was filled by TJ: another person checks it" in errors(app)[-1]
        assert step_of(url, name) == ("PROCESSING", "filled")
        await scan(pilot, "badge-AB")  # AB has a PIN
        await on_top(pilot, PinScreen)
        await pilot.press(*"2468", "enter")
        await until(pilot, lambda: "AB" in header(app) and isinstance(app.screen, BoardScreen))
        await press(pilot, "a")  # the check
        await until(pilot, lambda: step_of(url, name) == ("PROCESSING", "checked"))
        await press(pilot, "a")  # and the finish
        await until(pilot, lambda: step_of(url, name)[0] == "FINISHED")
        card = next(c for c in app.board.model.cards.values() if c.name == name)
    store = Store.open(url, migrate=False)
    steps = [(e["action"], e["actor"]) for e in store.history(card.id)][-3:]
    with store.read() as conn:
        sent = list(conn.execute(select(outbox.c.action)).scalars())
        signs = list(conn.execute(select(people_events.c.action, people_events.c.person)
                                  .where(people_events.c.action == "sign_in")))  # fmt: skip
    store.close()
    assert steps == [("fill", "TJ"), ("check", "AB"), ("finish", "AB")]
    assert "fill" not in sent and "check" not in sent  # local steps: never sent
    assert [tuple(s) for s in signs] == [("sign_in", "TJ"), ("sign_in", "AB")]


@pytest.mark.parametrize("size", SIZES)
async def test_a_failed_check_goes_back_to_filling_with_its_reason(
    url: str, size: tuple[int, int]
) -> None:
    app = _app(url)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: "TJ" in header(app))
        name = await _to_processing(pilot, app)
        await press(pilot, "a")
        await until(pilot, lambda: step_of(url, name)[1] == "filled")
        await scan(pilot, "badge-CD")
        await until(pilot, lambda: "CD" in header(app))
        await press(pilot, "x")  # on a filled card: the check failed, not a cancel
        await on_top(pilot, ReasonScreen)
        assert "Check of" in str(app.screen.query_one(".dialog-title").render())
        await press(pilot, "down", "down", "enter")  # "Wrong strength"
        await until(pilot, lambda: step_of(url, name) == ("PROCESSING", "filling"))
        await until(pilot, lambda: "✗ Wrong strength" in card_line(app, name))
        assert "filling TJ" in card_line(app, name)


async def test_pharmacist_rule_refuses_a_technician_and_a_wrong_pin(url: str) -> None:
    app = _app(url, check="pharmacist")
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: "TJ" in header(app))
        name = await _to_processing(pilot, app)
        await press(pilot, "a")
        await until(pilot, lambda: step_of(url, name)[1] == "filled")
        await scan(pilot, "badge-CD")
        await until(pilot, lambda: "CD" in header(app))
        await press(pilot, "a")
        await until(pilot, lambda: any("CD is not one" in m for m in errors(app)))
        await scan(pilot, "badge-AB")
        await on_top(pilot, PinScreen)
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: any("wrong PIN for AB" in m for m in errors(app)))
        assert "CD" in header(app)  # still CD at the keys
        await scan(pilot, "badge-ZZ")
        await until(pilot, lambda: any("badge-ZZ is not on the floor's list" in m
                                       for m in errors(app)))  # fmt: skip
        assert step_of(url, name) == ("PROCESSING", "filled")


async def test_an_idle_station_signs_out(url: str) -> None:
    app = _app(url, idle_sign_out_min=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: "TJ" in header(app))
        assert not app.idle_check(app.last_key_at + 4 * 60)
        assert app.idle_check(app.last_key_at + 5 * 60 + 1)
        await until(pilot, lambda: "signed out" in header(app))
        await _to_processing(pilot, app)
        await press(pilot, "a")  # nobody at the keys: nothing is filled
        await until(pilot, lambda: any("sign in first" in m for m in errors(app)))


async def test_a_floor_without_check_is_unchanged(url: str) -> None:
    app = _app(url, check="none")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: "TJ" in header(app))
        name = await _to_processing(pilot, app)
        await press(pilot, "a")
        await until(pilot, lambda: step_of(url, name)[0] == "FINISHED")

"""Issue 23, "The busy counter II": a hold stops the order, one truth for lateness, cut text.

Pilot on a real SQLite file with the board's frozen clock (``tests.board_fixtures.FROZEN``).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from textual.pilot import Pilot

from rxfloor.core.db import Store, audit_events, orders
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.confirm import ConfirmScreen
from tests.board_fixtures import FROZEN, frozen, make_app, press, ready, seed_board, until


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


def screen_lines(pilot: Pilot[None]) -> list[str]:
    """The screen as painted, one string per row."""
    strips = pilot.app.screen._compositor.render_strips()
    return ["".join(seg.text for seg in strip) for strip in strips]


def column_of(url: str, name: str) -> str:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            return str(conn.execute(select(orders.c.status).where(orders.c.name == name)).scalar())
    finally:
        store.close()


def hold(url: str, name: str, reason: str, who: str = "CD") -> None:
    store = Store.open(url, migrate=False)
    try:
        OrderService(store, Actor(who, "counter-2"), clock=frozen).act(
            name, Action.HOLD, reason=reason
        )
    finally:
        store.close()


def last_event(url: str, name: str) -> dict[str, object]:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            row = (
                conn.execute(
                    select(audit_events)
                    .join(orders, orders.c.id == audit_events.c.order_id)
                    .where(orders.c.name == name)
                    .order_by(audit_events.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .one()
            )
            return dict(row)
    finally:
        store.close()


# ------------------------------------------------------------------ a hold stops the order
async def test_advance_on_a_held_order_is_refused_and_says_whose_hold(url: str) -> None:
    """Hold #1003 (PROCESSING) with a reason, press ``a``: it stays, and the notice says
    whose hold it is, since when, why and which key releases it."""
    hold(url, "#1003", "Patient calling back about dose")
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order("po-s0-000003")
        await pilot.pause()
        at = FROZEN.astimezone().strftime("%H:%M")
        assert any("HOLD: Patient calling" in line for line in screen_lines(pilot))
        await press(pilot, "a")
        expected = (f"#1003 is on hold (CD {at}: Patient calling back about dose): "
                    "release it first with p")  # fmt: skip
        await until(pilot, lambda: ("error", expected) in app.said)
        assert column_of(url, "#1003") == "PROCESSING"


async def test_release_asks_once_showing_who_when_why_and_records_who(url: str) -> None:
    hold(url, "#1003", "Patient calling back about dose")
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order("po-s0-000003")
        await pilot.pause()
        await press(pilot, "p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = "\n".join(screen_lines(pilot))
        at = FROZEN.astimezone().strftime("%H:%M")
        assert "Release the hold on #1003?" in text
        assert f"held by CD at {at}: Patient calling back about dose" in text
        await press(pilot, "n")  # kept on hold
        await until(pilot, lambda: isinstance(app.screen, BoardScreen))
        assert last_event(url, "#1003")["action"] == "hold"
        await press(pilot, "p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "y")
        await until(pilot, lambda: last_event(url, "#1003")["action"] == "release")
        event = last_event(url, "#1003")
        assert event["actor"] == "AB"
        assert event["reason"] == f"released the hold of CD {at}: Patient calling back about dose"

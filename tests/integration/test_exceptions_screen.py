"""The exceptions queue on the board (issue 12): ``e``, the header's count, the screen's
actions, hostile words, and how it looks at 80x24 and 160x48 (Pilot on the real app)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Footer

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import OutboxState
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.board.header import BoardHeader
from rxfloor.tui.screens.detail import DetailScreen
from rxfloor.tui.screens.exceptions import ExceptionsScreen
from rxfloor.tui.screens.reason import ReasonScreen
from tests.board_fixtures import frozen, make_app, on_top, press, ready, seed_board, until
from tests.exceptions_fixtures import PARKED, PHOTON, seed_queue


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def url(sqlite_url: str, utc: None) -> str:
    seed_queue(sqlite_url)
    return sqlite_url


def header_text(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen_stack[0].query_one(BoardHeader).render())


async def open_queue(pilot: Pilot[None]) -> ExceptionsScreen:
    await ready(pilot)
    await press(pilot, "e")
    await until(pilot, lambda: isinstance(pilot.app.screen, ExceptionsScreen)
                and pilot.app.screen.loaded)  # fmt: skip
    await pilot.pause(0.05)
    screen = pilot.app.screen
    assert isinstance(screen, ExceptionsScreen)
    return screen


def rows(screen: ExceptionsScreen) -> list[list[str]]:
    table = screen.query_one(DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def footer_keys(screen: ExceptionsScreen) -> set[str]:
    """The actions the footer offers now (Textual's active bindings, shown ones)."""
    return {b.action for _, b, enabled, _ in screen.active_bindings.values()
            if enabled and b.show}  # fmt: skip


async def test_e_lists_the_queue_oldest_first_with_the_keys_that_apply(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: "exceptions 4" in header_text(pilot))
        screen = await open_queue(pilot)
        listed = rows(screen)
        assert [(r[0], r[1], r[2], r[3]) for r in listed] == [
            ("2h00", "Photon", "PH-9", "source status"),
            ("40m", "Shopify", "#2002", "parked start"),
            ("0m", "Shopify", "#2006", "cancel request"),
            ("0m", "Shopify", "#2007", "cancel request"),
        ]
        # the hostile words are data: brackets kept, ESC made visible, never markup
        assert listed[0][4] == "Photon reports an error: [/]oops [bold]not markup␛[2J out of stock"
        assert footer_keys(screen) >= {"resolve", "open", "back"}
        assert not footer_keys(screen) & {"retry", "accept", "reject"}
        await press(pilot, "down")
        assert footer_keys(screen) >= {"retry", "resolve", "open"}
        await press(pilot, "down")
        assert footer_keys(screen) >= {"accept", "reject", "open"}
        assert "resolve" not in footer_keys(screen)
        await press(pilot, "enter")
        await on_top(pilot, DetailScreen)
        assert "#2006" in app.screen.title_text  # type: ignore[attr-defined]
        await press(pilot, "escape")
        await press(pilot, "escape")
        assert not isinstance(app.screen, ExceptionsScreen)


async def test_retry_leaves_the_queue_and_the_header_follows(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await press(pilot, "down", "t")
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["PH-9", "#2006", "#2007"])
        with app.service.store.read() as conn:
            states = conn.execute(select(outbox.c.state).where(
                outbox.c.order_id == PARKED)).scalars().all()  # fmt: skip
        assert OutboxState.PENDING in states and OutboxState.FAILED not in states
        await until(pilot, lambda: "exceptions 3" in header_text(pilot))
        assert screen.notice.text == "#2002: start queued again"  # said here, not under it
        assert app.service.store.history(PARKED)[-1]["action"] == "retry"


async def test_resolve_asks_a_note_and_writes_the_audit(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await press(pilot, "n")
        await on_top(pilot, ReasonScreen)
        await press(pilot, "escape")  # backs out: nothing written
        assert len(rows(screen)) == 4
        await press(pilot, "n", "tab")
        for key in "rerouted":
            await pilot.press(key)
        await press(pilot, "enter")
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["#2002", "#2006", "#2007"])
        last = app.service.store.history(PHOTON)[-1]
        assert (last["action"], last["actor"], last["reason"]) == (
            "resolve",
            "AB",
            "Photon error: rerouted",
        )


async def test_a_cancel_request_is_answered_here_as_on_the_board(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await press(pilot, "down", "down", "y")
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["PH-9", "#2002", "#2007"])
        assert app.service.get("shopify:#2006").status is Status.CANCELLED
        await press(pilot, "down", "down", "r")
        await on_top(pilot, ReasonScreen)
        await press(pilot, "down", "enter")  # the first reason
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["PH-9", "#2002"])
        assert app.service.store.history(app.service.get("shopify:#2007").id)[-1][
            "action"] == Action.REJECT_CANCEL.value  # fmt: skip


async def test_the_screen_follows_changes_made_elsewhere(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        other = OrderService(Store.open(url), Actor("XY", "counter-9"), clock=frozen)
        other.resolve_exception(PHOTON, "called Photon")
        await until(pilot, lambda: "PH-9" not in [r[2] for r in rows(screen)])
        other.apply_remote(PHOTON, "received", Status.OPEN)
        other.apply_remote(PHOTON, "error", None, remote_hold=True, hold_comment="again")
        await until(pilot, lambda: "PH-9" in [r[2] for r in rows(screen)])
        other.store.close()


async def test_nothing_in_the_queue_hides_the_count_and_the_key(sqlite_url: str) -> None:
    seed_board(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "exceptions" not in header_text(pilot)
        assert app.board.check_action("exceptions", ()) is False
        footer = app.board.query_one(Footer)
        assert footer is not None
        await press(pilot, "e")
        assert not isinstance(app.screen, ExceptionsScreen)


async def _open_for_snapshot(pilot: Pilot[None]) -> None:
    await open_queue(pilot)
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot(url: str, size: tuple[int, int], snap_compare: Any) -> None:
    app = make_app(url, theme="rxfloor-dark")
    assert snap_compare(app, terminal_size=size, run_before=_open_for_snapshot)


async def test_the_answer_keys_follow_the_users_keymap(url: str) -> None:
    app = make_app(url, keys={"accept_cancel": "Y", "exceptions": "X,E"})
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await press(pilot, "X")
        await until(pilot, lambda: isinstance(app.screen, ExceptionsScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, ExceptionsScreen)
        await press(pilot, "down", "down", "y")  # the default key does nothing now
        assert len(rows(screen)) == 4
        await press(pilot, "Y")
        await until(pilot, lambda: len(rows(screen)) == 3)
        await press(pilot, "E")
        assert not isinstance(app.screen, ExceptionsScreen)


async def test_the_highlight_stays_where_the_pharmacist_acted(url: str) -> None:
    """After `t` on row 2 the next `n` must act on the item that took its place, not on
    row 1: the highlight stays on the item acted on, or the next one when it left."""
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await press(pilot, "down", "t")
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["PH-9", "#2006", "#2007"])
        for _ in range(5):  # the board's feed and the header read the queue again too
            await pilot.pause(0.05)
            assert screen.item is not None and screen.item.order_name == "#2006"
        assert screen.query_one(DataTable).cursor_row == 1


async def test_after_a_resolve_the_highlight_is_on_the_next_item(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await press(pilot, "down", "n")
        await on_top(pilot, ReasonScreen)
        await press(pilot, "down", "enter")
        await until(pilot, lambda: [r[2] for r in rows(screen)] == ["PH-9", "#2006", "#2007"])
        for _ in range(5):
            await pilot.pause(0.05)
            assert screen.item is not None and screen.item.order_name == "#2006"

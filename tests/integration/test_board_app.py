"""Pilot tests: the real board on a real SQLite file, driven by its keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from textual import messages

from rxfloor.core.config import ConfigError, load_settings, state_file
from rxfloor.core.db import Store, alerts, audit_events, orders, outbox, sync_state
from rxfloor.core.db import queries as bq
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.actions import check_keymap
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.messages import AlertsChanged, HealthChanged
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.confirm import ConfirmScreen
from rxfloor.tui.screens.detail import DetailScreen
from rxfloor.tui.screens.goto import GotoScreen
from rxfloor.tui.screens.help import HelpScreen
from rxfloor.tui.screens.reason import ReasonScreen
from tests.board_fixtures import (
    FROZEN,
    feed_batches,
    frozen,
    make_app,
    moves_settled,
    on_top,
    press,
    ready,
    seed_board,
    until,
)
from tests.helpers import run_cli


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


def row(url: str, name: str) -> dict[str, object]:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            found = conn.execute(select(orders).where(orders.c.name == name)).mappings().first()
            assert found is not None
            return dict(found)
    finally:
        store.close()


def events(url: str, name: str) -> list[str]:
    store = Store.open(url, migrate=False)
    try:
        return [e["action"] for e in store.history(str(row(url, name)["id"]))]
    finally:
        store.close()


def shown(app: BoardApp) -> set[str]:
    """Active bindings on the board (what the footer shows and what acts)."""
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


def names(app: BoardApp, status: Status) -> list[str]:
    col = app.board.query_one(f"#col-{status.value.lower()}")
    return [c.name for c in col.cards]  # type: ignore[attr-defined]


def focused_status(app: BoardApp) -> Status | None:
    card = app.board.card
    return None if card is None else card.status


async def test_start_titles_and_navigation(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board
        titles = [c.border_title for c in board.visible_columns]
        assert titles == ["OPEN 26 · 6 late", "PROCESSING 2", "FINISHED 1"]
        assert (
            board.card is not None and board.card.name == "#1009"
        )  # the oldest promise (waiter, late 2h53)
        assert names(app, Status.OPEN)[:5] == ["#1009", "#1020", "#1004", "#1025", "#1029"]
        await press(pilot, "j", "down")
        assert board.card is not None and board.card.name == "#1004"
        await press(pilot, "k")
        assert board.card is not None and board.card.name == "#1020"
        await press(pilot, "end")
        assert board.card is not None and board.card.name == names(app, Status.OPEN)[-1]
        await press(pilot, "home", "pagedown")
        assert board.column.cursor == board.column.page()
        await press(pilot, "pageup", "l")
        assert focused_status(app) is Status.PROCESSING
        await press(pilot, "right", "right")  # stops at the last column
        assert focused_status(app) is Status.FINISHED
        await press(pilot, "h", "left", "left")
        assert focused_status(app) is Status.OPEN
        await press(pilot, "c")
        assert [c.status for c in board.visible_columns][-1] is Status.CANCELLED
        assert board.visible_columns[-1].border_title == "CANCELLED 1"
        await press(pilot, "c")
        assert len(board.visible_columns) == 3
        await press(pilot, "q")
    assert not app.is_running


async def test_advance_with_a_and_space_and_legal_keys_only(url: str) -> None:
    # no repeat guard: the second key comes right after the cursor moved to the next card
    # (the guard itself is tested in test_board_counter.py)
    app = make_app(url, repeat_guard_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert {"advance", "cancel_order", "hold", "detail"} <= shown(app)
        assert "undo" not in shown(app)
        await press(pilot, "a")
        await until(pilot, lambda: row(url, "#1009")["status"] == "PROCESSING")
        assert app.board.card is not None and app.board.card.name == "#1020"  # next card
        await press(pilot, "space")
        await until(pilot, lambda: row(url, "#1020")["status"] == "PROCESSING")
        await until(pilot, lambda: moves_settled(app))
        assert "#1009" in names(app, Status.PROCESSING)
        assert "undo" in shown(app)
        assert app.board.focus_order(str(row(url, "#1009")["id"]))  # PROCESSING: finish
        await press(pilot, "a")
        await until(pilot, lambda: row(url, "#1009")["status"] == "FINISHED")
        await press(pilot, "l")
        assert app.board.card is not None and app.board.card.status is Status.FINISHED
        # nothing leaves FINISHED: the move keys are neither shown nor acting
        assert not {"advance", "cancel_order", "hold"} & shown(app)
        before = row(url, "#1006")["version"]
        await press(pilot, "a", "x", "p")
        await pilot.pause(0.2)
        assert row(url, "#1006")["version"] == before
        assert isinstance(app.screen, BoardScreen)


async def test_held_order_cannot_start_until_released(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(str(row(url, "#1015")["id"]))
        # advance still acts on a held order, to say why it does not start (issue 23)
        assert "hold" in shown(app)
        before = row(url, "#1015")["version"]
        await press(pilot, "a")
        await until(pilot, lambda: any("on hold" in m for _, m in app.said))
        assert row(url, "#1015")["version"] == before and row(url, "#1015")["status"] == "OPEN"
        await press(pilot, "p")  # release needs no reason, but asks once
        await on_top(pilot, ConfirmScreen)
        await press(pilot, "y")
        await until(pilot, lambda: row(url, "#1015")["on_hold"] is False)
        # the refusal said before the release no longer holds: it is not left standing
        await until(pilot, lambda: "on hold" not in app.board.notice.text)
        await until(pilot, lambda: "advance" in shown(app))
        await press(pilot, "p")  # hold asks the reason: typed, then Enter
        assert isinstance(app.screen, ReasonScreen)
        await press(pilot, "tab", *"waiting for GP", "enter")
        await until(pilot, lambda: row(url, "#1015")["on_hold"] is True)
        assert row(url, "#1015")["hold_reason"] == "waiting for GP"


async def test_cancel_modal_requires_a_reason_and_esc_writes_nothing(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        before = (row(url, "#1009")["version"], events(url, "#1009"))
        await press(pilot, "x")
        assert isinstance(app.screen, ReasonScreen)
        await press(pilot, "tab", "enter")  # blank free text: refused in words, stays open
        assert isinstance(app.screen, ReasonScreen)
        assert "reason is required" in str(app.screen.query_one("#error").render())
        await press(pilot, "escape")
        assert isinstance(app.screen, BoardScreen)
        await pilot.pause(0.2)
        assert (row(url, "#1009")["version"], events(url, "#1009")) == before
        await press(pilot, "x", "enter")  # nothing chosen yet: Enter says how, cancels nothing
        assert isinstance(app.screen, ReasonScreen)
        assert "Pick a reason" in str(app.screen.query_one("#error").render())
        await press(pilot, "escape")
        assert (row(url, "#1009")["version"], events(url, "#1009")) == before
        await press(pilot, "x", "down", "down", "enter")  # nothing is pre-selected: 2nd reason
        await until(pilot, lambda: row(url, "#1009")["status"] == "CANCELLED")
        store = Store.open(url, migrate=False)
        history = store.history(str(row(url, "#1009")["id"]))
        store.close()
        assert history[-1]["reason"] == "Prescription invalid or expired"


async def test_refused_move_says_why_and_shows_the_card_as_it_is(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "counter-9"))
        other.act("#1009", Action.CANCEL, reason="Patient cancelled")  # wins the race
        app.board.action_advance()  # this terminal still sees #1009 OPEN
        await until(pilot, lambda: any(s == "error" for s, _ in app.said))
        message = next(m for s, m in app.said if s == "error")
        assert "#1009" in message and "CANCELLED" in message
        await until(pilot, lambda: "#1009" not in names(app, Status.PROCESSING))
        assert "#1009" in names(app, Status.CANCELLED)
        assert row(url, "#1009")["status"] == "CANCELLED"
        other.store.close()


async def test_filter_as_you_type(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "slash", *"yilmaz")
        assert sorted(names(app, Status.OPEN)) == ["#1005", "#1011", "#1012"]
        assert app.board.visible_columns[0].border_title == "OPEN 26 · 3 shown"
        await press(pilot, "enter")  # keep the filter, keys act on the board again
        first, second = names(app, Status.OPEN)[:2]
        assert app.board.card is not None and app.board.card.name == first
        await press(pilot, "j")
        assert app.board.card is not None and app.board.card.name == second
        await press(pilot, "slash", "ctrl+u", *"insulin")
        assert {"#1012", "#1020"} <= set(names(app, Status.OPEN)) and len(
            names(app, Status.OPEN)
        ) < 5
        await press(pilot, "escape")
        assert len(names(app, Status.OPEN)) == 26


async def test_go_to_by_name_or_scanned_id(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "g")
        assert isinstance(app.screen, GotoScreen)
        await press(pilot, "number_sign", *"1003", "enter")
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#1003")
        assert app.board.card is not None and app.board.card.status is Status.PROCESSING
        await press(pilot, "g", *"po-s0-000007", "enter")  # the scanner types the uid
        await until(pilot, lambda: app.board.card is not None and app.board.card.name == "#1007")
        assert app.board.view.show_cancelled  # the CANCELLED column opened to show it
        await press(pilot, "g", *"9999", "enter")
        await until(pilot, lambda: any("no order" in m for _, m in app.said))
        assert app.board.card is not None and app.board.card.name == "#1007"


async def test_undo_is_a_new_audit_event(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "a")
        await until(pilot, lambda: "undo" in shown(app))
        await press(pilot, "u")
        await until(pilot, lambda: row(url, "#1009")["status"] == "OPEN")
        assert events(url, "#1009") == ["created", "start", "undo"]
        await until(pilot, lambda: "#1009" in names(app, Status.OPEN))
        assert "undo" not in shown(app)


async def test_detail_view_and_help(url: str) -> None:
    store = Store.open(url, migrate=False)
    with store.write() as conn:  # a parked push, as the sync worker would leave it
        oid = str(row(url, "#1003")["id"])
        event_id = store.history(oid)[-1]["id"]
        conn.execute(
            insert(outbox).values(
                order_id=oid, audit_event_id=event_id, action="start", idempotency_key="k1",
                state="failed", attempts=3, last_error="409 invalid transition", created_at=FROZEN,
            )
        )  # fmt: skip
    store.close()
    app = make_app(url, keys={"detail": "enter,d"})
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(oid)
        assert app.board.card is not None and app.board.card.sync_failed
        await press(pilot, "d")
        await on_top(pilot, DetailScreen)
        body = str(app.screen.query_one("#detail-body").render())
        assert "Emma Braun" in body and "409 invalid transition" in body
        assert "start" in body and "OPEN → PROCESSING" in body and "counter-2" in body
        await press(pilot, "escape")
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain
        assert "Advance" in text and "Undo" in text and "d" in text
        await press(pilot, "escape")
        assert isinstance(app.screen, BoardScreen)


async def test_live_update_from_another_process_without_a_keypress(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "j", "j", "j")
        assert app.board.card is not None and app.board.card.name == "#1025"
        result = await asyncio.to_thread(run_cli, url, "start", "#1020")  # above the cursor
        assert result.returncode == 0, result.stderr
        waited = await until(pilot, lambda: "#1020" in names(app, Status.PROCESSING))
        print(f"live update shown {waited:.2f} s after the other process exited")
        assert app.board.card is not None and app.board.card.name == "#1025"  # no jump


async def test_a_burst_of_changes_is_one_repaint(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        before = feed_batches(app)
        other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "x"), clock=frozen)
        await asyncio.to_thread(other.add_orders, sample_orders(1000, 7, FROZEN))
        await until(pilot, lambda: len(app.board.model.columns[Status.OPEN]) == 1026)
        assert feed_batches(app) - before <= 2
        other.store.close()


async def test_a_move_is_read_once(url: str) -> None:
    """The service's answer paints the moved card; the feed then only confirms its version."""
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.card is not None
        moved = app.board.card.id
        await press(pilot, "a")
        await until(pilot, lambda: moves_settled(app) and "undo" in shown(app))
        assert app.board.model.cards[moved].status is Status.PROCESSING
        batch = await asyncio.to_thread(app.board.view._batch, frozenset({moved}))
        assert list(batch.rows) == [] and batch.confirmed == {moved}


async def test_sync_health_alert_banner_and_acknowledge(url: str) -> None:
    store = Store.open(url, migrate=False)
    oid = str(row(url, "#1002")["id"])
    with store.write() as conn:
        conn.execute(
            insert(sync_state).values(
                source="rxscale", online=False, offline_since=FROZEN, updated_at=FROZEN
            )
        )
        conn.execute(
            insert(alerts).values(
                order_id=oid, kind="remote_cancel", created_at=FROZEN,
                message="#1002 was cancelled by the remote while in PROCESSING here",
            )
        )  # fmt: skip
    store.close()
    app = make_app(url, api_url="http://127.0.0.1:9")  # a source: its health is shown
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        header = str(app.board.query_one("#header").render())
        assert header.endswith("│ rxscale offline since 09:30")
        banner = app.board.query_one("#alerts")
        assert banner.display and "#1002" in str(banner.render())
        assert "acknowledge" in shown(app)
        await press(pilot, "A")
        await until(pilot, lambda: not banner.display)
        store = Store.open(url, migrate=False)
        assert store.open_alerts() == []
        assert events(url, "#1002")[-1] == "acknowledge"
        store.close()


async def test_rebound_keys_act_and_show(url: str) -> None:
    app = make_app(url, keys={"advance": "v", "quit": "ctrl+q"})  # n: the note
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        keys = {b.binding.action: k for k, b in app.screen.active_bindings.items()}
        assert keys["advance"] == "v"
        await press(pilot, "a")
        await pilot.pause(0.2)
        assert row(url, "#1009")["status"] == "OPEN"
        await press(pilot, "v")
        await until(pilot, lambda: row(url, "#1009")["status"] == "PROCESSING")
        await press(pilot, "q")
        assert app.is_running
    with pytest.raises(ConfigError, match=r"unknown key action.*advanse"):
        check_keymap({"advanse": "n"})


async def test_theme_choice_persists(url: str) -> None:
    app = make_app(url)
    app.remember_theme = True
    assert {"rxfloor-dark", "rxfloor-light", "rxfloor-high-contrast"} <= set(app.available_themes)
    assert app.theme == "rxfloor-dark"
    async with app.run_test() as pilot:
        await ready(pilot)
        app.theme = "rxfloor-high-contrast"
        await pilot.pause()
    assert json.loads(state_file().read_text())["theme"] == "rxfloor-high-contrast"
    again = make_app(url)
    again.remember_theme = True
    assert again._initial_theme() == "rxfloor-high-contrast"


async def test_palette_lists_every_action(url: str) -> None:
    app = make_app(url)
    async with app.run_test() as pilot:
        await ready(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Advance order", "Cancel order", "Undo last move", "Go to order", "Keys"} <= titles
        assert any("theme" in t.lower() for t in titles)
        advance = next(c for c in app.get_system_commands(app.screen) if c.title == "Advance order")
        advance.callback()
        await until(pilot, lambda: row(url, "#1009")["status"] == "PROCESSING")


async def test_background_hook_runs_for_the_life_of_the_app(url: str) -> None:
    seen: list[str] = []

    @contextmanager
    def background() -> Iterator[None]:
        seen.append("start")
        yield
        seen.append("stop")

    store = Store.open(url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
    app = BoardApp(service, load_settings(database_url=url), clock=frozen,
                   background=background, remember_theme=False)  # fmt: skip
    async with app.run_test() as pilot:
        await ready(pilot)
        await until(pilot, lambda: seen == ["start"])
    await asyncio.sleep(0.2)
    assert seen == ["start", "stop"]


def test_empty_database_opens_with_no_orders(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}")

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            assert app.board.card is None
            assert not {"advance", "cancel_order", "hold", "detail"} & shown(app)
            await press(pilot, "a", "x", "enter", "j", "l")
            assert isinstance(app.screen, BoardScreen)

    asyncio.run(run())
    store = Store.open(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_events)).scalar_one() == 0
    store.close()


async def test_the_footer_is_redrawn_only_when_its_keys_change(url: str) -> None:
    """Each ``bindings_updated`` makes the footer recompose (a widget per key): a cursor step
    between two cards with the same legal keys, or a clock tick, must not send one; a step
    onto a card with other keys must, and the footer then shows them."""
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board
        published: list[object] = []
        board.bindings_updated_signal.subscribe(board, published.append)
        await pilot.press("j", "j", "k")  # OPEN cards, none held: the same keys
        board.view._tick()
        await pilot.pause()
        assert published == []
        await pilot.press("l", "l")  # FINISHED: no move keys
        await pilot.pause()
        assert published
        assert not {"advance", "cancel_order", "hold"} & shown(app)


async def test_a_move_repaints_its_columns_without_laying_out_the_screen(url: str) -> None:
    """A move changes two columns' heights and titles, not any widget's box: Textual's
    layout of the whole screen (asked for by a ``messages.Layout``) was most of a move's
    main-thread work. Only a scrollbar that appears or goes may ask for one."""
    app = make_app(url, repeat_guard_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board
        columns = board.visible_columns
        await press(pilot, "a")  # the first move shows undo: the footer is recomposed
        await until(pilot, lambda: moves_settled(app))
        await pilot.pause()
        scrollbars = [c.show_vertical_scrollbar for c in columns]
        before = len(app.messages(messages.Layout))
        for _ in range(3):
            card = board.card
            assert card is not None and card.status is Status.OPEN
            await press(pilot, "a")
            await until(pilot, lambda: moves_settled(app))
            assert board.model.cards[card.id].status is Status.PROCESSING
            await pilot.pause()
        assert [c.show_vertical_scrollbar for c in columns] == scrollbars
        assert len(app.messages(messages.Layout)) == before
        processing = board.query_one("#col-processing", ColumnView)
        assert processing.border_title is not None
        assert str(processing.border_title).startswith(f"PROCESSING {len(processing.cards)}")
        assert processing.virtual_size.height == len(processing.cards) * processing.card_height


async def test_a_column_that_outgrows_its_box_gets_its_scrollbar(url: str) -> None:
    """Without a layout per move, the one change of a column's box a move can make (its
    scrollbar appears, the cards get a cell narrower) must still be laid out and drawn."""
    app = make_app(url, repeat_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        processing = app.board.query_one("#col-processing", ColumnView)
        assert not processing.show_vertical_scrollbar
        for _ in range(5):
            await press(pilot, "a")
            await until(pilot, lambda: moves_settled(app))
            if processing.show_vertical_scrollbar:
                break
        await pilot.pause()
        assert processing.show_vertical_scrollbar
        bar = processing.vertical_scrollbar.region
        assert bar.height > 0 and bar.right == processing.region.right - 1  # inside the border
        assert processing.scrollable_content_region.width == processing.size.width - 1


async def test_a_partial_repaint_draws_what_a_whole_one_would(url: str) -> None:
    """A move's answer and a fresh row of a card in view redraw only that card's rows:
    the screen must then be what redrawing every column gives (no stale "…" badge, no
    old priority)."""
    app = make_app(url, repeat_guard_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board

        async def whole() -> str:
            for col in board.visible_columns:
                col.refresh()
            await pilot.pause()
            shot: str = app.export_screenshot()
            return shot

        for _ in range(2):
            await press(pilot, "a")
            await until(pilot, lambda: moves_settled(app))
            await pilot.pause()
            shown = app.export_screenshot()
            assert shown == await whole()
        card = board.card
        assert card is not None and card.priority != "stat"
        store = Store.open(url, migrate=False)
        with store.write() as conn:
            conn.execute(
                update(orders)
                .where(orders.c.id == card.id)
                .values(version=orders.c.version + 1, priority="stat")
            )
        rows, failed = bq.rows_for(store, [card.id])
        store.close()
        board.view.show_rows(rows, failed)
        await pilot.pause()
        assert board.model.cards[card.id].priority == "stat"
        shown = app.export_screenshot()
        assert shown == await whole()


async def test_a_scrollbar_whose_thumb_stays_put_is_not_drawn_again(sqlite_url: str) -> None:
    """In a long column a card more or less moves the thumb by less than an eighth of a
    cell: the scrollbar is not redrawn (it was ~1-2 ms of a move's first frame), its size
    is still noted, and the screen is what redrawing everything gives."""
    seed_board(sqlite_url, 1500)
    app = make_app(sqlite_url, repeat_guard_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board
        opened = board.query_one("#col-open", ColumnView)
        assert opened.show_vertical_scrollbar
        bar = opened.vertical_scrollbar
        rows = opened.virtual_size.height
        # the scrollbar's own renderer decides: a card less draws the same bar; a column
        # that would fit its box loses the bar (a layout), never skipped
        assert opened._bar_drawn_alike(rows, rows - opened.card_height)
        assert not opened._bar_drawn_alike(rows, opened.card_height)
        for _ in range(3):
            await press(pilot, "a")
            await until(pilot, lambda: moves_settled(app))
            await pilot.pause()
        assert bar.window_virtual_size == opened.virtual_size.height
        shown = app.export_screenshot()
        for col in board.visible_columns:
            col.refresh()
            if col.show_vertical_scrollbar:
                col.vertical_scrollbar.refresh()
        await pilot.pause()
        assert app.export_screenshot() == shown


async def test_the_health_polls_unchanged_news_redraws_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a second the poll brings the sync health, the exceptions count and the open
    alerts: told again when nothing changed, the header and the banner were a frame and
    ~1 ms every second. A change is still shown."""
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        view = app.board.view
        told: list[str] = []
        monkeypatch.setattr(view, "_header", lambda: told.append("header"))
        monkeypatch.setattr(view, "_keys_may_have_changed", lambda: told.append("keys"))
        view._health_changed(HealthChanged(dict(view.health), {}, view.exceptions))
        view._alerts_changed(AlertsChanged(list(view.alerts)))
        assert told == []
        more = view.exceptions + 1
        view._health_changed(HealthChanged(dict(view.health), {}, more))
        assert "header" in told and view.exceptions == more

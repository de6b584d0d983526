"""Issue 9 items 8 and 9: text from data is shown as data, everywhere.

Control characters (ESC, newlines, BEL, C1, bidi overrides) are made visible; nothing from
data or input is ever parsed as markup; an internal error stops the board with one line and
a log file without frame locals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from rxfloor.core.config import crash_log_file
from rxfloor.core.db import Store, alerts
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.text import visible
from rxfloor.tui.app import EXIT_INTERNAL_ERROR
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.board.view import BoardView
from rxfloor.tui.screens.detail import DetailScreen
from rxfloor.tui.screens.goto import GotoScreen
from tests.board_fixtures import FROZEN, frozen, make_app, on_top, press, ready, seed_board, until
from tests.helpers import run_cli

pytestmark = pytest.mark.timeout(90)

FORGED = "late\n2026-01-01 00:00:00  XX  forged line\x1b]0;pwned\x07"
ESC_NAME = "#\x1b[2J\x1b]0;owned\x07X"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def test_visible_convention() -> None:
    assert visible("a\x1b[2Jb") == "a␛[2Jb"
    assert visible("one\ntwo\r\tthree\x00\x7f") == "one␊two␍␉three␀␡"
    assert visible("\x9b31m \u202egnp.exe \u2028") == "<U+009B>31m <U+202E>gnp.exe <U+2028>"
    assert visible("Müller - 10 mg ✓ 日本") == "Müller - 10 mg ✓ 日本"  # printable stays
    assert visible("[/]x [bold]") == "[/]x [bold]"  # markup is not our business here


def _seed_hostile(url: str) -> None:
    store = Store.open(url)
    service = OrderService(store, Actor("AB\x1b[31m", "st\nation"), clock=frozen)
    service.add_orders(
        [
            NewOrder(
                id="po-hostile-1",
                name=ESC_NAME,
                patient_name="Eve \x1b]0;title\x07 \u202eEvil",
                items=[LineItem(sku="s1", drug="Drug\x1b[5m\x9b", quantity=2)],
            ),
            NewOrder(id="po-markup-1", name="[/]x", patient_name="[bold]Bo[/]b"),
        ]
    )
    service.act("po-hostile-1", Action.HOLD, reason=FORGED)
    store.close()


def test_cli_history_and_orders_show_controls_on_one_line(sqlite_url: str) -> None:
    _seed_hostile(sqlite_url)
    done = run_cli(sqlite_url, "history", "po-hostile-1")
    assert done.returncode == 0, done.stderr
    for raw in RAW:
        assert raw not in done.stdout
    lines = done.stdout.splitlines()
    assert len(lines) == 3, lines  # the title, "created", "hold": no forged third event
    assert lines[2].endswith("«late␊2026-01-01 00:00:00  XX  forged line␛]0;pwned␇»")
    assert "AB␛[31m" in lines[2] and "st␊ation" in lines[2]
    assert lines[0].startswith("#␛[2J␛]0;owned␇X (po-hostile-1)")
    listed = run_cli(sqlite_url, "orders")
    assert not any(raw in listed.stdout for raw in RAW)
    assert "#␛[2J␛]0;owned␇X" in listed.stdout and "Drug␛[5m<U+009B>" in listed.stdout
    # JSON stays exact (json.dumps escapes the controls itself)
    events = json.loads(run_cli(sqlite_url, "history", "po-hostile-1", "--json").stdout)
    assert events[-1]["reason"] == FORGED
    assert "\x1b" not in run_cli(sqlite_url, "history", "po-hostile-1", "--json").stdout
    # an error that quotes input shows it visibly too
    missing = run_cli(sqlite_url, "start", "po-\x1b]0;x\x07")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not any(raw in missing.stderr for raw in RAW)


@pytest.fixture
def hostile_url(sqlite_url: str) -> str:
    seed_board(sqlite_url, count=8)
    _seed_hostile(sqlite_url)
    return sqlite_url


def _column_text(col: ColumnView) -> str:
    col.render_lines(col.scrollable_content_region.reset_offset)
    return "".join(
        seg.text for y in range(col.scrollable_content_region.height) for seg in col.render_line(y)
    )


async def test_board_cards_and_detail_show_escapes_visibly(hostile_url: str) -> None:
    app = make_app(hostile_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        board = app.board
        assert board.focus_order("po-hostile-1")
        await pilot.pause()
        col = board.query_one("#col-open", ColumnView)
        text = _column_text(col)
        assert "#␛[2J␛]0;owned␇X" in text and "Drug␛[5m<U+009B>" in text
        assert not any(raw in text for raw in RAW)
        await press(pilot, "enter")
        await on_top(pilot, DetailScreen)
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        body = detail.body + detail.title_text
        assert not any(raw in body for raw in RAW)
        assert "Eve ␛]0;title␇ <U+202E>Evil" in body
        assert "«late␊2026-01-01 00:00:00  XX  forged line␛]0;pwned␇»" in body
        screen = app.export_screenshot()
        assert not any(raw in screen for raw in RAW) and "&#27;" not in screen


async def test_order_named_like_markup_advances_without_a_crash(hostile_url: str) -> None:
    app = make_app(hostile_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order("po-markup-1")
        await press(pilot, "a")
        await until(pilot, lambda: app.board.model.cards["po-markup-1"].version > 1)
        assert app.board.model.cards["po-markup-1"].status is Status.PROCESSING
        assert "[/]x" in _column_text(app.board.query_one("#col-processing", ColumnView))
        await press(pilot, "u")  # the undo's notice names the order: literally
        await until(pilot, lambda: any("[/]x" in m for _, m in app.said))
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_alert_with_markup_in_its_message_shows_literally(hostile_url: str) -> None:
    store = Store.open(hostile_url, migrate=False)
    with store.write() as conn:
        conn.execute(
            insert(alerts).values(
                order_id="po-markup-1", kind="remote_cancel", created_at=FROZEN,
                message="[/]x[bold \x1b]0;t\x07",
            )
        )  # fmt: skip
    store.close()
    app = make_app(hostile_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.board.query_one("#alerts").display)
        banner = str(app.board.query_one("#alerts").render())
        assert "[/]x[bold ␛]0;t␇" in banner
        await press(pilot, "A")
        await until(pilot, lambda: not app.board.query_one("#alerts").display)
        assert app.is_running


async def test_goto_with_markup_says_not_found_literally(hostile_url: str) -> None:
    app = make_app(hostile_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "g")
        await on_top(pilot, GotoScreen)
        await press(pilot, "left_square_bracket", "slash", "right_square_bracket", "z", "z")
        await press(pilot, "enter")
        await until(pilot, lambda: any("no order" in m for _, m in app.said))
        await pilot.pause()
        assert app.is_running
        assert ("warning", "no order '[/]zz'") in app.said


async def test_internal_error_in_an_action_is_a_sentence_and_a_log_without_locals(
    hostile_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One action's defect is contained: a sentence, the traceback (no locals) in the log."""

    def broken(self: BoardScreen) -> None:
        patient_secret = "Jane Q. Patient"  # a frame local that must not be dumped
        raise RuntimeError(f"boom ({len(patient_secret)})")

    monkeypatch.setattr(BoardScreen, "action_undo", broken)
    app = make_app(hostile_url)
    app.expect_contained = True
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.board.undo_stack.append((1, "x"))  # lets the undo key act
        await press(pilot, "u")
        await pilot.pause()
        assert app.is_running and app.return_code is None
    log = crash_log_file()
    said = [m for s, m in app.said if s == "error"]
    assert said and "internal error while doing undo (RuntimeError)" in said[-1], said
    assert f"details in {log}" in said[-1] and "Jane Q. Patient" not in said[-1]
    text = log.read_text()
    assert "RuntimeError: boom (15)" in text and "in broken" in text
    assert "Jane Q. Patient" not in text
    assert (Path(log).stat().st_mode & 0o777) == 0o600


async def test_an_error_that_breaks_the_board_is_one_line_and_a_log_without_locals(
    hostile_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What cannot be contained (the board's view fails to mount) still ends in one line."""

    def broken(self: BoardView) -> None:
        patient_secret = "Jane Q. Patient"  # a frame local that must not be dumped
        raise RuntimeError(f"boom ({len(patient_secret)})")

    monkeypatch.setattr(BoardView, "on_mount", broken)
    app = make_app(hostile_url)
    with pytest.raises(RuntimeError, match="boom"):
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
    assert app.return_code == EXIT_INTERNAL_ERROR
    log = crash_log_file()
    text = log.read_text()
    assert "RuntimeError: boom (15)" in text and "in broken" in text
    assert "Jane Q. Patient" not in text
    err = capsys.readouterr().err
    assert f"rxfloor stopped on an internal error; details in {log}" in err
    assert "Jane Q. Patient" not in err and "Traceback" not in err
    assert (Path(log).stat().st_mode & 0o777) == 0o600

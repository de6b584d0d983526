"""The busy counter II (issue 23): scans land wherever they are typed, every key answers.

Pilot on a real SQLite file with a frozen clock; a scanner is
:func:`tests.board_fixtures.scan` (the whole code and Enter at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static
from textual.widgets._footer import FooterKey

from rxfloor.core.db import Store, sync_state
from rxfloor.core.lifecycle import Action
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.actions import ACTIONS
from rxfloor.tui.screens.confirm import QuitScreen
from rxfloor.tui.screens.pick import PickOrderScreen
from rxfloor.tui.screens.reason import ReasonScreen
from rxfloor.tui.screens.tracking import TrackingScreen
from tests.board_fixtures import (
    FROZEN,
    ObservedApp,
    frozen,
    make_app,
    on_top,
    press,
    ready,
    scan,
    seed_board,
    seed_two_sources,
    sid,
    until,
)


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


def focused(app: object) -> tuple[str, str] | None:
    card = app.board.card  # type: ignore[attr-defined]
    return None if card is None else (str(card.source), str(card.name))


async def test_an_ambiguous_scan_offers_the_candidates_to_pick(sqlite_url: str) -> None:
    """#1001 in RxScale and in Shopify: a scanner cannot type SOURCE:ID; a pick list names
    each (source, name, initials, column), arrows and Enter go to the one picked."""
    seed_two_sources(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await scan(pilot, "1001")
        await on_top(pilot, PickOrderScreen)
        picker = app.screen
        assert isinstance(picker, PickOrderScreen)
        lines = picker.lines()
        assert len(lines) == 2, lines
        assert any("RxScale" in line and "#1001" in line and "OPEN" in line for line in lines)
        assert any("Shopify" in line and "#1001" in line and "NS" in line for line in lines)
        shopify_row = next(i for i, line in enumerate(lines) if "Shopify" in line)
        await press(pilot, *["down"] * shopify_row, "enter")
        await until(pilot, lambda: not isinstance(app.screen, PickOrderScreen))
        assert focused(app) == ("shopify", "#1001")
        assert app.board.card is not None and app.board.card.id == sid(1)
        assert not [t for _, t in app.said if "SOURCE:ID" in t]


async def test_a_scan_with_the_filter_box_open_is_a_scan(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await press(pilot, "slash")
        box = app.board.query_one("#filter")
        assert box.has_focus
        await scan(pilot, "#1010")
        await until(pilot, lambda: focused(app) == ("rxscale", "#1010"))
        assert app.board.view.needle == ""  # nothing was typed into the filter
        assert not box.has_focus
        await press(pilot, "j")  # keys act on the board again
        assert focused(app) != ("rxscale", "#1010")


async def test_the_tracking_box_takes_a_scan_as_typed(sqlite_url: str) -> None:
    seed_two_sources(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(2))
        await press(pilot, "a")
        await on_top(pilot, TrackingScreen)
        await scan(pilot, "1Z999AA10123456784", enter=False)
        await pilot.pause(0.2)
        assert app.screen.query_one("#tracking", Input).value == "1Z999AA10123456784"
        shown = [w.key for w in app.screen.query(FooterKey)]  # its own footer: Esc only
        assert shown == ["escape"], shown


async def test_the_palette_screenshot_goes_to_the_state_dir_and_says_where(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/Downloads need not exist: the screenshot is written under the state dir."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Downloads there
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    app = make_app(url)
    async with app.run_test() as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await on_top(pilot, CommandPalette)
        await pilot.press(*"screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: any("screenshot" in t for _, t in app.said))
    folder = tmp_path / "state" / "rxfloor" / "screenshots"
    saved = list(folder.glob("*.svg"))
    assert len(saved) == 1, app.said
    assert ("information", f"screenshot saved: {saved[0]}") in app.said


async def test_a_theme_switch_repaints_every_card_at_once(url: str) -> None:
    """No card stays in the old theme's colours until the cursor moves (strip cache)."""
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        column = app.board.column
        before = [column.render_line(y) for y in range(8)]
        app.theme = "rxfloor-light"
        await pilot.pause()
        await pilot.pause()
        after = [column.render_line(y) for y in range(8)]
        column._cache.clear()
        fresh = [column.render_line(y) for y in range(8)]
        assert after == fresh
        assert after != before


async def test_banners_and_notices_mark_the_source_when_several_are_in_play(
    sqlite_url: str,
) -> None:
    """#1001 is two orders here (RxScale's and Shopify's): a sentence naming one says which."""
    seed_two_sources(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        banner = app.board.query_one("#alerts")
        await until(pilot, lambda: "asks to cancel" in str(banner.render()))
        assert "the merchant asks to cancel S #2006" in str(banner.render())
        assert app.board.focus_order(sid(7))  # its cancellation request refuses a start
        await press(pilot, "a")
        await until(pilot, lambda: any(s == "error" for s, _ in app.said))
        error = next(t for s, t in app.said if s == "error")
        assert "S #2007" in error, error


async def test_with_one_source_names_stay_bare(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        assert not app.board.view.marks
        card = app.board.card
        assert card is not None
        assert app.board.named(card) == card.name


# -- every key answers: a refused key says why -----------------------------------------------


def _on(app: ObservedApp, name: str) -> None:
    card = next(c for c in app.board.model.cards.values() if c.name == name)
    assert app.board.focus_order(card.id)


async def _no_card(pilot: Pilot[None]) -> None:
    """A filter that fits nothing: no card under the cursor."""
    app = pilot.app
    assert isinstance(app, ObservedApp)
    await press(pilot, "slash")
    app.board.query_one("#filter", Input).value = "zzzz-no-such-order"
    await press(pilot, "enter")


#: action id -> (what to set up, the key, words of the sentence)
REFUSED: dict[str, tuple[str, str, str]] = {
    "advance": ("#1006", "a", "#1006: nothing to advance: the order is FINISHED"),
    "cancel": ("#1006", "x", "#1006: cannot cancel: the order is already FINISHED"),
    "hold": ("#1007", "p", "#1007: cannot hold: the order is already CANCELLED"),
    "accept_cancel": ("#1001", "y", "#1001: cannot accept_cancel: nobody asked to cancel"),
    "reject_cancel": ("#1001", "r", "#1001: cannot reject_cancel: nobody asked to cancel"),
    "note": ("", "n", "n: no order under the cursor (the filter shows none"),
    "detail": ("", "enter", "⏎: no order under the cursor"),
    "undo": ("#1001", "u", "u: nothing to undo: no move of AB at this terminal"),
    "acknowledge": ("#1001", "A", "A: no alert to acknowledge"),
    "exceptions": ("#1001", "e", "e: nothing in the exceptions queue"),
    "handoff": ("#1001", "H", "H: cannot hand off: #1001 is not ready yet (OPEN)"),
}


def test_every_key_that_can_be_refused_has_its_test() -> None:
    """Any row of the action table whose key check_action can refuse is listed above."""
    refusable = {a.id for a in ACTIONS if a.needs_card or a.id in ("undo", "acknowledge",
                                                                   "exceptions")}  # fmt: skip
    assert refusable == set(REFUSED)


@pytest.mark.parametrize("action", sorted(REFUSED))
async def test_a_refused_key_says_why(url: str, action: str) -> None:
    where, key, words = REFUSED[action]
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        if action == "hold":
            await press(pilot, "c")  # show CANCELLED
        if where:
            _on(app, where)
        else:
            await _no_card(pilot)
        before = len(app.said)
        await press(pilot, key)
        await until(pilot, lambda: len(app.said) > before)
        severity, text = app.said[-1]
        assert severity == "warning"
        assert words in text, text


async def test_undo_after_switching_pharmacist_says_the_list_started_afresh(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        _on(app, "#1001")
        await press(pilot, "a")
        await until(pilot, lambda: bool(app.board.undo_stack))
        app.board.switch_pharmacist("CD")
        await press(pilot, "u")
        assert app.said[-1] == (
            "warning",
            "u: nothing to undo: no move of CD at this terminal since CD signed in",
        )


async def test_a_notice_older_than_a_minute_is_cleared(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        now = [1000.0]
        notice = app.board.notice
        notice.clock = lambda: now[0]
        app.say("#1001: cannot hold: the order is already CANCELLED", "warning")
        now[0] += 59
        notice.expire()
        assert notice.text
        now[0] += 2
        notice.expire()
        await pilot.pause()
        assert notice.text == "" and str(notice.render()) == ""


async def test_the_footer_hides_a_key_that_is_refused_and_the_key_still_says_why(
    sqlite_url: str,
) -> None:
    """TJ filled it: TJ's `a` (the check) is refused, so the footer shows no `a Advance`;
    pressed anyway, the service's sentence says why."""
    from rxfloor.core.db import Store
    from rxfloor.core.people import People, Role

    seed_board(sqlite_url)
    store = Store.open(sqlite_url)
    People(store, "admin", "office").add("TJ", Role.TECHNICIAN, badge="badge-TJ")
    store.close()
    app = make_app(sqlite_url, floor={"check": "second_person"}, repeat_guard_s=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await scan(pilot, "badge-TJ")
        await until(pilot, lambda: app.person is not None and app.person.name == "TJ")
        await press(pilot, "l")
        await press(pilot, "a")  # filled by TJ
        await until(pilot, lambda: app.board.card is not None
                    and app.board.card.fill_step == "filled")  # fmt: skip
        await pilot.pause()
        keys = [w.key for w in app.board.query(FooterKey)]
        assert "a" not in keys, keys
        await press(pilot, "a")
        await until(pilot, lambda: any("another person checks it" in t for _, t in app.said))


# -- q ---------------------------------------------------------------------------------------


async def test_q_quits_at_once_when_nothing_would_stop(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await press(pilot, "q")
        await pilot.pause()
        assert app.return_code == 0


async def test_q_asks_first_when_the_sync_would_stop_and_says_what_is_queued(url: str) -> None:
    """The health it names is the database's, as the board polls it every second (the test
    set the view's health by hand and a loaded run's poll replaced it before the q)."""
    from contextlib import contextmanager

    from sqlalchemy import insert

    @contextmanager
    def background() -> Iterator[None]:
        yield

    store = Store.open(url, migrate=False)
    service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
    service.add_orders([NewOrder(id=f"po-q{n}", source="rxscale", remote_id=f"po-q{n}",
                                 name=f"#90{n}", patient_name="Quinn Queue")
                        for n in range(3)])  # fmt: skip
    for n in range(3):
        service.act(f"po-q{n}", Action.START)  # three moves queued for RxScale, not sent
    with store.write() as conn:
        for name in ("rxscale", "shopify"):
            conn.execute(insert(sync_state).values(source=name, online=True, last_ok_at=FROZEN,
                                                   updated_at=FROZEN))  # fmt: skip
    queued = store.sync_health()["rxscale"].queued
    store.close()
    assert queued == 3
    app = make_app(url)
    app.background = background
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: set(app.board.view.health) >= {"rxscale", "shopify"})
        await press(pilot, "q")
        await on_top(pilot, QuitScreen)
        question = " ".join(str(w.render()) for w in app.screen.query(Label))
        assert "The sync running here stops (rxscale, shopify)" in question
        assert f"{queued} move(s) still queued, not sent (rxscale {queued})" in question
        await press(pilot, "n")
        assert app.return_code is None and not isinstance(app.screen, QuitScreen)
        await press(pilot, "q", "q")  # q q quits
        await pilot.pause()
        assert app.return_code == 0


async def test_the_reject_dialog_names_the_order_the_source_and_the_merchants_words(
    sqlite_url: str,
) -> None:
    seed_two_sources(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(6))
        await press(pilot, "r")
        await on_top(pilot, ReasonScreen)
        subject = str(app.screen.query_one("#subject", Label).render())
        hints = [str(w.render()) for w in app.screen.query(".dialog-hint")]
        assert subject.startswith("#2006 · NS · ") and "Vitamin D3" in subject, subject
        assert "Shopify · the merchant says: Customer changed their mind" in hints, hints
        await press(pilot, "escape")


async def test_help_has_a_legend_and_wrapped_lines_keep_their_indent(url: str) -> None:
    from rich.console import Console

    from rxfloor.tui.screens.help import HelpScreen, help_table

    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain
        for words in ("!!  stat", "W  waiter", "S Shopify", "R RxScale", "late: past its due",
                      "amber"):  # fmt: skip
            assert words in text, words
        console = Console(width=60, record=True)
        console.print(help_table(app.help_rows()))
        lines = console.export_text().splitlines()
        indent = max(len(k) for k, _ in app.help_rows()) + 2
        wrapped = [line for line in lines if not line[:indent].strip()]
        assert wrapped, "a line this long wraps at 60 columns"
        assert all(line[indent : indent + 1].strip() for line in wrapped), wrapped


async def test_an_empty_board_says_how_to_seed_and_how_to_configure_a_source(
    tmp_path: Path,
) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        hint = app.board.query_one("#empty-hint", Static)
        await until(pilot, lambda: hint.display)
        words = str(hint.render())
        assert "rxfloor seed --count 50" in words and "rxfloor --demo" in words
        assert "[sources.NAME]" in words and "rxscale" in words and "config.toml" in words


async def test_a_board_with_orders_shows_no_hint(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert not app.board.query_one("#empty-hint", Static).display

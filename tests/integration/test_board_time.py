"""Time and colour tell the truth (issue 13, section 2): due days, late by how much, targets
for stat and waiter orders, tints, the cursor bar, the header's sync word, small terminals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from rich.style import Style

from rxfloor.core.db import Store
from rxfloor.core.db.queries import SyncHealth
from rxfloor.core.due import Targets
from rxfloor.core.lifecycle import Priority, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.board.card import card_lines, due_text, urgency
from rxfloor.tui.board.header import health_line
from rxfloor.tui.board.model import BoardModel, Card
from rxfloor.tui.screens.help import HelpScreen
from tests.board_fixtures import (
    FROZEN,
    ObservedApp,
    frozen,
    make_app,
    press,
    ready,
    seed_board,
    until,
)

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


def card(**kw: Any) -> Card:
    fields: dict[str, Any] = dict(
        id="o1", name="#1", status=Status.OPEN, priority="normal", delivery="ship",
        patient="Ann Bell", initials="A.B.", items="1x Ibuprofen 400 mg", due_at=None,
        fulfill_at=None, on_hold=False, version=1, status_since=NOW - timedelta(minutes=5),
        sync_failed=False, created_at=NOW - timedelta(minutes=50),
    )  # fmt: skip
    fields.update(kw)
    made = Card(**fields)
    made.aim(Targets({"stat": timedelta(minutes=30), "waiter": timedelta(minutes=15)}))
    return made


def test_due_carries_the_day_and_late_says_by_how_much(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    assert due_text(card(due_at=NOW + timedelta(minutes=45)), NOW) == "due 10:15"
    assert due_text(card(due_at=NOW - timedelta(days=7, hours=4, minutes=7)), NOW).startswith(
        "late 7d"
    )
    assert due_text(card(due_at=datetime(2026, 11, 25, 5, 23, tzinfo=UTC)), NOW) == "due Wed 05:23"
    assert due_text(card(due_at=NOW - timedelta(minutes=42)), NOW) == "late 42m"
    assert due_text(card(due_at=NOW - timedelta(minutes=42), status=Status.FINISHED), NOW) == ""
    monkeypatch.undo()
    time.tzset()


def test_stat_and_waiter_without_due_time_get_a_target() -> None:
    stat = card(priority="stat")  # arrived 50 min ago, target 30 min
    waiter = card(priority="waiter", created_at=NOW - timedelta(minutes=10))
    normal = card()
    assert urgency(stat, NOW) == "overdue" and due_text(stat, NOW) == "late 20m"
    assert urgency(waiter, NOW) == "soon"
    # issue 23: a normal order is promised too, by its delivery type (ship: a day)
    assert normal.target == NOW - timedelta(minutes=50) + timedelta(hours=24)
    assert urgency(normal, NOW) == "ontime" and due_text(normal, NOW).startswith("due ")


def test_cards_sort_by_the_real_instant_of_their_due_time() -> None:
    plus2 = timezone(timedelta(hours=2))
    early = card(id="a", name="#a", due_at=datetime(2026, 11, 24, 10, 0, tzinfo=plus2))  # 08:00Z
    late = card(id="b", name="#b", due_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert early.key < late.key


def test_cursor_bar_and_late_tint_cover_the_whole_card() -> None:
    def style(name: str) -> Style:
        return {
            "column--cursor": Style(bgcolor="blue", color="white"),
            "column--late-card": Style(bgcolor="dark_red"),
            "column--card": Style(bgcolor="black"),
            "column--overdue": Style(color="red", bgcolor="black", bold=True),  # own bg: ignored
            "column--stat": Style(color="magenta", bgcolor="black"),
        }.get(name, Style(color="grey50", bgcolor="black"))

    late = card(priority="stat", due_at=NOW - timedelta(minutes=3))
    lines = card_lines(late, NOW, 40, selected=True, compact=False, style=style, rule=Style())
    assert len({seg.style.bgcolor for strip in lines for seg in strip if seg.style}) == 1
    lines = card_lines(late, NOW, 40, selected=False, compact=False, style=style, rule=Style())
    tinted = {seg.style.bgcolor for strip in lines[:-1] for seg in strip if seg.style}
    assert tinted == {Style(bgcolor="dark_red").bgcolor}


def test_compact_card_keeps_delivery_and_due() -> None:
    due = card(due_at=NOW - timedelta(minutes=42))
    lines = card_lines(due, NOW, 36, selected=False, compact=True, style=lambda _: Style(),
                       rule=Style())  # fmt: skip
    text = "\n".join(strip.text for strip in lines)
    assert "ship" in text and "late 42m" in text and "5m" in text


def test_a_narrow_card_keeps_the_whole_name_before_the_due_day() -> None:
    """At 80x24 a column is ~23 cells: ``due Wed 09:31`` cut the name to ``#10`` (seen in
    tmux). The name is what a person reads first: the word ``due`` gives way, not the name
    nor the day."""
    tomorrow = card(name="#1012", due_at=NOW + timedelta(days=1), source="shopify")
    lines = card_lines(tomorrow, NOW, 23, selected=False, compact=True, style=lambda _: Style(),
                       rule=Style(), marks=True)  # fmt: skip
    first = lines[0].text
    assert "#1012" in first and first.rstrip().endswith(due_text(tomorrow, NOW)[4:])
    roomy = card_lines(tomorrow, NOW, 40, selected=False, compact=True, style=lambda _: Style(),
                       rule=Style(), marks=True)  # fmt: skip
    assert due_text(tomorrow, NOW) in roomy[0].text  # with room: the words as they were


def test_header_sync_word_and_colour() -> None:
    offline = SyncHealth(False, NOW, None, None, 0, 0)
    assert health_line({}, []).plain == "sync: off"  # nothing configured: not "offline"
    line = health_line({"rxscale": offline}, ["rxscale"])
    assert line.plain.startswith("rxscale offline since")
    assert any("error" in str(span.style) for span in line.spans)  # offline is red
    online = health_line({"rxscale": SyncHealth(True, None, NOW, None, 2, 0)}, ["rxscale"])
    assert online.plain == "rxscale 2 queued"
    assert not online.spans  # nothing wrong: no colour


def test_model_counts_targets_from_settings() -> None:
    model = BoardModel(Targets({"stat": timedelta(minutes=30)}))
    rows = [dict(id="x", name="#x", status="OPEN", priority=Priority.STAT.value,
                 delivery_type="pickup", on_hold=False, patient_name="A B", items_summary="i",
                 due_at=None, fulfill_at=None, version=1, status_since=NOW,
                 created_at=NOW, source="rxscale", request_kind=None, hold_by=None,
                 tracking_number=None)]  # fmt: skip
    model.load([Card.from_row(r, False) for r in rows])
    assert model.cards["x"].target == NOW + timedelta(minutes=30)


# ------------------------------------------------------------------ Pilot
async def test_column_titles_count_late_orders(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        title = str(app.board.visible_columns[0].border_title)
        late = sum(
            1 for c in app.board.model.columns[Status.OPEN] if urgency(c, FROZEN) == "overdue"
        )
        assert late > 0 and title == f"OPEN 26 · {late} late"
        assert not app.board.visible_columns[0].show_horizontal_scrollbar


async def test_small_terminal_footer_keeps_help_and_quit_and_help_scrolls(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        footer = app.export_screenshot()
        assert "Help" in footer and "Quit" in footer
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one("#scroll")
        await pilot.pause(0.1)
        assert scroll.max_scroll_y > 0  # more rows than fit: it scrolls
        assert scroll.region.bottom <= 24


async def test_themes_offered_are_rxfloors_and_palette_names_are_unique(url: str) -> None:
    app = make_app(url)
    assert set(app.available_themes) == {"rxfloor-dark", "rxfloor-light", "rxfloor-high-contrast"}
    async with app.run_test() as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles))
        app.theme = "rxfloor-high-contrast"
        await pilot.pause()
        assert app.theme_variables["rx-cursor"].upper() == "#00FFFF"


class Bells(ObservedApp):
    rung = 0

    def bell(self) -> None:
        self.rung += 1


async def test_a_new_stat_order_rings_the_bell_once_and_the_setting_silences_it(url: str) -> None:
    for ring, expected in ((True, 1), (False, 0)):
        store = Store.open(url)
        service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
        from rxfloor.core.config import load_settings

        conf = load_settings(database_url=url, actor="AB", station="s", bell=ring)
        app = Bells(service, conf, clock=frozen, remember_theme=False)
        async with app.run_test() as pilot:
            await ready(pilot)
            other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "x"), clock=frozen)
            stats = [o for o in sample_orders(60, 3 + ring, FROZEN) if o.priority == Priority.STAT]
            await asyncio.to_thread(other.add_orders, stats[:1])
            new_id, board = stats[0].id, app.board
            await until(pilot, lambda: new_id in board.model.cards)  # noqa: B023
            await pilot.pause(0.1)
            assert app.rung == expected
            other.store.close()


def test_theme_colours_are_visible() -> None:
    from textual.color import Color

    from rxfloor.tui.themes import load_themes

    themes = {t.name: t for t in load_themes()}
    light = themes["rxfloor-light"]
    border = Color.parse(light.variables["rx-border"])
    assert abs(border.brightness - Color.parse(str(light.background)).brightness) > 0.3
    contrast = themes["rxfloor-high-contrast"]
    assert Color.parse(contrast.variables["rx-cursor"]).brightness > 0.6  # bright, not olive
    assert Color.parse(contrast.variables["rx-item"]) == Color.parse("#FFFFFF")  # not grey

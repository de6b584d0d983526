"""Pilot tests of ``rxfloor watch``: the real wall app on a real SQLite file."""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from textual.widgets import Static

from rxfloor.core.db import Store, alerts, audit_events, orders, sync_state
from rxfloor.core.db.queries import WallFigures
from rxfloor.tui.watch.screen import FiguresRead
from rxfloor.tui.watch.widgets import BigNumber, ColumnPanel
from tests.board_fixtures import FROZEN, seed_shopify, until
from tests.helpers import run_cli
from tests.watch_fixtures import make_watch, shown_once, wall_url  # noqa: F401 — the url fixture

pytestmark = pytest.mark.usefixtures("url")


def expected(db: str) -> dict[str, int]:
    """The wall's figures computed from ``rxfloor orders --json`` at the frozen clock."""
    listed = json.loads(run_cli(db, "orders", "--json").stdout)
    now = FROZEN
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def at(value: str | None) -> float | None:
        from datetime import datetime

        return None if value is None else datetime.fromisoformat(value).timestamp()

    def late(o: dict[str, object]) -> bool:
        due = at(o["due_at"])  # type: ignore[arg-type]
        return due is not None and due <= now.timestamp()

    figures: dict[str, int] = {}
    for status in ("OPEN", "PROCESSING"):
        mine = [o for o in listed if o["status"] == status]
        figures[status] = len(mine)
        figures[f"{status} late"] = sum(late(o) for o in mine)
    finished = [at(o["status_since"]) for o in listed if o["status"] == "FINISHED"]
    figures["finished today"] = sum(t >= day.timestamp() for t in finished if t)
    figures["finished last hour"] = sum(
        t >= (now - timedelta(hours=1)).timestamp() for t in finished if t
    )
    active = [o for o in listed if o["status"] in ("OPEN", "PROCESSING")]
    figures["stat"] = sum(o["priority"] == "stat" for o in active)
    figures["waiter"] = sum(o["priority"] == "waiter" for o in active)
    return figures


def on_screen(figures: WallFigures) -> dict[str, int]:
    cols = figures.columns
    return {
        "OPEN": cols["OPEN"].count,
        "OPEN late": cols["OPEN"].late,
        "PROCESSING": cols["PROCESSING"].count,
        "PROCESSING late": cols["PROCESSING"].late,
        "finished today": figures.finished_today,
        "finished last hour": figures.finished_last_hour,
        "stat": figures.urgent_counts["stat"],
        "waiter": figures.urgent_counts["waiter"],
    }


def painted(app, panel: str) -> tuple[int | None, int | None]:
    """The two numbers a panel paints (the large count and the one under it)."""
    widget = app.wall.query_one(f"#panel-{panel}", ColumnPanel)
    return (widget.query_one(".count", BigNumber).value,
            widget.query_one(".side-number", BigNumber).value)  # fmt: skip


def screen_text(app) -> str:
    return str(app.export_screenshot()).replace("&#160;", " ")


async def test_counts_match_the_orders_listing(url: str) -> None:
    want = expected(url)
    assert want["OPEN"] and want["PROCESSING"] and want["OPEN late"] and want["stat"]
    app = make_watch(url)
    async with app.run_test(size=(200, 60)) as pilot:
        await shown_once(pilot)
        figures = app.wall.figures
        assert figures is not None
        assert on_screen(figures) == want
        assert painted(app, "open") == (want["OPEN"], want["OPEN late"])
        assert painted(app, "processing") == (want["PROCESSING"], want["PROCESSING late"])
        assert painted(app, "finished") == (want["finished today"], want["finished last hour"])
        assert f"STAT {want['stat']} · WAITER {want['waiter']}" in screen_text(app)


async def test_a_move_made_elsewhere_shows_within_a_second(url: str) -> None:
    app = make_watch(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown_once(pilot)
        before = painted(app, "processing")[0]
        assert before is not None
        done = run_cli(url, "--actor", "EF", "--station", "back-office", "start", "#1020")
        assert done.returncode == 0, done.stderr
        took = await until(pilot, lambda: painted(app, "processing")[0] == before + 1, 5)
        assert took < 1.0, f"the move took {took:.2f} s to show"
        await pilot.pause(0.05)
        assert "#1020" in screen_text(app) and "EF@back-office" in screen_text(app)


async def test_no_key_changes_data(url: str) -> None:
    store = Store.open(url, migrate=False)

    def state() -> tuple[int, int]:
        with store.read() as conn:
            return (int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one()),
                    int(conn.execute(select(func.sum(orders.c.version))).scalar_one()))  # fmt: skip

    before = state()
    app = make_watch(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown_once(pilot)
        keys = [*"abcdefghijklmnoprsuvwxyz", "A", "X", "P", "U", "space", "enter", "slash",
                "left", "right", "up", "down", "escape", "question_mark"]  # fmt: skip
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)
        assert app.is_running
        assert state() == before
        themes = []
        for _ in range(3):
            await pilot.press("t")
            themes.append(app.theme)
        assert set(themes) == {"rxfloor-dark", "rxfloor-light", "rxfloor-high-contrast"}
        await pilot.press("q")
    assert not app.is_running
    store.close()


async def test_patients_are_shown_by_initials_only(url: str) -> None:
    store = Store.open(url, migrate=False)
    with store.read() as conn:
        names = [str(n) for n in conn.execute(select(orders.c.patient_name)).scalars()]
    store.close()
    app = make_watch(url)
    async with app.run_test(size=(300, 80)) as pilot:
        await shown_once(pilot)
        text = screen_text(app)
        figures = app.wall.figures
        assert figures is not None and figures.urgent
        assert all(u.initials in text for u in figures.urgent[:5])
        for name in names:
            for part in name.split():
                if len(part) > 3:
                    assert part not in text, f"{part!r} of a patient's name is on the wall"


async def test_alerts_and_sync_trouble_are_prominent(url: str) -> None:
    store = Store.open(url, migrate=False)
    with store.write() as conn:
        oid = conn.execute(select(orders.c.id).where(orders.c.name == "#1002")).scalar_one()
        conn.execute(insert(sync_state), [
            {"source": "rxscale", "online": True, "offline_since": None, "updated_at": FROZEN},
            {"source": "shopify", "online": False, "offline_since": FROZEN, "updated_at": FROZEN},
        ])  # fmt: skip
        conn.execute(insert(alerts).values(
            order_id=oid, kind="remote_cancel", created_at=FROZEN,
            message="#1002 was cancelled by the remote while in PROCESSING here \x1b[2J[b]x",
        ))  # fmt: skip
    store.close()
    app = make_watch(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown_once(pilot)
        banner = app.wall.query_one("#wall-alerts")
        assert banner.display
        words = str(banner.render())
        assert "ALERT R #1002 was cancelled" in words and "␛[2J[b]x" in words  # two sources: marked
        health = app.wall.query_one("#wall-health")
        assert health.has_class("-bad")
        words = str(health.render())  # each source named, the one in trouble makes it red
        assert "rxscale online · 0 queued · 0 failed" in words
        assert "shopify offline since 09:30 · 0 queued · 0 failed" in words


async def test_an_older_read_never_paints_over_a_newer_one(url: str) -> None:
    app = make_watch(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown_once(pilot)
        figures = app.wall.figures
        assert figures is not None
        assert app.wall.day is not None
        stale = FiguresRead(0, dataclasses.replace(figures, finished_today=999), app.wall.day)
        app.wall.post_message(stale)
        await pilot.pause(0.1)
        assert painted(app, "finished")[0] != 999


#: how many rows the large counts take at each size: what the docs say, what is drawn
DIGIT_ROWS = {(80, 24): 3, (120, 40): 8, (200, 60): 13, (300, 80): 20}


@pytest.mark.parametrize("size", list(DIGIT_ROWS))
async def test_every_size_draws_the_counts_large(url: str, size: tuple[int, int]) -> None:
    app = make_watch(url)
    async with app.run_test(size=size) as pilot:
        await shown_once(pilot)
        count = app.wall.query_one("#panel-open .count", BigNumber)
        drawn = [line for line in str(count.render()).splitlines() if line.strip()]
        assert "█" in "".join(drawn)
        assert len(drawn) == DIGIT_ROWS[size], (size, count.content_size)


def test_the_docs_give_the_digit_rows_the_wall_draws() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    docs = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    said = " ".join(docs.split())
    claims = ", ".join(f"{rows} at {w}x{h}" for (w, h), rows in DIGIT_ROWS.items())
    assert f"the digits rescale (rows tall: {claims})" in said


def test_without_a_terminal_the_figures_are_printed(url: str) -> None:
    done = run_cli(url, "watch")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["columns"]["OPEN"]["count"] == expected(url)["OPEN"]
    assert "patient_name" not in done.stdout


def test_an_unknown_theme_is_one_line(url: str) -> None:
    from rxfloor.tui.cli.context import Context
    from rxfloor.tui.cli.watch import run_app

    with pytest.raises(Exception, match=r"--theme: unknown theme 'pink'"):
        run_app(Context(database=url), theme="pink", sync=False)


async def test_with_two_sources_the_wall_says_whose_order_and_who_moved_it(url: str) -> None:
    """Two sources may both have a #1001: the queue and the ticker carry the card's source
    mark, and a move made by a source is named by it, not by an anonymous "remote"."""
    seed_shopify(url)
    app = make_watch(url)
    async with app.run_test(size=(200, 60)) as pilot:
        await shown_once(pilot)
        figures = app.wall.figures
        assert figures is not None
        text = "\n".join(
            str(app.wall.query_one(f"#{part}-body", Static).content)
            for part in ("ticker", "urgent")
        )
        remote = next(m for m in figures.moves if m.source == "remote")
        assert remote.order_source == "shopify"
        assert f"S {remote.order_name}" in text and "shopify" in text
        assert " remote" not in text
        urgent = figures.urgent[0]
        assert urgent.source == "rxscale"
        assert f"{urgent.source[0].upper()} {urgent.name}" in text


async def test_at_80x24_the_header_counts_the_sources_and_the_exceptions(url: str) -> None:
    """Four sources spelled out do not fit 80 columns: the wall says what the board says
    (``4 sources online``), a source in trouble keeps its words, and the exceptions queue's
    count is on the wall too."""
    from rxfloor.core import exception_queue

    store = Store.open(url, migrate=False)
    with store.write() as conn:
        conn.execute(insert(sync_state), [
            {"source": name, "online": True, "offline_since": None, "updated_at": FROZEN}
            for name in ("rxscale", "shopify", "photon", "konnektive")
        ])  # fmt: skip
    with store.read() as conn:
        queued = exception_queue.count(conn)
    store.close()
    app = make_watch(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown_once(pilot)
        header = screen_text(app).splitlines()
        top = next(line for line in header if "exceptions" in line)
        assert f"exceptions {queued}" in top and "4 sources online" in top and "…" not in top
    store = Store.open(url, migrate=False)
    with store.write() as conn:
        conn.execute(sync_state.update().where(sync_state.c.source == "photon")
                     .values(online=False, offline_since=FROZEN))  # fmt: skip
    store.close()
    app = make_watch(url)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown_once(pilot)
        await until(pilot, lambda: "3 online" in str(app.wall.query_one("#wall-health").render()))
        assert "photon offline since 09:30 · 3 online" in str(
            app.wall.query_one("#wall-health").render()
        )


def test_the_stat_list_shows_late_or_the_due_time_before_the_wait() -> None:
    """docs/pages/floor/wall.md: the STAT list shows ``LATE`` or the due time. In the 36
    cells the list has at 80x24 both must be seen, so they come before the status and the
    time waited."""
    from rxfloor.core.db.queries import Waiting
    from rxfloor.tui.watch.widgets import urgent_text

    now = FROZEN
    # late and the promised time are decided with the figures (core/due.py), as wall_figures
    # makes them
    items = [
        Waiting(
            "#1020",
            "ML",
            "OPEN",
            "stat",
            now - timedelta(hours=3),
            now,
            False,
            promised=now,
            late=True,
        ),
        Waiting(
            "#1021",
            "RW",
            "PROCESSING",
            "waiter",
            now - timedelta(minutes=5),
            now + timedelta(minutes=25),
            False,
            promised=now + timedelta(minutes=25),
            late=False,
        ),
    ]
    late, due = urgent_text(items, now, marks=True).plain.splitlines()
    assert "LATE" in late[:36] and "3h00" in late
    assert f"due {(now + timedelta(minutes=25)).astimezone():%H:%M}" in due[:36]


async def test_the_wall_draws_the_days_flow_and_turnaround_as_the_report_counts_them(
    url: str,
) -> None:
    """One function (core/report.py) for the wall and ``rxfloor report``: the chart's bars
    and the turnaround lines are the report's figures for the frozen day."""
    from rxfloor.core.report import day_report
    from rxfloor.tui.watch.widgets import FlowChart, chart_hours

    store = Store.open(url, migrate=False)
    with store.read() as conn:
        report = day_report(conn, FROZEN.date())
    store.close()
    app = make_watch(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown_once(pilot)
        assert app.wall.day == report
        hours = chart_hours(report, FROZEN)
        assert hours and report.hours[hours[-1]].start.hour == FROZEN.hour
        chart = app.wall.query_one(FlowChart)
        drawn = str(chart.render())  # the bars, under their hours' labels
        assert f"{FROZEN:%H}" in drawn.splitlines()[-1]
        assert ("█" in drawn) == any(report.hours[i].received or report.hours[i].finished
                                     for i in hours)  # fmt: skip
        body = str(app.wall.query_one("#turnaround-body", Static).content)
        if report.turnaround:
            overall = report.turnaround[0]
            assert body.startswith("all") and str(overall.count) in body
        else:
            assert "nothing finished yet today" in body


def _at(when: datetime) -> datetime:
    return when


def _seed_will_call(url: str) -> None:
    """Pickup orders: two ready since 10 and 9 days (bins B3 and none), one ready since 2
    days, and today one ready in B7, one handed off; the board's seed finished #1006 (ship)."""
    from rxfloor.core.lifecycle import Action, DeliveryType
    from rxfloor.core.service import Actor, Counter, OrderService
    from tests.board_fixtures import shopify

    store = Store.open(url, migrate=False)
    for n, days, bin, handoff in ((91, 10.0, "B3", False), (92, 9.2, None, False),
                                  (93, 2.0, "B4", False), (94, 0.1, "B7", False),
                                  (95, 0.05, None, True)):  # fmt: skip
        at = FROZEN - timedelta(days=days)
        svc = OrderService(store, Actor("CD", "counter-2"), clock=functools.partial(_at, at))
        order = shopify(n, f"#9{n}", delivery=DeliveryType.PICKUP)
        svc.add_orders([order])
        svc.act(order.name, Action.START)
        svc.act(order.name, Action.FINISH, counter=Counter(bin=bin))
        if handoff:
            svc.act(order.name, Action.HANDOFF, counter=Counter(id_checked=True))
    store.close()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_wall_counts_ready_apart_from_shipped_and_lists_back_to_stock(
    url: str, size: tuple[int, int]
) -> None:
    _seed_will_call(url)
    app = make_watch(url)
    async with app.run_test(size=size) as pilot:
        await shown_once(pilot)
        figures = app.wall.figures
        assert figures is not None
        split = figures.finished_split
        assert (split.ready, split.picked_up, split.shipped) == (1, 1, 1)
        assert painted(app, "finished")[0] == figures.finished_today == 3
        text = screen_text(app)
        line = str(app.wall.query_one("#panel-finished .oldest", Static).render())
        if size == (80, 24):  # what 80 columns hold
            assert line == "ready 1 · shipped 1"
        else:
            assert line == "ready 1 · picked up 1 · shipped 1 · 1 cancelled"
        stock = app.wall.query_one("#wall-stock")
        assert stock.display
        title = "TO STOCK 2" if size == (80, 24) else "BACK TO STOCK 2 · over 7d"
        assert stock.border_title == title
        # the list takes its room from the last moves: the stat list keeps its half
        assert app.wall.query_one("#wall-urgent").outer_size.width == size[0] // 2
        body = str(app.wall.query_one("#stock-body", Static).render()).splitlines()
        # two sources share the floor: each name carries its mark (S); initials only
        assert [line.split() for line in body] == [["10d", "S", "#991", "NS", "B3"],
                                                   ["9d", "S", "#992", "NS", "-"]]  # fmt: skip
        assert title in text and "#991" in text


async def test_the_back_to_stock_list_shows_only_when_any(url: str) -> None:
    app = make_watch(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown_once(pilot)
        assert not app.wall.query_one("#wall-stock").display
        assert "BACK TO STOCK" not in screen_text(app)


def test_the_json_carries_ready_apart_from_shipped_and_back_to_stock(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``watch --json`` (no terminal) at the frozen clock, ``RXFLOOR_FLOOR`` setting the days."""
    from rxfloor.core.service import Actor, OrderService
    from rxfloor.tui.cli.context import Context
    from rxfloor.tui.cli.watch import figures_json
    from tests.board_fixtures import frozen

    _seed_will_call(url)
    monkeypatch.setenv("RXFLOOR_FLOOR", '{"will_call_days": 9}')
    ctx = Context(database=url)
    store = Store.open(url, migrate=False)
    ctx._service = OrderService(store, Actor("AB", "wall"), clock=frozen)
    try:
        words = figures_json(ctx)
    finally:
        store.close()
    figures = json.loads(words)
    assert figures["finished_split"] == {"ready": 1, "picked_up": 1, "shipped": 1}
    back = figures["return_to_stock"]
    assert (back["days"], back["count"]) == (9, 2)
    assert [(o["name"], o["bin"], o["days"]) for o in back["orders"]] == [
        ("#991", "B3", 10), ("#992", None, 9)]  # fmt: skip
    assert "patient_name" not in words

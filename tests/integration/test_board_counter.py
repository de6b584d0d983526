"""At a busy counter no keystroke lands on an order the pharmacist did not mean (issue 13).

Pilot on a real SQLite file; a scanner is :func:`tests.board_fixtures.scan` (the whole code
and Enter at once, as a terminal delivers it).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select
from textual import events
from textual.widgets import Footer, OptionList
from textual.widgets._toast import Toast

from rxfloor.core.db import Store, alerts, audit_events, orders
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, Conflict, OrderService
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.confirm import ConfirmScreen
from rxfloor.tui.screens.detail import DetailScreen
from rxfloor.tui.screens.goto import GotoScreen, PharmacistScreen
from rxfloor.tui.screens.reason import ReasonScreen
from tests.board_fixtures import (
    FROZEN,
    frozen,
    make_app,
    on_top,
    press,
    ready,
    scan,
    seed_board,
    until,
)


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


def writes(url: str) -> tuple[int, int]:
    """(audit events, sum of versions): any write changes it."""
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            events = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
            versions = conn.execute(select(func.sum(orders.c.version))).scalar_one()
        return int(events), int(versions)
    finally:
        store.close()


def status(url: str, name: str) -> str:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            return str(conn.execute(select(orders.c.status).where(orders.c.name == name)).scalar())
    finally:
        store.close()


def focused(app: object) -> str | None:
    card = app.board.card  # type: ignore[attr-defined]
    return None if card is None else str(card.name)


# ------------------------------------------------------------------ scans
async def test_a_scan_on_the_board_focuses_its_order_and_no_key_acts(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        before = writes(url)
        await scan(pilot, "po-s0-000012")  # p would hold, Enter would pick a reason
        await until(pilot, lambda: focused(app) == "#1012")
        assert isinstance(app.screen, BoardScreen)
        await scan(pilot, "#1003")  # Enter alone would open the focused card's detail
        await until(pilot, lambda: focused(app) == "#1003")
        await pilot.pause(0.2)
        assert isinstance(app.screen, BoardScreen)
        await scan(pilot, "po-zz-999999")
        await until(pilot, lambda: any("no order" in m for _, m in app.said))
        assert focused(app) == "#1003"
        await scan(pilot, "po-s0-0000", enter=False)  # a scan cut short: dropped, not acted
        await until(pilot, lambda: any("ignored" in m for _, m in app.said))
        assert writes(url) == before and isinstance(app.screen, BoardScreen)


async def test_a_scan_in_a_dialog_closes_it_and_focuses_the_order(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        before = writes(url)
        await press(pilot, "enter")
        await on_top(pilot, DetailScreen)
        await scan(pilot, "po-s0-000012")
        await until(pilot, lambda: focused(app) == "#1012")
        assert isinstance(app.screen, BoardScreen)
        await press(pilot, "x")
        assert isinstance(app.screen, ReasonScreen)
        await scan(pilot, "#1004")  # in the pick list (not a text box): a scan, no reason
        await until(pilot, lambda: focused(app) == "#1004")
        assert isinstance(app.screen, BoardScreen) and writes(url) == before


async def test_go_to_followed_at_once_by_a_scan_keeps_the_scan(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await scan(pilot, "gpo-s0-000012")  # g and the scan in one burst
        await until(pilot, lambda: focused(app) == "#1012")
        # read as a scan, or (a slow event loop split the burst) typed into Go to: either
        # way the order is found and the board is back, nothing lost, nothing else done
        await on_top(pilot, BoardScreen)
        # a person's g, the scanner 5 ms later: both queued before the app reads either
        # (pilot.press would wait for the g to be handled, which a slow first run stretches
        # past the scanner gap: then the g is rightly a key of its own)
        driver = app._driver
        assert driver is not None
        g = events.Key("g", "g")
        g.set_sender(app)
        driver.send_message(g)
        time.sleep(0.005)
        await scan(pilot, "po-s0-000004")
        await until(pilot, lambda: focused(app) == "#1004")
        await on_top(pilot, BoardScreen)


# ------------------------------------------------------------------ guard
async def test_a_repeated_key_after_the_cursor_moved_does_nothing(url: str) -> None:
    app = make_app(url, repeat_guard_s=5.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        # the oldest promise, #1009, is on top: the cursor moved on to #1020 after the first
        await press(pilot, "a", "a")
        await until(pilot, lambda: status(url, "#1009") == "PROCESSING")
        await until(pilot, lambda: any("not done" in m for _, m in app.said))
        said = next(m for _, m in app.said if "not done" in m)
        assert "#1020" in said and "#1009" in said
        assert status(url, "#1020") == "OPEN"
        await press(pilot, "a")  # pressed again, on purpose: it acts
        await until(pilot, lambda: status(url, "#1020") == "PROCESSING")


async def test_another_terminal_taking_the_focused_card_is_told(url: str) -> None:
    app = make_app(url, repeat_guard_s=5.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert focused(app) == "#1009"
        other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "counter-9"))
        await asyncio.to_thread(other.act, "#1009", Action.START)
        await until(pilot, lambda: any("started by ZZ" in m for _, m in app.said))
        said = next(m for _, m in app.said if "started by ZZ" in m)
        assert said == "#1009 started by ZZ · cursor on #1020"
        await press(pilot, "a")  # meant for #1009: does nothing to #1020
        await until(pilot, lambda: any("not done" in m for _, m in app.said))
        assert status(url, "#1020") == "OPEN"
        other.store.close()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_a_sentence_for_the_pharmacist_covers_no_card(
    url: str, size: tuple[int, int]
) -> None:
    """A toast would float over the cards; the notice line has a row of its own."""
    app = make_app(url, repeat_guard_s=5.0)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "counter-9"))
        await asyncio.to_thread(other.act, "#1009", Action.START)
        await until(pilot, lambda: any("started by ZZ" in m for _, m in app.said))
        other.store.close()
        notice = app.board.notice
        assert notice.region.height == 1 and "#1009 started by ZZ" in notice.text
        assert app.screen.get_widget_at(notice.region.x + 1, notice.region.y)[0] is notice
        assert not app.query(Toast)
        for column in app.board.visible_columns:
            assert not column.region.overlaps(notice.region), column.region
        footer = app.board.query_one(Footer)
        assert notice.region.bottom <= footer.region.y


# ----------------------------------------------------------------- dialogs
async def test_enter_then_g_opens_go_to_alone(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        driver = app._driver
        assert driver is not None
        for key in (events.Key("enter", "\r"), events.Key("g", "g")):  # typed fast
            key.set_sender(app)
            driver.send_message(key)
        await on_top(pilot, GotoScreen)
        await pilot.pause(0.3)  # the detail's read has come back by now
        assert isinstance(app.screen, GotoScreen)
        assert not any(isinstance(s, DetailScreen) for s in app.screen_stack)


async def test_modal_footers_show_their_own_keys_not_the_boards(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "x")
        await on_top(pilot, ReasonScreen)
        assert app.screen.query(Footer)
        await until(pilot, lambda: "Back" in app.export_screenshot())  # its footer is drawn
        shot = app.export_screenshot()
        assert "Advance" not in shot and "Back" in shot


async def test_cancel_has_no_default_reason_and_names_the_order(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "x")
        # the dialog comes with the key's turn of the event loop, which a loaded machine
        # may give after the press's pause: waited for, and the board's words if it never
        # comes (a refused key says why)
        try:
            await on_top(pilot, ReasonScreen)
        except AssertionError:
            raise AssertionError(f"no reason dialog; the board said {app.said[-3:]}") from None
        screen = app.screen
        assert isinstance(screen, ReasonScreen)
        assert screen.query_one(OptionList).highlighted is None
        subject = str(screen.query_one("#subject").render())
        card = app.board.card
        assert card is not None
        assert card.name in subject and card.initials in subject and card.items[:20] in subject
        await press(pilot, "enter")  # nothing picked: nothing happens
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReasonScreen) and status(url, "#1020") == "OPEN"


# -------------------------------------------------------------------- undo
async def test_undo_one_move_a_press_and_asks_before_going_further(url: str) -> None:
    app = make_app(url, repeat_guard_s=0.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "a")
        await until(pilot, lambda: status(url, "#1009") == "PROCESSING")
        await press(pilot, "a")
        await until(pilot, lambda: status(url, "#1020") == "PROCESSING")
        await until(pilot, lambda: len(app.board.undo_stack) == 2)
        await press(pilot, "u")
        await until(pilot, lambda: status(url, "#1020") == "OPEN")
        await until(pilot, lambda: any(m.startswith("undone: #1020") for _, m in app.said))
        said = next(m for _, m in app.said if m.startswith("undone: #1020"))
        assert said.startswith("undone: #1020 OPEN -> PROCESSING · #1020 is OPEN again"), said
        assert status(url, "#1009") == "PROCESSING"
        await press(pilot, "u")  # further back: asks
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "n")
        await pilot.pause(0.2)
        assert status(url, "#1009") == "PROCESSING"
        await press(pilot, "u", "y")
        await until(pilot, lambda: status(url, "#1009") == "OPEN")


def test_undo_refusal_names_the_remote_not_the_own_acknowledge(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
    service.add_orders(sample_orders(3, 0, FROZEN))
    moved = service.act("#1001", Action.START)
    service.apply_remote("po-s0-000001", "cancelled", Status.CANCELLED)
    with store.write() as conn:
        conn.execute(
            alerts.insert().values(order_id="po-s0-000001", kind="remote_cancel",
                                   created_at=FROZEN, message="#1001 cancelled remotely")
        )  # fmt: skip
    service.acknowledge_alert(store.open_alerts()[0]["id"])
    with pytest.raises(Conflict) as refused:
        service.undo(moved.event_id)
    message = str(refused.value)
    assert "remote" in message and "CANCELLED" in message and "by AB" not in message
    store.close()


def test_undo_restores_the_time_in_status(sqlite_url: str) -> None:
    clock = [FROZEN]
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=lambda: clock[0])
    service.add_orders(sample_orders(2, 0, FROZEN))
    since = service.get("#1001").status_since
    clock[0] = FROZEN.replace(minute=45)
    moved = service.act("#1001", Action.START)
    assert service.undo(moved.event_id).order.status_since == since
    store.close()


def test_sample_orders_history_starts_when_their_card_time_does(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
    service.add_orders(sample_orders(3, 0, FROZEN))
    order = service.get("#1002")
    assert store.history(order.id)[0]["at"] == order.status_since
    store.close()


# -------------------------------------------------------------- pharmacist
async def test_switch_pharmacist_by_key_and_by_badge(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "w")
        assert isinstance(app.screen, PharmacistScreen)
        await press(pilot, "C", "D", "enter")
        await until(pilot, lambda: "· CD │" in str(app.board.query_one("#header").render()))
        await press(pilot, "a")
        await until(pilot, lambda: status(url, "#1009") == "PROCESSING")
        store = Store.open(url, migrate=False)
        assert store.history("po-s0-000009")[-1]["actor"] == "CD"
        store.close()
        await scan(pilot, "badge-EF")
        await until(pilot, lambda: "· EF │" in str(app.board.query_one("#header").render()))
        assert isinstance(app.screen, BoardScreen)


# ------------------------------------------------------------ the reader
def test_scan_buffer_tells_scans_from_people() -> None:
    from rxfloor.tui.scan import ScanBuffer, Verdict

    reader: ScanBuffer[str] = ScanBuffer(gap=0.04)

    def feed(keys: str, start: float, step: float, enter: bool = True) -> list[Verdict]:
        verdicts = []
        at = start
        for i, ch in enumerate(keys):
            settled = reader.expire(at)
            if settled is not None:
                verdicts.append(settled.verdict)
            verdicts.append(reader.key(f"{ch}{i}", ch, ch, at).verdict)
            at += step
        if enter:
            verdicts.append(reader.key("enter", "enter", "\r", at - step + 0.005).verdict)
        return verdicts

    assert feed("po-s0-000012", 0.0, 0.015)[-1] is Verdict.SCAN
    assert feed("  7-1003", 10.0, 0.01)[-1] is Verdict.SCAN  # equal first keys: no repeat
    # a person: each key acts once the gap has passed
    assert reader.key("a", "a", "a", 20.0).verdict is Verdict.HOLD
    settled = reader.expire(20.1)
    assert settled is not None and settled.verdict is Verdict.PASS and settled.released == ["a"]
    # the same key held down repeats fast after its first press: it acts, no drop
    assert reader.key("a2", "a", "a", 20.5).released == ["a2"]
    assert reader.key("a3", "a", "a", 20.53).released == ["a3"]
    # a burst that never ends in Enter is dropped, none of it acts
    feed("po-s0-0000", 30.0, 0.01, enter=False)
    dropped = reader.expire(31.0)
    assert dropped is not None and dropped.verdict is Verdict.DROP and dropped.released == []
    # Enter after a short burst is a person's: both act
    reader.key("x", "x", "x", 40.0)
    assert reader.key("enter", "enter", "\r", 40.01).released == ["x", "enter"]

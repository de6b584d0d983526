"""Issue 23, "The busy counter II": a hold stops the order, one truth for lateness, cut text.

Pilot on a real SQLite file with the board's frozen clock (``tests.board_fixtures.FROZEN``).
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta

import pytest
from rich.style import Style
from sqlalchemy import select, update
from textual.pilot import Pilot
from textual.widgets import Label

from rxfloor.core import exception_queue
from rxfloor.core.config import load_settings
from rxfloor.core.db import Store, audit_events, orders
from rxfloor.core.db import queries as bq
from rxfloor.core.due import Targets, day_start
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import OrderView, Tracking
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService, Refused
from rxfloor.core.tracking import Verdict, check_format
from rxfloor.tui.board.card import card_lines, urgency
from rxfloor.tui.board.model import BoardModel, Card, late_count
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.cli.orders import write_orders_json
from rxfloor.tui.screens.confirm import ConfirmScreen
from rxfloor.tui.screens.detail import detail_text, due_line, status_line
from rxfloor.tui.screens.tracking import TrackingScreen
from tests.board_fixtures import (
    FROZEN,
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
        expected = (
            f"#1003 is on hold (CD {at}: Patient calling back about dose): release it first with p"
        )
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
        await on_top(pilot, ConfirmScreen)
        text = "\n".join(screen_lines(pilot))
        at = FROZEN.astimezone().strftime("%H:%M")
        assert "Release the hold on #1003?" in text
        assert f"held by CD at {at}: Patient calling back about dose" in text
        await press(pilot, "n")  # kept on hold
        await on_top(pilot, BoardScreen)
        assert last_event(url, "#1003")["action"] == "hold"
        await press(pilot, "p")
        await on_top(pilot, ConfirmScreen)
        await press(pilot, "y")
        await until(pilot, lambda: last_event(url, "#1003")["action"] == "release")
        event = last_event(url, "#1003")
        assert event["actor"] == "AB"
        assert event["reason"] == f"released the hold of CD {at}: Patient calling back about dose"


# ------------------------------------------------------------------ one truth for lateness
def _seed_promises(url: str) -> None:
    """Orders with no promised time of their source, of every priority and delivery, that
    arrived at instants around their targets, and a few cancellation requests (the
    exceptions queue)."""
    store = Store.open(url, migrate=False)
    try:
        service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
        extra = [
            o.model_copy(
                update={
                    "due_at": None,
                    "name": f"#9{i:03d}",
                    "id": f"nd-{i}",
                    "created_at": None,
                }
            )
            for i, o in enumerate(sample_orders(40, 5, FROZEN))
        ]
        service.add_orders(extra)
        with store.write() as conn:
            for i, (minutes, prio, delivery) in enumerate(
                [
                    (m, p, d)
                    for m in (14, 15, 16, 29, 30, 31, 119, 120, 121, 1500)
                    for p, d in (
                        ("stat", "ship"),
                        ("waiter", "pickup"),
                        ("normal", "pickup"),
                        ("normal", "courier"),
                    )
                ]
            ):
                conn.execute(
                    update(orders)
                    .where(orders.c.id == f"nd-{i}")
                    .values(
                        created_at=FROZEN - timedelta(minutes=minutes),
                        priority=prio,
                        delivery_type=delivery,
                    )
                )
            conn.execute(
                update(orders)
                .where(orders.c.name.in_(["#9001", "#9006", "#1020", "#1004"]))
                .values(request_kind="cancellation", request_message="wrong address")
            )
    finally:
        store.close()


@pytest.mark.parametrize(
    "now", [FROZEN, FROZEN + timedelta(minutes=1), FROZEN + timedelta(hours=3, seconds=17)]
)
@pytest.mark.parametrize("minutes", [{}, {"stat": 60, "waiter": 20, "pickup": 90}])
def test_board_wall_json_detail_and_exceptions_agree_on_late(
    url: str, now: datetime, minutes: dict[str, int]
) -> None:
    """Issue 23: at the same instant the board said ``OPEN 290 · 35 late``, ``watch --json``
    12, and the wall left out a LATE the board showed. Every view asks ``core/due.py``: the
    same orders are late everywhere, the counts are equal, under the floor's targets."""
    _seed_promises(url)
    settings = load_settings(database_url=url, floor={"targets": minutes})
    targets = Targets.from_settings(settings)
    store = Store.open(url, migrate=False)
    try:
        statuses = [s.value for s in Status]
        since = day_start(now)
        # the board: the cards (as painted) and the first page's COUNTs
        model = BoardModel(targets)
        model.load(
            [Card.from_row(r, False) for r in store.board_rows(statuses, finished_since=since)]
        )
        board_late = {c.id for c in model.cards.values() if urgency(c, now) == "overdue"}
        page = bq.board_first_page(store, statuses, since, now, targets, 5, Card.from_row)
        for status in (Status.OPEN, Status.PROCESSING):
            column = model.columns[status]
            assert late_count(column, now) == sum(1 for c in column if c.id in board_late)
            assert page.counts[status.value][1] == late_count(column, now), status
        # cards sort by promised instant: the oldest work at the top
        for column in model.columns.values():
            assert [c.due for c in column] == sorted(c.due for c in column)
        # the wall (and watch --json, which dumps these figures)
        with store.read() as conn:
            wall = bq.wall_figures(conn, now, since, targets=targets, urgent_limit=1000)
            items = exception_queue.queue(conn, targets)
        for status in (Status.OPEN, Status.PROCESSING):
            assert wall.columns[status.value].late == late_count(model.columns[status], now)
        assert {w.name for w in wall.urgent if w.late} == {
            c.name
            for c in model.cards.values()
            if c.id in board_late and c.priority in ("stat", "waiter")
        }
        # orders --json
        out = io.StringIO()
        write_orders_json(store, None, out, targets, now)
        listed = json.loads(out.getvalue())
        assert {o["id"] for o in listed if o["late"]} == board_late
        for o in listed:
            card = model.cards.get(o["id"])
            if card is not None and card.target is not None:
                assert datetime.fromisoformat(o["promised_at"]) == card.target
        # the detail view, order by order
        for o in listed:
            view = OrderView.model_validate(
                {k: v for k, v in o.items() if k in OrderView.model_fields}
            )
            line = due_line(view, targets, now)
            assert ("· late " in line) == (o["id"] in board_late), (o["name"], line)
        # the exceptions queue
        assert items
        assert {i.order_id for i in items if i.late(now)} == {
            i.order_id for i in items if i.order_id in board_late
        }
    finally:
        store.close()


def test_detail_says_when_promised_and_where_from(url: str) -> None:
    """Issue 23: ``Due -`` for a stat order the board showed ``late 3h27``; the status time
    disagreed with the timeline."""
    _seed_promises(url)
    store = Store.open(url, migrate=False)
    try:
        service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
        view = service.get("#9000")  # stat, arrived 14 minutes before FROZEN, no due time
        later = FROZEN + timedelta(hours=3, minutes=43)
        promised = (FROZEN - timedelta(minutes=14) + timedelta(minutes=30)).astimezone()
        line = due_line(view, Targets(), later)
        assert line == f"promised {promised:%Y-%m-%d %H:%M} (target: stat 30m) · late 3h27"
        history = [dict(e) for e in store.history(view.id)]
        _title, body = detail_text(view, [], history, [], now=later, targets=Targets())
        assert "Due         promised" in body and "Due         -" not in body
        started = service.act("#9000", Action.START).order
        history = [dict(e) for e in store.history(view.id)]
        moved = next(e for e in reversed(history) if e["to_status"] == "PROCESSING")
        assert status_line(started, history, later) == (
            f"PROCESSING since {moved['at'].astimezone():%Y-%m-%d %H:%M} (AB, 3h43)"
        )
    finally:
        store.close()


# ------------------------------------------------------------------ tracking numbers
@pytest.mark.parametrize(
    ("number", "verdict", "carrier"),
    [
        ("1Z999AA10123456784", Verdict.OK, "UPS"),
        ("1z999aa10123456784", Verdict.OK, "UPS"),
        ("1Z999AA1012345678", Verdict.REFUSED, "UPS"),  # 15 after 1Z
        ("1Z999AA1012345678-", Verdict.REFUSED, "UPS"),
        ("123456789012", Verdict.OK, "FedEx"),
        ("123456789012345", Verdict.OK, "FedEx"),
        ("92055901755477000271990", Verdict.UNKNOWN, None),  # 23 digits
        ("9205590175547700027199", Verdict.OK, "USPS"),  # 22
        ("92055901755477000271", Verdict.OK, "USPS"),  # 20
        ("1234567890123", Verdict.UNKNOWN, None),  # 13 digits: no known carrier
        ("CP123456789DE", Verdict.UNKNOWN, None),
    ],
)
def test_carrier_formats(number: str, verdict: Verdict, carrier: str | None) -> None:
    found = check_format(number)
    assert (found.verdict, found.carrier) == (verdict, carrier)


def test_the_service_never_sends_an_orders_code_as_tracking(url: str) -> None:
    store = Store.open(url, migrate=False)
    try:
        service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
        for code in ("#1003", "po-s0-000003", "1003", "#1005"):
            with pytest.raises(Refused, match="not a tracking number"):
                service.act("#1003", Action.FINISH, tracking=Tracking(number=code))
        assert column_of(url, "#1003") == "PROCESSING"
        assert service.check_tracking("po-s0-000012").verdict is Verdict.REFUSED
        assert service.check_tracking("CP123456789DE").verdict is Verdict.UNKNOWN
    finally:
        store.close()


async def test_the_tracking_box_refuses_the_orders_own_barcode(sqlite_url: str) -> None:
    seed_two_sources(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(2))
        card = app.board.model.cards[sid(2)]
        await press(pilot, "a")
        assert isinstance(app.screen, TrackingScreen)
        error = app.screen.query_one("#error", Label)
        await scan(pilot, sid(2))  # the order's own label, under the scanner
        await until(pilot, lambda: "not a tracking number" in str(error.render()))
        assert isinstance(app.screen, TrackingScreen)
        await scan(pilot, "1Z999")  # a UPS number cut short
        await until(pilot, lambda: "is not a UPS number" in str(error.render()))
        await scan(pilot, "CP123456789DE")  # a regional carrier's: asked once
        await until(pilot, lambda: "Enter again" in str(error.render()))
        assert isinstance(app.screen, TrackingScreen)
        await press(pilot, "enter")
        await until(pilot, lambda: app.board.model.cards[sid(2)].status.value == "FINISHED")
        assert card.name  # the same order, finished with the confirmed number
        store = Store.open(sqlite_url, migrate=False)
        try:
            with store.read() as conn:
                number = conn.execute(
                    select(orders.c.tracking_number).where(orders.c.id == sid(2))
                ).scalar_one()
        finally:
            store.close()
        assert number == "CP123456789DE"


# ------------------------------------------------------------------ cut text
def _lines(card: Card, width: int, *, marks: bool = False) -> list[str]:
    strips = card_lines(card, FROZEN, width, selected=False, compact=True,
                        style=lambda _: Style(), rule=Style(), marks=marks)  # fmt: skip
    return ["".join(seg.text for seg in strip) for strip in strips]


def _card(**kw: object) -> Card:
    fields: dict[str, object] = dict(
        id="o1", name="#1042", status=Status.OPEN, priority="waiter", delivery="pickup",
        patient="Hannah Schmidt", initials="HS", items="3x Apixaban 5 mg tabs", due_at=None,
        fulfill_at=None, on_hold=False, version=1, status_since=FROZEN - timedelta(hours=3),
        sync_failed=False, created_at=FROZEN - timedelta(hours=3, minutes=43),
    )  # fmt: skip
    fields.update(kw)
    made = Card(**fields)  # type: ignore[arg-type]
    made.aim(Targets())
    return made


@pytest.mark.parametrize("width", [20, 23, 25, 40, 50])
@pytest.mark.parametrize("marks", [False, True])
def test_initials_are_never_cut_and_numbers_never_split(width: int, marks: bool) -> None:
    """At 80x24 with several sources ``W  R #1042 H late 3h28``: the initials were cut; a lone
    item too long for the line left it blank (``pickup ·       3h43``)."""
    for items in ("3x Apixaban 5 mg tabs", "3x Levothyroxine 100 µg tabs, 2x Insulin 19 mg",
                  "Doxycycline 100 mg caps"):  # fmt: skip
        head, second, *_ = _lines(_card(items=items), width, marks=marks)
        assert " #1042 HS " in head, head
        assert "late" in head, head
        shown = second.strip().split(" · ", 1)[-1].rsplit(" ", 1)[0].strip()
        assert shown, second  # never a blank where the items go
        for cut in ("Levothyroxine 1 ", "Doxycycline 10 ", "Insulin 1 "):
            assert cut not in second + " ", second
        assert not re.search(r"\d…", second), second  # no number cut short


@pytest.mark.parametrize("width", [22, 23, 24, 25])
def test_the_item_line_says_something_a_person_can_read_before_a_bare_ellipsis(
    width: int,
) -> None:
    """Seen in the demo at 80x24 (columns 24 wide): ``pickup · …     3h15``: two items too
    long for the line showed a lone ``…`` while the time in status kept a margin. The
    time's margin gives way first, as the due text's does: ``pickup · 2 items 3h15``."""
    items = "2x Metformin 500 mg tabs, 1x Gabapentin 300 mg caps"
    _, second, *_ = _lines(_card(items=items, delivery="pickup"), width)
    assert "…" not in second or "Metformin…" in second, second
    assert "2 items" in second or "Metformin" in second, second
    assert second.rstrip().endswith("3h00"), second


def test_detail_status_time_is_the_cards_and_names_a_later_record(url: str) -> None:
    """An order that arrived with its source's time (status since 06:22) but was recorded here
    later: the detail shows the card's time in status and says when it was recorded."""
    store = Store.open(url, migrate=False)
    try:
        service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
        view = service.get("#1012")
        history = [dict(e) | {"at": FROZEN + timedelta(hours=1)} for e in store.history(view.id)]
        line = status_line(view, history, FROZEN + timedelta(hours=2))
        since = view.status_since.astimezone()
        assert line.startswith(f"OPEN since {since:%Y-%m-%d %H:%M} (CD, ")
        recorded = (FROZEN + timedelta(hours=1)).astimezone()
        assert line.endswith(f" · recorded here {recorded:%Y-%m-%d %H:%M}")
    finally:
        store.close()

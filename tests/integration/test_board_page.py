"""The first page: a board with more orders than one screen shows its real top at once and
loads the rest in the background, without losing a move or a change made meanwhile.

The background read is held at a barrier (the real query runs, its answer waits), so each
test looks at the board between the first frame and the full load deterministically.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, orders
from rxfloor.core.db import queries as bq
from rxfloor.core.due import Targets, day_start
from rxfloor.core.lifecycle import Action, Priority, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board import view as board_view
from rxfloor.tui.board.card import urgency
from rxfloor.tui.board.model import BoardModel, Card, late_count
from rxfloor.tui.board.view import targets
from tests.board_fixtures import FROZEN, frozen, make_app, moves_settled, press, seed_board, until

SIZE = (120, 30)  # the first page: 30 // 3 + 2 = 12 cards a column
PER_COLUMN = 12
COUNT = 90  # OPEN holds far more than a page


class HeldLoad:
    """The background read, held: it reads every card, then waits for :meth:`release`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read = threading.Event()
        self.go = threading.Event()
        real = bq.board_load

        def held(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            self.read.set()
            self.go.wait(30)
            return result

        monkeypatch.setattr(bq, "board_load", held)
        # these boards are small: read in two parts all the same (the path a big one takes)
        monkeypatch.setattr(board_view, "WHOLE_AT_ONCE", 0)

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def url(sqlite_url: str) -> str:
    """Sample orders, and as many again with no due time: a stat or waiter one is late a
    set time after it arrived, a normal one sorts after every due one of its priority."""
    seed_board(sqlite_url, COUNT)
    store = Store.open(sqlite_url, migrate=False)
    try:
        service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
        service.add_orders(o.model_copy(update={"due_at": None})
                           for o in sample_orders(COUNT, 3, FROZEN))  # fmt: skip
    finally:
        store.close()
    return sqlite_url


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldLoad]:
    hold = HeldLoad(monkeypatch)
    yield hold
    hold.release()  # never leave the worker waiting


def full_board(url: str, app: BoardApp) -> BoardModel:
    """The board as a full load sorts it: the reference for the first page."""
    store = Store.open(url, migrate=False)
    try:
        rows = store.board_rows([s.value for s in Status], finished_since=day_start(frozen()))
    finally:
        store.close()
    model = BoardModel(targets(app.settings))
    model.load([Card.from_row(r, False) for r in rows])
    return model


def names(app: BoardApp, status: Status) -> list[str]:
    return [c.name for c in app.board.view.column_for(status).cards]


def titles(app: BoardApp) -> list[str]:
    return [str(c.border_title) for c in app.board.visible_columns]


def db_status(url: str, order_id: str) -> str:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            return str(
                conn.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar()
            )
    finally:
        store.close()


async def first_page(pilot: Any, hold: HeldLoad) -> None:
    """Until the first page is painted (the full read is done and waits at the barrier)."""
    app = pilot.app
    await until(pilot, lambda: app.board.is_mounted and app.board.view.loaded)
    await until(pilot, hold.read.is_set)
    await pilot.pause()
    assert not app.board.view.complete


async def test_first_frame_shows_the_real_top_and_the_right_counts(
    url: str, held: HeldLoad
) -> None:
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await first_page(pilot, held)
        full = full_board(url, app)
        for status in Status:
            top = [c.name for c in full.columns[status][:PER_COLUMN]]
            assert names(app, status) == top, status
        assert len(full.columns[Status.OPEN]) > PER_COLUMN  # the page really is a page
        top_open = full.columns[Status.OPEN][:PER_COLUMN]
        assert any(c.due_at is None for c in top_open)  # both slices make the top
        assert any(c.due_at is not None for c in top_open)
        assert any(c.due_at is None and c.priority != Priority.NORMAL for c in top_open)
        early = titles(app)
        assert early[0].startswith(f"OPEN {len(full.columns[Status.OPEN])} · ")
        held.release()
        await until(pilot, lambda: app.board.view.complete)
        await pilot.pause()
        assert titles(app) == early  # the COUNTs said what the cards say
        for status in Status:
            assert names(app, status) == [c.name for c in full.columns[status]]


async def test_a_small_board_is_whole_at_the_first_frame(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most WHOLE_AT_ONCE orders: the first read has every card (no second read that
    would compete with the first frames), sorted as a full load sorts them."""
    reads: list[object] = []
    real = bq.board_load

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(bq, "board_load", counted)
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.board.view.loaded)
        assert app.board.view.complete
        full = full_board(url, app)
        assert len(full.columns[Status.OPEN]) > PER_COLUMN  # more than a page
        for status in Status:
            assert names(app, status) == [c.name for c in full.columns[status]], status
        await pilot.pause()
        assert not reads  # nothing read a second time


async def test_after_the_background_load_the_cursor_reaches_the_last_card(
    url: str, held: HeldLoad
) -> None:
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await first_page(pilot, held)
        await press(pilot, "end")
        board = app.board
        assert board.card is not None and board.card.name == names(app, Status.OPEN)[-1]
        assert len(names(app, Status.OPEN)) == PER_COLUMN  # only the page so far
        held.release()
        await until(pilot, lambda: board.view.complete)
        await press(pilot, "home", "end")
        last = full_board(url, app).columns[Status.OPEN][-1]
        assert board.card is not None and board.card.id == last.id


async def test_a_move_during_the_background_load_acts_on_the_right_order(
    url: str, held: HeldLoad
) -> None:
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await first_page(pilot, held)
        board = app.board
        for _ in range(PER_COLUMN):  # the first card the key starts
            card = board.card
            assert card is not None
            if Action.START in card.legal(frozen()):
                break
            await press(pilot, "j")
        target = board.card
        assert target is not None and target.status is Status.OPEN
        await press(pilot, "a")
        await until(pilot, lambda: moves_settled(app))
        assert db_status(url, target.id) == "PROCESSING"
        held.release()  # its read was taken before the move: the order is OPEN in it
        await until(pilot, lambda: board.view.complete)
        await pilot.pause()
        model = board.model
        assert model.cards[target.id].status is Status.PROCESSING
        assert target.id not in {c.id for c in model.columns[Status.OPEN]}
        assert [c.id for c in model.columns[Status.PROCESSING]].count(target.id) == 1
        assert len(model.cards) == sum(len(c) for c in full_board(url, app).columns.values())


async def test_a_change_made_elsewhere_during_the_load_is_not_lost(
    url: str, held: HeldLoad
) -> None:
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await first_page(pilot, held)
        full = full_board(url, app)
        startable: Callable[[Card], bool] = lambda c: Action.START in c.legal(frozen())  # noqa: E731
        deep = next(c for c in reversed(full.columns[Status.OPEN]) if startable(c))
        top = next(c for c in full.columns[Status.OPEN][:PER_COLUMN] if startable(c))
        other = Store.open(url, migrate=False)
        try:  # another terminal, after the board's full read and before it is shown
            service = OrderService(other, Actor("CD", "counter-2"), clock=frozen)
            service.act(deep.id, Action.START)
            service.act(top.id, Action.START)
        finally:
            other.close()
        held.release()
        board = app.board
        await until(pilot, lambda: board.view.complete)
        for order in (deep, top):
            await until(pilot, lambda o=order: board.model.cards[o.id].status  # type: ignore[misc]
                        is Status.PROCESSING)  # fmt: skip
        assert top.id not in {c.id for c in board.model.columns[Status.OPEN]}


async def test_go_to_an_order_not_loaded_yet_waits_for_the_load(url: str, held: HeldLoad) -> None:
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await first_page(pilot, held)
        deep = full_board(url, app).columns[Status.OPEN][-1]
        assert deep.id not in app.board.model.cards
        await press(pilot, "g", *deep.id, "enter")
        held.release()
        board = app.board
        await until(pilot, lambda: board.card is not None and board.card.id == deep.id)
        assert not [text for _, text in app.said if "before today" in text]


def test_late_count_bisects_to_what_the_cards_say() -> None:
    """The title's late count, by bisection over the column's card order, against asking
    each card: due times before, at and after now, targets, none, a priority unknown here."""
    rng = random.Random(7)
    aims = Targets({"stat": timedelta(minutes=30), "waiter": timedelta(minutes=15)})
    cards = []
    for i in range(400):
        due = rng.choice([None, FROZEN, *(FROZEN + timedelta(minutes=m) for m in (-90, -1, 1, 60))])
        arrived = FROZEN - timedelta(minutes=rng.choice([5, 15, 29, 30, 31, 90]))
        made = Card(id=f"o{i}", name=f"#{rng.randrange(50)}", status=Status.OPEN,
                    priority=rng.choice(["stat", "waiter", "normal", "someday"]), delivery="ship",
                    patient="Ann Bell", initials="AB", items="1x Ibuprofen 400 mg", due_at=due,
                    fulfill_at=None, on_hold=False, version=1, status_since=FROZEN,
                    sync_failed=False, created_at=arrived)  # fmt: skip
        made.aim(aims)
        cards.append(made)
    cards.sort(key=lambda c: c.key)
    for now in (FROZEN, FROZEN - timedelta(minutes=1), FROZEN + timedelta(minutes=61)):
        asked = sum(1 for c in cards if c.target is not None and urgency(c, now) == "overdue")
        assert 0 < late_count(cards, now) == asked < len(cards)


def test_first_page_query_holds_each_columns_real_top(db_url: str) -> None:
    """On SQLite and PostgreSQL (names in code-point order, not a locale's): the first page
    sorted as the board sorts holds the top of every column, and the COUNTs are the
    columns' own."""
    seed_board(db_url, COUNT)
    store = Store.open(db_url, migrate=False)
    try:
        service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
        service.add_orders(o.model_copy(update={"due_at": None, "name": f"#{'aBc'[i % 3]}-{i}"})
                           for i, o in enumerate(sample_orders(COUNT, 3, FROZEN)))  # fmt: skip
        aims = Targets({"stat": timedelta(minutes=30), "waiter": timedelta(minutes=15)})
        since = day_start(FROZEN)
        statuses = [s.value for s in Status]
        page = bq.board_first_page(store, statuses, since, FROZEN, aims, 5, Card.from_row)
        rows = store.board_rows(statuses, finished_since=since)
    finally:
        store.close()
    shown = BoardModel(aims)
    shown.load(page.made)
    shown.keep_top(5)
    full = BoardModel(aims)
    full.load([Card.from_row(r, False) for r in rows])
    assert not page.complete and page.sources == {"rxscale"}
    for status in Status:
        everyone = full.columns[status]
        assert [c.id for c in shown.columns[status]] == [c.id for c in everyone[:5]], status
        late = sum(1 for c in everyone if urgency(c, FROZEN) == "overdue")
        assert page.counts.get(status.value, (0, 0)) == ((len(everyone), late) if everyone
                                                          else (0, 0))  # fmt: skip

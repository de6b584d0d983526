"""What the speed work changed must not change what anyone sees: the sync badges kept by
looking only at marked cards equal a sweep of every card, SQLite's timestamps read in one
call equal SQLAlchemy's parse, cards share their patients' strings, the streamed ``orders
--json`` is the listing it was, a first page too slow for the first frame still comes, the
footer lets go of the keys it removed, and the collector paused for the start runs again."""

from __future__ import annotations

import gc
import io
import json
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from textual.widgets import Footer

from rxfloor.core.db import Store, orders
from rxfloor.core.db import queries as bq
from rxfloor.core.db.schema import UTCDateTime
from rxfloor.core.due import Targets, promise_of
from rxfloor.core.lifecycle import Priority, Status
from rxfloor.core.models import OrderView
from rxfloor.tui.board import view as board_view
from rxfloor.tui.board.model import BoardModel, Card
from rxfloor.tui.cli.orders import json_array, write_orders_json
from tests.board_fixtures import FROZEN, make_app, seed_board, until
from tests.integration.test_orders_json import view_json

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def card(n: int, mark: datetime | bool | None) -> Card:
    """Card ``n``; ``mark``: False none, None parked, a time refused once and retried then."""
    retry = mark if isinstance(mark, datetime) else None
    return Card(id=f"o{n}", name=f"#{n}", status=Status.OPEN, priority="normal",
                delivery="pickup", patient="Ann Lee", initials="AL", items="x", due_at=None,
                fulfill_at=None, on_hold=False, version=1, status_since=T0,
                sync_failed=mark is None, sync_retry=retry)  # fmt: skip


RETRIES = st.sampled_from([T0, T0 + timedelta(minutes=5)])
MARK = st.one_of(st.just(False), st.none(), RETRIES)
IDS = st.sampled_from([f"o{n}" for n in range(12)])
MARKS = st.dictionaries(IDS, st.one_of(st.none(), RETRIES))


@settings(max_examples=150, deadline=None)
@given(
    start=st.lists(MARK, min_size=12, max_size=12),
    polls=st.lists(st.tuples(MARKS, st.one_of(st.none(), st.sets(st.integers(0, 15)))), max_size=8),
    replaced=st.lists(st.tuples(st.integers(0, 11), MARK), max_size=4),
)
def test_the_poll_on_marked_cards_equals_a_sweep_of_every_card(
    start: list[datetime | bool | None],
    polls: list[tuple[dict[str, datetime | None], set[int] | None]],
    replaced: list[tuple[int, datetime | bool | None]],
) -> None:
    """The health poll visits the marked cards and the marked orders only: after any
    sequence of polls (every card, or some ids) and fresh cards, each card's badge and the
    flipped ids are what a sweep of every card gives."""
    model, reference = BoardModel(), BoardModel()
    model.load([card(n, m) for n, m in enumerate(start)])
    reference.load([card(n, m) for n, m in enumerate(start)])
    for n, fresh in replaced:  # a fresh row (the feed) with its own mark
        model.place([card(n, fresh)])
        reference.place([card(n, fresh)])
    for marks, some in polls:
        ids = None if some is None else [f"o{n}" for n in sorted(some)]
        flipped = model.flag_failed(marks, ids)
        expected = set()
        for c in reference.cards.values():  # the sweep the poll did before
            if ids is not None and c.id not in ids:
                continue
            now = bq.sync_mark(marks, c.id)
            if (c.sync_failed, c.sync_retry) != now:
                c.sync_failed, c.sync_retry = now
                expected.add(c.id)
        assert flipped == expected
        assert {i: (c.sync_failed, c.sync_retry) for i, c in model.cards.items()} == {
            i: (c.sync_failed, c.sync_retry) for i, c in reference.cards.items()
        }


@pytest.mark.parametrize(
    "stored",
    ["2026-03-04 10:11:12.123456", "2026-03-04 10:11:12.000000", "2026-03-04 10:11:12",
     "2026-03-04T10:11:12.5", "2026-03-04"],
)  # fmt: skip
def test_sqlite_timestamps_read_as_sqlalchemy_parses_them(sqlite_url: str, stored: str) -> None:
    """One C call per value (ISO text with the UTC offset appended) gives what parsing and
    then setting the zone gave, whatever text SQLite holds."""
    seed_board(sqlite_url, 10)
    store = Store.open(sqlite_url, migrate=False)
    try:
        with store.write() as conn:  # the text as it is, no bind processing
            conn.execute(text("UPDATE orders SET status_since = :at"), {"at": stored})
        with store.read() as conn:
            got = conn.execute(select(orders.c.status_since)).scalars().first()
    finally:
        store.close()
    dialect = store.engine.dialect
    parse = UTCDateTime().impl_instance.dialect_impl(dialect).result_processor(dialect, None)
    assert parse is not None and got is not None
    expected = parse(stored)
    assert isinstance(expected, datetime)
    assert got == expected.replace(tzinfo=UTC) and got.tzinfo is UTC


def test_cards_share_their_patients_strings() -> None:
    """720 patients in a 10,000-order file: one copy of each name and initials, not one a card."""
    rows = [{"id": f"o{n}", "name": f"#{n}", "status": "OPEN", "priority": "normal",
             "delivery_type": "pickup", "patient_name": "".join(["Ann ", "Lee"]),
             "items_summary": "Amoxicillin 500 mg x 21", "due_at": None, "fulfill_at": None,
             "on_hold": False, "hold_by": None, "version": 1, "status_since": T0,
             "created_at": T0, "request_kind": None, "tracking_number": None,
             "remote_status": None, "source": "rxscale"} for n in range(2)]  # fmt: skip
    a, b = (Card.from_row(r, False) for r in rows)
    assert rows[0]["patient_name"] is not rows[1]["patient_name"]
    assert a.patient is b.patient and a.initials is b.initials == "AL"


def old_listing(store: Store, status: str | None) -> str:
    """``orders --json`` as it was: every row read, sorted in Python (by the board's rule:
    status, promised instant, priority, name, id), one string printed."""
    rows = store.board_rows([status] if status else None)
    with store.read() as conn:
        errors = bq.sync_errors_by_order(conn)
    status_rank = {s: i for i, s in enumerate(Status)}
    priority_rank = {p: p.rank for p in Priority}
    targets = Targets()
    rows = sorted(rows, key=lambda r: (status_rank[r["status"]], promise_of(r, targets).at,
                                       priority_rank[r["priority"]], r["name"],
                                       r["id"]))  # fmt: skip
    return json_array(view_json(r, errors.get(r["id"]), targets, FROZEN) for r in rows) + "\n"


@pytest.mark.parametrize("status", [None, "OPEN", "FINISHED", "CANCELLED"])
def test_streamed_orders_json_is_the_listing_it_was(
    sqlite_url: str, status: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorted by the database and written in batches: byte for byte the old listing (held,
    scheduled, undated orders of every status; batches of 7, so several and a partial one)."""
    seed_board(sqlite_url, 60)
    monkeypatch.setattr("rxfloor.tui.cli.orders._BATCH", 7)
    store = Store.open(sqlite_url, migrate=False)
    try:
        with store.write() as conn:  # orders with no due time sort by arrival
            conn.execute(update(orders).where(orders.c.name.in_(["#1003", "#1011"]))
                         .values(due_at=None))  # fmt: skip
        out = io.StringIO()
        write_orders_json(store, status, out, Targets(), FROZEN)
        assert out.getvalue() == old_listing(store, status)
        listed = json.loads(out.getvalue())
        rows = {r["id"]: r for r in store.board_rows()}
        assert listed == [
            OrderView.from_row(rows[o["id"]], sync_error=o["sync_error"]).model_dump(mode="json")
            | {key: o[key] for key in ("promised_at", "promised_by", "late")}
            for o in listed
        ]
    finally:
        store.close()


def test_an_empty_listing_is_an_empty_array(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        out = io.StringIO()
        write_orders_json(store, "OPEN", out)
    finally:
        store.close()
    assert out.getvalue() == "[]\n" == json_array([]) + "\n"


async def test_a_first_page_later_than_the_first_frame_still_comes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mount waits a moment for the first page; a database slower than that gets the
    board without cards first, and the page as a message when it comes."""
    seed_board(sqlite_url, 30)
    monkeypatch.setattr(board_view, "FIRST_PAGE_WAIT", 0)
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.board.view.loaded and app.board.view.complete)
        assert app.board.view.model.cards
        assert FROZEN  # the fixtures' clock: the board shows the seeded orders


@pytest.mark.parametrize("wait", [board_view.FIRST_PAGE_WAIT, 0])
async def test_the_collector_runs_again_once_the_board_is_shown(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, wait: float
) -> None:
    """The start runs without the cyclic collector; it is back once the first frame is
    painted, with its cards or (a slow first page) without them, and after the app ends."""
    seed_board(sqlite_url, 30)
    monkeypatch.setattr(board_view, "FIRST_PAGE_WAIT", wait)
    assert gc.isenabled()
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.board.view.loaded)
        await pilot.pause()
        assert gc.isenabled()
    assert gc.isenabled()


def test_cards_share_their_rare_facts_until_one_of_them_changes() -> None:
    """Most cards leave the rare facts (step, notes, flags, hold, bin …) at their defaults
    and share one record of them (memory at 100,000 cards); a card given one gets a record
    of its own, and no other card changes with it."""
    a, b = card(1, False), card(2, False)
    assert a.rare is b.rare
    a.fill_step = "filled"
    a.note_count = 2
    assert (a.fill_step, a.note_count) == ("filled", 2)
    assert (b.fill_step, b.note_count) == (None, 0)
    assert card(3, False).fill_step is None
    with_dob = [Card(id=f"d{n}", name=f"#{n}", status=Status.OPEN, priority="normal",
                     delivery="pickup", patient="Ann Lee", initials="AL", items="x",
                     due_at=None, fulfill_at=None, on_hold=False, version=1, status_since=T0,
                     sync_failed=False, dob_on_file=True) for n in range(2)]  # fmt: skip
    assert with_dob[0].rare is with_dob[1].rare
    with_dob[0].will_call_bin = "B12"
    assert with_dob[1].will_call_bin is None and with_dob[1].dob_on_file
    assert with_dob[0].dob_on_file and with_dob[0].will_call_bin == "B12"


@settings(max_examples=200)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))  # fmt: skip
def test_a_card_keeps_its_times_to_the_microsecond(at: datetime) -> None:
    """A card holds its times as instants (floats, half an aware datetime's memory): they
    read back as the very times it was given, and its flags and kind as given."""
    made = Card(id="o1", name="#1", status=Status.OPEN, priority="stat", delivery="ship",
                patient="Ann Lee", initials="AL", items="x", due_at=at, fulfill_at=None,
                on_hold=True, version=1, status_since=at - timedelta(microseconds=1),
                sync_failed=False, source="shopify", pending=True)  # fmt: skip
    assert made.due_at == made.target == at
    assert made.due_at is not None and made.due_at.tzinfo is UTC
    assert made.status_since == at - timedelta(microseconds=1)
    assert (made.on_hold, made.pending, made.sync_failed) == (True, True, False)
    assert (made.priority, made.delivery, made.source) == ("stat", "ship", "shopify")
    made.on_hold, made.pending, made.sync_failed, made.due_at = False, False, True, None
    assert (made.on_hold, made.pending, made.sync_failed, made.due_at) == (False, False, True, None)


async def test_the_footer_keeps_no_keys_it_removed(sqlite_url: str) -> None:
    """Each change of the keys recomposes the footer; the keys it removed go (Textual kept
    each one's watcher on the footer until its ``compact`` changed: textual#6666, ~400
    dead keys and ~3 MB after 60 presses at 100,000 cards, growing with every move)."""
    seed_board(sqlite_url, 30)
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        footer = app.board.query_one(Footer)
        await until(pilot, lambda: app.board.view.complete and bool(footer.query("*")))
        removed = [weakref.ref(key) for key in footer.query("*")]
        for _ in range(6):
            app.board.refresh_bindings()
            await pilot.pause()

        def released() -> bool:
            app.seen.clear()  # the test's own record of messages refers to the keys too
            gc.collect()
            return all(r() is None for r in removed)

        await until(pilot, released)  # a recompose may still be under way
        assert footer.query("*")


def test_cards_due_at_the_same_time_share_one_instant(sqlite_url: str) -> None:
    """Orders due at the same moment share one float (memory at 100,000 cards), and each
    card still has its own due time."""
    seed_board(sqlite_url, 30)
    store = Store.open(sqlite_url)
    try:
        with store.write() as conn:
            conn.execute(update(orders).where(orders.c.name != "#1001").values(due_at=T0))
        _, cards = bq.board_load(store, [s.value for s in Status], T0, Card.from_card_row)
    finally:
        store.close()
    same = [c for c in cards if c.name != "#1001"]
    assert len(same) > 1 and {c.due_at for c in same} == {T0}
    assert len({id(c.due) for c in same}) == 1
    assert next(c for c in cards if c.name == "#1001").due_at != T0

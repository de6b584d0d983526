"""A SQLite file replaced under a running wall and board (a restarted ``--demo`` removes its
file and makes a new one): both notice it (device / inode), read the new file, say so, and
are never left showing the old one's figures as "online"."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import make_url

from rxfloor.core.db import Store
from rxfloor.core.db.feed import FeedReopened
from rxfloor.core.lifecycle import Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from tests.board_fixtures import FROZEN, frozen, make_app, ready, seed_board, until
from tests.watch_fixtures import make_watch, shown_once


def _replace_as_the_demo_does(url: str, count: int) -> None:
    """Remove the file with its WAL files, then make a new one with ``count`` orders."""
    path = Path(make_url(url).database or "")
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    store = Store.open(url)
    OrderService(store, Actor("CD", "demo"), clock=frozen).add_orders(
        sample_orders(count, 7, FROZEN)
    )
    store.close()


def _open_count(url: str) -> int:
    store = Store.open(url, migrate=False)
    try:
        return len(store.board_rows([Status.OPEN.value]))
    finally:
        store.close()


async def test_the_wall_reads_the_new_file_and_says_so(sqlite_url: str) -> None:
    seed_board(sqlite_url, count=30)
    app = make_watch(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown_once(pilot)
        wall = app.wall
        assert wall.figures is not None
        before = wall.figures.columns["OPEN"].count
        _replace_as_the_demo_does(sqlite_url, 4)
        after = _open_count(sqlite_url)
        assert after != before
        await until(pilot, lambda: wall.reopened is not None)
        await until(pilot, lambda: wall.figures is not None
                    and wall.figures.columns["OPEN"].count == after)  # fmt: skip
        notice = wall.query_one("#wall-notice")
        assert notice.display
        assert "the database file was replaced at" in str(notice.render())
        assert wall.db_down is None and wall.error is None


async def test_the_board_reads_the_new_file_and_says_so(sqlite_url: str) -> None:
    seed_board(sqlite_url, count=30)
    app = make_app(sqlite_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        view = app.board.view
        before = len(view.model.columns[Status.OPEN])
        _replace_as_the_demo_does(sqlite_url, 4)
        after = _open_count(sqlite_url)
        assert after != before
        await until(pilot, lambda: view.reopened is not None)
        await until(pilot, lambda: len(view.model.columns[Status.OPEN]) == after)
        await until(pilot, lambda: any("the database file was replaced" in text
                                       for _, text in app.said))  # fmt: skip
        # a move now reaches the new file, not the removed one
        await pilot.press("home")
        card = view.card
        assert card is not None
        app.service.act(card.id, "start")  # type: ignore[arg-type]
        store = Store.open(sqlite_url, migrate=False)
        assert card.id in {r["id"] for r in store.board_rows([Status.PROCESSING.value])}
        store.close()


def test_a_removed_file_is_down_until_a_new_one_is_ready(sqlite_url: str) -> None:
    import threading

    from rxfloor.core.db.feed import FeedDown, change_batches

    seed_board(sqlite_url, count=10)
    store = Store.open(sqlite_url, migrate=False)
    stop = threading.Event()
    feed = change_batches(store, stop, since=store.change_cursor(), clock=frozen)
    path = Path(make_url(sqlite_url).database or "")
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    first = next(feed)
    assert isinstance(first, FeedDown) and "removed" in first.error
    _replace_as_the_demo_does(sqlite_url, 2)
    second = next(feed)
    assert isinstance(second, FeedReopened) and second.path == str(path)
    assert len(store.board_rows([Status.OPEN.value])) == _open_count(sqlite_url)
    stop.set()
    feed.close()
    store.close()

"""A board, the wall and the feed outlive their database (issue 26 §1).

Against a PostgreSQL server of the test's own (:mod:`tests.pg_server`), restarted
(``pg_ctl restart -m fast``) and killed (``kill -9`` of the postmaster) under them; on
SQLite, the file replaced. Before: the LISTEN connection's error reached nothing that caught
it and the app exited 70.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.content import Content

from rxfloor.core.db import Store
from rxfloor.core.db.feed import ChangeBatch, FeedBack, FeedDown, change_batches
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import WEBHOOKS
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.tui.board.messages import DatabaseBack, DatabaseDown
from tests import remote_fixtures
from tests.board_fixtures import frozen, make_app, ready, seed_board, until
from tests.helpers import wait_for
from tests.integration.test_sync import NO_WAIT
from tests.pg_server import PgServer, private_postgres
from tests.remote_fixtures import SandboxServer, serve_asgi
from tests.watch_fixtures import make_watch, shown_once

sandbox_server = remote_fixtures.sandbox_server


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def floor(server: PgServer) -> Iterator[str]:
    """A seeded floor database on the test's own server (one per test; the server is
    started again if a test left it down)."""
    import psycopg

    if not server.running():
        server.start()
    name = f"floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = server.url.rsplit("/", 1)[0] + f"/{name}"
    seed_board(url)
    yield url
    if not server.running():
        server.start()
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def other_terminal(url: str, name: str, action: Action) -> None:
    store = Store.open(url)
    try:
        OrderService(store, Actor("CD", "counter-2"), clock=frozen).act(name, action)
    finally:
        store.close()


def status_of(app: object, name: str) -> Status | None:
    cards = app.board.model.cards.values()  # type: ignore[attr-defined]
    return next((c.status for c in cards if c.name == name), None)


@pytest.mark.slow
async def test_the_feed_says_down_and_back_and_loses_nothing(server: PgServer, floor: str) -> None:
    store = Store.open(floor)
    stop = threading.Event()
    feed = change_batches(store, stop, since=store.change_cursor(), retry_interval=0.1)
    try:
        server.kill()
        event = await asyncio.to_thread(next, feed)
        assert isinstance(event, FeedDown)
        server.start()
        other_terminal(floor, "#1001", Action.START)  # while the feed may still be away
        events = [await asyncio.to_thread(next, feed)]
        while not isinstance(events[-1], ChangeBatch):
            events.append(await asyncio.to_thread(next, feed))
        assert isinstance(events[0], FeedBack)
        assert "po-s0-000001" in events[-1].order_ids
    finally:
        stop.set()
        feed.close()
        store.close()


@pytest.mark.slow
async def test_board_stays_up_through_a_restart_and_a_kill(server: PgServer, floor: str) -> None:
    app = make_app(floor)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        # a restart: the board notices, reconnects by itself and follows again
        await asyncio.to_thread(server.restart)
        await until(pilot, lambda: bool(app.messages(DatabaseBack)), timeout=10)
        other_terminal(floor, "#1001", Action.START)
        await until(pilot, lambda: status_of(app, "#1001") is Status.PROCESSING)

        assert len(bells) == 1  # the restart was an outage too, however short
        # a kill: the header says so in the error colour, the bell rings once, moves wait
        bells.clear()
        await asyncio.to_thread(server.kill)
        view = app.board.view
        await until(pilot, lambda: view.db_down is not None)
        await pilot.pause(0.3)
        header = str(app.board.query_one("#header").render())
        assert "database unreachable since" in header and "retrying" in header
        content = app.board.query_one("#header").render()
        assert isinstance(content, Content)
        assert any("error" in str(span.style) for span in content.spans)
        assert len(bells) == 1
        before = len(app.said)
        app.board.move(app.board.model.cards["po-s0-000004"], Action.START)
        await pilot.pause()
        assert app.said[before:] == [("error", f"start: not done, {view.down_sentence}")]
        assert status_of(app, "#1004") is Status.OPEN

        # back within 2 s of the server answering, and what changed meanwhile is read
        await asyncio.to_thread(server.start)
        other_terminal(floor, "#1005", Action.START)
        took = await until(pilot, lambda: view.db_down is None, timeout=10)
        assert took < 2.0
        await until(pilot, lambda: status_of(app, "#1005") is Status.PROCESSING)
        assert any("reachable again" in text for _s, text in app.said)
        assert len(app.messages(DatabaseDown)) >= 2
        app.board.move(app.board.model.cards["po-s0-000004"], Action.START)
        await until(pilot, lambda: status_of(app, "#1004") is Status.PROCESSING)
    assert app.return_code in (None, 0)


@pytest.mark.slow
async def test_watch_stays_up_through_a_kill(server: PgServer, floor: str) -> None:
    app = make_watch(floor)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown_once(pilot)
        await asyncio.to_thread(server.kill)
        await until(pilot, lambda: "database unreachable since" in (app.wall.error or ""))
        await asyncio.to_thread(server.start)
        await until(pilot, lambda: app.wall.error is None)
        other_terminal(floor, "#1001", Action.START)
        await until(
            pilot,
            lambda: (
                app.wall.figures is not None and app.wall.figures.columns["PROCESSING"].count == 3
            ),
        )
    assert app.return_code in (None, 0)


async def test_sqlite_file_replaced_under_the_board_is_a_sentence(sqlite_url: str) -> None:
    """The file replaced (a restore, a copy over it): the open connections would go on
    with the old one, which nobody else sees. The board says so, and a move is never lost
    in the removed file: refused in words until the board has reopened the new file
    (tests/integration/test_reopen.py), stored in the new one after."""
    seed_board(sqlite_url)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        copy = path.with_name("copy.db")
        shutil.copyfile(path, copy)
        os.replace(copy, path)
        view = app.board.view
        await until(pilot, lambda: any("was replaced" in text for _s, text in app.said))
        app.board.move(app.board.model.cards["po-s0-000004"], Action.START)

        def in_the_file() -> str:
            store = Store.open(sqlite_url, migrate=False)
            try:
                return str(OrderService(store, Actor("QA", "test")).get("#1004").status.value)
            finally:
                store.close()

        refused = lambda: any(t.startswith("start: not done") for _s, t in app.said)  # noqa: E731
        await until(pilot, lambda: refused() or in_the_file() == "PROCESSING")
        if refused():
            assert in_the_file() == "OPEN"
        else:
            assert view.reopened is not None  # stored only once the new file was read
    assert app.return_code in (None, 0)


@pytest.mark.slow
def test_sync_keeps_running_through_a_kill(
    server: PgServer, floor: str, sandbox_server: SandboxServer
) -> None:
    store = Store.open(floor)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = sandbox_server.source(rate_limit_per_s=None, timeout_s=2.0)
    background = BackgroundSync([SyncWorker(service, source, policy=NO_WAIT)], interval_s=0.2)
    try:
        with background:
            wait_for(lambda: "rxscale" in background.last)
            server.kill()
            wait_for(lambda: "rxscale" in background.db_down)
            first = background.last["rxscale"]
            server.start()
            wait_for(lambda: not background.db_down and background.last["rxscale"] is not first)
            assert all(t.is_alive() for t in background._threads)
    finally:
        store.close()


@pytest.mark.slow
def test_webhook_inbox_answers_503_while_it_cannot_store(server: PgServer, floor: str) -> None:
    from tests.e2e.test_webhook_inbox import SECRET, event, signed

    store = Store.open(floor)
    receiver = WebhookReceiver(OrderService(store, Actor("AB", "hooks")), SECRET.encode(),
                               webhooks=WEBHOOKS)  # fmt: skip
    body = event("po-s0-000001", "cancelled")
    try:
        with serve_asgi(receiver.asgi_app()) as base, httpx.Client(timeout=10) as client:
            server.kill()
            answer = client.post(base + "/hooks", content=body, headers=signed(body))
            assert answer.status_code == 503 and answer.headers["Retry-After"]
            server.start()
            answer = client.post(base + "/hooks", content=body, headers=signed(body))
            assert answer.status_code == 202
    finally:
        store.close()

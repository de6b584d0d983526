"""The wall app on a seeded database with a frozen clock, shared by the watch tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.tui.watch.app import WatchApp
from tests.board_fixtures import frozen, seed_board


@pytest.fixture(name="url")
def wall_url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The board's seeded database, with local time UTC (day start and clock fixed)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    seed_board(sqlite_url)
    yield sqlite_url
    monkeypatch.undo()
    time.tzset()


def make_watch(url: str, **kw: Any) -> WatchApp:
    settings = load_settings(database_url=url, actor="AB", station="wall",
                             pharmacy="Test pharmacy")  # fmt: skip
    return WatchApp(Store.open(url), settings, clock=kw.pop("clock", frozen), **kw)


async def shown_once(pilot: Pilot[None]) -> None:
    """Wait for the first read to be painted, then let the screen settle."""
    app = pilot.app
    assert isinstance(app, WatchApp)
    for _ in range(500):
        if app.wall.is_mounted and app.wall.figures is not None:
            break
        await asyncio.sleep(0.01)
    assert app.wall.figures is not None, "the wall never showed its figures"
    await pilot.pause()
    await pilot.pause()

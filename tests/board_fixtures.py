"""A seeded board database with a frozen clock, shared by the Pilot and snapshot tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual.pilot import Pilot

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp

FROZEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def frozen() -> datetime:
    return FROZEN


def seed_board(url: str, count: int = 30) -> None:
    """``count`` sample orders (seed 0) and a few moves so every column has cards."""
    store = Store.open(url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
    service.add_orders(sample_orders(count, 0, FROZEN))
    for name in ("#1002", "#1003", "#1006"):
        service.act(name, Action.START)
    service.act("#1006", Action.FINISH)
    service.act("#1007", Action.CANCEL, reason="Duplicate order")
    store.close()


def make_app(url: str, **settings: Any) -> BoardApp:
    store = Store.open(url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
    conf = load_settings(
        database_url=url, actor="AB", station="counter-1", pharmacy="Test pharmacy", **settings
    )
    return BoardApp(service, conf, clock=frozen, remember_theme=False)


async def ready(pilot: Pilot[None]) -> None:
    """Wait for the first load (done in a worker) and let the screen settle."""
    app = pilot.app
    assert isinstance(app, BoardApp)
    for _ in range(400):
        if app.board.loaded.is_set():
            break
        await asyncio.sleep(0.01)
    await pilot.pause()
    await pilot.pause()


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10) -> float:
    """Poll the app until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    return time.monotonic() - start

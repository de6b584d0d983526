"""The board with the demo's remote behind it: the stand-in in-process and a real sync worker.

This is what ``rxfloor --demo`` opens; the header turns online for every installed stand-in's
source (found as the demo finds them, so a new source's stand-in needs no edit here) and the
remotes' orders (RxScale's named from #5001) arrive on the board without a keypress.
"""

from __future__ import annotations

from functools import partial

import pytest

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.core.demo import start_demo_sync
from rxfloor.core.lifecycle import Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.standin import names
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.header import health_line
from tests.board_fixtures import press, ready, until

#: none is configured: the header names the sources as the database has news of them, by name
ONLINE = " · ".join(f"{name} online" for name in sorted(names()))


@pytest.mark.parametrize(
    ("size", "header"),
    [
        ((160, 48), ONLINE),
        ((80, 24), f"{len(names())} sources online"),  # every part does not fit: counted
    ],
)
async def test_demo_board_goes_online_and_shows_remote_orders(
    sqlite_url: str, size: tuple[int, int], header: str
) -> None:
    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("DM", "demo"))
    background = partial(
        start_demo_sync,
        settings,
        orders={"rxscale": 5},
        every_s=0.2,
        cancel_chance=0.0,
        interval_s=0.2,
    )
    app = BoardApp(service, settings, background=background, remember_theme=False)
    try:
        async with app.run_test(size=size) as pilot:
            await ready(pilot)

            def remote_cards() -> list[str]:
                return [c.name for c in app.board.model.columns[Status.OPEN] if c.name >= "#5001"]

            await until(pilot, lambda: len(remote_cards()) >= 5, timeout=20)

            def online() -> bool:  # every stand-in, each with its own health
                text = health_line(app.board.view.health, app.board.view.sources).plain
                return text == ONLINE

            await until(pilot, online, timeout=20)
            app.board.view.refresh_header()
            await pilot.pause()
            shown = str(app.board.query_one("#header").render())
            assert shown.endswith(f"│ {header}"), shown
            for source in ("shopify", "photon", "konnektive"):
                cards = [c for c in app.board.model.columns[Status.OPEN]
                         if c.id.startswith(f"{source}:")]  # fmt: skip
                assert cards, f"the {source} stand-in's orders are on the board too"
            await press(pilot, "q", "q")  # the sync runs here: q asks, q again quits
    finally:
        store.close()

"""The board with the demo's remote behind it: the stand-in in-process and a real sync worker.

This is what ``rxfloor --demo`` opens; the header turns online and the remote's orders
(named from #5001) arrive on the board without a keypress.
"""

from __future__ import annotations

from functools import partial

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.core.demo import start_demo_sync
from rxfloor.core.lifecycle import Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.header import health_line
from tests.board_fixtures import press, ready, until


async def test_demo_board_goes_online_and_shows_remote_orders(sqlite_url: str) -> None:
    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("DM", "demo"))
    background = partial(
        start_demo_sync, settings, remote_orders=5, every_s=0.2, cancel_chance=0.0, interval_s=0.2
    )
    app = BoardApp(service, settings, background=background, remember_theme=False)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await ready(pilot)

            def remote_cards() -> list[str]:
                return [c.name for c in app.board.model.columns[Status.OPEN] if c.name >= "#5001"]

            await until(pilot, lambda: len(remote_cards()) >= 5, timeout=20)

            def online() -> bool:  # both stand-ins, each with its own health
                text = health_line(app.board.view.health, app.board.view.sources).plain
                return "rxscale online" in text and "shopify online" in text

            await until(pilot, online)
            shop = [c for c in app.board.model.columns[Status.OPEN] if c.id.startswith("shopify:")]
            assert shop, "the Shopify stand-in's orders are on the board too"
            await press(pilot, "q")
    finally:
        store.close()

"""The board's picture in the docs (``docs/pages/images/board.svg``), made from the real demo.

``uv run python docs/screenshot.py [OUT.svg]``: what ``rxfloor --demo`` opens (a fresh demo
database in a temporary folder, the same seeding, every installed stand-in running in-process
with its sync worker), driven by Textual's Pilot at 160x48 until every source is online, then
saved with ``App.save_screenshot``. Nothing in the product imports this file.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from rxfloor.core.config import load_settings
from rxfloor.core.demo import start_demo_sync
from rxfloor.core.people import People
from rxfloor.core.service import open_service
from rxfloor.core.sources.standin import names
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.header import health_line
from rxfloor.tui.cli.board import demo_floor, seed_demo

OUT = Path(__file__).resolve().parent / "pages" / "images" / "board.svg"
SIZE = (160, 48)


async def shoot(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        settings = load_settings(database_url=url, actor="AB", station="counter-1")
        demo_people = demo_floor(settings)
        service = open_service(settings, "board")
        store = service.store
        seed_demo(service)
        if demo_people:
            People(store, "demo", settings.station).set_pin("AB", "2468")
        app = BoardApp(
            service,
            settings,
            background=partial(start_demo_sync, settings),
            remember_theme=False,
        )
        online = " · ".join(f"{name} online" for name in sorted(names()))
        try:
            async with app.run_test(size=SIZE) as pilot:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    view = app.board.view
                    if view.complete and health_line(view.health, view.sources).plain == online:
                        break
                    await pilot.pause(0.1)
                await pilot.pause(3)  # a few remote orders arrive, as a person would see it
                app.board.view.refresh_header()
                await pilot.pause()
                app.save_screenshot(filename=out.name, path=str(out.parent))
        finally:
            store.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0]).resolve() if argv else OUT
    asyncio.run(shoot(out))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

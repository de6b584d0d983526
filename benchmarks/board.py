"""Board benchmark: the real app, headless, on a real SQLite file of N sample orders.

    uv run python -m benchmarks.board --cards 100 10000

One JSON line per size: first paint (app start to the first frame with cards), a move key to
repaint (the app's own handler plus re-rendering the visible lines, Pilot overhead excluded),
a burst of 1,000 external updates applied in one batch, and the process's resident memory.
Figures, not assertions: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import update
from textual import events
from textual.message import Message

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store, orders
from rxfloor.core.db import queries as bq
from rxfloor.core.lifecycle import Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.messages import BoardLoaded
from rxfloor.tui.board.screen import BoardScreen


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def repaint(board: BoardScreen) -> None:
    """Render what the terminal would show of every visible column (cache hits are cheap)."""
    for col in board.query(ColumnView):
        if col.display:
            col.render_lines(col.size.region)


def _pending(board: BoardScreen, card_id: str) -> bool:
    card = board.model.cards.get(card_id)
    return card is not None and card.pending


async def measure(cards: int, moves: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        store = Store.open(url)
        service = OrderService(store, Actor("BM", "bench"))
        service.add_orders(sample_orders(cards, 0, service.clock()))
        app = BoardApp(service, load_settings(database_url=url), remember_theme=False)
        marks: dict[str, float] = {}

        def observe(message: Message) -> None:
            """The board's first resume (it is mounted) and its first load, as dispatched."""
            if isinstance(message, events.ScreenResume | BoardLoaded):
                marks.setdefault(type(message).__name__, time.perf_counter())

        start = time.perf_counter()
        async with app.run_test(size=(200, 50), message_hook=observe) as pilot:
            board = app.board
            while not (board.is_mounted and board.view.loaded):
                await asyncio.sleep(0.002)
            painted = time.perf_counter()
            await pilot.pause()
            first_paint = (time.perf_counter() - start) * 1000
            load_ms = (painted - marks.get("ScreenResume", start)) * 1000

            timings = []
            for _ in range(moves):
                card = board.card
                if card is None or card.status is not Status.OPEN:
                    break
                t = time.perf_counter()
                board.action_advance()
                repaint(board)
                timings.append((time.perf_counter() - t) * 1000)
                while _pending(board, card.id):  # until the service's answer is shown
                    await asyncio.sleep(0.001)
                await pilot.pause()
            timings.sort()

            other = Store.open(url, migrate=False)
            ids = [r["id"] for r in other.board_rows(["OPEN"])][:1000]
            with other.write() as conn:  # 1,000 changes in one go, as a sync pull would write
                conn.execute(
                    update(orders)
                    .where(orders.c.id.in_(ids))
                    .values(version=orders.c.version + 1, priority="stat")
                )
                other.record_change(conn, ids)
            rows, failed = bq.rows_for(other, ids)
            t = time.perf_counter()
            board.view.show_rows(rows, failed)  # what one ChangesArrived batch does
            repaint(board)
            burst = (time.perf_counter() - t) * 1000
            other.close()
            memory = rss_mb()
        store.close()
    return {
        "cards": cards,
        "first_paint_ms": round(first_paint, 1),
        "mount_to_cards_ms": round(load_ms, 1),
        "move_ms_p50": round(statistics.median(timings), 2) if timings else None,
        "move_ms_p95": round(timings[int(len(timings) * 0.95) - 1], 2) if timings else None,
        "burst_1000_ms": round(burst, 1),
        "rss_mb": round(memory, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cards", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--moves", type=int, default=40)
    args = parser.parse_args(argv)
    for n in args.cards:
        print(json.dumps(asyncio.run(measure(n, args.moves))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

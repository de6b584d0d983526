"""Board benchmark: the real app against a trivial Textual app, measured in the same run.

    uv run python -m benchmarks.board [--cards 100 10000 100000] [--presses 20]

Per size, in a fresh process (so resident memory is that size's own), on a real SQLite file
of N sample orders, one JSON line with:

* ``first_paint_ms``: ``run_test`` entered until the board says every card is loaded (its
  own completion signal: Pilot's idle alone once returned with 18 cards of 100,000) and a
  ``pilot.pause()`` returns, and the floor's ``run_test`` + ``pause()`` (a Static and a
  Footer), with the ratio (target ≤ 2x at 10,000, ≤ 4x at 100,000);
* ``first_frame_ms``: ``run_test`` entered until the app hands over its first frame with
  cards (the first page of each column, titles counted), and the floor until its first
  frame, with the ratio: what a person sees, whatever still runs behind it;
* ``complete_ms``: until the completion signal alone; the figures below are taken after it;
* ``press_pause_ms_p50``: Pilot ``press("a")`` + ``pause()`` until the move's commit is
  shown, real moves only (the card left OPEN; ``moves`` of them), and the floor's press +
  pause on a key that updates its Static (target ≤ 1.5x). The board's repeat guard refuses
  a key right after data moved the cursor ("press a again"): such presses are counted in
  ``refused_presses``, not timed; a card the lifecycle would refuse to start (on hold, a
  cancellation asked) is passed over with ``j``, untimed (``skipped_cards``);
* ``key_to_repaint_ms_p50``: the app's own handler plus re-rendering the visible lines
  (Pilot excluded; target ≤ 20 ms at 10,000);
* ``burst_1000_ms``: 1,000 updates written by another process, read with the board's own
  store and applied in one batch;
* ``rss_mb``: the process's resident memory with the board up (target ≤ 150 MB at 100,000);
  the floor runs in a process of its own, so none of it is the floor's.

With ``--kanban-tui PYTHON`` (an interpreter with kanban-tui installed, e.g. ``uv venv
/tmp/kt && uv pip install -p /tmp/kt kanban-tui``), the same figures of kanban-tui with 100
tasks, side by side in the same run, against the trivial app run by that interpreter (its
own Textual): its first frame with task cards, run_test + pause, ``L`` (a task to the next
column) + pause, real moves only, and its resident memory.

Then, once, ``usable_from_start``: ``rxfloor`` started under a pseudo-terminal on a
10,000-order file, from process start until the first frame whose OPEN title counts cards
(``OPEN 82 · 20 late``), against the trivial app started the same way until its first frame
(target ≤ 2x).
Figures, not assertions: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The floor: what any Textual app costs (the same size, a Static, a Footer, one binding).
TRIVIAL_APP = """
from textual.app import App
from textual.widgets import Footer, Static

class Trivial(App[None]):
    BINDINGS = [("a", "bump", "Bump"), ("q", "quit", "Quit")]
    count = 0

    def compose(self):
        yield Static("READY 0", id="s")
        yield Footer()

    def action_bump(self) -> None:
        self.count += 1
        self.query_one("#s", Static).update(f"READY {self.count}")
"""


#: Seeds a file in a child process: the seeding's own garbage is not the board's memory.
SEED = """
import sys
from rxfloor.core.db import Store
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService

store = Store.open(sys.argv[1])
service = OrderService(store, Actor("BM", "bench"))
service.add_orders(sample_orders(int(sys.argv[2]), 0, service.clock()))
store.close()
"""


#: 1,000 changes in one go from another process, as a sync pull writes them; prints their ids.
BURST = """
import json, sys
from sqlalchemy import select, update
from rxfloor.core.db import Store, orders

store = Store.open(sys.argv[1], migrate=False)
with store.read() as conn:
    open_ids = select(orders.c.id).where(orders.c.status == "OPEN").limit(1000)
    ids = list(conn.execute(open_ids).scalars())
with store.write() as conn:
    conn.execute(update(orders).where(orders.c.id.in_(ids))
                 .values(version=orders.c.version + 1, priority="stat"))
    store.record_change(conn, ids)
store.close()
print(json.dumps(ids))
"""


#: kanban-tui with N tasks in its first column, in its own interpreter: prints one JSON line
#: (first frame with task cards, run_test + pause, ``L`` + pause of real moves, RSS).
KANBAN_TUI = """
import asyncio, json, statistics, sys, tempfile, time
from pathlib import Path

async def main(cards, presses):
    from kanban_tui.app import KanbanTui
    from kanban_tui.backends.sqlite.database import init_first_board
    from kanban_tui.widgets.task_card import TaskCard
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        config, db = f"{tmp}/config.toml", f"{tmp}/db.sqlite"
        app = KanbanTui(config_path=config, database_path=db)
        init_first_board(database=db)
        for i in range(cards):
            app.backend.create_new_task(title=f"Task {i}", description="x", column=1)
        app = KanbanTui(config_path=config, database_path=db)
        seen = []
        display = app._display

        def noted(screen, renderable):
            display(screen, renderable)
            if renderable is not None and not seen and app.screen.query(TaskCard):
                seen.append(time.perf_counter())

        app._display = noted
        start = time.perf_counter()
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.pause()
            paint = (time.perf_counter() - start) * 1000
            frame = (seen[0] - start) * 1000
            times, refused = [], 0
            for _ in range(presses * 3):
                if len(times) == presses:
                    break
                ready = [c for c in app.screen.query(TaskCard) if c.task_.column == 1]
                if not ready:
                    break
                card = ready[0]
                card.focus()
                await pilot.pause()
                task_id = card.task_.task_id
                t = time.perf_counter()
                await pilot.press("L")
                await pilot.pause()
                moved = [c for c in app.screen.query(TaskCard) if c.task_.task_id == task_id]
                if moved and moved[0].task_.column != 1:
                    times.append((time.perf_counter() - t) * 1000)
                else:
                    refused += 1
            rss = next(int(line.split()[1]) / 1024 for line in
                       Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
    print(json.dumps({"first_frame_ms": frame, "first_paint_ms": paint,
                      "press_pause_ms_p50": statistics.median(times) if times else None,
                      "moves": len(times), "refused_presses": refused, "rss_mb": rss}))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def kanban_tui(python: str, cards: int, presses: int) -> dict[str, Any]:
    """kanban-tui's figures with ``cards`` tasks, and the trivial app's under the same
    interpreter (its own Textual) for the ratios."""
    root = Path(__file__).resolve().parent.parent
    floor = [python, "-m", "benchmarks.board", "--floor", "--presses", str(presses)]
    out = subprocess.run(floor, check=True, capture_output=True, text=True, cwd=root).stdout
    floor_frame, floor_paint, floor_press = (float(x) for x in json.loads(out.splitlines()[-1]))
    cmd = [python, "-c", KANBAN_TUI, str(cards), str(presses)]
    kt = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                   cwd=root).stdout.splitlines()[-1])  # fmt: skip
    version = subprocess.run([python, "-c", "import importlib.metadata as m; "
                              "print(m.version('kanban-tui'), m.version('textual'))"],
                             check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    out_: dict[str, Any] = {"kanban_tui": version[0], "textual": version[1], "cards": cards}
    out_["first_frame_ms"] = round(kt["first_frame_ms"], 1)
    out_["floor_first_frame_ms"] = round(floor_frame, 1)
    out_["first_frame_ratio"] = round(kt["first_frame_ms"] / floor_frame, 2)
    out_["first_paint_ms"] = round(kt["first_paint_ms"], 1)
    out_["floor_first_paint_ms"] = round(floor_paint, 1)
    out_["first_paint_ratio"] = round(kt["first_paint_ms"] / floor_paint, 2)
    if kt["press_pause_ms_p50"] is not None:
        out_["press_pause_ms_p50"] = round(kt["press_pause_ms_p50"], 1)
        out_["floor_press_pause_ms_p50"] = round(floor_press, 1)
        out_["press_pause_ratio"] = round(kt["press_pause_ms_p50"] / floor_press, 2)
    out_["moves"] = kt["moves"]
    out_["refused_presses"] = kt["refused_presses"]
    out_["rss_mb"] = round(kt["rss_mb"], 1)
    return out_


def seed(url: str, cards: int) -> None:
    subprocess.run([sys.executable, "-c", SEED, url, str(cards)], check=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _trivial_app() -> Any:
    namespace: dict[str, Any] = {}
    exec(TRIVIAL_APP, namespace)
    return namespace["Trivial"]()


def frame_clock(app: Any, shows: Callable[[], bool]) -> list[float]:
    """Notes when the app first hands the terminal a frame while ``shows()`` holds (the
    list gets that ``perf_counter``): a frame painted, whatever else is still running (a
    ``pilot.pause`` waits until the process is idle, background load included)."""
    seen: list[float] = []
    display = app._display

    def noted(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and not seen and shows():
            seen.append(time.perf_counter())

    app._display = noted
    return seen


async def floor_figures(presses: int) -> tuple[float, float, float]:
    """(first frame ms, first paint ms, press + pause ms p50) of the trivial app."""
    app = _trivial_app()
    painted = frame_clock(app, lambda: True)
    start = time.perf_counter()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        first = (time.perf_counter() - start) * 1000
        frame = (painted[0] - start) * 1000
        times = []
        for _ in range(presses):
            t = time.perf_counter()
            await pilot.press("a")
            await pilot.pause()
            times.append((time.perf_counter() - t) * 1000)
    return frame, first, statistics.median(times)


async def board_figures(cards: int, presses: int) -> dict[str, Any]:
    from rxfloor.core.config import load_settings
    from rxfloor.core.db import Store
    from rxfloor.core.db import queries as bq
    from rxfloor.core.lifecycle import Status
    from rxfloor.core.service import Actor, OrderService
    from rxfloor.tui.app import BoardApp
    from rxfloor.tui.board.column import ColumnView
    from rxfloor.tui.board.screen import BoardScreen

    def repaint(board: BoardScreen) -> None:
        """Render what the terminal would show of every visible column."""
        for col in board.query(ColumnView):
            if col.display:
                col.render_lines(col.size.region)

    def pending(board: BoardScreen, card_id: str) -> bool:
        card = board.model.cards.get(card_id)
        return card is not None and card.pending

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        seed(url, cards)
        store = Store.open(url, migrate=False)
        service = OrderService(store, Actor("BM", "bench"))
        app = BoardApp(service, load_settings(database_url=url), remember_theme=False)
        painted = frame_clock(app, lambda: app.board.is_mounted and app.board.view.loaded)
        start = time.perf_counter()
        async with app.run_test(size=(200, 50)) as pilot:
            board = app.board
            while not painted:  # loaded, and a frame handed over since (not only loaded)
                await asyncio.sleep(0.002)
            first_frame = (painted[0] - start) * 1000
            # the load's own completion signal (every card read and merged), then the frame
            # painted after it: Pilot's pause() alone returned once with 18 cards at 100,000
            while not board.view.complete:
                await asyncio.sleep(0.002)
            complete = (time.perf_counter() - start) * 1000
            await pilot.pause()
            first_paint = (time.perf_counter() - start) * 1000

            press_pause: list[float] = []  # real moves only: the card left OPEN
            refused = 0  # presses the repeat guard refused (the cursor had just moved)
            skipped = 0  # cards the lifecycle would refuse to start (held, cancel asked)
            for _ in range(presses * 3):
                if len(press_pause) == presses:
                    break
                card = board.card
                if card is None or card.status is not Status.OPEN:
                    break
                if _refused_start(card):  # to the next card, untimed (10k: 8 moves, then
                    await pilot.press("j")  # every press met a held card)
                    await pilot.pause()
                    skipped += 1
                    continue
                t = time.perf_counter()
                await pilot.press("a")
                while pending(board, card.id):  # until the service's answer is shown
                    await asyncio.sleep(0.001)
                await pilot.pause()
                if card.status is Status.OPEN:
                    refused += 1
                else:
                    press_pause.append((time.perf_counter() - t) * 1000)

            own: list[float] = []
            for _ in range(presses * 2):
                if len(own) == presses:
                    break
                card = board.card
                if card is None or card.status is not Status.OPEN:
                    break
                if _refused_start(card):
                    await pilot.press("j")
                    await pilot.pause()
                    continue
                t = time.perf_counter()
                board.action_advance()
                repaint(board)
                own.append((time.perf_counter() - t) * 1000)
                while pending(board, card.id):
                    await asyncio.sleep(0.001)
                await pilot.pause()

            # 1,000 changes written by another process (a sync pull), read as the feed reads
            # them, with the board's own store: a second store here was ~15 MB of the RSS
            cmd = [sys.executable, "-c", BURST, url]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows, failed = bq.rows_for(store, json.loads(out.splitlines()[-1]))
            t = time.perf_counter()
            board.view.show_rows(rows, failed)  # what one ChangesArrived batch does
            repaint(board)
            burst = (time.perf_counter() - t) * 1000
            memory = rss_mb()
        store.close()
    return {
        "first_paint_ms": first_paint,
        "first_frame_ms": first_frame,
        "complete_ms": complete,
        "press_pause_ms_p50": statistics.median(press_pause) if press_pause else None,
        "moves": len(press_pause),
        "refused_presses": refused,
        "skipped_cards": skipped,
        "key_to_repaint_ms_p50": statistics.median(own) if own else None,
        "burst_1000_ms": burst,
        "rss_mb": memory,
    }


def _refused_start(card: Any) -> bool:
    """The lifecycle refuses to start this card (on hold, or the merchant asked to cancel):
    a press on it times a refusal, not a move."""
    return bool(card.on_hold or card.cancel_requested)


def floor_in_child(presses: int) -> tuple[float, float, float]:
    """The floor's figures from a process of its own: run in the board's process, what the
    trivial app leaves behind (~9 MB) was counted in the board's resident memory."""
    cmd = [sys.executable, "-m", "benchmarks.board", "--floor", "--presses", str(presses)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    frame, paint, press = json.loads(out.splitlines()[-1])
    return float(frame), float(paint), float(press)


async def one_size(cards: int, presses: int) -> dict[str, Any]:
    floor_frame, floor_paint, floor_press = floor_in_child(presses)
    board = await board_figures(cards, presses)
    out: dict[str, Any] = {"cards": cards}
    out["first_paint_ms"] = round(board["first_paint_ms"], 1)
    out["floor_first_paint_ms"] = round(floor_paint, 1)
    out["first_paint_ratio"] = round(board["first_paint_ms"] / floor_paint, 2)
    out["first_frame_ms"] = round(board["first_frame_ms"], 1)
    out["floor_first_frame_ms"] = round(floor_frame, 1)
    out["first_frame_ratio"] = round(board["first_frame_ms"] / floor_frame, 2)
    out["complete_ms"] = round(board["complete_ms"], 1)
    if board["press_pause_ms_p50"] is not None:
        out["press_pause_ms_p50"] = round(board["press_pause_ms_p50"], 1)
        out["floor_press_pause_ms_p50"] = round(floor_press, 1)
        out["press_pause_ratio"] = round(board["press_pause_ms_p50"] / floor_press, 2)
    out["moves"] = board["moves"]
    out["refused_presses"] = board["refused_presses"]
    out["skipped_cards"] = board["skipped_cards"]
    if board["key_to_repaint_ms_p50"] is not None:
        out["key_to_repaint_ms_p50"] = round(board["key_to_repaint_ms_p50"], 2)
    out["burst_1000_ms"] = round(board["burst_1000_ms"], 1)
    out["rss_mb"] = round(board["rss_mb"], 1)
    return out


def _until_on_screen(cmd: list[str], marker: bytes, env: dict[str, str], timeout: float) -> float:
    """Seconds from spawning ``cmd`` on a 160x48 pseudo-terminal until it writes ``marker``
    (a regular expression)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        while not re.search(marker, seen):
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{marker!r} not shown within {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen = seen[-4096:] + os.read(master, 65536)
                except OSError:
                    break
        return time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)


def usable_from_start(cards: int, runs: int) -> dict[str, Any]:
    """Process start to the first frame with cards, for ``rxfloor`` and the trivial app."""
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        seed(url, cards)
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="48")
        env.update(XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)  # no remembered theme, no config
        env.pop("RXFLOOR_API_URL", None)
        board = [str(bin_dir / "rxfloor"), "--database", url]
        rx = [_until_on_screen(board, rb"OPEN \(?[1-9]", env, 60) for _ in range(runs)]
        floor = [_until_on_screen([sys.executable, "-c", TRIVIAL_APP + "\nTrivial().run()\n"],
                                  b"READY", env, 60) for _ in range(runs)]  # fmt: skip
    rx_ms, floor_ms = statistics.median(rx) * 1000, statistics.median(floor) * 1000
    return {
        "usable_from_start": cards,
        "rxfloor_ms_median": round(rx_ms, 1),
        "floor_ms_median": round(floor_ms, 1),
        "ratio": round(rx_ms / floor_ms, 2),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cards", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--start-runs", type=int, default=5, help="runs of the pty start (0: skip)")
    parser.add_argument("--kanban-tui", metavar="PYTHON",
                        help="also kanban-tui at 100 tasks, run by this interpreter")  # fmt: skip
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one size, this process
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)  # child: the floor
    args = parser.parse_args(argv)
    if args.floor:
        print(json.dumps(asyncio.run(floor_figures(args.presses))), flush=True)
        return 0
    if args.one is not None:
        print(json.dumps(asyncio.run(one_size(args.one, args.presses))), flush=True)
        return 0
    for n in args.cards:  # a fresh process per size: its memory is that size's own
        cmd = [sys.executable, "-m", "benchmarks.board", "--one", str(n),
               "--presses", str(args.presses)]  # fmt: skip
        subprocess.run(cmd, check=True)
    if args.kanban_tui:
        print(json.dumps(kanban_tui(args.kanban_tui, 100, args.presses)), flush=True)
    if args.start_runs:
        print(json.dumps(usable_from_start(10_000, args.start_runs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

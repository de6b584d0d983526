"""The chain screen: one line per pharmacy, read every few seconds in a thread (a slow or
unreachable pharmacy never freezes the screen); ``q`` quits. Nothing here writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from rxfloor.core.chain import Chain, PharmacyLine
from rxfloor.core.db.schema import utcnow
from rxfloor.tui.themes import DEFAULT_THEME, register_themes


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    minutes = int((now - then).total_seconds() // 60)
    return "just now" if minutes < 1 else f"{minutes} min ago"


def health(line: PharmacyLine, now: datetime) -> Text:
    """The sync health cell: offline (since when) in the error colour, queued / failed."""
    if line.online is None:
        words = Text("never synced here", style="dim")
    elif line.online:
        words = Text(f"online · synced {_ago(now, line.last_ok_at)}")
    else:
        since = line.offline_since.astimezone().strftime("%H:%M") if line.offline_since else "?"
        words = Text(f"OFFLINE since {since}", style="bold red")
    if line.queued:
        words.append(f" · {line.queued} queued")
    return words


def table(lines: list[PharmacyLine], now: datetime) -> Table:
    t = Table(expand=True, header_style="bold")
    for name, justify in (
        ("pharmacy", "left"),
        ("open", "right"),
        ("processing", "right"),
        ("late", "right"),
        ("on hold", "right"),
        ("exceptions", "right"),
        ("sync", "left"),
    ):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for line in lines:
        if line.error is not None:
            t.add_row(line.name, Text(f"unreachable: {line.error}", style="bold red"))
            continue
        late = Text(str(line.late), style="bold red" if line.late else "")
        exc = Text(str(line.exceptions), style="bold yellow" if line.exceptions else "")
        t.add_row(
            line.name,
            str(line.open),
            str(line.processing),
            late,
            str(line.on_hold),
            exc,
            health(line, now),
        )
    return t


class ChainApp(App[None]):
    TITLE = "rxfloor chain"
    AUTO_FOCUS = None
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(
        self, chain: Chain, *, every: float = 2.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__()
        self.chain = chain
        self.every = every
        self.clock = clock
        self.lines: list[PharmacyLine] = []
        self._stop = threading.Event()
        register_themes(self)
        self.theme = DEFAULT_THEME

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        yield Static("reading…", id="chain")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{len(self.chain.chain)} pharmacies"
        self._read()

    @work(thread=True, exclusive=True)
    def _read(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            lines = self.chain.snapshot(now)
            self.call_from_thread(self._show, lines, now)
            self._stop.wait(self.every)

    def _show(self, lines: list[PharmacyLine], now: datetime) -> None:
        self.lines = lines
        self.query_one("#chain", Static).update(table(lines, now))

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit()

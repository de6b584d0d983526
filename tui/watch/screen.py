"""The wall screen: read-only, live, legible from across the room.

It reads the wall's figures (:func:`rxfloor.core.db.queries.wall_figures`) in a thread
after every batch of the change feed (the board's feed: a move anywhere shows at once) and
once a second (the clock, times waited, late counts and sync health move on by
themselves). Reads carry a sequence number: an older read finishing late never paints
over a newer one.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from rxfloor.core import sources
from rxfloor.core.config import Settings
from rxfloor.core.db import Store, StoreError
from rxfloor.core.db import queries as bq
from rxfloor.core.db.feed import FeedBack, FeedDown, change_batches
from rxfloor.core.due import Targets
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.header import any_stale, down_sentence, health_text, stale_after_s
from rxfloor.tui.board.view import day_start
from rxfloor.tui.watch.widgets import Banner, ColumnPanel, ticker_text, urgent_text, urgent_title

REFRESH_INTERVAL = 1.0


class FiguresRead(Message):
    """One read of the wall's figures; ``seq`` orders the reads."""

    def __init__(self, seq: int, figures: bq.WallFigures) -> None:
        super().__init__()
        self.seq = seq
        self.figures = figures


class ReadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class Unreachable(Message):
    """The database stopped answering at ``since`` (None: it answers again)."""

    def __init__(self, since: datetime | None, error: str = "") -> None:
        super().__init__()
        self.since = since
        self.error = error


class WatchScreen(Screen[None]):
    """Big counts per column, the stat / waiter queue, the last moves, alerts and health."""

    AUTO_FOCUS = None

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sources = sources.configured(settings)  # in the health even before they ran
        self.figures: bq.WallFigures | None = None
        self.error: str | None = None
        self._seq = itertools.count(1)
        self._shown = 0
        self._stop = threading.Event()
        self.db_down: datetime | None = None  # since when the database does not answer

    def compose(self) -> ComposeResult:
        with Horizontal(id="wall-header"):
            yield Static(visible(f"{self.settings.pharmacy} · wall"), id="wall-title",
                         markup=False)  # fmt: skip
            yield Static("", id="wall-clock", markup=False)
            yield Static("", id="wall-health", markup=False)
        yield Banner()
        with Horizontal(id="wall-columns"):
            yield ColumnPanel("OPEN", side_label="late", id="panel-open")
            yield ColumnPanel("PROCESSING", side_label="late", id="panel-processing")
            yield ColumnPanel("FINISHED today", side_label="last hour", id="panel-finished")
        with Horizontal(id="wall-lists"):
            with Vertical(id="wall-urgent", classes="list"):
                yield Static("", id="urgent-body", markup=False)
            with Vertical(id="wall-ticker", classes="list"):
                yield Static("", id="ticker-body", markup=False)

    def on_mount(self) -> None:
        self.query_one("#wall-ticker").border_title = "LAST MOVES"
        self.query_one("#wall-urgent").border_title = "STAT · WAITER"
        self.query_one(Banner).display = False
        self._clock()
        self.set_interval(REFRESH_INTERVAL, self._tick)
        self._start()

    def on_unmount(self) -> None:
        self._stop.set()

    def on_resize(self) -> None:
        self.set_class(self.size.height >= 40, "-roomy")  # room for a taller alert banner

    # ------------------------------------------------------------- reading
    def _read(self) -> FiguresRead:
        """Read the figures now (in a worker thread)."""
        seq = next(self._seq)
        now = self.clock()
        with self.store.read() as conn:
            figures = bq.wall_figures(conn, now, day_start(now), sources=self.sources,
                                      targets=Targets.from_settings(self.settings))  # fmt: skip
        return FiguresRead(seq, figures)

    @work(thread=True, group="feed")
    def _start(self) -> None:
        """First read, then one read per batch of the change feed, until the screen goes."""
        try:
            cursor = self.store.change_cursor()  # before the first read: nothing is missed
            self.post_message(self._read())
            for event in change_batches(self.store, self._stop, since=cursor, clock=self.clock):
                if isinstance(event, FeedDown):
                    self.post_message(Unreachable(event.since, event.error))
                    continue
                if isinstance(event, FeedBack):
                    self.post_message(Unreachable(None))
                with contextlib.suppress(StoreError):  # the feed notices, and says so
                    self.post_message(self._read())
        except StoreError as exc:
            self.post_message(ReadFailed(f"live updates stopped: {exc}"))

    @work(thread=True, group="tick", exclusive=True)
    def _refresh(self) -> None:
        try:
            self.post_message(self._read())
        except StoreError as exc:
            self.post_message(ReadFailed(str(exc)))

    def _tick(self) -> None:
        self._clock()
        self._refresh()

    # ------------------------------------------------------------ painting
    def _clock(self) -> None:
        self.query_one("#wall-clock", Static).update(self.clock().astimezone().strftime("%H:%M:%S"))

    @on(Unreachable)
    def _unreachable(self, message: Unreachable) -> None:
        if message.since is None:
            self.db_down = None
            self._refresh()  # the figures, read again: the error goes when they are shown
            return
        if self.db_down is None and self.settings.bell:
            self.app.bell()  # once: the health line keeps saying it
        self.db_down = message.since
        self._read_failed(ReadFailed(down_sentence(message.since)))

    @on(ReadFailed)
    def _read_failed(self, message: ReadFailed) -> None:
        if self.db_down is not None:  # the sentence that says it all stays
            message = ReadFailed(down_sentence(self.db_down))
        self.error = message.error
        health = self.query_one("#wall-health", Static)
        health.update(shown(message.error))
        health.set_class(True, "-bad")

    @on(FiguresRead)
    def _figures_read(self, message: FiguresRead) -> None:
        if message.seq <= self._shown:
            return  # an older read that finished after a newer one
        self._shown = message.seq
        self.error = None
        self.paint(message.figures)

    def paint(self, figures: bq.WallFigures) -> None:
        self.figures = figures
        now = figures.now
        self.query_one("#panel-open", ColumnPanel).show_column(figures.columns["OPEN"], now)
        self.query_one("#panel-processing", ColumnPanel).show_column(
            figures.columns["PROCESSING"], now
        )
        finished = self.query_one("#panel-finished", ColumnPanel)
        cancelled = f"{figures.cancelled_today} cancelled today"
        finished.show(figures.finished_today, figures.finished_last_hour,
                      Text(cancelled, no_wrap=True), side_alarm=False)  # fmt: skip
        urgent = self.query_one("#wall-urgent")
        urgent.border_title = urgent_title(figures.urgent_counts)
        urgent.set_class(bool(figures.urgent), "-busy")
        in_play = {*figures.health, *(w.source for w in figures.urgent),
                   *(m.order_source for m in figures.moves)}  # fmt: skip
        several = len(in_play) > 1  # the board's rule: marks once two sources are in play
        self.query_one("#urgent-body", Static).update(
            urgent_text(figures.urgent, now, marks=several)
        )
        self.query_one("#ticker-body", Static).update(ticker_text(figures.moves, marks=several))
        self.query_one(Banner).show(figures.alerts)
        health = figures.health
        bad = any(h.online is False or h.failed > 0 for h in health.values())
        widget = self.query_one("#wall-health", Static)
        stale_after = stale_after_s(self.settings)
        widget.update(health_text(health, now=now, stale_after=stale_after))
        widget.set_class(bad, "-bad")
        widget.set_class(not bad and any_stale(health, now, stale_after), "-stale")

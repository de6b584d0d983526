"""The wall screen: read-only, live, legible from across the room.

It reads the wall's figures (:func:`rxfloor.core.wall.read_wall`) in a thread
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
from rxfloor.core.db.feed import FeedBack, FeedDown, FeedReopened, change_batches
from rxfloor.core.due import day_start
from rxfloor.core.report import CachedDayReport, DayReport
from rxfloor.core.text import shown, visible
from rxfloor.core.wall import read_wall
from rxfloor.tui.board.header import (
    any_stale,
    compact_health_line,
    down_sentence,
    health_text,
    reopened_sentence,
    stale_after_s,
)
from rxfloor.tui.watch.widgets import (
    Banner,
    ColumnPanel,
    FlowChart,
    chart_hours,
    finished_text,
    flow_title,
    stock_text,
    stock_title,
    ticker_text,
    turnaround_text,
    urgent_text,
    urgent_title,
)

REFRESH_INTERVAL = 1.0
#: Cells the pharmacy's name keeps in the header before the sync health is compacted.
MIN_TITLE = 12


class FiguresRead(Message):
    """One read of the wall's figures; ``seq`` orders the reads."""

    def __init__(self, seq: int, figures: bq.WallFigures, day: DayReport) -> None:
        super().__init__()
        self.seq = seq
        self.figures = figures
        self.day = day


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


class Reopened(Message):
    """The SQLite file was replaced and the wall now reads the new one (since ``at``)."""

    def __init__(self, at: datetime, path: str) -> None:
        super().__init__()
        self.at = at
        self.path = path


#: How long the wall says that it reopened a replaced database file.
REOPENED_SHOWN_S = 60.0


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
        self.day: DayReport | None = None  # the day's flow and turnaround, as last read
        #: the day's report, read again after 20x its cost (~2 s a read at 100,000 orders)
        self._reports = CachedDayReport()
        self._chart_key: object = None
        self.reopened: datetime | None = None  # when a replaced database file was reopened

    def compose(self) -> ComposeResult:
        with Horizontal(id="wall-header"):
            yield Static(visible(f"{self.settings.pharmacy} · wall"), id="wall-title", markup=False)
            yield Static("", id="wall-clock", markup=False)
            yield Static("", id="wall-exceptions", markup=False)
            yield Static("", id="wall-health", markup=False)
        yield Banner()
        yield Static("", id="wall-notice", markup=False)
        with Horizontal(id="wall-columns"):
            yield ColumnPanel("OPEN", side_label="late", id="panel-open")
            yield ColumnPanel("PROCESSING", side_label="late", id="panel-processing")
            yield ColumnPanel("FINISHED today", side_label="last hour", id="panel-finished")
        with Horizontal(id="wall-today"):
            with Vertical(id="wall-flow", classes="list"):
                yield FlowChart(id="flow-chart")
            with Vertical(id="wall-turnaround", classes="list"):
                yield Static("", id="turnaround-head", markup=False)
                yield Static("", id="turnaround-body", markup=False)
        with Horizontal(id="wall-lists"):
            with Vertical(id="wall-urgent", classes="list"):
                yield Static("", id="urgent-body", markup=False)
            with Vertical(id="wall-ticker", classes="list"):
                yield Static("", id="ticker-body", markup=False)
            with Vertical(id="wall-stock", classes="list"):  # shown only when any
                yield Static("", id="stock-body", markup=False)

    def on_mount(self) -> None:
        self.query_one("#wall-ticker").border_title = "LAST MOVES"
        self.query_one("#wall-urgent").border_title = "STAT · WAITER"
        self.query_one("#wall-flow").border_title = flow_title()
        self.query_one("#wall-turnaround").border_title = "TURNAROUND today"
        self.query_one("#turnaround-head", Static).update(
            Text(f"{'':<8}{'p50':>6}{'p90':>6}{'n':>5}", style="dim", no_wrap=True)
        )
        self.query_one(Banner).display = False
        self.query_one("#wall-notice").display = False
        self.query_one("#wall-stock").display = False
        self._clock()
        self.set_interval(REFRESH_INTERVAL, self._tick)
        self._start()

    def on_unmount(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------- reading
    def _read(self) -> FiguresRead:
        """Read the figures now (in a worker thread)."""
        seq = next(self._seq)
        now = self.clock()
        with self.store.read() as conn:
            figures = read_wall(conn, self.settings, now, sources=self.sources)
            day = self._reports.get(conn, day_start(now).date())
        return FiguresRead(seq, figures, day)

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
                if isinstance(event, FeedReopened):
                    self._reports.forget()  # another file: another day's events
                    self.post_message(Reopened(event.at, event.path))
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
        if self.reopened is not None and (self.clock() - self.reopened).total_seconds() > (
            REOPENED_SHOWN_S
        ):
            self.reopened = None
            self.query_one("#wall-notice").display = False
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

    @on(Reopened)
    def _reopened(self, message: Reopened) -> None:
        self.reopened = message.at
        self.db_down = None
        self._shown = next(self._seq)  # a read begun before, on the old file, is not shown
        notice = self.query_one("#wall-notice", Static)
        notice.update(reopened_sentence(message.at, message.path))
        notice.display = True
        self._refresh()

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
        self.paint_day(message.day, message.figures.now)

    def paint(self, figures: bq.WallFigures) -> None:
        self.figures = figures
        now = figures.now
        self.query_one("#panel-open", ColumnPanel).show_column(figures.columns["OPEN"], now)
        self.query_one("#panel-processing", ColumnPanel).show_column(
            figures.columns["PROCESSING"], now
        )
        finished = self.query_one("#panel-finished", ColumnPanel)
        finished.show(
            figures.finished_today,
            figures.finished_last_hour,
            self._finished_line(figures),
            side_alarm=False,
        )
        urgent = self.query_one("#wall-urgent")
        urgent.border_title = urgent_title(figures.urgent_counts)
        urgent.set_class(bool(figures.urgent), "-busy")
        in_play = {
            *figures.health,
            *(w.source for w in figures.urgent),
            *(m.order_source for m in figures.moves),
        }
        several = len(in_play) > 1  # the board's rule: marks once two sources are in play
        self.query_one("#urgent-body", Static).update(
            urgent_text(figures.urgent, now, marks=several)
        )
        self.query_one("#ticker-body", Static).update(ticker_text(figures.moves, marks=several))
        self.query_one(Banner).show(figures.alerts, marks=several)
        back = figures.return_to_stock
        stock = self.query_one("#wall-stock")
        stock.display = back is not None and back.count > 0
        self.query_one("#wall-lists").set_class(stock.display, "-stock")
        if back is not None and back.count:  # a quarter of the row, less its corners
            stock.border_title = stock_title(back, self.size.width // 4 - 6)
            self.query_one("#stock-body", Static).update(stock_text(back, marks=several))
        if self.db_down is not None:  # an old file read while the path has none: not "online"
            self._read_failed(ReadFailed(down_sentence(self.db_down)))
            return
        exceptions = self.query_one("#wall-exceptions", Static)
        exceptions.update(f"exceptions {figures.exceptions}")
        exceptions.set_class(figures.exceptions > 0, "-look")
        self._paint_health(figures)

    def paint_day(self, day: DayReport, now: datetime) -> None:
        """The flow chart and the turnaround (:mod:`rxfloor.core.report`, as ``rxfloor
        report`` prints them); the chart is drawn again only when its figures change."""
        self.query_one("#turnaround-body", Static).update(turnaround_text(day))
        self.day = day
        key = (chart_hours(day, now), [day.hours[i] for i in chart_hours(day, now)])
        if key != self._chart_key:
            self._chart_key = key
            self.query_one(FlowChart).show(day, now)

    def _finished_line(self, figures: bq.WallFigures) -> Text:
        """Today's finished orders by where they went, as much as the panel holds."""
        width = self.query_one("#panel-finished .oldest", Static).content_size.width
        return finished_text(figures.finished_split, figures.cancelled_today, width or 999)

    def _paint_health(self, figures: bq.WallFigures) -> None:
        """Every count spelled out where the header has the room; where it has not (80
        columns, several sources), the board's compact form: ``4 sources online``, a source
        with news keeps its words (``photon offline since 10:02 · 3 online``)."""
        health, now = figures.health, figures.now
        bad = any(h.online is False or h.failed > 0 for h in health.values())
        widget = self.query_one("#wall-health", Static)
        stale_after = stale_after_s(self.settings)
        words = health_text(health, now=now, stale_after=stale_after)
        if len(health) > 1 and len(words) > self._health_room():
            words = compact_health_line(
                health, list(health), now=now, stale_after=stale_after
            ).plain
        widget.update(words)
        widget.set_class(bad, "-bad")
        widget.set_class(not bad and any_stale(health, now, stale_after), "-stale")

    def _health_room(self) -> int:
        """Cells the health may take: the header less the clock, the exceptions count
        and a short title (the title gives way first: it never changes)."""
        taken = sum(
            self.query_one(f"#wall-{part}", Static).outer_size.width
            for part in ("clock", "exceptions")
        )
        return max(self.size.width - taken - MIN_TITLE - 2, 0)

    def on_resize(self) -> None:
        self.set_class(self.size.height >= 40, "-roomy")  # room for a taller alert banner
        if self.figures is not None:
            self.call_after_refresh(self._paint_health, self.figures)
            self.call_after_refresh(self._paint_finished, self.figures)

    def _paint_finished(self, figures: bq.WallFigures) -> None:
        self.query_one("#panel-finished .oldest", Static).update(self._finished_line(figures))

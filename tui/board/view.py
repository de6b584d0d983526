"""The live board view: header, alert banner and the columns, kept in step with the database.

It reads (first load, change feed, sync health) in thread workers that post Messages
(:mod:`rxfloor.tui.board.messages`) and paints on the UI thread when they arrive. It has
no key actions: the board screen adds those, and a read-only wall screen can show this
view alone.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from functools import partial
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.signal import Signal
from textual.widgets import Static

from rxfloor.core import exception_queue
from rxfloor.core.config import Settings
from rxfloor.core.db import Cursor, Store, StoreError, SyncHealth
from rxfloor.core.db import queries as bq
from rxfloor.core.db.feed import (
    RETRY_INTERVAL,
    FeedBack,
    FeedDown,
    FeedReopened,
    change_batches,
)
from rxfloor.core.due import Targets, day_start
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import OrderView
from rxfloor.core.sources import configured
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.card import urgency
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.header import BoardHeader, down_sentence, reopened_sentence, shown_sources
from rxfloor.tui.board.messages import (
    AlertsChanged,
    BoardCompleted,
    BoardLoaded,
    ChangesArrived,
    DatabaseBack,
    DatabaseDown,
    DatabaseReplaced,
    HealthChanged,
    Notice,
)
from rxfloor.tui.board.model import (
    BoardModel,
    Card,
    Loaded,
    card_filter,
    give_back,
    marked,
    settle,
    uncollected,
    unsettle,
)
from rxfloor.tui.contain import Contained

#: A feed batch of more rows than this is a burst (a sync pull): the memory it freed is
#: handed back to the system after it (:func:`give_back`, under a millisecond).
BURST = 64
HEALTH_INTERVAL = 1.0  # sync health, alerts and sync-error badges are read this often
TICK_INTERVAL = 30.0  # times in status move on
#: Terminal rows a card takes at least (compact): the first page fills the screen's height.
_CARD_ROWS = 3
#: How long the view's mount waits for the first page (read from when the view is composed)
#: so that the very first frame has cards; a slower database gets the board without them,
#: and the page follows as a message.
FIRST_PAGE_WAIT = 0.5
#: A board of at most this many orders is read whole with the first page (~10-20 ms of
#: cards): complete at the first frame, with no second read competing with the painting.
WHOLE_AT_ONCE = 1000
#: How long the first page's read waits for the terminal's height (the view's compose):
#: a view made but never shown lets its read fail then, unawaited.
_ROWS_WAIT = 30.0


def targets(settings: Settings) -> Targets:
    """When an order with no promised time of its source is due (``[floor] targets``)."""
    return Targets.from_settings(settings)


#: audit events that do not move an order
_NOT_MOVES = frozenset({"acknowledge", "refused", "synced", "superseded", "divergence",
                        "retry", "resolve", "exception_closed", "rescheduled",
                        "cancel_request", "cancel_request_closed"})  # fmt: skip
#: how a move another terminal made is told
_DONE = {
    "start": "started",
    "finish": "finished",
    "cancel": "cancelled",
    "hold": "put on hold",
    "release": "released",
    "undo": "undone",
    "created": "created",
}

#: The kind of alert a merchant's cancellation request raises: it stays until answered.
CANCEL_REQUEST = "cancel_request"


def empty_hint() -> str:
    """What an empty board says: how to put orders on it (a sample, the demo, a source)."""
    from rxfloor.core import sources
    from rxfloor.core.config import config_file

    return (
        "No orders here yet. To try the board: `rxfloor seed --count 50` adds sample orders "
        "(never sent anywhere), `rxfloor --demo` opens the demo with every source's stand-in. "
        f"To take orders from a source: its section [sources.NAME] in {config_file()} (NAME: "
        f"{', '.join(sources.names())}; its credentials in the environment or the keyring); "
        "its sync then runs with the board (or `rxfloor sync`). See "
        "docs/pages/operations/configuration.md."
    )


class AlertBanner(Static):
    """The first open alert, until someone acknowledges it (a merchant's cancellation
    request: until someone answers it)."""

    def __init__(self) -> None:
        super().__init__("", id="alerts", markup=False)

    def show(
        self,
        alerts: Sequence[Mapping[Any, Any]],
        ack_key: str | None,
        answer_keys: tuple[str, str] | None = None,
        *,
        marks: bool = False,
    ) -> None:
        self.display = bool(alerts)
        if alerts:
            first = alerts[0]
            more = f" (1 of {len(alerts)})" if len(alerts) > 1 else ""
            words = marked(
                str(first["message"]),
                str(first.get("order_name") or ""),
                str(first.get("order_source") or ""),
                marks,
            )
            self.update(f" ⚠ {shown(words)}{more}{_how(first, ack_key, answer_keys)}")


def _how(alert: Mapping[Any, Any], ack_key: str | None, answer_keys: tuple[str, str] | None) -> str:
    """The banner's last words: which keys deal with the alert."""
    if alert["kind"] != CANCEL_REQUEST:
        return f" — {ack_key} acknowledges" if ack_key else ""
    if ack_key is None or answer_keys is None:
        return ""
    accept, reject = answer_keys
    return f" — {ack_key} goes to it, {accept} accepts, {reject} rejects"


class BoardView(Contained, Vertical):
    """Cards by column with a current column; data arrives as Messages."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime],
        *,
        ack_key: str | None = None,
        answer_keys: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(id="board")
        self.store = store
        self.settings = settings
        self.clock = clock
        self.ack_key = ack_key  # named in the banner; None on a screen that cannot acknowledge
        self.answer_keys = answer_keys  # accept / reject a merchant's cancellation request
        self.model = BoardModel(targets(settings))
        self.needle = ""
        self.show_cancelled = False
        self.loaded = False  # the first page is shown: keys act
        self._complete = threading.Event()  # every card is loaded, not only each column's top
        #: status -> (orders, late ones) not loaded yet, while only the first page is
        self._beyond: dict[Status, tuple[int, int]] = {}
        self._early_sources: set[str] = set()  # every source on the board, from the COUNT
        self._per_column = 0  # cards per column in the first page
        self._page: Future[BoardLoaded] = Future()  # the first page, read from the start
        #: cards per column, once the terminal's height is known (compose)
        self._rows: Future[int] = Future()
        #: the change cursor the feed starts from once the board is complete
        self._resume = Cursor(0)
        self.health: Mapping[str, SyncHealth] = {}
        self.sources = configured(settings)  # the sources set up here, for the header
        self.alerts: Sequence[Mapping[Any, Any]] = []
        self.marks = False  #: several sources in play: names carry their source's mark
        self._col = 0
        self._stop = threading.Event()  # ends the change feed with the view
        #: set when a move of this terminal is shown: the feed reads its commit at once
        self._feed_wake = threading.Event()
        self._cursor_card: Card | None = None  # the card under the cursor as last painted
        #: (card that was under the cursor, when) the last time data, not a key, replaced it
        self._replaced: tuple[Card, float] | None = None
        self._alerts_read = False  # the first read of the alerts rings no bell
        self.exceptions = 0  # the exceptions queue's count, polled with the health
        self.reopened: datetime | None = None  # when a replaced SQLite file was reopened
        #: since when the database does not answer (None: it does)
        self.db_down: datetime | None = None
        #: published after each batch of the change feed and when the count changes: a
        #: screen showing the exceptions queue reads it again
        self.changed: Signal[None] = Signal(self, "changed")
        #: the columns by status, in the board's order: the footer asks for the card under
        #: the cursor once per key it could show, and a DOM query each time was ~1 ms a move
        self._columns: dict[Status, ColumnView] = {}
        # The first page is read from here on, while Textual starts, mounts the widgets and
        # applies their CSS: a plain thread (a Textual worker would start only once the event
        # loop has a turn). Its COUNTs need no size (at 100,000 orders ~10 ms of SQLite,
        # which runs beside the start); its columns' tops wait for the terminal's height,
        # known at compose (before the terminal is set up, Textual says 80x25).
        threading.Thread(
            target=self._read_first_page,
            args=(self._page, partial(self._rows.result, _ROWS_WAIT)),
            name="board-first-page",
            daemon=True,
        ).start()

    def compose(self) -> ComposeResult:
        self._per_column = self.app.size.height // _CARD_ROWS + 2
        self._rows.set_result(self._per_column)
        yield BoardHeader()
        yield AlertBanner()
        yield Static(empty_hint(), id="empty-hint", markup=False)
        with Horizontal(id="columns"):
            for status in Status:
                self._columns[status] = ColumnView(status, self.clock)
                yield self._columns[status]

    def on_mount(self) -> None:
        self.column_for(Status.CANCELLED).display = False
        self.query_one(AlertBanner).display = False
        self.query_one("#empty-hint").display = False
        self._header()
        self.set_interval(1.0, self._header)
        self.set_interval(TICK_INTERVAL, self._tick)
        try:  # the first frame with cards: worth a short wait here
            first = self._page.result(FIRST_PAGE_WAIT)
        except Exception:  # late or failed: the worker brings it (or the error)
            self._await_first_page(self._page)
        else:
            self._loaded(first)

    def on_unmount(self) -> None:
        self._stop.set()
        unsettle()

    @property
    def complete(self) -> bool:
        """Every card is loaded (not only the first page of each column)."""
        return self._complete.is_set()

    def wait_complete(self, timeout: float) -> bool:
        """For a worker thread that needs every card (go-to): until the load is complete."""
        return self._complete.wait(timeout)

    # ---------------------------------------------------------------- columns
    def column_for(self, status: Status) -> ColumnView:
        return self._columns[status]

    @property
    def visible_columns(self) -> list[ColumnView]:
        # in the DOM: a column pruned while the screen is torn down has no parent
        return [c for c in self._columns.values() if c.display and c.parent is not None]

    @property
    def column(self) -> ColumnView:
        cols = self.visible_columns
        self._col = max(0, min(self._col, len(cols) - 1))
        return cols[self._col]

    @property
    def current_index(self) -> int:
        return self._col

    @property
    def card(self) -> Card | None:
        if not self.visible_columns:  # while the screen is being torn down
            return None
        return self.column.cursor_card

    def set_current(self, index: int) -> None:
        cols = self.visible_columns
        self._col = max(0, min(index, len(cols) - 1))
        for i, col in enumerate(cols):
            col.current = i == self._col
            col.set_class(col.current, "-current")
            col.refresh()
        self._keys_may_have_changed()

    def toggle_cancelled(self) -> None:
        keep = self.column
        self.show_cancelled = not self.show_cancelled
        col = self.column_for(Status.CANCELLED)
        col.display = self.show_cancelled
        col.current = False
        cols = self.visible_columns
        self.set_current(cols.index(keep) if keep in cols else len(cols) - 1)

    def set_filter(self, needle: str) -> None:
        self.needle = needle
        self.paint(Status)

    def set_compact(self, compact: bool) -> None:
        """Three lines a card on a short terminal, four otherwise."""
        for col in self._columns.values():
            if col.compact != compact:
                col.compact = compact
                col.set_cards(col.cards, col.total)
                col.move_to(col.cursor)

    def paint(self, statuses: Iterable[Status], changed: set[str] | None = None) -> None:
        fits = card_filter(self.needle) if self.needle else None
        for status in statuses:
            cards = self.model.columns[status]
            # the model's own list, not a copy (each copy of 100,000 cards was a young object
            # that every collection walked): the column keeps its cursor by the card
            found = list(filter(fits, cards)) if fits else cards
            column = self.column_for(status)
            unloaded, late = self._beyond.get(status, (0, 0))
            column.beyond = (unloaded, 0 if fits else late)
            column.set_cards(found, len(cards), changed)
        self._track_cursor()
        self._marks()
        self._keys_may_have_changed()
        # nothing at all on the board, once it is all read: how to put orders on it
        empty = self._complete.is_set() and not self.model.cards
        for hint in self.query("#empty-hint"):
            hint.display = empty

    def _keys_may_have_changed(self) -> None:
        """The legal keys follow the cursor's card, the alerts and the health: the screen
        asks the footer to redraw only if they really changed (``refresh_bindings``)."""
        if self.is_attached:
            self.screen.refresh_bindings()

    def _marks(self) -> None:
        """Source marks on the cards once more than one source is in play here: configured,
        syncing (its health is known) or with a card on the board."""
        here = self.model.sources | self._early_sources
        many = len(here.union(shown_sources(self.sources, self.health))) > 1
        for col in self._columns.values():
            col.set_marks(many)
        if many != self.marks:
            self.marks = many
            self._show_alerts(self.alerts)

    def named(self, text: str, name: str, source: str) -> str:
        """``text`` about the order ``name`` of ``source``, its name marked with the source
        where several are in play (banners, notices: in two sources #1002 is two orders)."""
        return marked(text, name, source, self.marks)

    def _tick(self) -> None:
        for col in self._columns.values():
            col.tick()
        self._keys_may_have_changed()

    def _header(self) -> None:
        self.query_one(BoardHeader).show(
            self.clock(), self.settings, self.health, self.sources, self.exceptions, self.db_down
        )

    def refresh_header(self) -> None:
        self._header()

    def ring(self) -> None:
        """The terminal bell, once per event (``bell = false`` in the config turns it off)."""
        if self.settings.bell:
            self.app.bell()

    # ---------------------------------------------------------------- cursor
    def _track_cursor(self) -> None:
        """A repaint put another order under the cursor (a move, another terminal):
        remember which one was there, so that a key meant for it does not act on this one."""
        card, old = self.card, self._cursor_card
        if old is not None and (card is None or card.id != old.id):
            self._replaced = (old, time.monotonic())
        self._cursor_card = card

    def note_cursor(self) -> None:
        """The pharmacist moved the cursor (a key): what is under it now is what they see."""
        self._cursor_card = self.card
        self._replaced = None

    def cursor_replaced(self, guard_s: float) -> Card | None:
        """The card the cursor was on, when data replaced it less than ``guard_s`` ago."""
        if self._replaced is None or time.monotonic() - self._replaced[1] > guard_s:
            return None
        return self._replaced[0]

    # ----------------------------------------------------------------- cards
    def move_card(self, card: Card, status: Status) -> None:
        """The optimistic half of a move: the card changes column at once."""
        self.paint(self.model.move(card, status), {card.id})

    def mark_pending(self, card: Card) -> None:
        card.pending = True
        self.paint({card.status}, {card.id})

    def show_rows(self, rows: Iterable[Mapping[Any, Any]], marks: bq.SyncMarks) -> None:
        """Fresh rows (a batch of the feed, a refused move read again): one repaint."""
        rows = list(rows)
        self.paint(self.model.upsert(rows, marks), {r["id"] for r in rows})
        if len(rows) > BURST:
            give_back()  # a burst's columns sorted again, its pages read: ~5 MB at 100,000

    def show_order(self, order: OrderView) -> None:
        """The order as the service returned it after a move: no read of our own."""
        old = self.model.cards.get(order.id)
        card = Card.from_view(
            order, failed=old.sync_failed if old else False, retry=old.sync_retry if old else None
        )
        self.paint(self.model.place([card]), {card.id})

    def own_move_shown(self) -> None:
        """This terminal's move is committed and its answer shown: the feed reads the change
        log now (it finds the order as shown and reads no row), not at its next poll: its
        read then shares the frames of the move instead of costing the idle ones after."""
        self._feed_wake.set()

    def _flag_failed(self, marks: bq.SyncMarks, ids: Iterable[str] | None = None) -> None:
        flipped = self.model.flag_failed(marks, ids)
        if flipped:
            self.paint({self.model.cards[i].status for i in flipped}, flipped)

    # -------------------------------------------------------------- messages
    @on(BoardLoaded)
    def _loaded(self, message: BoardLoaded) -> None:
        self.model.finished_since = day_start(self.clock())
        self.model.load(message.cards)
        if message.complete:
            self._complete.set()
        else:
            self._first_page(message.counts)
            self._early_sources = message.sources
        self.loaded = True  # before painting: the legal keys are asked for as it paints
        self.paint(Status)
        first = next((i for i, s in enumerate(Status) if self.model.columns[s]), 0)
        self.set_current(min(first, 2))
        self._show_alerts(message.alerts)
        self.exceptions = message.exceptions
        self._show_health(message.health)
        self._resume = message.cursor
        if message.complete:
            self._follow(message.cursor)
        else:
            self.call_after_refresh(self._load_rest)
        self.set_interval(HEALTH_INTERVAL, self._poll_health)
        if message.complete:
            self.call_after_refresh(self._poll_health)  # the exceptions count (first page)

    def _first_page(self, counts: Mapping[str, tuple[int, int]]) -> None:
        """Keep only each column's real top (the read's two slices hold more, with gaps after
        it) and note what is not loaded yet, for the titles."""
        self.model.keep_top(self._per_column)
        now = self.clock()
        for status in Status:
            cards = self.model.columns[status]
            total, late = counts.get(status.value, (0, 0))
            shown_late = sum(1 for c in cards if urgency(c, now) == "overdue")
            self._beyond[status] = (max(0, total - len(cards)), max(0, late - shown_late))

    @on(BoardCompleted)
    def _completed(self, message: BoardCompleted) -> None:
        """The rest of the board, loaded in the background: merged (what changed here
        meanwhile is kept), then the change feed replays everything since the first read."""
        self.model.merge(message.loaded)
        self._beyond.clear()
        self._early_sources = set()
        self._complete.set()
        settle()  # the collector stops walking every card (one pass: ~0.5 s at 100,000)
        self.paint(Status)
        self._follow(self._resume)
        # the exceptions count (see the first page), once the rest is in: its first call
        # imports every source's tables, which would compete with the rest's read
        self.call_after_refresh(self._poll_health)

    @on(ChangesArrived)
    def _changes_arrived(self, message: ChangesArrived) -> None:
        if message.rows:
            before = self.card
            if any(
                r["id"] not in self.model.cards
                and r["priority"] == "stat"
                and not Status(r["status"]).is_terminal
                for r in message.rows
            ):
                self.ring()  # a new stat order
            self.show_rows(message.rows, message.failed)
            after = self.card
            if (
                before is not None
                and before.id in {r["id"] for r in message.rows}
                and (after is None or after.id != before.id)
            ):
                now_on = self.named(after.name, after.name, after.source) if after else None
                self._taken_away(before.id, now_on)
        if message.confirmed:
            self._flag_failed(message.failed, message.confirmed)
        self.changed.publish(None)

    @property
    def down_sentence(self) -> str | None:
        """``database unreachable since 10:02 · retrying`` while it is so, else None."""
        return None if self.db_down is None else down_sentence(self.db_down)

    @on(DatabaseDown)
    def _database_down(self, message: DatabaseDown) -> None:
        if self.db_down is not None:
            return
        self.db_down = message.since
        self.ring()  # once: the header keeps saying it
        self._header()
        self.post_message(Notice(f"{self.down_sentence} ({message.error})", "error"))
        self._keys_may_have_changed()

    @on(DatabaseReplaced)
    def _database_replaced(self, message: DatabaseReplaced) -> None:
        """A restarted ``--demo`` (or a restored backup) put another file at the path: the
        board shows the new file's orders and says so."""
        self.reopened = message.at
        self.db_down = None
        self.model.finished_since = day_start(self.clock())
        self.model.load(message.cards)
        settle()
        self.paint(Status)
        self._header()
        self.post_message(Notice(reopened_sentence(message.at, message.path), "warning"))
        self._poll_health()
        self._keys_may_have_changed()

    @on(DatabaseBack)
    def _database_back(self, message: DatabaseBack) -> None:
        if self.db_down is None:
            return
        since = message.down_since.astimezone().strftime("%H:%M")
        self.db_down = None
        self._header()
        self.post_message(
            Notice(f"database reachable again (unreachable since {since}): board read again")
        )
        self._poll_health()
        self._keys_may_have_changed()

    @on(HealthChanged)
    def _health_changed(self, message: HealthChanged) -> None:
        """The poll's news, once a second: the header, the marks and the keys are told only
        when it changed (each telling was a frame and ~1 ms, every second, for nothing)."""
        if message.failed is not None:
            self._flag_failed(message.failed)
        counted = message.exceptions
        if counted is not None and counted != self.exceptions:
            self.exceptions = counted
            self.changed.publish(None)
        elif message.health == self.health:
            return
        self._show_health(message.health)

    @on(AlertsChanged)
    def _alerts_changed(self, message: AlertsChanged) -> None:
        """The open alerts, once a second: the banner is drawn again only when they changed."""
        still = [dict(a) for a in message.alerts if self._open(a)]
        if self._alerts_read and still == [dict(a) for a in self.alerts]:
            return
        self._show_alerts(message.alerts)

    def _show_health(self, health: Mapping[str, SyncHealth]) -> None:
        if self.health and any(
            h.online and health.get(name) is not None and health[name].online is False
            for name, h in self.health.items()
        ):
            self.ring()  # gone offline
        self.health = health
        self._header()
        self._marks()
        self._keys_may_have_changed()

    def _show_alerts(self, alerts: Sequence[Mapping[Any, Any]]) -> None:
        alerts = [a for a in alerts if self._open(a)]
        if self._alerts_read and {a["id"] for a in alerts} - {a["id"] for a in self.alerts}:
            self.ring()  # a new alert (not the ones open when the board opened)
        self._alerts_read = True
        self.alerts = alerts
        self.query_one(AlertBanner).show(
            self.alerts, self.ack_key, self.answer_keys, marks=self.marks
        )
        self._keys_may_have_changed()

    def _open(self, alert: Mapping[Any, Any]) -> bool:
        """A cancellation request's alert stands while its order still waits for the answer
        (answered elsewhere, by the CLI or at the source: it is no news any more)."""
        if alert["kind"] != CANCEL_REQUEST:
            return True
        card = self.model.cards.get(str(alert["order_id"]))
        return card is None or card.cancel_requested

    # --------------------------------------------------------------- workers
    def _read_first_page(self, page: Future[BoardLoaded], per_column: Callable[[], int]) -> None:
        """The top ``per_column`` cards of each column and the columns' COUNTs (the first
        frame has them, its titles right); every card follows in the background
        (:meth:`_load_rest`). Cards are built here, off the event loop. The exceptions
        queue's count waits for the first health poll: its first call imports every
        source's tables (~50-100 ms), which the first frame need not wait for. The health
        and the alerts need no size: they are read first, while the terminal is set up."""
        try:
            store = self.store
            health, alerts = store.sync_health(self.sources), store.open_alerts()
            statuses, since = [s.value for s in Status], day_start(self.clock())
            read = bq.board_first_page(
                store,
                statuses,
                since,
                self.clock(),
                self.model.targets,
                per_column,
                Card.from_card_row,
                whole=WHOLE_AT_ONCE,
            )
            page.set_result(
                BoardLoaded(
                    read.cursor,
                    read.made,
                    health,
                    alerts,
                    counts=read.counts,
                    sources=read.sources,
                    complete=read.complete,
                )
            )
        except BaseException as exc:  # raised again by the worker below
            page.set_exception(exc)

    @work(thread=True, group="load")
    def _await_first_page(self, page: Future[BoardLoaded]) -> None:
        """The first page, when the mount did not wait for it: posted as it arrives; a read
        that failed fails this worker (the app contains it as any worker's failure)."""
        self.post_message(page.result())

    @work(thread=True, group="load")
    def _load_rest(self) -> None:
        """Every card, once the first page is on screen (read sooner, it would slow the
        first frame down: the thread and the painting share one interpreter)."""
        statuses, since = [s.value for s in Status], day_start(self.clock())
        with uncollected():
            _, cards = bq.board_load(self.store, statuses, since, Card.from_card_row)
            loaded = Loaded.of(cards, self.model.targets)
        del cards
        give_back()  # what the read freed (~10 MB at 100,000 cards), back to the system
        self.post_message(BoardCompleted(loaded))

    @work(thread=True, group="feed")
    def _follow(self, since: Cursor) -> None:
        """One message per coalesced batch of the change feed, until the view goes.

        The database going away is told (:class:`DatabaseDown`), and its return
        (:class:`DatabaseBack`); the feed keeps its cursor meanwhile, so what changed is
        read when it is back."""
        try:
            feed = change_batches(
                self.store, self._stop, since=since, clock=self.clock, wake=self._feed_wake
            )
            for event in feed:
                if isinstance(event, FeedDown):
                    self.post_message(DatabaseDown(event.since, event.error))
                elif isinstance(event, FeedBack):
                    self.post_message(DatabaseBack(event.down_since))
                elif isinstance(event, FeedReopened):
                    self._reload(event)
                else:
                    self._deliver(event.order_ids)
        except StoreError as exc:  # the feed itself retries: this is a last resort
            self.post_message(Notice(f"live updates stopped: {exc}", "error"))

    def _reload(self, event: FeedReopened) -> None:
        """The whole board again from the new file (runs in the feed thread); a read that
        fails is the feed's to tell (it retries)."""
        statuses, since = [s.value for s in Status], day_start(self.clock())
        with contextlib.suppress(StoreError), uncollected():
            _, cards = bq.board_load(self.store, statuses, since, Card.from_card_row)
            self.post_message(DatabaseReplaced(event.at, event.path, cards))

    def _deliver(self, ids: frozenset[str]) -> None:
        """Read a batch's rows and post them; while the database does not answer, try
        again (the batch is not dropped: its cards would stay in their old columns)."""
        down: datetime | None = None
        while not self._stop.is_set():
            try:
                arrived = self._batch(ids)
            except StoreError as exc:
                if down is None:
                    down = self.clock()
                    self.post_message(DatabaseDown(down, str(exc)))
                self._stop.wait(RETRY_INTERVAL)
                continue
            if down is not None:
                self.post_message(DatabaseBack(down))
            self.post_message(arrived)
            return

    def _batch(self, ids: frozenset[str]) -> ChangesArrived:
        """Read full rows only for orders not shown as they are (runs in the feed thread):
        this terminal's own move came back with the service's answer already."""
        now = bq.versions(self.store, ids)
        model = self.model
        stale = sorted(i for i in ids if now.get(i) != model.version_of(i) or model.is_bare(i))
        rows, marks = bq.rows_for(self.store, stale) if stale else ([], {})
        confirmed = ids.difference(stale)
        if confirmed:  # a parked push changes no version: the badge is read anyway
            marks |= bq.sync_marks(self.store, sorted(confirmed))
        return ChangesArrived(rows, marks, confirmed)

    @work(thread=True, group="reads")
    def _taken_away(self, card_id: str, now_on: str | None) -> None:
        """Another terminal (or the remote) moved the card under the cursor: say who did,
        and where the cursor is now (``#1018 started by AB · cursor on #1002``)."""
        try:
            history = self.store.history(card_id)
        except StoreError:
            return
        moves = [e for e in history if e["action"] not in _NOT_MOVES]
        if not moves:
            return
        ev = moves[-1]
        what = _DONE.get(ev["action"], ev["action"])
        if ev["action"] == "remote":
            what = f"set to {ev['to_status']} at the remote"
        by = f" by {visible(ev['actor'])}" if ev["action"] != "remote" else ""
        card = self.model.cards.get(card_id)
        name = card.name if card is not None else card_id
        said = f"{name} {what}{by}"
        if card is not None:
            said = self.named(said, card.name, card.source)
        if now_on is not None:
            said += f" · cursor on {now_on}"
        self.post_message(Notice(said, "warning"))

    @work(thread=True, group="health", exclusive=True)
    def _poll_health(self) -> None:
        store = self.store
        try:
            health, alerts, failed = (
                store.sync_health(self.sources),
                store.open_alerts(),
                bq.sync_marks(store),
            )
            with store.read() as conn:
                count = exception_queue.count(conn)
        except StoreError:
            return  # the feed says so once; the header keeps its last word
        self.post_message(AlertsChanged(alerts))
        self.post_message(HealthChanged(health, failed, count))

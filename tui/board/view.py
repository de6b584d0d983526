"""The live board view: header, alert banner and the columns, kept in step with the database.

It reads (first load, change feed, sync health) in thread workers that post Messages
(:mod:`rxfloor.tui.board.messages`) and paints on the UI thread when they arrive. It has
no key actions: the board screen adds those, and a read-only wall screen can show this
view alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from rxfloor.core import sources
from rxfloor.core.config import Settings
from rxfloor.core.db import Store, StoreError, SyncHealth
from rxfloor.core.db import queries as bq
from rxfloor.core.db.feed import change_batches
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import OrderView
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.messages import (
    AlertsChanged,
    BoardLoaded,
    ChangesArrived,
    HealthChanged,
    Notice,
)
from rxfloor.tui.board.model import BoardModel, Card

HEALTH_INTERVAL = 1.0  # sync health, alerts and sync-error badges are read this often
TICK_INTERVAL = 30.0  # times in status move on


#: Each source's health, by source name (configured sources first).
Health = Mapping[str, SyncHealth]


def _one_health(health: SyncHealth | None) -> str:
    if health is None or health.online is None:
        state = "offline"
    elif health.online:
        state = "online"
    else:
        since = health.offline_since.astimezone().strftime("%H:%M") if health.offline_since else ""
        state = f"offline since {since}" if since else "offline"
    queued = health.queued if health else 0
    failed = health.failed if health else 0
    return f"{state} · {queued} queued · {failed} failed"


def health_text(health: Health | None) -> str:
    """``sync: online · 0 queued · 0 failed``; with several sources, each one named."""
    if not health:
        return f"sync: {_one_health(None)}"
    if len(health) == 1:
        return f"sync: {_one_health(next(iter(health.values())))}"
    return "sync: " + " │ ".join(f"{name} {_one_health(h)}" for name, h in health.items())


def day_start(now: datetime) -> datetime:
    """Local midnight: FINISHED shows the orders finished since then."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class BoardHeader(Static):
    """Clock, pharmacy / station / pharmacist, sync health."""

    def __init__(self) -> None:
        # text from data is never parsed as markup (an order named "[/]x" is just a name)
        super().__init__("", id="header", markup=False)

    def show(self, now: datetime, settings: Settings, health: Health | None) -> None:
        clock = now.astimezone().strftime("%H:%M:%S")
        where = visible(f"{settings.pharmacy} · {settings.station} · {settings.actor}")
        self.update(f" {clock} │ {where} │ {health_text(health)}")


class AlertBanner(Static):
    """The first open alert, until someone acknowledges it."""

    def __init__(self) -> None:
        super().__init__("", id="alerts", markup=False)

    def show(self, alerts: Sequence[Mapping[Any, Any]], ack_key: str | None) -> None:
        self.display = bool(alerts)
        if alerts:
            more = f" (1 of {len(alerts)})" if len(alerts) > 1 else ""
            how = f" — {ack_key} acknowledges" if ack_key else ""
            self.update(f" ⚠ {shown(alerts[0]['message'])}{more}{how}")


class BoardView(Vertical):
    """Cards by column with a current column; data arrives as Messages."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime],
        *,
        ack_key: str | None = None,
    ) -> None:
        super().__init__(id="board")
        self.store = store
        self.settings = settings
        self.clock = clock
        self.ack_key = ack_key  # named in the banner; None on a screen that cannot acknowledge
        self.model = BoardModel()
        self.needle = ""
        self.show_cancelled = False
        self.loaded = False
        self.health: Health | None = None
        self.sources = sources.configured(settings)  # shown in the header even when idle
        self.alerts: Sequence[Mapping[Any, Any]] = []
        self._col = 0
        self._stop = threading.Event()  # ends the change feed with the view

    def compose(self) -> ComposeResult:
        yield BoardHeader()
        yield AlertBanner()
        with Horizontal(id="columns"):
            for status in Status:
                yield ColumnView(status, self.clock)

    def on_mount(self) -> None:
        self.column_for(Status.CANCELLED).display = False
        self.query_one(AlertBanner).display = False
        self._header()
        self.set_interval(1.0, self._header)
        self.set_interval(TICK_INTERVAL, self._tick)
        self._load()

    def on_unmount(self) -> None:
        self._stop.set()

    # ---------------------------------------------------------------- columns
    def column_for(self, status: Status) -> ColumnView:
        return self.query_one(f"#col-{status.value.lower()}", ColumnView)

    @property
    def visible_columns(self) -> list[ColumnView]:
        return [c for c in self.query(ColumnView) if c.display]

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
        for col in self.query(ColumnView):
            if col.compact != compact:
                col.compact = compact
                col.set_cards(col.cards, col.total)
                col.move_to(col.cursor)

    def paint(self, statuses: Iterable[Status], changed: set[str] | None = None) -> None:
        for status in statuses:
            cards = self.model.columns[status]
            # a copy: the column must still see its old list to keep the cursor on its order
            found = [c for c in cards if c.matches(self.needle)] if self.needle else list(cards)
            self.column_for(status).set_cards(found, len(cards), changed)
        self._keys_may_have_changed()

    def _keys_may_have_changed(self) -> None:
        """The legal keys follow the cursor's card, the alerts and the health: the screen
        asks the footer to redraw only if they really changed (``refresh_bindings``)."""
        if self.is_attached:
            self.screen.refresh_bindings()

    def _tick(self) -> None:
        for col in self.query(ColumnView):
            col.tick()
        self._keys_may_have_changed()

    def _header(self) -> None:
        self.query_one(BoardHeader).show(self.clock(), self.settings, self.health)

    # ----------------------------------------------------------------- cards
    def move_card(self, card: Card, status: Status) -> None:
        """The optimistic half of a move: the card changes column at once."""
        self.paint(self.model.move(card, status), {card.id})

    def mark_pending(self, card: Card) -> None:
        card.pending = True
        self.paint({card.status}, {card.id})

    def show_rows(self, rows: Iterable[Mapping[Any, Any]], failed: set[str]) -> None:
        """Fresh rows (a batch of the feed, a refused move read again): one repaint."""
        rows = list(rows)
        self.paint(self.model.upsert(rows, failed), {r["id"] for r in rows})

    def show_order(self, order: OrderView) -> None:
        """The order as the service returned it after a move: no read of our own."""
        old = self.model.cards.get(order.id)
        card = Card.from_view(order, failed=old.sync_failed if old else False)
        self.paint(self.model.place([card]), {card.id})

    def _flag_failed(self, failed: set[str], ids: Iterable[str] | None = None) -> None:
        flipped = self.model.flag_failed(failed, ids)
        if flipped:
            self.paint({self.model.cards[i].status for i in flipped}, flipped)

    # -------------------------------------------------------------- messages
    @on(BoardLoaded)
    def _loaded(self, message: BoardLoaded) -> None:
        self.model.finished_since = day_start(self.clock())
        self.model.load(message.cards)
        self.loaded = True  # before painting: the legal keys are asked for as it paints
        self.paint(Status)
        first = next((i for i, s in enumerate(Status) if self.model.columns[s]), 0)
        self.set_current(min(first, 2))
        self._show_alerts(message.alerts)
        self._show_health(message.health)
        self._follow(message.cursor)
        self.set_interval(HEALTH_INTERVAL, self._poll_health)

    @on(ChangesArrived)
    def _changes_arrived(self, message: ChangesArrived) -> None:
        if message.rows:
            self.show_rows(message.rows, message.failed)
        if message.confirmed:
            self._flag_failed(message.failed, message.confirmed)

    @on(HealthChanged)
    def _health_changed(self, message: HealthChanged) -> None:
        if message.failed is not None:
            self._flag_failed(message.failed)
        self._show_health(message.health)

    @on(AlertsChanged)
    def _alerts_changed(self, message: AlertsChanged) -> None:
        self._show_alerts(message.alerts)

    def _show_health(self, health: Health) -> None:
        self.health = health
        self._header()
        self._keys_may_have_changed()

    def _show_alerts(self, alerts: Sequence[Mapping[Any, Any]]) -> None:
        self.alerts = alerts
        self.query_one(AlertBanner).show(alerts, self.ack_key)
        self._keys_may_have_changed()

    # --------------------------------------------------------------- workers
    @work(thread=True, group="load")
    def _load(self) -> None:
        store = self.store
        cursor, cards = bq.board_load(  # cards built here, off the event loop
            store, [s.value for s in Status], day_start(self.clock()), Card.from_row
        )
        health, alerts = store.sync_health(self.sources), store.open_alerts()
        self.post_message(BoardLoaded(cursor, cards, health, alerts))

    @work(thread=True, group="feed")
    def _follow(self, since: int) -> None:
        """One message per coalesced batch of the change feed, until the view goes."""
        try:
            for batch in change_batches(self.store, self._stop, since=since):
                self.post_message(self._batch(batch.order_ids))
        except StoreError as exc:
            self.post_message(Notice(f"live updates stopped: {exc}", "error"))

    def _batch(self, ids: frozenset[str]) -> ChangesArrived:
        """Read full rows only for orders not shown as they are (runs in the feed thread):
        this terminal's own move came back with the service's answer already."""
        now = bq.versions(self.store, ids)
        stale = sorted(i for i in ids if now.get(i) != self.model.version_of(i))
        rows, failed = bq.rows_for(self.store, stale) if stale else ([], set())
        confirmed = ids.difference(stale)
        if confirmed:  # a parked push changes no version: the badge is read anyway
            failed |= bq.failed_order_ids(self.store, sorted(confirmed))
        return ChangesArrived(rows, failed, confirmed)

    @work(thread=True, group="health", exclusive=True)
    def _poll_health(self) -> None:
        store = self.store
        try:
            health, alerts, failed = (
                store.sync_health(self.sources),
                store.open_alerts(),
                bq.failed_order_ids(store),
            )
        except StoreError:
            return  # the feed says so once; the header keeps its last word
        self.post_message(AlertsChanged(alerts))
        self.post_message(HealthChanged(health, failed))

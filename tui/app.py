"""The floor board: a live, keyboard-driven kanban over the local store.

Database work runs in thread workers (the screen never waits); the change feed is followed
in one worker and coalesced so that a burst of 1,000 changes is one repaint.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from rich.segment import Segment, Segments
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from rxfloor.core.config import ConfigError, Settings, state_file
from rxfloor.core.db import StoreError, SyncHealth
from rxfloor.core.db import queries as bq
from rxfloor.core.lifecycle import MOVES, Action, Status
from rxfloor.core.service import MoveResult, OrderService, ServiceError
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.model import BoardModel, Card
from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.crash import crash_line, write_crash_log
from rxfloor.tui.screens.modals import (
    CANCEL_REASONS,
    HOLD_REASONS,
    DetailScreen,
    GotoScreen,
    HelpScreen,
    ReasonScreen,
)
from rxfloor.tui.themes import DEFAULT_THEME, register_themes

Background = Callable[[], AbstractContextManager[object]]

#: Board keys; the id is the name used in the config file's ``[keys]`` table.
BOARD_BINDINGS: list[BindingType] = [
    Binding("left,h", "column(-1)", "Column", id="column_left", show=False),
    Binding("right,l", "column(1)", "Column", id="column_right", show=False),
    Binding("up,k", "card(-1)", "Card", id="card_up", show=False),
    Binding("down,j", "card(1)", "Card", id="card_down", show=False),
    Binding("home", "edge(0)", "First", id="first", show=False),
    Binding("end", "edge(1)", "Last", id="last", show=False),
    Binding("pageup", "page(-1)", "Page up", id="page_up", show=False),
    Binding("pagedown", "page(1)", "Page down", id="page_down", show=False),
    Binding("a,space", "advance", "Advance", id="advance"),
    Binding("x", "cancel_order", "Cancel", id="cancel"),
    Binding("p", "hold", "Hold/release", id="hold"),
    Binding("enter", "detail", "Detail", id="detail"),
    Binding("slash", "filter", "Filter", id="filter"),
    Binding("g", "goto", "Go to", id="goto"),
    Binding("u", "undo", "Undo", id="undo"),
    Binding("c", "toggle_cancelled", "Cancelled", id="cancelled"),
    Binding("A", "acknowledge", "Ack alert", id="acknowledge"),
    Binding("escape", "clear_filter", "Clear filter", id="clear_filter", show=False),
]
APP_BINDINGS: list[BindingType] = [
    Binding("question_mark", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
]
_ALL: list[Binding] = [b for b in [*BOARD_BINDINGS, *APP_BINDINGS] if isinstance(b, Binding)]
KEY_IDS = frozenset(b.id for b in _ALL if b.id)
_CARD_ACTIONS = {"advance", "cancel_order", "hold", "detail"}
_HELP_TEXT = {
    "column_left": "Column left",
    "column_right": "Column right",
    "card_up": "Card up",
    "card_down": "Card down",
}
#: the exit code of the board after an internal error (sysexits EX_SOFTWARE)
EXIT_INTERNAL_ERROR = ExitCode.INTERNAL
FEED_MIN_INTERVAL = 0.1  # at most ~10 repaints a second from the feed
HEALTH_INTERVAL = 1.0


def check_keymap(keys: Mapping[str, str]) -> dict[str, str]:
    """The ``[keys]`` table of the config file, checked: ``advance = "n,space"``."""
    unknown = sorted(set(keys) - KEY_IDS)
    if unknown:
        raise ConfigError(
            f"unknown key action(s) in [keys]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KEY_IDS))})"
        )
    empty = sorted(k for k, v in keys.items() if not v.strip())
    if empty:
        raise ConfigError(f"empty key binding in [keys]: {', '.join(empty)}")
    return {k: v.replace(" ", "") for k, v in keys.items()}


def health_text(health: SyncHealth | None) -> str:
    if health is None or health.online is None:
        state = "offline"
    elif health.online:
        state = "online"
    else:
        since = health.offline_since.astimezone().strftime("%H:%M") if health.offline_since else ""
        state = f"offline since {since}" if since else "offline"
    queued = health.queued if health else 0
    failed = health.failed if health else 0
    return f"sync: {state} · {queued} queued · {failed} failed"


class BoardScreen(Screen[None]):
    """The columns, the cursor and every card action."""

    BINDINGS = BOARD_BINDINGS
    AUTO_FOCUS = None  # keys go to the board; only the filter box ever takes focus

    def __init__(self) -> None:
        super().__init__()
        self.model = BoardModel()
        self.needle = ""
        self.show_cancelled = False
        self.loaded = threading.Event()
        self.undo_stack: list[tuple[int, str]] = []
        self.alerts: list[Mapping[str, Any]] = []
        self.health: SyncHealth | None = None
        self.feed_batches = 0  # how many coalesced updates were painted (tests, benchmark)
        self.moves_in_flight = 0
        self.load_ms = 0.0  # mount to cards painted (benchmark)
        self._mounted_at = 0.0
        self._col = 0

    @property
    def rx(self) -> BoardApp:
        app = self.app
        assert isinstance(app, BoardApp)
        return app

    def compose(self) -> ComposeResult:
        # text from data is never parsed as markup (an order named "[/]x" is just a name)
        yield Static("", id="header", markup=False)
        yield Static("", id="alerts", markup=False)
        with Horizontal(id="columns"):
            for status in Status:
                yield ColumnView(status, self.rx.clock)
        yield Input(placeholder="filter: name, patient or item (Esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#col-cancelled", ColumnView).display = False
        self.query_one("#filter", Input).display = False
        self.query_one("#alerts", Static).display = False
        self._header()
        self.set_interval(1.0, self._header)
        self.set_interval(30.0, self._tick)
        self._mounted_at = time.perf_counter()
        self._load()

    # ---------------------------------------------------------------- columns
    @property
    def visible_columns(self) -> list[ColumnView]:
        return [c for c in self.query(ColumnView) if c.display]

    @property
    def column(self) -> ColumnView:
        cols = self.visible_columns
        self._col = max(0, min(self._col, len(cols) - 1))
        return cols[self._col]

    @property
    def card(self) -> Card | None:
        if not self.visible_columns:  # while the screen is being torn down
            return None
        return self.column.cursor_card

    def _set_current(self, index: int) -> None:
        cols = self.visible_columns
        self._col = max(0, min(index, len(cols) - 1))
        for i, col in enumerate(cols):
            col.current = i == self._col
            col.set_class(col.current, "-current")
            col.refresh()
        self.refresh_bindings()

    def _paint(self, statuses: Iterable[Status], changed: set[str] | None = None) -> None:
        for status in statuses:
            col = self.query_one(f"#col-{status.value.lower()}", ColumnView)
            cards = self.model.columns[status]
            # a copy: the column must still see its old list to keep the cursor on its order
            shown = [c for c in cards if c.matches(self.needle)] if self.needle else list(cards)
            col.set_cards(shown, len(cards), changed)
        self.refresh_bindings()

    def on_resize(self) -> None:
        compact = self.size.height < 36
        for col in self.query(ColumnView):
            if col.compact != compact:
                col.compact = compact
                col.set_cards(col.cards, col.total)
                col.move_to(col.cursor)

    def _tick(self) -> None:
        for col in self.query(ColumnView):
            col.tick()
        self.refresh_bindings()

    def _header(self) -> None:
        s = self.rx.settings
        now = self.rx.clock().astimezone().strftime("%H:%M:%S")
        where = visible(f"{s.pharmacy} · {s.station} · {s.actor}")
        self.query_one("#header", Static).update(f" {now} │ {where} │ {health_text(self.health)}")

    # ------------------------------------------------------------ data, feed
    @work(thread=True, group="load")
    def _load(self) -> None:
        store = self.rx.service.store
        since = self.rx.today_start()
        cursor, rows, failed = bq.board_load(store, [s.value for s in Status], since)
        health, alerts = store.sync_health(), store.open_alerts()
        self.app.call_from_thread(self._loaded, rows, failed, health, alerts)
        self._follow(cursor)

    def _loaded(
        self, rows: list[Any], failed: set[str], health: SyncHealth, alerts: list[Any]
    ) -> None:
        self.model.finished_since = self.rx.today_start()
        self.model.load(rows, failed)
        self._paint(Status)
        first = next((i for i, s in enumerate(Status) if self.model.columns[s]), 0)
        self._set_current(min(first, 2))
        self._health(health, alerts)
        self.load_ms = (time.perf_counter() - self._mounted_at) * 1000
        self.loaded.set()

    def _follow(self, cursor: int) -> None:
        """Follow the change feed until the app closes (runs in the load worker's thread)."""
        store = self.rx.service.store
        worker = get_current_worker()
        waiter = store.change_waiter()
        next_health = 0.0
        try:
            while not worker.is_cancelled:
                waiter.wait(0.25)
                if worker.is_cancelled:
                    break
                cursor, ids = store.changes_since(cursor)
                if ids:
                    rows, failed = bq.rows_for(store, sorted(ids))
                    self.app.call_from_thread(self.apply_rows, rows, failed)
                if time.monotonic() >= next_health:
                    next_health = time.monotonic() + HEALTH_INTERVAL
                    health, alerts = store.sync_health(), store.open_alerts()
                    failed_now = bq.failed_order_ids(store)
                    self.app.call_from_thread(self._health, health, alerts, failed_now)
                time.sleep(FEED_MIN_INTERVAL)  # coalesce: later changes wait for one batch
        except StoreError as exc:
            self.app.call_from_thread(self.rx.say, f"live updates stopped: {exc}", "error")
        finally:
            waiter.close()

    def apply_rows(self, rows: list[Any], failed: set[str]) -> None:
        """One coalesced batch from the feed (or a move's confirmation): one repaint."""
        touched = self.model.upsert(rows, failed)
        self.feed_batches += 1
        self._paint(touched, {r["id"] for r in rows})

    def _health(
        self, health: SyncHealth, alerts: list[Any], failed: set[str] | None = None
    ) -> None:
        self.health = health
        self.alerts = alerts
        banner = self.query_one("#alerts", Static)
        banner.display = bool(alerts)
        if alerts:
            first = alerts[0]
            more = f" (1 of {len(alerts)})" if len(alerts) > 1 else ""
            key = self.rx.key_display("acknowledge")
            message = shown(first["message"])
            banner.update(f" ⚠ {message}{more} — {key} acknowledges")
        if failed is not None:
            flipped = {c.id for c in self.model.cards.values() if c.sync_failed != (c.id in failed)}
            for card_id in flipped:
                card = self.model.cards[card_id]
                card.sync_failed = not card.sync_failed
            if flipped:
                self._paint({self.model.cards[i].status for i in flipped}, flipped)
        self._header()
        self.refresh_bindings()

    # ------------------------------------------------------------ key checks
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.loaded.is_set() and action not in ("toggle_cancelled",):
            return action not in _CARD_ACTIONS and action != "undo"
        if action == "clear_filter":
            return bool(self.needle) or self.query_one("#filter", Input).display
        if action == "undo":
            return bool(self.undo_stack)
        if action == "acknowledge":
            return bool(self.alerts)
        if action in _CARD_ACTIONS:
            card = self.card
            if card is None or card.pending:
                return False
            if action == "detail":
                return True
            legal = card.legal(self.rx.clock())
            if action == "advance":
                return bool(legal & {Action.START, Action.FINISH})
            if action == "cancel_order":
                return Action.CANCEL in legal
            return bool(legal & {Action.HOLD, Action.RELEASE})
        return True

    # ------------------------------------------------------------ navigation
    def action_column(self, delta: int) -> None:
        self._set_current(self._col + delta)

    def action_card(self, delta: int) -> None:
        self.column.move_to(self.column.cursor + delta)
        self.refresh_bindings()

    def action_edge(self, end: int) -> None:
        self.column.move_to(len(self.column.cards) - 1 if end else 0)
        self.refresh_bindings()

    def action_page(self, delta: int) -> None:
        self.column.move_to(self.column.cursor + delta * self.column.page())
        self.refresh_bindings()

    def action_toggle_cancelled(self) -> None:
        keep = self.column
        self.show_cancelled = not self.show_cancelled
        col = self.query_one("#col-cancelled", ColumnView)
        col.display = self.show_cancelled
        col.current = False
        cols = self.visible_columns
        self._set_current(cols.index(keep) if keep in cols else len(cols) - 1)

    # ----------------------------------------------------------------- moves
    def action_advance(self) -> None:
        card = self.card
        if card is None:
            return
        action = Action.START if card.status is Status.OPEN else Action.FINISH
        self.move(card, action)

    def action_cancel_order(self) -> None:
        card = self.card
        if card is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.CANCEL, reason)

        self.app.push_screen(ReasonScreen(f"Cancel {card.name}: why?", CANCEL_REASONS), done)

    def action_hold(self) -> None:
        card = self.card
        if card is None:
            return
        if card.on_hold:
            self.move(card, Action.RELEASE)
            return

        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.HOLD, reason)

        self.app.push_screen(ReasonScreen(f"Hold {card.name}: why?", HOLD_REASONS), done)

    def move(self, card: Card, action: Action, reason: str | None = None) -> None:
        """Optimistic: the card moves at once; a refusal puts it back with a message."""
        target = MOVES.get((card.status, action))
        if target is not None:
            self._paint(self.model.move(card, target), {card.id})
        else:
            card.pending = True
            self._paint({card.status}, {card.id})
        self.moves_in_flight += 1
        self._send(card.id, card.version, action, reason)

    @work(thread=True, group="moves")
    def _send(self, card_id: str, version: int, action: Action, reason: str | None) -> None:
        service = self.rx.service
        result: MoveResult | None = None
        error: str | None = None
        try:
            result = service.act(card_id, action, reason=reason, expected_version=version)
        except (ServiceError, StoreError) as exc:
            error = str(exc)
        try:
            rows, failed = bq.rows_for(service.store, [card_id])
        except StoreError:
            rows, failed = [], set()
        self.app.call_from_thread(self._sent, result, error, rows, failed)

    def _sent(
        self, result: MoveResult | None, error: str | None, rows: list[Any], failed: set[str]
    ) -> None:
        self.moves_in_flight -= 1
        if result is not None:
            self.undo_stack.append((result.event_id, result.summary))
            self.rx.say(result.summary, "information")
        if error is not None:
            self.rx.say(error, "error")
        self.apply_rows(rows, failed)

    def action_undo(self) -> None:
        if not self.undo_stack:
            return
        event_id, summary = self.undo_stack.pop()
        self._undo(event_id, summary)

    @work(thread=True, group="moves")
    def _undo(self, event_id: int, summary: str) -> None:
        service = self.rx.service
        try:
            result = service.undo(event_id)
            message, severity, ids = f"undone: {summary}", "information", [result.order.id]
        except (ServiceError, StoreError) as exc:
            message, severity, ids = str(exc), "error", []
        rows, failed = bq.rows_for(service.store, ids) if ids else ([], set())
        self.app.call_from_thread(self.rx.say, message, severity)
        if rows:
            self.app.call_from_thread(self.apply_rows, rows, failed)

    def action_acknowledge(self) -> None:
        if self.alerts:
            self._acknowledge(int(self.alerts[0]["id"]))

    @work(thread=True, group="moves")
    def _acknowledge(self, alert_id: int) -> None:
        store = self.rx.service.store
        try:
            self.rx.service.acknowledge_alert(alert_id)
            health, alerts = store.sync_health(), store.open_alerts()
        except StoreError as exc:
            self.app.call_from_thread(self.rx.say, str(exc), "error")
            return
        self.app.call_from_thread(self._health, health, alerts)

    # --------------------------------------------------- detail, filter, go to
    def action_detail(self) -> None:
        if self.card is not None:
            self._detail(self.card.id)

    @work(thread=True, group="reads")
    def _detail(self, card_id: str) -> None:
        service = self.rx.service
        try:
            order = service.get(card_id)
            items = service.store.line_items(card_id)
            history = service.store.history(card_id)
            errors = bq.sync_errors(service.store, card_id)
        except (ServiceError, StoreError) as exc:
            self.app.call_from_thread(self.rx.say, str(exc), "error")
            return
        v = visible  # every value from data: controls shown, never acted on by the terminal
        lines = [
            f"Patient     {v(order.patient_name)}",
            f"Status      {order.status}   priority {order.priority}   "
            f"delivery {order.delivery_type}",
            f"Due         {local(order.due_at) if order.due_at else '-'}"
            + (f"   scheduled for {local(order.fulfill_at)}" if order.fulfill_at else ""),
        ]
        if order.hold:
            lines.append(f"On hold     {v(order.hold_reason or '')} (by {v(order.hold_by or '')})")
        for err in errors:
            lines.append(f"Sync error  {shown(err)}")
        lines += ["", "Items"]
        for it in items:
            lines.append(
                f"  {it['quantity']}x {v(it['drug'])} {v(it['strength'])}   "
                f"PZN {v(it['pzn'] or '-')}"
            )
        lines += ["", "Timeline"]
        for ev in history:
            move = f"{ev['from_status'] or '-'} → {ev['to_status'] or '-'}"
            why = f"  «{v(ev['reason'])}»" if ev["reason"] else ""
            lines.append(
                f"  {local(ev['at'])}  {v(ev['actor']):<8} {v(ev['station']):<12} "
                f"{ev['action']:<11} {move:<24} {ev['source']}{why}"
            )
        title = f"{v(order.name)}  ({v(order.id)})"
        self.app.call_from_thread(self.app.push_screen, DetailScreen(title, "\n".join(lines)))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip().lower()
        self._paint(Status)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.set_focus(None)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.needle = ""
        self.set_focus(None)
        self._paint(Status)

    def action_goto(self) -> None:
        self.app.push_screen(GotoScreen(), self._goto_ref)

    def _goto_ref(self, ref: str | None) -> None:
        if not ref:
            return
        self._lookup(ref)

    @work(thread=True, group="reads")
    def _lookup(self, ref: str) -> None:
        store = self.rx.service.store
        card_id = ref.strip()
        if card_id not in self.model.cards:
            try:
                with store.read() as conn:
                    row = bq.resolve_order(conn, ref)
            except bq.AmbiguousOrder as exc:
                self.app.call_from_thread(self.rx.say, str(exc), "warning")
                return
            if row is None:
                self.app.call_from_thread(self.rx.say, f"no order {ref!r}", "warning")
                return
            card_id = row["id"]
            if card_id not in self.model.cards:  # e.g. FINISHED before today
                self.app.call_from_thread(
                    self.rx.say, f"{row['name']} is {row['status']} (before today)", "warning"
                )
                return
        self.app.call_from_thread(self.focus_order, card_id)

    def focus_order(self, card_id: str) -> bool:
        """Put the cursor on an order wherever it is (showing CANCELLED, clearing the filter)."""
        card = self.model.cards.get(card_id)
        if card is None:
            return False
        if card.status is Status.CANCELLED and not self.show_cancelled:
            self.action_toggle_cancelled()
        if self.needle and not card.matches(self.needle):
            self.action_clear_filter()
        col = self.query_one(f"#col-{card.status.value.lower()}", ColumnView)
        self._set_current(self.visible_columns.index(col))
        col.select(card_id)
        self.refresh_bindings()
        return True


class BoardApp(App[None]):
    """``rxfloor``: the board on the configured database."""

    CSS_PATH = "board.tcss"
    TITLE = "rxfloor"
    AUTO_FOCUS = None  # the board takes keys itself; dialogs choose their own focus
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        service: OrderService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        background: Background | None = None,
        remember_theme: bool = True,
    ) -> None:
        super().__init__()
        self.service = service
        self.settings = settings
        self.clock = clock or service.clock
        self.background = background
        self.remember_theme = remember_theme
        self.said: list[tuple[str, str]] = []  # every notification (tests read it)
        self._stop = threading.Event()
        self.keymap = check_keymap(settings.keys)
        register_themes(self)
        self.theme = self._initial_theme()

    def _initial_theme(self) -> str:
        saved = _read_state().get("theme") if self.remember_theme else None
        for name in (saved, self.settings.theme, DEFAULT_THEME):
            if name and name in self.available_themes:
                return name
        return DEFAULT_THEME

    def watch_theme(self, theme: str) -> None:
        if self.remember_theme and self.is_running:
            _write_state({"theme": theme})

    def get_default_screen(self) -> Screen[Any]:
        return BoardScreen()

    def _handle_exception(self, error: Exception) -> None:
        """Every unhandled exception of the app, its screens, widgets, timers and workers
        ends here (Textual's single hook). Textual would print the traceback with the
        frame locals (patient data); instead: the traceback alone to the crash log, one
        line on the terminal, exit code :data:`EXIT_INTERNAL_ERROR`."""
        path, problem = write_crash_log(error)
        if self._exception is None:  # as Textual does: run_test re-raises it for tests
            self._exception = error
            self._exception_event.set()
        self._return_code = EXIT_INTERNAL_ERROR
        self.bell()
        # one line however narrow the terminal: Segments (no wrapping when pre-rendered) and a
        # soft-wrapping error console (no cropping when printed at exit)
        self.error_console.soft_wrap = True
        self.panic(Segments([Segment(crash_line(path, problem)), Segment.line()]))

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        if self.background is not None:
            self._run_background(self.background)

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, group="background")
    def _run_background(self, background: Background) -> None:
        """The sync worker (and, in the demo, the in-process stand-in), stopped on exit."""
        try:
            with background():
                self._stop.wait()
        except Exception as exc:  # report, never take the board down
            self.call_from_thread(self.say, f"background task stopped: {exc}", "error")

    @property
    def board(self) -> BoardScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, BoardScreen)
        return screen

    def today_start(self) -> datetime:
        local = self.clock().astimezone()
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def say(self, message: str, severity: str = "information") -> None:
        """A toast. Its words may quote data or a remote: scrubbed, controls visible, and
        never parsed as markup."""
        message = shown(message)
        self.said.append((severity, message))
        self.notify(
            message,
            severity=severity,  # type: ignore[arg-type]
            timeout=4 if severity == "information" else 8,
            markup=False,
        )

    def key_display(self, binding_id: str) -> str:
        keys = self.keymap.get(binding_id) or next(b.key for b in _ALL if b.id == binding_id)
        return "/".join(self.get_key_display(Binding(k, "")) for k in keys.split(","))

    def help_rows(self) -> list[tuple[str, str]]:
        rows = []
        for b in _ALL:
            assert b.id is not None
            desc = _HELP_TEXT.get(b.id, b.description)
            rows.append((self.key_display(b.id), desc))
        rows.append(("ctrl+p", "Command palette (every action, themes)"))
        return rows

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows()))

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        yield from super().get_system_commands(screen)
        board = self.board
        for action, title, text in (
            ("advance", "Advance order", "Start an OPEN order, finish a PROCESSING one"),
            ("cancel_order", "Cancel order", "Cancel the focused order (asks the reason)"),
            ("hold", "Hold / release order", "Put the focused order on hold or release it"),
            ("detail", "Order detail", "Items, patient, delivery and the full timeline"),
            ("filter", "Filter", "Filter cards by name, patient or item"),
            ("goto", "Go to order", "Jump to an order by id, name or barcode"),
            ("undo", "Undo last move", "Take back this terminal's last move"),
            ("toggle_cancelled", "Show/hide CANCELLED", "Toggle the CANCELLED column"),
            ("acknowledge", "Acknowledge alert", "Mark the first open alert as seen"),
            ("help", "Keys", "Every key of the board"),
        ):
            target = self if action == "help" else board
            yield SystemCommand(title, text, _palette_call(target, action))


def _palette_call(target: Screen[Any] | App[Any], action: str) -> Callable[[], None]:
    def call() -> None:
        if target.check_action(action, ()) is False:
            target.app.notify(
                f"{action.replace('_', ' ')}: not possible for this card now", markup=False
            )
            return
        getattr(target, f"action_{action}")()

    return call


def local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M")


def _read_state() -> dict[str, Any]:
    try:
        data = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(update: dict[str, Any]) -> None:
    path = state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**_read_state(), **update}))
    except OSError:
        pass  # a read-only home must not stop the board


__all__ = ["BoardApp", "BoardScreen", "check_keymap"]

"""The board screen: the view plus every key action (moves, undo, filter, go-to, detail).

Keys come from the action table (:mod:`rxfloor.tui.actions`). A move is optimistic: the
card moves at once, the service call runs in a thread worker and its answer comes back
as a Message carrying the order as the service left it (no second read).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Input

from rxfloor.core.db import StoreError
from rxfloor.core.db import queries as bq
from rxfloor.core.lifecycle import MOVES, Action, Status, resolve
from rxfloor.core.service import ServiceError
from rxfloor.tui.actions import BY_METHOD, bindings
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.messages import (
    AlertsChanged,
    DetailLoaded,
    HealthChanged,
    MoveDone,
    MoveRefused,
    Notice,
    OrderFound,
    Row,
    Undone,
)
from rxfloor.tui.board.model import BoardModel, Card
from rxfloor.tui.board.view import BoardView
from rxfloor.tui.screens.detail import DetailScreen, detail_text
from rxfloor.tui.screens.goto import GotoScreen
from rxfloor.tui.screens.reason import CANCEL_REASONS, HOLD_REASONS, ReasonScreen

if TYPE_CHECKING:
    from rxfloor.tui.app import BoardApp


class BoardScreen(Screen[None]):
    """The columns, the cursor and every card action."""

    BINDINGS = bindings(on_app=False)
    AUTO_FOCUS = None  # keys go to the board; only the filter box ever takes focus

    def __init__(self) -> None:
        super().__init__()
        self.undo_stack: list[tuple[int, str]] = []  # (audit event, summary) of our moves
        self._keys_shown: tuple[bool | None, ...] | None = None

    @property
    def rx(self) -> BoardApp:
        return cast("BoardApp", self.app)

    def compose(self) -> ComposeResult:
        rx = self.rx
        yield BoardView(rx.service.store, rx.settings, rx.clock,
                        ack_key=rx.key_display("acknowledge"))  # fmt: skip
        yield Input(placeholder="filter: name, patient or item (Esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False

    def on_resize(self) -> None:
        self.view.set_compact(self.size.height < 36)

    # ------------------------------------------------------------- the view
    @property
    def view(self) -> BoardView:
        return self.query_one(BoardView)

    @property
    def model(self) -> BoardModel:
        return self.view.model

    @property
    def visible_columns(self) -> list[ColumnView]:
        return self.view.visible_columns

    @property
    def column(self) -> ColumnView:
        return self.view.column

    @property
    def card(self) -> Card | None:
        if not self.is_mounted:
            return None
        return self.view.card

    # ------------------------------------------------------------ key checks
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = BY_METHOD.get(action)
        if spec is None:
            return True
        view = self.view
        if not view.loaded:
            return not (spec.needs_card or spec.changes_data)
        if action == "clear_filter":
            return bool(view.needle) or self.query_one("#filter", Input).display
        if action == "undo":
            return bool(self.undo_stack)
        if action == "acknowledge":
            return bool(view.alerts)
        if spec.needs_card:
            card = self.card
            if card is None or card.pending:
                return False
            return not spec.needs_legal or bool(spec.needs_legal & card.legal(self.rx.clock()))
        return True

    def refresh_bindings(self) -> None:
        """Tell the footer only when the keys it shows changed: each time it is told it
        recomposes (a widget and a style pass per key, ~30 ms), and a move, a clock tick or
        a cursor step mostly leaves the legal keys as they were."""
        shown = tuple(self.check_action(method, ()) for method in BY_METHOD)
        if shown != self._keys_shown:
            self._keys_shown = shown
            super().refresh_bindings()

    # ------------------------------------------------------------ navigation
    def action_column(self, delta: int) -> None:
        self.view.set_current(self.view.current_index + delta)

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
        self.view.toggle_cancelled()

    # ----------------------------------------------------------------- moves
    def action_advance(self) -> None:
        card = self.card
        if card is None:
            return
        self.move(card, resolve(card.status, Action.ADVANCE))

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
            self.view.move_card(card, target)
        else:
            self.view.mark_pending(card)
        self._send(card.id, card.version, action, reason)

    @work(thread=True, group="moves")
    def _send(self, card_id: str, version: int, action: Action, reason: str | None) -> None:
        service = self.rx.service
        try:
            result = service.act(card_id, action, reason=reason, expected_version=version)
        except (ServiceError, StoreError) as exc:
            order = getattr(exc, "order", None)  # a refusal carries the order as it is now
            rows: Sequence[Row] = ()
            failed: set[str] = set()
            if order is None:  # e.g. the write lock timed out: read the card back
                with suppress(StoreError):
                    rows, failed = bq.rows_for(service.store, [card_id])
            self.post_message(MoveRefused(str(exc), order, rows, failed))
            return
        self.post_message(MoveDone(result))

    @on(MoveDone)
    def _move_done(self, message: MoveDone) -> None:
        result = message.result
        self.undo_stack.append((result.event_id, result.summary))
        self.rx.say(result.summary, "information")
        self.view.show_order(result.order)

    @on(MoveRefused)
    def _move_refused(self, message: MoveRefused) -> None:
        self.rx.say(message.error, "error")
        if message.order is not None:
            self.view.show_order(message.order)
        else:
            self.view.show_rows(message.rows, message.failed)

    def action_undo(self) -> None:
        if not self.undo_stack:
            return
        event_id, summary = self.undo_stack.pop()
        self._undo(event_id, summary)

    @work(thread=True, group="moves")
    def _undo(self, event_id: int, summary: str) -> None:
        try:
            result = self.rx.service.undo(event_id)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(Undone(result, summary))

    @on(Undone)
    def _undone(self, message: Undone) -> None:
        self.rx.say(f"undone: {message.summary}", "information")
        self.view.show_order(message.result.order)

    def action_acknowledge(self) -> None:
        if self.view.alerts:
            self._acknowledge(int(self.view.alerts[0]["id"]))

    @work(thread=True, group="moves")
    def _acknowledge(self, alert_id: int) -> None:
        store = self.rx.service.store
        try:
            self.rx.service.acknowledge_alert(alert_id)
            health, alerts = store.sync_health(self.view.sources), store.open_alerts()
        except StoreError as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.view.post_message(AlertsChanged(alerts))
        self.view.post_message(HealthChanged(health))

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
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(DetailLoaded(order, items, history, errors))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        title, body = detail_text(message.order, message.items, message.history, message.errors)
        self.app.push_screen(DetailScreen(title, body))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.view.set_filter(event.value.strip().lower())

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.set_focus(None)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.set_focus(None)
        self.view.set_filter("")

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
                self.post_message(Notice(str(exc), "warning"))
                return
            if row is None:
                self.post_message(Notice(f"no order {ref!r}", "warning"))
                return
            card_id = row["id"]
            if card_id not in self.model.cards:  # e.g. FINISHED before today
                self.post_message(
                    Notice(f"{row['name']} is {row['status']} (before today)", "warning")
                )
                return
        self.post_message(OrderFound(card_id))

    @on(OrderFound)
    def _order_found(self, message: OrderFound) -> None:
        self.focus_order(message.card_id)

    def focus_order(self, card_id: str) -> bool:
        """Put the cursor on an order wherever it is (showing CANCELLED, clearing the filter)."""
        view = self.view
        card = view.model.cards.get(card_id)
        if card is None:
            return False
        if card.status is Status.CANCELLED and not view.show_cancelled:
            view.toggle_cancelled()
        if view.needle and not card.matches(view.needle):
            self.action_clear_filter()
        col = view.column_for(card.status)
        view.set_current(view.visible_columns.index(col))
        col.select(card_id)
        self.refresh_bindings()
        return True

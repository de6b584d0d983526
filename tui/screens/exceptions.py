"""The exceptions queue (``e`` on the board): what needs a person and fits no column.

Oldest first: a parked move (retry it, resolve it with a note), a source's exceptional
status (resolve it with a note), a merchant's unanswered cancellation request (accept or
reject it, as on the board); any of them opens its order. The list is read again after
each batch of the board's change feed and whenever the header's count changes (the
board view's ``changed`` signal), so it never needs a key to be current.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from rxfloor.core import exception_queue
from rxfloor.core.age import age
from rxfloor.core.db import StoreError
from rxfloor.core.db import queries as bq
from rxfloor.core.due import Targets
from rxfloor.core.exception_queue import ExceptionItem, Kind, Remedy
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import ServiceError
from rxfloor.core.sources import status_words
from rxfloor.core.text import visible
from rxfloor.tui.actions import BY_ID
from rxfloor.tui.board.messages import DetailLoaded, Notice
from rxfloor.tui.board.notice import NoticeLine
from rxfloor.tui.contain import Contained
from rxfloor.tui.screens.detail import DetailScreen, detail_text
from rxfloor.tui.screens.reason import RESOLVE_NOTES, ReasonScreen, reject_cancel_screen

if TYPE_CHECKING:
    from rxfloor.tui.app import BoardApp
    from rxfloor.tui.board.view import BoardView

#: the fixed columns (age, source, order, kind); the words take the rest of the width
_WIDTHS = (5, 10, 12, 14)
AGE_INTERVAL = 30.0  # seconds between repaints of the ages (the board's TICK_INTERVAL)


def fit(text: str, width: int) -> str:
    """``text`` in ``width`` cells at most: cut with ``…`` (the detail below shows it all)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def kind_words(item: ExceptionItem) -> str:
    if item.kind is Kind.MOVE:
        return f"parked {item.move}"
    return str(item.kind)  # the CLI's words too (rxfloor exceptions)


class ExceptionsRead(Message):
    """The queue as read in a worker."""

    def __init__(self, items: Sequence[ExceptionItem]) -> None:
        super().__init__()
        self.items = items


class Settled(Message):
    """A retry, resolve or answer went through (or was refused): say it, read again."""

    def __init__(self, text: str, severity: str) -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class ExceptionsScreen(Contained, Screen[None]):
    """Every item of the queue, oldest first, with the actions that apply to the one under
    the cursor (the footer shows only those)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding(BY_ID["exceptions"].keys, "back", "Back", show=False, id="exceptions"),
        Binding("t", "retry", "Retry"),
        Binding("n", "resolve", "Resolve"),
        Binding("enter", "open", "Open order", priority=True),
        Binding(BY_ID["accept_cancel"].keys, "accept", "Accept cancel", id="accept_cancel"),
        Binding(BY_ID["reject_cancel"].keys, "reject", "Reject cancel", id="reject_cancel"),
    ]

    def __init__(self, board: BoardView) -> None:
        super().__init__()
        self.board = board
        self.items: list[ExceptionItem] = []
        self.loaded = False

    @property
    def rx(self) -> BoardApp:
        return cast("BoardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Label("", id="exceptions-title", markup=False)
        yield DataTable(id="exceptions-table", cursor_type="row", zebra_stripes=True)
        yield Label("Nothing needs a person.", id="exceptions-empty")
        yield Static("", id="exceptions-detail", markup=False)
        yield NoticeLine(id="notice")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self._title()
        self.board.changed.subscribe(self, self._data_changed)
        self.set_interval(AGE_INTERVAL, self._aged)
        self.read()

    def _aged(self) -> None:
        """The ages move on while nothing changes."""
        if self.loaded:
            self._paint()

    def on_resize(self) -> None:
        if self.is_mounted and self.loaded:
            self._paint()

    @property
    def notice(self) -> NoticeLine:
        """This screen's sentences (the board's notice line is hidden under it)."""
        return self.query_one("#notice", NoticeLine)

    @on(Notice)
    def _said(self, message: Notice) -> None:
        message.stop()
        self.notice.say(message.text, message.severity)

    @property
    def table(self) -> DataTable[Text]:
        return cast("DataTable[Text]", self.query_one("#exceptions-table", DataTable))

    @property
    def item(self) -> ExceptionItem | None:
        if not self.items:
            return None
        return self.items[max(0, min(self.table.cursor_row, len(self.items) - 1))]

    # ------------------------------------------------------------- reading
    def _data_changed(self, _: None) -> None:
        self.read()

    @work(thread=True, exclusive=True, group="exceptions")
    def read(self) -> None:
        try:
            with self.rx.service.store.read() as conn:
                items = exception_queue.queue(conn, Targets.from_settings(self.rx.settings))
        except StoreError as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(ExceptionsRead(items))

    @on(ExceptionsRead)
    def _read(self, message: ExceptionsRead) -> None:
        self.items = list(message.items)
        self.loaded = True
        self._paint()

    def _words_width(self) -> int:
        fixed = sum(_WIDTHS) + 2 * (len(_WIDTHS) + 1) + 2  # cell padding, scrollbar
        return max(12, self.size.width - fixed)

    def _paint(self) -> None:
        """Rebuild the rows, the cursor staying on the item it was on (or its place)."""
        table = self.table
        keep = self.item.key if self.item is not None else None
        row = table.cursor_row
        width = self._words_width()
        now = self.rx.clock()
        table.clear(columns=True)  # the words column follows the screen's width
        for label, fixed in zip(("Age", "Source", "Order", "Kind"), _WIDTHS, strict=True):
            table.add_column(label, width=fixed)
        table.add_column("Words", width=width)
        for item in self.items:
            table.add_row(
                Text(age(item.since, now)),
                Text(fit(visible(item.source_label), _WIDTHS[1])),
                Text(fit(visible(item.order_name), _WIDTHS[2])),
                Text(kind_words(item)),
                Text(fit(visible(item.words), width)),
                key=item.key,
            )
        keys = [i.key for i in self.items]
        if keep in keys:
            row = keys.index(keep)
        if self.items:
            table.move_cursor(row=max(0, min(row, len(self.items) - 1)))
        table.display = bool(self.items)
        self.query_one("#exceptions-empty").display = not self.items
        self._title()
        self._detail()
        self.refresh_bindings()

    def _title(self) -> None:
        n = len(self.items)
        said = "reading…" if not self.loaded else f"{n} need{'s' if n == 1 else ''} a person"
        title = f" Exceptions · {said} · oldest first · Esc back to the board"
        self.query_one("#exceptions-title", Label).update(title)

    def _detail(self) -> None:
        """The item under the cursor in full: its words are often longer than the column."""
        item = self.item
        detail = self.query_one("#exceptions-detail", Static)
        detail.display = item is not None
        if item is None:
            return
        now = self.rx.clock()
        local = item.since.astimezone().strftime("%Y-%m-%d %H:%M")
        said = status_words(item.source, item.remote_status) if item.remote_status else ""
        where = f" · {item.source_label} says {said}" if said else ""
        row = f" · outbox row {item.outbox_id}" if item.outbox_id is not None else ""
        late = (
            f" · order late {age(item.promised, now)}" if item.promised and item.late(now) else ""
        )
        head = f"{item.order_name} · {kind_words(item)} since {local}{where}{row}{late}"
        detail.update(visible(head) + "\n" + visible(item.words))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._detail()
        self.refresh_bindings()

    # ------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        remedy = {
            "retry": Remedy.RETRY,
            "resolve": Remedy.RESOLVE,
            "open": Remedy.OPEN,
            "accept": Remedy.ACCEPT,
            "reject": Remedy.REJECT,
        }.get(action)
        if remedy is None:
            return True
        item = self.item
        return item is not None and remedy in item.actions

    def action_back(self) -> None:
        self.dismiss()

    def action_retry(self) -> None:
        item = self.item
        if item is not None and item.outbox_id is not None:
            self._settle(item, Remedy.RETRY)

    def action_resolve(self) -> None:
        item = self.item
        if item is None:
            return

        def done(note: str | None) -> None:
            if note:
                self._settle(item, Remedy.RESOLVE, note)

        title = f"Resolve {item.order_name} ({item.source_label}): what was done?"
        subject = fit(f"{kind_words(item)}: {visible(item.words)}", 120)
        self.ask(ReasonScreen(title, RESOLVE_NOTES, subject=subject), done)

    def action_accept(self) -> None:
        item = self.item
        if item is not None:
            self._settle(item, Remedy.ACCEPT)

    def action_reject(self) -> None:
        item = self.item
        if item is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._settle(item, Remedy.REJECT, reason)

        card = self.board.model.cards.get(item.order_id)
        subject = f"{item.order_name} · {card.initials} · {card.items}" if card else item.order_name
        screen = reject_cancel_screen(
            item.order_name, subject=subject, source=item.source_label, message=item.words
        )
        self.ask(screen, done)

    @work(thread=True, group="moves")
    def _settle(self, item: ExceptionItem, remedy: Remedy, note: str = "") -> None:
        """The service call (each one audited there), off the event loop."""
        service = self.rx.service
        try:
            if remedy is Remedy.RETRY and item.outbox_id is not None:
                text = service.retry_failed(item.outbox_id)
            elif remedy is Remedy.RESOLVE and item.outbox_id is not None:
                text = service.resolve_failed(item.outbox_id, note)
            elif remedy is Remedy.RESOLVE:
                text = service.resolve_exception(item.order_id, note)
            elif remedy is Remedy.ACCEPT:
                text = service.act(item.order_id, Action.ACCEPT_CANCEL).summary
            else:
                text = service.act(item.order_id, Action.REJECT_CANCEL, reason=note).summary
        except (ServiceError, StoreError) as exc:
            self.post_message(Settled(str(exc), "error"))
            return
        self.post_message(Settled(text, "information"))

    @on(Settled)
    def _settled(self, message: Settled) -> None:
        self.notice.say(message.text, message.severity)
        self.read()

    def action_open(self) -> None:
        item = self.item
        if item is not None:
            self._open(item.order_id)

    @work(thread=True, group="reads")
    def _open(self, order_id: str) -> None:
        service = self.rx.service
        try:
            order = service.get(order_id)
            items = service.store.line_items(order_id)
            history = service.store.history(order_id)
            errors = bq.sync_errors(service.store, order_id)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(DetailLoaded(order, items, history, errors))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        message.stop()
        if self.app.screen is self:
            title, body = detail_text(
                message.order,
                message.items,
                message.history,
                message.errors,
                now=self.rx.clock(),
                targets=Targets.from_settings(self.rx.settings),
            )
            goto = ",".join(self.rx.key_names("goto"))
            self.app.push_screen(DetailScreen(title, body, goto))

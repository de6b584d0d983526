"""What the board's workers tell the screen: one Message per result, handled with ``@on``.

Workers run database work in threads and never touch a widget; they post one of these
(``post_message`` is thread-safe) and the receiver updates itself on the UI thread. Who
receives what: the view (:mod:`rxfloor.tui.board.view`) gets the data it paints
(``BoardLoaded``, ``BoardCompleted``, ``ChangesArrived``, ``HealthChanged``,
``AlertsChanged``); the screen gets
the answers to its actions (``MoveDone``, ``MoveRefused``, ``Undone``, ``DetailLoaded``,
``OrderFound``); ``Notice`` bubbles up to the app, which shows it on the notice line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.message import Message

from rxfloor.core.db import Cursor, SyncHealth
from rxfloor.core.db.queries import SyncMarks
from rxfloor.core.models import OrderView
from rxfloor.core.service import MoveResult

if TYPE_CHECKING:
    from rxfloor.tui.board.model import Card, Loaded

Row = Mapping[Any, Any]


class BoardLoaded(Message):
    """The first read: the top of every column (built in the loading thread), each column's
    figures (status -> orders, late ones), the sync health and open alerts. ``complete``:
    these are all the cards; else :class:`BoardCompleted` brings the rest."""

    def __init__(
        self,
        cursor: Cursor,
        cards: Sequence[Card],
        health: Mapping[str, SyncHealth],
        alerts: Sequence[Row],
        *,
        counts: Mapping[str, tuple[int, int]] | None = None,
        sources: set[str] | None = None,
        complete: bool = True,
        exceptions: int = 0,
    ) -> None:
        super().__init__()
        self.cursor = cursor  # the feed resumes here
        self.cards = cards
        self.health = health
        self.alerts = alerts
        self.counts = counts or {}
        self.sources = sources or set()
        self.complete = complete
        self.exceptions = exceptions  # items in the exceptions queue (the header's count)


class BoardCompleted(Message):
    """The background read after the first page: every card on the board, sorted into
    its columns in the reading thread."""

    def __init__(self, loaded: Loaded) -> None:
        super().__init__()
        self.loaded = loaded


class ChangesArrived(Message):
    """One coalesced batch of the change feed: one repaint however many orders changed.

    ``rows`` are the orders whose version differs from the one shown; ``confirmed`` are the
    ones already shown as they are (e.g. this terminal's own move), whose sync-error badge
    is still set from ``failed`` (a parked push changes no version), as are all the sync
    marks (a refused push that will be retried, :data:`~rxfloor.core.db.queries.SyncMarks`).
    """

    def __init__(
        self, rows: Sequence[Row], failed: SyncMarks, confirmed: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.rows = rows
        self.failed = failed
        self.confirmed = confirmed


class HealthChanged(Message):
    """Sync health per source for the header; ``failed`` (every order with a parked push)
    and ``exceptions`` (the exceptions queue's count) when read."""

    def __init__(
        self,
        health: Mapping[str, SyncHealth],
        failed: SyncMarks | None = None,
        exceptions: int | None = None,
    ) -> None:
        super().__init__()
        self.health = health
        self.failed = failed
        self.exceptions = exceptions


class AlertsChanged(Message):
    """The open alerts, oldest first (the banner shows the first)."""

    def __init__(self, alerts: Sequence[Row]) -> None:
        super().__init__()
        self.alerts = alerts


class MoveDone(Message):
    """The service took the move; ``result.order`` is the order as it now is."""

    def __init__(self, result: MoveResult) -> None:
        super().__init__()
        self.result = result


class MoveRefused(Message):
    """The service refused (or the database failed); the card goes back as it really is:
    ``order`` when the refusal carries it, else ``rows`` read again (``[]``: unknown)."""

    def __init__(
        self,
        error: str,
        order: OrderView | None,
        rows: Sequence[Row] = (),
        failed: SyncMarks | None = None,
    ) -> None:
        super().__init__()
        self.error = error
        self.order = order
        self.rows = rows
        self.failed = failed or {}


class Undone(Message):
    """An undo went through; ``result.order`` is the order after it."""

    def __init__(self, result: MoveResult, summary: str) -> None:
        super().__init__()
        self.result = result
        self.summary = summary  # of the move that was taken back


class DetailLoaded(Message):
    """Everything the detail view shows about one order."""

    def __init__(
        self,
        order: OrderView,
        items: Sequence[Row],
        history: Sequence[Row],
        errors: Sequence[str],
    ) -> None:
        super().__init__()
        self.order = order
        self.items = items
        self.history = history
        self.errors = errors


class OrderFound(Message):
    """Go-to found an order that is on the board."""

    def __init__(self, card_id: str) -> None:
        super().__init__()
        self.card_id = card_id


class RejectAsked(Message):
    """The order a rejection of its cancellation request is about, read for the dialog
    (the merchant's words are not on the card)."""

    def __init__(self, card: Card, order: OrderView) -> None:
        super().__init__()
        self.card = card
        self.order = order


class OrderAmbiguous(Message):
    """A scan or go-to fits several orders (the same name in two sources): pick one.
    ``choices``: (order id, source, name, patient, status) of each."""

    def __init__(self, ref: str, choices: Sequence[tuple[str, str, str, str, str]]) -> None:
        super().__init__()
        self.ref = ref
        self.choices = choices


class Notice(Message):
    """A sentence for the pharmacist (shown on the notice line by the app)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class ProductRefused(Message):
    """A scanned product refused for the order being filled (wrong, expired, done)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DatabaseDown(Message):
    """The database stopped answering at ``since`` (the feed keeps trying)."""

    def __init__(self, since: datetime, error: str) -> None:
        super().__init__()
        self.since = since
        self.error = error


class DatabaseReplaced(Message):
    """The SQLite file was replaced and reopened at ``at``: ``cards`` are the new file's
    whole board (nothing of the old one is true any more)."""

    def __init__(self, at: datetime, path: str, cards: list[Any]) -> None:
        super().__init__()
        self.at = at
        self.path = path
        self.cards = cards


class DatabaseBack(Message):
    """The database answers again; the changes made meanwhile follow as usual."""

    def __init__(self, down_since: datetime) -> None:
        super().__init__()
        self.down_since = down_since

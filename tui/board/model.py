"""The board's in-memory picture: one light ``Card`` per order, sorted per column.

Kept free of Textual so it can be tested and benchmarked on its own; the columns only
read from it. Rows come from SQLAlchemy Core (no ORM, no pydantic: 10,000 orders load in
tens of milliseconds).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rxfloor.core.lifecycle import Action, OrderFacts, Priority, Status, legal_actions
from rxfloor.core.models import initials
from rxfloor.core.text import visible

#: How close to its due time an order counts as "due soon".
DUE_SOON = timedelta(minutes=15)
_RANK = {p.value: p.rank for p in Priority}
_FAR = datetime.max.replace(tzinfo=None)
#: Up to this many changed rows are placed one by one; a bigger burst re-sorts the columns.
_INCREMENTAL_LIMIT = 64


@dataclass(slots=True, eq=False)  # identity equality: list.remove stays cheap
class Card:
    id: str
    name: str
    status: Status
    priority: str
    delivery: str
    patient: str
    initials: str
    items: str
    due_at: datetime | None
    fulfill_at: datetime | None
    on_hold: bool
    version: int
    status_since: datetime
    sync_failed: bool
    pending: bool = False  # an optimistic move not yet confirmed by the database
    key: tuple[int, datetime, str] = (0, _FAR, "")  # sort order, computed once

    @classmethod
    def from_row(cls, row: Mapping[str, Any], failed: bool) -> Card:
        card = cls(
            id=row["id"],
            # text from data, as painted: controls visible (an ESC would reach the terminal)
            name=visible(row["name"]),
            status=Status(row["status"]),
            priority=row["priority"],
            delivery=visible(row["delivery_type"]),
            patient=visible(row["patient_name"]),
            initials=visible(initials(row["patient_name"])),
            items=visible(row["items_summary"]),
            due_at=row["due_at"],
            fulfill_at=row["fulfill_at"],
            on_hold=bool(row["on_hold"]),
            version=row["version"],
            status_since=row["status_since"],
            sync_failed=failed,
        )
        card.key = card.sort_key
        return card

    @property
    def sort_key(self) -> tuple[int, datetime, str]:
        due = self.due_at.replace(tzinfo=None) if self.due_at else _FAR
        return (_RANK.get(self.priority, 9), due, self.name)

    def scheduled(self, now: datetime) -> bool:
        return self.fulfill_at is not None and self.fulfill_at > now

    def urgency(self, now: datetime) -> str:
        """``overdue`` / ``soon`` / ``ontime`` against the due time (``done`` when closed)."""
        if self.status.is_terminal or self.due_at is None:
            return "done" if self.status.is_terminal else "ontime"
        if now >= self.due_at:
            return "overdue"
        return "soon" if self.due_at - now <= DUE_SOON else "ontime"

    def legal(self, now: datetime) -> frozenset[Action]:
        return legal_actions(OrderFacts(self.status, self.on_hold, self.fulfill_at), now)

    def matches(self, needle: str) -> bool:
        """Filter as you type: order name, patient, items (case-insensitive)."""
        return (
            needle in self.name.lower()
            or needle in self.patient.lower()
            or needle in self.items.lower()
            or needle in self.id.lower()
        )


class BoardModel:
    """Cards by id and by column; every update says which columns need a repaint."""

    def __init__(self) -> None:
        self.cards: dict[str, Card] = {}
        self.columns: dict[Status, list[Card]] = {s: [] for s in Status}
        self.finished_since: datetime | None = None

    def load(self, rows: Iterable[Mapping[str, Any]], failed: set[str]) -> None:
        self.cards = {r["id"]: Card.from_row(r, r["id"] in failed) for r in rows}
        self.columns = {s: [] for s in Status}
        for card in self.cards.values():
            self.columns[card.status].append(card)
        for cards in self.columns.values():
            cards.sort(key=_key)

    def upsert(self, rows: Iterable[Mapping[str, Any]], failed: set[str]) -> set[Status]:
        """Apply fresh rows; returns the columns whose content changed."""
        rows = list(rows)
        incremental = len(rows) <= _INCREMENTAL_LIMIT
        touched: set[Status] = set()
        for row in rows:
            card = Card.from_row(row, row["id"] in failed)
            old = self.cards.pop(card.id, None)
            if old is not None:
                touched.add(old.status)
                if incremental:
                    self.columns[old.status].remove(old)
            if self._hidden(card):
                continue
            self.cards[card.id] = card
            touched.add(card.status)
            if incremental:
                insort(self.columns[card.status], card, key=_key)
        if not incremental:
            self._rebuild(touched)
        return touched

    def move(self, card: Card, status: Status) -> set[Status]:
        """The optimistic half of a move: the card changes column at once."""
        touched = {card.status, status}
        self.columns[card.status].remove(card)
        card.status = status
        card.pending = True
        insort(self.columns[status], card, key=_key)
        return touched

    def remove(self, card_id: str) -> set[Status]:
        card = self.cards.pop(card_id, None)
        if card is None:
            return set()
        self.columns[card.status].remove(card)
        return {card.status}

    def _hidden(self, card: Card) -> bool:
        """FINISHED shows today's orders only (older ones stay searchable with go-to)."""
        return (
            card.status is Status.FINISHED
            and self.finished_since is not None
            and card.status_since < self.finished_since
        )

    def _rebuild(self, statuses: set[Status]) -> None:
        for status in statuses:
            cards = [c for c in self.cards.values() if c.status is status]
            cards.sort(key=_key)
            self.columns[status] = cards


def _key(card: Card) -> tuple[int, datetime, str]:
    return card.key

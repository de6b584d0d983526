"""The board's in-memory picture: one light ``Card`` per order, sorted per column.

Kept free of Textual so it can be tested and benchmarked on its own; the columns only
read from it. Rows come from SQLAlchemy Core (no ORM, no pydantic: 10,000 orders load in
tens of milliseconds).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from sys import intern
from typing import Any

from rxfloor.core.lifecycle import (
    Action,
    OrderFacts,
    Priority,
    Status,
    is_scheduled,
    legal_actions,
)
from rxfloor.core.models import OrderView, initials
from rxfloor.core.text import visible

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
    def from_row(cls, row: Mapping[Any, Any], failed: bool) -> Card:
        """A card from a board row (SQLAlchemy Core)."""
        # interned: a handful of distinct words shared by 100,000 cards, not one copy each
        return cls._make(row, intern(str(row["priority"])), intern(str(row["delivery_type"])),
                         bool(row["on_hold"]), failed)  # fmt: skip

    @classmethod
    def from_view(cls, view: OrderView, failed: bool) -> Card:
        """A card from the order the service returned after a move (no second read)."""
        data = view.model_dump()
        return cls._make(data, view.priority.value, view.delivery_type.value, view.hold, failed)

    @classmethod
    def _make(
        cls, data: Mapping[Any, Any], priority: str, delivery: str, on_hold: bool, failed: bool
    ) -> Card:
        card = cls(
            id=data["id"],
            # text from data, as painted: controls visible (an ESC would reach the terminal)
            name=visible(data["name"]),
            status=Status(data["status"]),
            priority=priority,
            delivery=visible(delivery),
            patient=visible(data["patient_name"]),
            initials=visible(initials(data["patient_name"])),
            items=visible(data["items_summary"]),
            due_at=data["due_at"],
            fulfill_at=data["fulfill_at"],
            on_hold=on_hold,
            version=data["version"],
            status_since=data["status_since"],
            sync_failed=failed,
        )
        card.key = card.sort_key
        return card

    @property
    def sort_key(self) -> tuple[int, datetime, str]:
        due = self.due_at.replace(tzinfo=None) if self.due_at else _FAR
        return (_RANK.get(self.priority, 9), due, self.name)

    @property
    def facts(self) -> OrderFacts:
        """What the lifecycle decides on: every rule about the card is asked of it."""
        return OrderFacts(self.status, self.on_hold, self.fulfill_at)

    def scheduled(self, now: datetime) -> bool:
        return is_scheduled(self.fulfill_at, now)

    def legal(self, now: datetime) -> frozenset[Action]:
        return legal_actions(self.facts, now)

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

    def load(self, cards: Iterable[Card]) -> None:
        self.cards = {card.id: card for card in cards}
        self.columns = {s: [] for s in Status}
        for card in self.cards.values():
            self.columns[card.status].append(card)
        for cards in self.columns.values():
            cards.sort(key=_key)

    def upsert(self, rows: Iterable[Mapping[Any, Any]], failed: set[str]) -> set[Status]:
        """Apply fresh rows; returns the columns whose content changed."""
        return self.place([Card.from_row(row, row["id"] in failed) for row in rows])

    def place(self, cards: list[Card]) -> set[Status]:
        """Put fresh cards in (replacing their old selves); returns the columns touched."""
        incremental = len(cards) <= _INCREMENTAL_LIMIT
        touched: set[Status] = set()
        for card in cards:
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

    def version_of(self, card_id: str) -> int | None:
        """The version shown for an order. The feed thread asks it to skip what is already
        shown: one dict lookup and one attribute read, atomic under the GIL."""
        card = self.cards.get(card_id)
        return None if card is None else card.version

    def flag_failed(self, failed: set[str], ids: Iterable[str] | None = None) -> set[str]:
        """Set the sync-error badge from ``failed`` for ``ids`` (every card when None);
        returns the ids whose badge flipped."""
        cards: Iterable[Card | None] = (
            self.cards.values() if ids is None else [self.cards.get(i) for i in ids]
        )
        flipped = set()
        for card in cards:
            if card is not None and card.sync_failed != (card.id in failed):
                card.sync_failed = not card.sync_failed
                flipped.add(card.id)
        return flipped

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

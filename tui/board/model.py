"""The board's in-memory picture: one light ``Card`` per order, sorted per column.

Kept free of Textual so it can be tested and benchmarked on its own; the columns only
read from it. Rows come from SQLAlchemy Core (no ORM, no pydantic: 10,000 orders load in
tens of milliseconds).
"""

from __future__ import annotations

import contextlib
import gc
import re
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from math import nextafter
from operator import attrgetter
from sys import intern
from typing import Any, Generic, TypeVar, cast, overload

from rxfloor.core.db.queries import SyncMarks, sync_mark
from rxfloor.core.due import Targets, promise
from rxfloor.core.lifecycle import (
    Action,
    CheckRule,
    DeliveryType,
    OrderFacts,
    Person,
    Priority,
    Status,
    Step,
    is_scheduled,
    legal_actions,
)
from rxfloor.core.models import CANCELLATION, OrderView, initials
from rxfloor.core.sources import DEFAULT_SOURCE, SourceTraits, names, traits
from rxfloor.core.states import held_by_remote
from rxfloor.core.text import visible

_RANK = {p.value: p.rank for p in Priority}
_RANKS = sorted({*_RANK.values(), 9})  # 9: a priority this version does not know
_SOURCE_PREFIX = "source:"
_FAR = float("inf")
#: Up to this many changed rows are placed one by one; a bigger burst re-sorts the columns.
_INCREMENTAL_LIMIT = 64


_DELIVERIES = {d.value: d for d in DeliveryType}


def _delivery(word: str) -> DeliveryType:
    """The card's delivery word as the lifecycle knows it (an unknown word: pickup)."""
    return _DELIVERIES.get(word, DeliveryType.PICKUP)


#: A card's facts that most orders leave at their default (one shared :class:`Rare` holds
#: them for every such card: 19 slots a card instead of 37, ~150 B less each).
RARE = ("fulfill_at", "created_at", "cancel_requested", "remote_hold", "tracking",
        "remote_badge", "fill_step", "filled_by", "check_note", "note_count", "flags",
        "scan_progress", "hold_reason", "hold_by", "hold_since", "will_call_bin",
        "picked_up_at", "picked_up_by", "dob_on_file")  # fmt: skip


@dataclass(slots=True)
class Rare:
    """What few cards have: a scheduled time, a step, notes, flags, a source's badge."""

    fulfill_at: datetime | None = None
    #: arrival, kept only where it matters: an order with no due time (see :meth:`Card.aim`)
    created_at: datetime | None = None
    #: the merchant asked to cancel and nobody answered yet (start / finish are refused)
    cancel_requested: bool = False
    remote_hold: bool = False  # the hold was placed at the source (not releasable here)
    tracking: str | None = None  # the tracking number a finish sent
    #: the source's badge for where it has the order (Konnektive: ``returned``), or None
    remote_badge: str | None = None
    #: the step inside PROCESSING ([floor] check), who fills (filled) it, a failed check's why
    fill_step: str | None = None
    filled_by: str | None = None
    check_note: str | None = None
    note_count: int = 0  #: the floor's notes on it (the card's mark)
    flags: str = ""  #: "fridge", "controlled", comma separated
    scan_progress: str | None = None  #: packs scanned while filling, "2/3"
    #: the hold's why (as painted), who placed it and since when (the card and the release)
    hold_reason: str | None = None
    hold_by: str | None = None
    hold_since: datetime | None = None
    #: a FINISHED pickup order: the will-call bin it waits in, when and by whom picked up
    will_call_bin: str | None = None
    picked_up_at: datetime | None = None
    picked_up_by: str | None = None
    dob_on_file: bool = False  #: the source gave the patient's date of birth (the hand-off)


#: The defaults, shared by every card that has nothing rare (never changed: a card given a
#: rare fact gets a :class:`Rare` of its own first).
_PLAIN = Rare()
#: ... and by every such card whose source gave the patient's date of birth (a source that
#: gives it gives it for every order: one Rare per card would cost ~180 B each)
_DOB = Rare(dob_on_file=True)

#: A card's flags, one int: on hold, a move pending, its push failed, it has a due time.
_ON_HOLD, _PENDING, _FAILED, _DATED = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class _Kind:
    """A card's priority, delivery and source (and the priority's rank): a few dozen
    combinations shared by every card, one slot a card instead of four."""

    priority: str
    delivery: str
    source: str
    rank: int


@dataclass(frozen=True, slots=True)
class _Who:
    """The patient and their initials as painted, shared by every card of that patient."""

    patient: str
    initials: str


@lru_cache(maxsize=256)
def _kind(priority: str, delivery: str, source: str) -> _Kind:
    return _Kind(intern(priority), intern(delivery), intern(source), _RANK.get(priority, 9))


@lru_cache(maxsize=256)
def _row_kind(priority: str, delivery: str, source: str) -> _Kind:
    """:func:`_kind` of a row's words (the delivery as painted)."""
    return _kind(str(priority), visible(str(delivery)), str(source))


@lru_cache(maxsize=8192)
def _who(patient: str, initials: str) -> _Who:
    return _Who(patient, initials)


@lru_cache(maxsize=8192)
def _row_who(patient: str) -> _Who:
    """The patient of a row, as painted, and their initials."""
    return _who(_shared(patient), _initials(patient))


def _at(instant: float) -> datetime:
    """An instant as an aware UTC datetime (exact to the microsecond for today's dates)."""
    return datetime.fromtimestamp(instant, UTC)


V = TypeVar("V")


class _Rarely(Generic[V]):
    """A card attribute kept in its :class:`Rare` (read and written as any attribute)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, card: None, owner: type) -> _Rarely[V]: ...
    @overload
    def __get__(self, card: Card, owner: type) -> V: ...
    def __get__(self, card: Card | None, owner: type) -> V | _Rarely[V]:
        if card is None:
            return self
        return cast(V, getattr(card.rare, self.name))

    def __set__(self, card: Card, value: V) -> None:
        if card.rare is _PLAIN or card.rare is _DOB:  # shared: the card gets its own first
            card.rare = replace(card.rare)
        setattr(card.rare, self.name, value)


class _Part:
    """A card attribute read from one of its shared records (``kind``, ``who``)."""

    def __init__(self, record: str, name: str) -> None:
        self.get = attrgetter(f"{record}.{name}")

    @overload
    def __get__(self, card: None, owner: type) -> _Part: ...
    @overload
    def __get__(self, card: Card, owner: type) -> str: ...
    def __get__(self, card: Card | None, owner: type) -> str | _Part:
        return self if card is None else cast(str, self.get(card))


class _Bit:
    """A card flag kept as one bit of ``Card.bits`` (read and written as a bool)."""

    def __init__(self, bit: int) -> None:
        self.bit = bit

    @overload
    def __get__(self, card: None, owner: type) -> _Bit: ...
    @overload
    def __get__(self, card: Card, owner: type) -> bool: ...
    def __get__(self, card: Card | None, owner: type) -> bool | _Bit:
        return self if card is None else bool(card.bits & self.bit)

    def __set__(self, card: Card, value: bool) -> None:
        card.bits = card.bits | self.bit if value else card.bits & ~self.bit


class Card:
    """One order on the board: what its card shows and what the board sorts and decides by.

    Slotted, with identity equality (``list.remove`` stays cheap) and the facts most orders
    leave at their default in a shared :class:`Rare`: 100,000 of them are the board's
    memory."""

    __slots__ = (
        "bits",
        "due",
        "id",
        "items",
        "kind",
        "name",
        "rare",
        "since",
        "status",
        "sync_retry",
        "version",
        "who",
    )

    fulfill_at: _Rarely[datetime | None] = _Rarely()
    created_at: _Rarely[datetime | None] = _Rarely()
    cancel_requested: _Rarely[bool] = _Rarely()
    remote_hold: _Rarely[bool] = _Rarely()
    tracking: _Rarely[str | None] = _Rarely()
    remote_badge: _Rarely[str | None] = _Rarely()
    fill_step: _Rarely[str | None] = _Rarely()
    filled_by: _Rarely[str | None] = _Rarely()
    check_note: _Rarely[str | None] = _Rarely()
    note_count: _Rarely[int] = _Rarely()
    flags: _Rarely[str] = _Rarely()
    scan_progress: _Rarely[str | None] = _Rarely()
    hold_reason: _Rarely[str | None] = _Rarely()
    hold_by: _Rarely[str | None] = _Rarely()
    hold_since: _Rarely[datetime | None] = _Rarely()
    will_call_bin: _Rarely[str | None] = _Rarely()
    picked_up_at: _Rarely[datetime | None] = _Rarely()
    picked_up_by: _Rarely[str | None] = _Rarely()
    dob_on_file: _Rarely[bool] = _Rarely()
    # read from the shared records
    priority = _Part("kind", "priority")
    delivery = _Part("kind", "delivery")
    source = _Part("kind", "source")
    patient = _Part("who", "patient")
    initials = _Part("who", "initials")
    # bits of ``bits``
    on_hold = _Bit(_ON_HOLD)
    pending = _Bit(_PENDING)  #: an optimistic move not yet confirmed by the database
    sync_failed = _Bit(_FAILED)

    def __init__(
        self,
        id: str,
        name: str,
        status: Status,
        priority: str,
        delivery: str,
        patient: str,
        initials: str,
        items: str,
        due_at: datetime | None,
        fulfill_at: datetime | None,
        on_hold: bool,
        version: int,
        status_since: datetime,
        sync_failed: bool,
        created_at: datetime | None = None,
        sync_retry: datetime | None = None,
        source: str = DEFAULT_SOURCE,
        cancel_requested: bool = False,
        remote_hold: bool = False,
        tracking: str | None = None,
        remote_badge: str | None = None,
        pending: bool = False,
        fill_step: str | None = None,
        filled_by: str | None = None,
        check_note: str | None = None,
        note_count: int = 0,
        flags: str = "",
        scan_progress: str | None = None,
        hold_reason: str | None = None,
        hold_by: str | None = None,
        hold_since: datetime | None = None,
        will_call_bin: str | None = None,
        picked_up_at: datetime | None = None,
        picked_up_by: str | None = None,
        dob_on_file: bool = False,
    ) -> None:
        self.id = id
        self.name = name
        self.status = status
        self.kind = _kind(priority, delivery, source)
        self.who = _who(patient, initials)
        self.items = items
        self.bits = 0
        self.due = _FAR  # see aim
        self.due_at = due_at
        self.on_hold = on_hold
        self.version = version
        self.status_since = status_since
        self.sync_failed = sync_failed
        #: a push of it was refused once and is sent again then (not parked yet)
        self.sync_retry = sync_retry
        self.pending = pending  # an optimistic move not yet confirmed by the database
        self.rare = _rare(fulfill_at, created_at, cancel_requested, remote_hold, tracking,
                          remote_badge, fill_step, filled_by, check_note, note_count, flags,
                          scan_progress, hold_reason, hold_by, hold_since, will_call_bin,
                          picked_up_at, picked_up_by, dob_on_file)  # fmt: skip

    def __repr__(self) -> str:
        return f"Card({self.id!r}, {self.name!r}, {self.status.value}, v{self.version})"

    @classmethod
    def from_row(
        cls, row: Mapping[Any, Any] | Sequence[Any], failed: bool, retry: datetime | None = None
    ) -> Card:
        """A card from a board row (SQLAlchemy Core): a mapping of the order's columns, or
        a row of :data:`~rxfloor.core.db.queries.CARD_COLUMNS` in their order (the board's
        own reads: by position, ~2x faster than by name)."""
        if not isinstance(row, Mapping):
            return cls.from_card_row(row, failed, retry)
        # interned: a handful of distinct words shared by 100,000 cards, not one copy each
        return cls._make(
            row,
            intern(str(row["priority"])),
            intern(str(row["delivery_type"])),
            bool(row["on_hold"]),
            failed,
            row["tracking_number"],
            retry,
        )

    @classmethod
    def from_card_row(cls, row: Sequence[Any], failed: bool, retry: datetime | None = None) -> Card:
        """A card from a row of ``CARD_COLUMNS``, by position (the load of every card)."""
        (id_, source, name, status, priority, delivery, patient, items, due_at, fulfill_at,
         on_hold, hold_by, hold_reason, hold_since, version, fill_step, filled_by, check_note,
         note_count, flags,
         scan_progress, created_at, status_since, request_kind, tracking, remote_status,
         will_call_bin, picked_up_at, picked_up_by, patient_dob) = row  # fmt: skip
        card = cls.__new__(cls)
        card.id = id_
        card.name = name if name.isprintable() else visible(name)
        card.status = _STATUS.get(status) or Status(status)
        card.kind = kind = _row_kind(priority, delivery, source)
        source = kind.source
        card.who = _row_who(patient)
        card.items = _shared(items)
        on_hold = bool(on_hold)
        card.bits = (_ON_HOLD if on_hold else 0) | (_FAILED if failed else 0)
        if due_at is not None:
            card.bits |= _DATED
            card.due = _shared_instant(due_at)
        else:
            card.due = _FAR  # see aim
        card.version = version
        card.since = _instant(status_since)
        card.sync_retry = retry
        if (
            fulfill_at is None
            and (due_at is not None or created_at is None)
            and not fill_step
            and not filled_by
            and not check_note
            and not note_count
            and not flags
            and not scan_progress
            and request_kind is None
            and tracking is None
            and remote_status is None
            and not on_hold
            and will_call_bin is None
            and picked_up_at is None
            and picked_up_by is None
        ):
            card.rare = _DOB if patient_dob else _PLAIN  # nothing rare: shared defaults
            return card
        card.rare = _rare(
            fulfill_at,
            created_at if due_at is None else None,
            request_kind == CANCELLATION,
            held_by_remote(on_hold, hold_by) and _holds_apart(source),
            tracking,
            _remote_badge(source, remote_status),
            fill_step,
            filled_by,
            check_note,
            note_count or 0,
            flags or "",
            scan_progress,
            visible(hold_reason or "") if on_hold else None,
            visible(hold_by or "") if on_hold else None,
            hold_since if on_hold else None,
            will_call_bin,
            picked_up_at,
            picked_up_by,
            bool(patient_dob),
        )
        return card

    @classmethod
    def from_view(cls, view: OrderView, failed: bool, retry: datetime | None = None) -> Card:
        """A card from the order the service returned after a move (no second read)."""
        data = view.model_dump()
        tracking = view.tracking.number if view.tracking else None
        return cls._make(
            data, view.priority.value, view.delivery_type.value, view.hold, failed, tracking, retry
        )

    @classmethod
    def _make(
        cls,
        data: Mapping[Any, Any],
        priority: str,
        delivery: str,
        on_hold: bool,
        failed: bool,
        tracking: str | None,
        retry: datetime | None = None,
    ) -> Card:
        card = cls(
            id=data["id"],
            # text from data, as painted: controls visible (an ESC would reach the terminal)
            name=visible(data["name"]),
            status=_STATUS.get(data["status"]) or Status(data["status"]),
            priority=priority,
            delivery=visible(delivery),
            # a few hundred distinct patients and initials, and item lines repeat (one
            # common drug): made once and shared, not one copy per card
            patient=_shared(data["patient_name"]),
            initials=_initials(data["patient_name"]),
            items=_shared(data["items_summary"]),
            due_at=data["due_at"],
            fulfill_at=data["fulfill_at"],
            on_hold=on_hold,
            version=data["version"],
            status_since=data["status_since"],
            sync_failed=failed,
            sync_retry=retry,
            # arrival matters only to an order with no due time (see aim)
            created_at=data.get("created_at") if data["due_at"] is None else None,
            source=intern(str(data["source"])),
            cancel_requested=data["request_kind"] == CANCELLATION,
            remote_hold=held_by_remote(on_hold, data["hold_by"]) and _holds_apart(data["source"]),
            tracking=tracking,
            remote_badge=_remote_badge(data["source"], data.get("remote_status")),
            fill_step=data.get("fill_step"),
            filled_by=data.get("filled_by"),
            check_note=data.get("check_note"),
            note_count=data.get("note_count") or 0,
            flags=data.get("flags") or "",
            scan_progress=data.get("scan_progress"),
            hold_reason=visible(data.get("hold_reason") or "") if on_hold else None,
            hold_by=visible(data.get("hold_by") or "") if on_hold else None,
            hold_since=data.get("hold_since") if on_hold else None,
            will_call_bin=data.get("will_call_bin"),
            picked_up_at=data.get("picked_up_at"),
            picked_up_by=data.get("picked_up_by"),
            dob_on_file=bool(data.get("patient_dob")),
        )
        return card

    def aim(self, targets: Targets) -> None:
        """Its promised time (:func:`rxfloor.core.due.promise`): its due time, else a
        target after it arrived."""
        if self.bits & _DATED:
            return  # its due time is its target, and its instant was computed when made
        created = self.created_at
        if created is None:
            self.due = _FAR
        else:
            self.due = _instant(promise(None, created, self.priority, self.delivery, targets).at)

    # Times are kept as instants (floats: 24 B, an aware datetime 48 B) and made datetimes
    # when asked: 100,000 cards held ~10 MB of datetimes.
    @property
    def due_at(self) -> datetime | None:
        """The source's promised time (None: it gave none, see :attr:`target`)."""
        return _at(self.due) if self.bits & _DATED else None

    @due_at.setter
    def due_at(self, value: datetime | None) -> None:
        if value is None:
            self.bits &= ~_DATED
            self.due = _FAR
        else:
            self.bits |= _DATED
            self.due = _instant(value)

    @property
    def target(self) -> datetime | None:
        """When it is late: its due time, else (see :meth:`aim`) a target after it arrived;
        None when neither is known."""
        return None if self.due == _FAR else _at(self.due)

    @property
    def status_since(self) -> datetime:
        return _at(self.since)

    @status_since.setter
    def status_since(self, value: datetime) -> None:
        self.since = _instant(value)

    @property
    def key(self) -> tuple[float, int, str]:
        """The card order in a column: its promised instant (the oldest work at the top),
        then priority, then name."""
        return _key(self)

    def facts(self, check: CheckRule = CheckRule.NONE) -> OrderFacts:
        """What the lifecycle decides on under the floor's ``check`` rule: every rule about
        the card is asked of it."""
        step = Step(self.fill_step) if self.fill_step else None
        return OrderFacts(
            self.status,
            self.on_hold,
            self.fulfill_at,
            cancel_requested=self.cancel_requested,
            remote_hold=self.remote_hold,
            check=check,
            step=step,
            filler=self.filled_by,
            hold_reason=self.hold_reason,
            hold_by=self.hold_by,
            hold_since=self.hold_since,
            delivery=_delivery(self.delivery),
            picked_up=self.picked_up_at is not None,
        )

    def scheduled(self, now: datetime) -> bool:
        return is_scheduled(self.fulfill_at, now)

    def legal(
        self, now: datetime, check: CheckRule = CheckRule.NONE, by: Person | None = None
    ) -> frozenset[Action]:
        return legal_actions(self.facts(check), now, by)

    @property
    def explained(self) -> frozenset[Action]:
        """Actions the lifecycle refuses for a reason the pharmacist must be told (the key
        still acts, and the service's sentence says why): a start or finish while the
        merchant's cancellation request waits or the order is on hold, the release of a
        hold placed at the source."""
        found: set[Action] = set()
        if (self.cancel_requested or self.on_hold) and not self.status.is_terminal:
            found |= {Action.ADVANCE, Action.START, Action.FINISH}
        if self.on_hold and self.remote_hold:
            found.add(Action.RELEASE)
        return frozenset(found)

    def matches(self, needle: str) -> bool:
        """Filter as you type: order name, patient, items, source (case-insensitive);
        ``source:NAME`` keeps only that source's orders (see :func:`parse_needle`)."""
        return card_filter(needle)(self)


_STATUS = {s.value: s for s in Status}


def _rare(
    fulfill_at: datetime | None,
    created_at: datetime | None,
    cancel_requested: bool,
    remote_hold: bool,
    tracking: str | None,
    remote_badge: str | None,
    fill_step: str | None,
    filled_by: str | None,
    check_note: str | None,
    note_count: int,
    flags: str,
    scan_progress: str | None,
    hold_reason: str | None = None,
    hold_by: str | None = None,
    hold_since: datetime | None = None,
    will_call_bin: str | None = None,
    picked_up_at: datetime | None = None,
    picked_up_by: str | None = None,
    dob_on_file: bool = False,
) -> Rare:
    """The card's rare facts: the shared defaults when it has none."""
    made = Rare(fulfill_at, created_at, cancel_requested, remote_hold, tracking, remote_badge,
                fill_step, filled_by, check_note, note_count, flags, scan_progress, hold_reason,
                hold_by, hold_since, will_call_bin, picked_up_at, picked_up_by,
                dob_on_file)  # fmt: skip
    return _PLAIN if made == _PLAIN else _DOB if made == _DOB else made


@lru_cache(maxsize=8192)
def _shared(text: str) -> str:
    """``text`` as painted (controls made visible), one copy for every card that has it."""
    return intern(visible(text))


@lru_cache(maxsize=8192)
def _initials(patient: str) -> str:
    """The patient's initials as painted, one copy for every card that has them."""
    return intern(visible(initials(patient)))


@lru_cache(maxsize=64)
def parse_needle(needle: str) -> tuple[tuple[str, ...], str]:
    """What ``/`` filters by: ``source:shopify #10`` is (``("shopify",)``, ``"#10"``).

    Each ``source:NAME`` word (a prefix of the source's name, ``source:shop`` too) keeps
    that source's orders; the rest of the needle is matched as typed (spaces and all).
    Parsed once per needle, not once per card."""
    sources: list[str] = []
    rest: list[str] = []
    for word in needle.lower().split(" "):
        if word.startswith(_SOURCE_PREFIX) and word != _SOURCE_PREFIX:
            sources.append(word.removeprefix(_SOURCE_PREFIX))
        else:
            rest.append(word)
    return tuple(sources), " ".join(rest).strip()


@lru_cache(maxsize=64)
def card_filter(needle: str) -> Callable[[Card], bool]:
    """The test ``/`` applies to each card, built once per needle: 10,000 cards are
    filtered per keystroke, so every lookup that does not depend on the card is done here."""
    sources, text = parse_needle(needle)
    prefixes = tuple(sources)
    # sources whose name or label fits the text (an unknown one: its name, below)
    fitting = frozenset(n for n in names() if text in n or text in source_label(n).lower())

    def test(card: Card) -> bool:
        if prefixes and not card.source.startswith(prefixes):
            return False
        return not text or (
            text in card.name.lower()
            or text in card.patient.lower()
            or text in card.items.lower()
            or text in card.id.lower()
            or card.source in fitting
            or text in card.source
        )

    return test


@lru_cache(maxsize=32)
def source_traits(source: str) -> SourceTraits | None:
    """What the board knows of a source (None: a source this version does not know)."""
    return traits(source) if source in names() else None


def source_label(source: str) -> str:
    """The source's name for a person (``Shopify``); an unknown one as stored."""
    known = source_traits(source)
    return known.label if known else source


def marked(text: str, name: str, source: str, marks: bool) -> str:
    """``text`` with the order ``name`` carrying its source's mark (``S #1002``) where
    several sources are in play (``marks``): in two sources #1002 is two orders. The name
    alone is replaced (``#100`` is not part of ``#1002``)."""
    if not marks or not name:
        return text
    pattern = rf"(?<![\w#-]){re.escape(name)}(?![\w-])"
    return re.sub(pattern, lambda _: f"{source_mark(source)} {name}", text, count=1)


def source_mark(source: str) -> str:
    """The card's source mark (``S``); an unknown source's first letter."""
    known = source_traits(source)
    return known.mark if known else (source[:1].upper() or "?")


@cache
def _remote_badge(source: str, remote_status: str | None) -> str | None:
    """The source's card badge for ``remote_status`` (a few distinct pairs: read once)."""
    known = source_traits(source)
    return known.card_badge(remote_status) if known and remote_status else None


def _holds_apart(source: str) -> bool:
    """The source does not share holds with the floor: a hold it placed is released there."""
    known = source_traits(source)
    return known is not None and not known.remote_hold


@lru_cache(maxsize=1)
def mark_width() -> int:
    """The widest source mark: marks line up on every card."""
    return max((len(traits(n).mark) for n in names()), default=1)


@dataclass(slots=True)
class Loaded:
    """A whole board's cards with its indexes, built in any thread (:meth:`of`) and
    handed to :meth:`BoardModel.merge` on the event loop."""

    cards: dict[str, Card]
    columns: dict[Status, list[Card]]
    per_source: Counter[str]
    marked: set[str]

    @classmethod
    def of(cls, cards: Iterable[Card], targets: Targets) -> Loaded:
        by_id = {card.id: card for card in cards}
        columns: dict[Status, list[Card]] = {s: [] for s in Status}
        for card in by_id.values():
            card.aim(targets)
            columns[card.status].append(card)
        for column in columns.values():
            column.sort(key=_key)
        per_source = Counter(c.source for c in by_id.values())
        return cls(by_id, columns, per_source, {c.id for c in by_id.values() if _has_mark(c)})


class BoardModel:
    """Cards by id and by column; every update says which columns need a repaint."""

    def __init__(self, targets: Targets | None = None) -> None:
        self.cards: dict[str, Card] = {}
        self.columns: dict[Status, list[Card]] = {s: [] for s in Status}
        self.finished_since: datetime | None = None
        self.targets = targets or Targets()  # when an order with no due time is due
        self.per_source: Counter[str] = Counter()  # cards on the board, by source
        #: ids of the cards showing a sync mark: the health poll looks at these and at the
        #: marked orders, not at every card (100,000 of them, once a second)
        self._marked: set[str] = set()

    @property
    def sources(self) -> set[str]:
        """The sources with a card on the board."""
        return {s for s, n in self.per_source.items() if n > 0}

    def load(self, cards: Iterable[Card]) -> None:
        self._use(Loaded.of(cards, self.targets))

    def _use(self, loaded: Loaded) -> None:
        self.cards, self.columns = loaded.cards, loaded.columns
        self.per_source, self._marked = loaded.per_source, loaded.marked

    def keep_top(self, per_column: int) -> None:
        """Only the first ``per_column`` cards of each column stay (a first page)."""
        for cards in self.columns.values():
            for card in cards[per_column:]:
                del self.cards[card.id]
                self.per_source[card.source] -= 1
            del cards[per_column:]

    def merge(self, loaded: Loaded) -> None:
        """The whole board after its first page (sorted off the event loop: at 100,000
        cards the sort and the indexes took ~0.5 s of it): every card, except that a card
        already shown as it is or newer (a move made meanwhile, one still waiting for the
        database) stays the very object it is (the cursor stays on it, a pending move keeps
        its "…"). Work here grows with the cards shown, not with the board."""
        shown = self.cards
        self._use(loaded)
        later = []
        for card_id, old in shown.items():
            new = self.cards.get(card_id)
            if new is None:
                later.append(old)  # placed after the full read began
            elif old.pending or old.version >= new.version:
                self._swap(new, old)
        if later:
            self.place(later)

    def _swap(self, new: Card, old: Card) -> None:
        """``old`` takes the place of ``new`` (the same order, as shown)."""
        self.cards[old.id] = old
        self.per_source[new.source] -= 1
        self.per_source[old.source] += 1
        (self._marked.add if _has_mark(old) else self._marked.discard)(old.id)
        column = self.columns[new.status]
        if old.status is new.status and _key(old) == _key(new):
            i = bisect_left(column, _key(new), key=_key)
            while column[i] is not new:  # past the cards of the very same key
                i += 1
            column[i] = old
        else:
            column.remove(new)
            insort(self.columns[old.status], old, key=_key)

    def upsert(self, rows: Iterable[Mapping[Any, Any]], marks: SyncMarks) -> set[Status]:
        """Apply fresh rows; returns the columns whose content changed."""
        return self.place([Card.from_row(row, *sync_mark(marks, row["id"])) for row in rows])

    def place(self, cards: list[Card]) -> set[Status]:
        """Put fresh cards in (replacing their old selves); returns the columns touched."""
        incremental = len(cards) <= _INCREMENTAL_LIMIT
        touched: set[Status] = set()
        for card in cards:
            card.aim(self.targets)
            old = self.cards.pop(card.id, None)
            if old is not None:
                self.per_source[old.source] -= 1
                touched.add(old.status)
                if incremental:
                    self.columns[old.status].remove(old)
            if self._hidden(card):
                continue
            self.cards[card.id] = card
            self.per_source[card.source] += 1
            if _has_mark(card):
                self._marked.add(card.id)
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

    def is_bare(self, card_id: str) -> bool:
        """The card has neither patient nor items (an event named the order only): a
        read-back fills them in without a new version, so the feed reads it again."""
        card = self.cards.get(card_id)
        return card is not None and not card.patient and not card.items

    def flag_failed(self, marks: SyncMarks, ids: Iterable[str] | None = None) -> set[str]:
        """Set the sync badges from ``marks`` for ``ids`` (every card when None: only the
        cards marked now or in ``marks`` can change); returns the ids whose badge changed."""
        if ids is None:
            ids = self._marked | marks.keys()
        flipped = set()
        for card_id in ids:
            card = self.cards.get(card_id)
            if card is None:
                self._marked.discard(card_id)
                continue
            mark = sync_mark(marks, card.id)
            if (card.sync_failed, card.sync_retry) != mark:
                card.sync_failed, card.sync_retry = mark
                flipped.add(card.id)
            if _has_mark(card):
                self._marked.add(card.id)
            else:
                self._marked.discard(card.id)
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


@contextmanager
def uncollected() -> Iterator[None]:
    """No cyclic garbage collection while many cards are built: each card is a new tracked
    object, so building 100,000 of them set off full collections that walked every object
    again and again (~20% of a 100,000-card load). Cards form no cycles; what other threads
    leave meanwhile is collected once this ends (the collector is process-wide: a nested or
    concurrent use leaves it as the outermost found it)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def settle() -> None:
    """The board's cards (and everything else alive now) leave the collector's view: the
    oldest generation's passes walk every object, and at 100,000 cards each took ~0.5 s,
    one every few moves. Freed cards still go at once (reference counts); :func:`unsettle`
    hands them back to the collector when the board goes."""
    gc.collect(1)  # the young garbage first: frozen, a cycle would never be collected
    gc.freeze()


def give_back() -> None:
    """The C heap's free memory goes back to the system. glibc keeps what was freed for
    the process's next allocations: a load of 100,000 cards left ~10 MB of it (its rows,
    its lists, SQLite's page cache) that the board would never ask for again. Nothing
    where the C library has no ``malloc_trim`` (not glibc)."""
    import ctypes  # here: the board's start does not pay for it

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def unsettle() -> None:
    """The objects :func:`settle` froze are the collector's again."""
    gc.unfreeze()


def _has_mark(card: Card) -> bool:
    return card.sync_failed or card.sync_retry is not None


def late_count(cards: Sequence[Card], now: datetime) -> int:
    """How many of ``cards`` (a column's, in card order) are late
    (:func:`rxfloor.core.due.is_late`): the column sorts by promised instant, so the late
    ones come first and one bisection finds them (a move at 100,000 orders counted them
    one by one: ~60 ms a key)."""
    at = nextafter(now.timestamp(), _FAR)  # target <= now: instant < the float after now
    return bisect_left(cards, (at, -1, ""), key=_key)


#: :attr:`Card.key`, in C (the sort of 100,000 cards asks it of each)
_key: Callable[[Card], tuple[float, int, str]] = attrgetter("due", "kind.rank", "name")


@lru_cache(maxsize=4096)
def _shared_instant(at: datetime) -> float:
    """:func:`_instant` of a due time, one float for every card due then: promised times
    gather on a few moments (the sample's 100,000 orders have 1,665), 32 B a card each."""
    return _instant(at)


def _instant(at: datetime) -> float:
    """Seconds since the epoch; a naive time (SQLite gives them back so) is UTC."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()

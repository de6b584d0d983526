"""Every read the app makes, as SQLAlchemy Core rows or plain values (fast: no ORM, no pydantic).

Functions that take a ``Connection`` run inside the caller's transaction (the service reads
the order it is about to change in its write transaction); those that take a ``Store`` open
a read transaction of their own. :func:`resolve_order` is the one way to turn what a person
typed or a scanner sent into an order: the CLI, the board's go-to and the service all use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    RowMapping,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)

from rxfloor.core import sources
from rxfloor.core.db.changelog import Cursor
from rxfloor.core.db.schema import (
    alerts,
    audit_events,
    line_items,
    orders,
    outbox,
    product_scans,
    sync_state,
)
from rxfloor.core.due import Targets, is_late, late_sql, promise, promised_parts, promised_sql
from rxfloor.core.lifecycle import DeliveryType, Priority, Status
from rxfloor.core.states import UNSETTLED, OutboxState, initials
from rxfloor.core.text import clip

if TYPE_CHECKING:
    from sqlalchemy import BindParameter

    from rxfloor.core.db.engine import Store

T = TypeVar("T")

_CHUNK = 500  # stay under SQLite's bound-variable limit
#: How many orders an ambiguous reference names in its message.
_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class SyncHealth:
    """What the header shows: online / offline since, queued and failed pushes."""

    online: bool | None
    offline_since: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    queued: int
    failed: int
    #: when its worker last wrote this health (None: no worker ever ran for it)
    reported_at: datetime | None = None


class AmbiguousOrder(LookupError):
    """A reference that fits several orders; the message names a few so a person can pick
    (as ``SOURCE:NAME`` when they come from several sources)."""

    def __init__(self, ref: str, candidates: Sequence[RowMapping], more: bool) -> None:
        tail = ", …" if more else ""
        if len({r["source"] for r in candidates}) > 1:
            listed = ", ".join(clip(f"{r['source']}:{r['name']}", 40) for r in candidates)
            first = f"{candidates[0]['source']}:{candidates[0]['name']}"
            hint = f"type SOURCE:ID (e.g. {clip(first, 40)})"
        else:
            listed = ", ".join(f"{clip(r['name'], 24)} ({clip(r['id'], 40)})" for r in candidates)
            hint = "type the full name or the uid"
        super().__init__(f"order {clip(ref)} fits several orders: {listed}{tail}; {hint}")
        self.candidates = [str(r["id"]) for r in candidates]
        self.rows = list(candidates)  #: the orders themselves (a screen lists them to pick)


def split_source(ref: str) -> tuple[str | None, str]:
    """``shopify:#1001`` -> (``shopify``, ``#1001``): a known source's name (any case)
    before the first colon restricts a reference to that source; anything else is kept."""
    head, sep, rest = ref.partition(":")
    if sep and rest.strip() and head.strip().lower() in sources.names():
        return head.strip().lower(), rest.strip()
    return None, ref


# ---------------------------------------------------------------- one order
def resolve_order(conn: Connection, ref: str) -> RowMapping | None:
    """The order ``ref`` names, however it was typed or scanned; None when none fits.

    Surrounding whitespace (a scanner's CR/LF, a tab) is ignored. ``SOURCE:REF`` (a known
    source, any case: ``shopify:#1001``, ``rxscale:po-…``) looks in that source only.
    Tried in turn:

    1. the local id, exactly (``po-s0-000007``, ``shopify:gid://…``): it wins over any name;
    2. the source's own id, exactly (a Shopify gid typed without its source);
    3. the name, with or without its ``#`` (``#1001``, ``1001`` -> ``#1001``);
    4. a scanned number that ends a prefixed name (``1001`` -> ``#7-1001``), only when
       step 3 found nothing;
    5. a will-call bin (``B12``, or ``bin B12`` as a bin's label scans): the order waiting
       in it, ready and not yet picked up, only when nothing above fitted.

    Several orders fitting one step raise :class:`AmbiguousOrder` (never a guess): the
    same number in two sources is named as ``SOURCE:NAME`` for each.
    """
    ref = ref.strip()
    if not ref:
        return None
    whole = ref
    source, ref = split_source(ref)
    key = sources.local_id(source, ref) if source else whole
    bare = ref.lstrip("#")
    where = [orders.c.source == source] if source else []
    # one indexed query whatever was typed: the id (primary key), the source's id
    # (ix_orders_remote_id) and the name (ix_orders_name) each have an index
    params = {
        "r_ids": sorted({key, whole}),
        "r_remote": ref,
        "r_names": sorted({ref, bare, "#" + bare}),
        "r_source": source,
    }
    rows = conn.execute(_resolve_statement(source is not None), params).mappings().all()
    if rows and rows[0]["id"] in (key, whole):
        return rows[0]
    exact = [r for r in rows if r["remote_id"] == ref]
    if exact:
        rows = exact
    if not rows and bare.isdigit():  # digits only: nothing for LIKE to misread
        rows = (
            conn.execute(
                select(orders)
                .where(*where, orders.c.name.like(f"%-{bare}"))
                .order_by(orders.c.name, orders.c.source, orders.c.id)
                .limit(_CANDIDATES + 1)
            )
            .mappings()
            .all()
        )
    if not rows:
        rows = _in_bin(conn, whole, where)
    if len(rows) > 1:
        raise AmbiguousOrder(whole, rows[:_CANDIDATES], more=len(rows) > _CANDIDATES)
    return rows[0] if rows else None


def _in_bin(conn: Connection, ref: str, where: list[Any]) -> Sequence[RowMapping]:
    """The ready orders waiting in the bin ``ref`` names (``B12``, ``bin b12``)."""
    words = ref.split()
    label = words[-1] if len(words) == 2 and words[0].lower() == "bin" else ref
    if len(label) > 16 or not label.replace("-", "").isalnum():
        return []
    waiting = select(orders).where(
        *where,
        orders.c.will_call_bin == label.upper(),
        orders.c.status == "FINISHED",
        orders.c.picked_up_at.is_(None),
    )
    statement = waiting.order_by(orders.c.name, orders.c.id).limit(_CANDIDATES + 1)
    return conn.execute(statement).mappings().all()


@functools.lru_cache(maxsize=2)
def _resolve_statement(by_source: bool) -> Select[Any]:
    """:func:`resolve_order`'s first query, built once (every move runs it; building it
    cost more than running it)."""
    ids: BindParameter[Any] = bindparam("r_ids", expanding=True)
    remote: BindParameter[Any] = bindparam("r_remote")
    where = [orders.c.source == bindparam("r_source")] if by_source else []
    return (
        select(orders)
        .where(
            *where,
            or_(
                orders.c.id.in_(ids),
                orders.c.remote_id == remote,
                orders.c.name.in_(bindparam("r_names", expanding=True)),
            ),
        )
        .order_by(
            orders.c.id.in_(ids).desc(),
            (orders.c.remote_id == remote).desc(),
            orders.c.name,
            orders.c.source,
            orders.c.id,
        )
        .limit(_CANDIDATES + 1)
    )


# ------------------------------------------------------------ on a connection
def board_rows(
    conn: Connection,
    statuses: Sequence[str] | None = None,
    *,
    finished_since: datetime | None = None,
    ids: Sequence[str] | None = None,
) -> list[RowMapping]:
    """Orders for the board (optionally: these statuses, FINISHED since, these ids)."""
    return list(conn.execute(_board_select(statuses, finished_since, ids)).mappings())


def _board_select(
    statuses: Sequence[str] | None,
    finished_since: datetime | None,
    ids: Sequence[str] | None = None,
) -> Select[Any]:
    stmt = select(orders)
    if statuses is not None:
        stmt = stmt.where(orders.c.status.in_(list(statuses)))
    if finished_since is not None:  # and a pickup order still waiting for its patient
        waiting = and_(orders.c.delivery_type == "pickup", orders.c.picked_up_at.is_(None))
        stmt = stmt.where(
            or_(orders.c.status != "FINISHED", orders.c.status_since >= finished_since, waiting)
        )
    if ids is not None:
        stmt = stmt.where(orders.c.id.in_(list(ids)))
    return stmt


def listing(
    conn: Connection, status: str | None, targets: Targets | None = None
) -> Iterator[RowMapping]:
    """Every order (or those in ``status``) in the board's order, streamed: by status as
    the board's columns go, then as a column sorts its cards (promised instant under
    ``targets``, priority, name in code points, as Python compares them), then id: sorted
    by the database, not in memory."""
    stmt = _listing_select(select(orders), conn.dialect.name, status, targets)
    yield from conn.execute(stmt.execution_options(yield_per=1000)).mappings()


def listing_values(
    conn: Connection,
    status: str | None,
    targets: Targets | None,
    columns: Sequence[ColumnElement[Any]],
) -> Iterator[Row[Any]]:
    """:func:`listing` as plain rows of ``columns`` (by position: no mapping per row)."""
    stmt = _listing_select(select(*columns), conn.dialect.name, status, targets)
    yield from conn.execute(stmt.execution_options(yield_per=1000))


def _listing_select(
    stmt: Select[Any], dialect: str, status: str | None, targets: Targets | None
) -> Select[Any]:
    status_rank = case(
        {s.value: i for i, s in enumerate(Status)}, value=orders.c.status, else_=len(Status)
    )
    rank = case({p.value: p.rank for p in Priority}, value=orders.c.priority, else_=9)
    name = orders.c.name.collate("C") if dialect == "postgresql" else orders.c.name
    promised = promised_sql(dialect, targets or Targets())
    if status:
        stmt = stmt.where(orders.c.status == status)
    return stmt.order_by(status_rank, promised, rank, name, orders.c.id)


def order_items(conn: Connection, order_id: str) -> list[RowMapping]:
    """The order's line items in their order on the prescription."""
    stmt = (
        select(line_items).where(line_items.c.order_id == order_id).order_by(line_items.c.position)
    )
    return list(conn.execute(stmt).mappings())


def order_history(conn: Connection, order_id: str) -> list[RowMapping]:
    """The order's audit events, oldest first."""
    stmt = (
        select(audit_events).where(audit_events.c.order_id == order_id).order_by(audit_events.c.id)
    )
    return list(conn.execute(stmt).mappings())


def count_orders(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(orders)).scalar_one())


def open_alerts(conn: Connection) -> list[RowMapping]:
    """Unacknowledged alerts, oldest first, with the order's name."""
    stmt = (
        select(alerts, orders.c.name.label("order_name"), orders.c.source.label("order_source"))
        .join(orders, orders.c.id == alerts.c.order_id)
        .where(alerts.c.acknowledged_at.is_(None))
        .order_by(alerts.c.id)
    )
    return list(conn.execute(stmt).mappings())


def sync_health(conn: Connection, names: Iterable[str] = ()) -> dict[str, SyncHealth]:
    """Each source's health: its worker's last word (``sync_state``) and its queued / failed
    pushes (the outbox rows of its orders). Every source in ``names`` is there (never tried,
    nothing queued: an empty health), and every other one with a state or queued rows."""
    counts: dict[str, dict[str, int]] = {}
    for source, state, n in conn.execute(
        select(orders.c.source, outbox.c.state, func.count())
        .join(orders, orders.c.id == outbox.c.order_id)
        .where(outbox.c.state.in_(UNSETTLED))
        .group_by(orders.c.source, outbox.c.state)
    ).all():
        counts.setdefault(source, {})[state] = int(n)
    states = {row["source"]: row for row in conn.execute(select(sync_state)).mappings()}
    out: dict[str, SyncHealth] = {}
    for name in dict.fromkeys([*names, *sorted(states), *sorted(counts)]):
        row, n = states.get(name), counts.get(name, {})
        out[name] = SyncHealth(
            online=row["online"] if row else None,
            offline_since=row["offline_since"] if row else None,
            last_ok_at=row["last_ok_at"] if row else None,
            last_error=row["last_error"] if row else None,
            queued=n.get(OutboxState.PENDING, 0) + n.get(OutboxState.SENDING, 0),
            failed=n.get(OutboxState.FAILED, 0),
            reported_at=row["updated_at"] if row else None,
        )
    return out


# ------------------------------------------------------------- for the board
def board_load(
    store: Store,
    statuses: Sequence[str],
    finished_since: datetime,
    make: Callable[[Row[Any], bool, datetime | None], T],
) -> tuple[Cursor, list[T]]:
    """Everything the first paint needs, read in one go: the change cursor, and ``make(row,
    failed, retry)`` of every board row (its :func:`sync_mark`); ``row`` holds
    :data:`CARD_COLUMNS` in their order.

    The rows are streamed and turned into the caller's objects one by one, so the whole
    table never sits in memory as rows (100,000 of them cost more than the cards built from
    them). The cursor is read first so that a change committed during the load is seen
    again by the feed rather than lost.
    """
    cursor = store.change_cursor()
    marks = sync_marks(store)
    stmt = _card_select(statuses, finished_since).execution_options(yield_per=2000)
    with store.read() as conn:
        # rows of CARD_COLUMNS, by position (the id first): no mapping per row
        made = [make(row, *sync_mark(marks, row[0])) for row in conn.execute(stmt)]
    return cursor, made


#: What a board card is made of: the other columns of an order (remote ids,
#: request message …) are read by the detail view. Reading only these makes the load of
#: 100,000 orders faster and leaves less garbage between the cards it keeps.
CARD_COLUMNS = (
    orders.c.id,
    orders.c.source,
    orders.c.name,
    orders.c.status,
    orders.c.priority,
    orders.c.delivery_type,
    orders.c.patient_name,
    orders.c.items_summary,
    orders.c.due_at,
    orders.c.fulfill_at,
    orders.c.on_hold,
    orders.c.hold_by,
    orders.c.hold_reason,
    orders.c.hold_since,
    orders.c.version,
    orders.c.fill_step,
    orders.c.filled_by,
    orders.c.check_note,
    orders.c.note_count,
    orders.c.flags,
    orders.c.scan_progress,
    orders.c.created_at,
    orders.c.status_since,
    orders.c.request_kind,
    orders.c.tracking_number,
    orders.c.remote_status,
    orders.c.will_call_bin,  # a FINISHED pickup order waiting for its patient (the hand-off)
    orders.c.picked_up_at,
    orders.c.picked_up_by,
    orders.c.patient_dob,
)


def _card_select(statuses: Sequence[str], finished_since: datetime) -> Select[Any]:
    return _board_select(statuses, finished_since).with_only_columns(*CARD_COLUMNS)


@dataclass(frozen=True, slots=True)
class FirstPage(Generic[T]):
    """The top of every column and every column's figures, read in one transaction.

    ``made``: ``make(row, failed, retry)`` of up to ``per_column`` orders per status, a superset of
    each column's real top in the board's card order; ``counts``: status -> (orders, late
    ones) over the whole column; ``sources``: the sources with an order on the board;
    ``complete``: no column has more orders than were read (nothing is left to load)."""

    cursor: Cursor
    made: list[T]
    counts: dict[str, tuple[int, int]]
    sources: set[str]
    complete: bool


def board_first_page(
    store: Store,
    statuses: Sequence[str],
    finished_since: datetime,
    now: datetime,
    targets: Targets,
    per_column: int | Callable[[], int],
    make: Callable[[Row[Any], bool, datetime | None], T],
    whole: int = 0,
) -> FirstPage[T]:
    """What the first frame needs, without reading every order: the top of each column and
    cheap COUNTs for its title (``OPEN 82 · 20 late``).

    The board sorts a column by promised instant (:mod:`rxfloor.core.due`: the due time,
    else arrival + target), priority, name. Each part of :func:`~rxfloor.core.due.promised_parts`
    is read in its own column's order, so the ``per_column`` first rows of every part hold
    the column's real top, and its late ones are a range: indexes (migration 0015) serve
    both, no row is sorted or counted one by one beyond an index (at 100,000 orders the
    sort of every row and the late sum over it were ~110 ms of the first frame). Late is
    :func:`~rxfloor.core.due.late_sql`, as the cards colour it. A board of at most
    ``whole`` orders is read whole (``complete``: no second read follows). ``per_column``
    may be a callable, asked once the COUNTs are read (the tops are a second read; the
    change cursor taken first covers both): the board starts this read before it knows
    the terminal's height.
    """
    cursor = store.change_cursor()
    marks = sync_marks(store)
    rank = case({p.value: p.rank for p in Priority}, value=orders.c.priority, else_=9)
    parts = promised_parts(targets)
    made: list[T] = []
    counts: dict[str, tuple[int, int]] = {}
    seen: set[str] = set()
    totals: dict[str, int] = {}
    with store.read() as conn:
        for status, source, n in conn.execute(
            _board_select(statuses, finished_since)
            .with_only_columns(orders.c.status, orders.c.source, func.count())
            .group_by(orders.c.status, orders.c.source)
        ):
            totals[status] = totals.get(status, 0) + int(n)
            seen.add(str(source))
        open_ = [s for s in totals if not Status(s).is_terminal]
        late = [
            sum((select(func.count()).where(orders.c.status == status, which, column <= now - span)
                 .scalar_subquery() for which, column, span in parts), literal(0))
            for status in open_
        ]  # fmt: skip
        # the columns with orders that have no due time: only those are read by target too
        bare = [
            exists().where(orders.c.status == status, orders.c.due_at.is_(None))
            for status in totals
        ]  # fmt: skip
        found = conn.execute(select(*late, *bare)).one() if totals else ()
        lates = dict(zip(open_, found[: len(open_)], strict=True))
        by_target = {s for s, has in zip(totals, found[len(open_) :], strict=True) if has}
        counts = {status: (n, int(lates.get(status, 0))) for status, n in totals.items()}
    # asked with no connection held: the board's answer waits for its compose, and where
    # its pool has one connection (PostgreSQL) the start may need that one meanwhile
    top = per_column() if callable(per_column) else per_column
    if sum(totals.values()) <= whole:
        top = max(totals.values(), default=top)
    with store.read() as conn:
        # names sort as Python compares them (code points), not by a locale's collation
        name = orders.c.name.collate("C") if conn.dialect.name == "postgresql" else orders.c.name
        for status in statuses:
            if not totals.get(status):
                continue
            # one statement per part, the status a parameter: each compiled once
            for which, column, _ in parts if status in by_target else parts[:1]:
                stmt = _card_select([status], finished_since).where(which)
                rows = conn.execute(stmt.order_by(column, rank, name).limit(top))
                made.extend(make(row, *sync_mark(marks, row[0])) for row in rows)
    complete = all(total <= top for total in totals.values())
    return FirstPage(cursor, made, counts, seen, complete)


def versions(store: Store, ids: Iterable[str]) -> dict[str, int]:
    """The version of each order now (missing: no such order). A reader compares it with
    what it shows and reads full rows only for what really changed (its own move is
    already shown)."""
    ids = list(ids)
    found: dict[str, int] = {}
    with store.read() as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            stmt = select(orders.c.id, orders.c.version).where(orders.c.id.in_(chunk))
            found.update((row[0], int(row[1])) for row in conn.execute(stmt))
    return found


def rows_for(store: Store, ids: Sequence[str]) -> tuple[list[RowMapping], SyncMarks]:
    """Fresh rows for the orders the change feed named, and their sync marks."""
    rows: list[RowMapping] = []
    marks: SyncMarks = {}
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows.extend(store.board_rows(ids=chunk))
        marks |= sync_marks(store, chunk)
    return rows, marks


#: The card's sync mark of each order that has one: None when a push of it is parked
#: (``failed``: the sync-error badge), else when its push refused once is sent again.
SyncMarks = dict[str, datetime | None]


def sync_marks(store: Store, ids: Sequence[str] | None = None) -> SyncMarks:
    """The sync marks of the orders (``ids``; None: all) with a parked or refused-once push."""
    stmt = select(outbox.c.order_id, outbox.c.state, outbox.c.next_attempt_at).where(
        _SAYS_SOMETHING
    )
    if ids is not None:
        stmt = stmt.where(outbox.c.order_id.in_(list(ids)))
    marks: SyncMarks = {}
    with store.read() as conn:
        for order_id, state, at in conn.execute(stmt):
            if state == OutboxState.FAILED:
                marks[order_id] = None  # parked wins: it blocks the order's later steps
            else:
                marks.setdefault(order_id, at)
    return marks


def sync_mark(marks: SyncMarks, order_id: str) -> tuple[bool, datetime | None]:
    """(parked, retried at) of one order, as a card holds them."""
    if order_id not in marks:
        return False, None
    at = marks[order_id]
    return at is None, at


#: A push with something to say: parked, or refused once and due to be sent once more.
_SAYS_SOMETHING = or_(
    outbox.c.state == OutboxState.FAILED,
    and_(
        outbox.c.state == OutboxState.PENDING,
        outbox.c.refusals == 1,
        outbox.c.next_attempt_at.is_not(None),
    ),
)


def sync_error_of(order_id: Any) -> Any:
    """The sync error of the order ``order_id`` (a column) as one scalar subquery, as
    :func:`sync_errors_by_order` says it (a move reads it back in its own statement)."""
    return (
        select(func.coalesce(outbox.c.last_error, "refused by the remote"))
        .where(_SAYS_SOMETHING, outbox.c.order_id == order_id)
        .order_by(outbox.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def sync_errors(store: Store, order_id: str) -> list[str]:
    """The remote's messages for the order's parked or refused-once pushes, oldest first
    (detail view)."""
    stmt = (
        select(outbox.c.action, outbox.c.last_error)
        .where(outbox.c.order_id == order_id, _SAYS_SOMETHING)
        .order_by(outbox.c.id)
    )
    with store.read() as conn:
        return [f"{a}: {e or 'no message'}" for a, e in conn.execute(stmt).all()]


def sync_errors_by_order(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, str]:
    """The sync error of each order that has one: the message of its latest parked
    (``failed``) push, or of one refused once and due again ("refused: … — retrying once
    at 14:05"). The outbox is the fact's one home; orders carry no copy of it."""
    stmt = (
        select(outbox.c.order_id, outbox.c.last_error).where(_SAYS_SOMETHING).order_by(outbox.c.id)
    )
    if ids is not None:
        stmt = stmt.where(outbox.c.order_id.in_(list(ids)))
    return {oid: error or "refused by the remote" for oid, error in conn.execute(stmt).all()}


# ------------------------------------------------------------- for the wall
#: Audit actions the wall's ticker shows: moves and holds, by a person or by the remote
#: (sync bookkeeping such as ``synced`` or ``refused`` is left to the board's detail view).
TICKER_ACTIONS = ("start", "finish", "cancel", "hold", "release", "undo", "remote")
_ACTIVE = (Status.OPEN.value, Status.PROCESSING.value)
_URGENT = (Priority.STAT.value, Priority.WAITER.value)


@dataclass(frozen=True, slots=True)
class Waiting:
    """One order as the wall shows it: never the patient's name, only the initials."""

    name: str
    initials: str
    status: str
    priority: str
    since: datetime  # in its status since
    due_at: datetime | None
    on_hold: bool
    #: its promised time (:mod:`rxfloor.core.due`) and whether it is late at the figures' now
    promised: datetime | None = None
    late: bool = False
    source: str = sources.DEFAULT_SOURCE  # whose order (a mark on the wall with several)
    flags: str = ""  # "fridge", "controlled": what its items need on the bench


@dataclass(frozen=True, slots=True)
class ColumnFigures:
    """An active column (OPEN or PROCESSING): how many, how many late, the oldest."""

    count: int
    late: int
    on_hold: int
    oldest: Waiting | None


@dataclass(frozen=True, slots=True)
class TickerMove:
    """One line of the ticker: who (actor, station, or the remote) did what, when."""

    at: datetime
    actor: str
    station: str
    action: str
    order_name: str
    from_status: str | None
    to_status: str | None
    source: str  # local | remote (who made the move)
    order_source: str = sources.DEFAULT_SOURCE  # whose order: a remote move names it


@dataclass(frozen=True, slots=True)
class FinishedSplit:
    """The orders finished today by where they went: ``ready`` pickup orders still waiting
    for their patient, ``picked_up`` ones handed off, ``shipped`` (ship or courier): the
    three add up to the FINISHED figure."""

    ready: int = 0
    picked_up: int = 0
    shipped: int = 0


@dataclass(frozen=True, slots=True)
class WillCall:
    """A ready pickup order waiting in will-call (:func:`ready_older_than`): initials only."""

    name: str
    initials: str
    bin: str | None
    since: datetime  # finished (ready) since
    days: int  # whole days waited at the figures' now
    source: str = sources.DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class ReturnToStock:
    """Ready pickup orders waiting longer than ``[floor] will_call_days``: how many, the
    longest-waiting first (at most the wall's limit of them)."""

    days: int
    count: int = 0
    orders: list[WillCall] = field(default_factory=list)


def _ready_pickup() -> list[Any]:
    """A ready pickup order: finished, for pickup, not yet handed off."""
    return [
        orders.c.status == Status.FINISHED.value,
        orders.c.delivery_type == DeliveryType.PICKUP.value,
        orders.c.picked_up_at.is_(None),
    ]


def ready_older_than(
    conn: Connection, now: datetime, days: int, *, limit: int | None = None
) -> ReturnToStock:
    """Ready pickup orders waiting (since their finish) more than ``days`` whole days at
    ``now``: for return to stock. Longest waiting first, then by name; ``limit`` caps the
    list, never the count."""
    older = [*_ready_pickup(), orders.c.status_since < now - timedelta(days=days)]
    count = int(conn.execute(select(func.count()).where(*older)).scalar_one())
    if not count:
        return ReturnToStock(days)
    stmt = (
        select(
            orders.c.name,
            orders.c.patient_name,
            orders.c.will_call_bin,
            orders.c.status_since,
            orders.c.source,
        )
        .where(*older)
        .order_by(orders.c.status_since, orders.c.name, orders.c.id)
        .limit(limit)
    )
    waiting = [
        WillCall(
            name=str(r.name),
            initials=initials(str(r.patient_name)),
            bin=r.will_call_bin,
            since=r.status_since,
            days=(now - r.status_since).days,
            source=str(r.source),
        )
        for r in conn.execute(stmt)
    ]
    return ReturnToStock(days, count, waiting)


@dataclass(frozen=True, slots=True)
class WallFigures:
    """Everything the wall screen shows, read in one transaction at ``now``.

    ``late`` counts orders late by :mod:`rxfloor.core.due`, as the board colours them;
    FINISHED counts orders finished since ``day_start`` (the board's FINISHED column) and
    since an hour before ``now``.
    """

    now: datetime
    columns: dict[str, ColumnFigures]
    finished_today: int
    finished_last_hour: int
    cancelled_today: int
    urgent: list[Waiting]  # stat first, then waiter; soonest due first
    urgent_counts: dict[str, int]  # stat / waiter -> how many are OPEN or PROCESSING
    moves: list[TickerMove]  # newest first
    health: dict[str, SyncHealth]  # per source (see :func:`sync_health`)
    alerts: list[RowMapping]
    exceptions: int = 0  # the exceptions queue's count (:func:`rxfloor.core.exception_queue.count`)
    #: today's FINISHED figure by where the orders went (ready, picked up, shipped)
    finished_split: FinishedSplit = field(default_factory=FinishedSplit)
    #: ready pickup orders waiting longer than ``[floor] will_call_days`` (None: not asked)
    return_to_stock: ReturnToStock | None = None


def _waiting(row: RowMapping, targets: Targets, now: datetime) -> Waiting:
    promised = promise(
        row["due_at"], row["created_at"], str(row["priority"]), str(row["delivery_type"]), targets
    ).at
    return Waiting(
        promised=promised,
        late=is_late(promised, str(row["status"]), now),
        name=str(row["name"]),
        initials=initials(str(row["patient_name"])),
        status=str(row["status"]),
        priority=str(row["priority"]),
        since=row["status_since"],
        due_at=row["due_at"],
        on_hold=bool(row["on_hold"]),
        source=str(row["source"]),
        flags=str(row["flags"] or ""),
    )


_WAITING_COLUMNS = (
    orders.c.source,
    orders.c.name,
    orders.c.patient_name,
    orders.c.status,
    orders.c.priority,
    orders.c.status_since,
    orders.c.due_at,
    orders.c.on_hold,
    orders.c.flags,
    orders.c.created_at,
    orders.c.delivery_type,
)


def wall_figures(
    conn: Connection,
    now: datetime,
    day_start: datetime,
    *,
    sources: Iterable[str] = (),
    urgent_limit: int = 40,
    moves_limit: int = 40,
    targets: Targets | None = None,
    will_call_days: int | None = None,
    will_call_limit: int = 20,
) -> WallFigures:
    """The wall's figures (run it in one read transaction so they agree with each other);
    ``sources`` are always in the health, even before their worker first ran. Late and
    the urgent list's order are :mod:`rxfloor.core.due`'s, under ``targets`` (the floor's)."""
    from rxfloor.core import exception_queue  # it reads this package's tables

    targets = targets or Targets()
    late = case((late_sql(targets, now), 1), else_=0)
    held = case((orders.c.on_hold, 1), else_=0)
    per_status = {
        str(status): (int(count), int(n_late or 0), int(n_held or 0))
        for status, count, n_late, n_held in conn.execute(
            select(orders.c.status, func.count(), func.sum(late), func.sum(held))
            .where(orders.c.status.in_(_ACTIVE))
            .group_by(orders.c.status)
        )
    }
    columns = {}
    for status in _ACTIVE:
        count, n_late, n_held = per_status.get(status, (0, 0, 0))
        oldest = (
            conn.execute(
                select(*_WAITING_COLUMNS)
                .where(orders.c.status == status)
                .order_by(orders.c.status_since, orders.c.name)
                .limit(1)
            )
            .mappings()
            .first()
        )
        columns[status] = ColumnFigures(
            count, n_late, n_held, _waiting(oldest, targets, now) if oldest else None
        )

    def closed_since(status: Status, since: datetime) -> int:
        stmt = select(func.count()).where(
            orders.c.status == status.value, orders.c.status_since >= since
        )
        return int(conn.execute(stmt).scalar_one())

    pickup = orders.c.delivery_type == DeliveryType.PICKUP.value
    waiting = case((and_(pickup, orders.c.picked_up_at.is_(None)), 1), else_=0)
    handed = case((and_(pickup, orders.c.picked_up_at.is_not(None)), 1), else_=0)
    total, ready, picked_up = conn.execute(
        select(func.count(), func.sum(waiting), func.sum(handed)).where(
            orders.c.status == Status.FINISHED.value, orders.c.status_since >= day_start
        )
    ).one()
    finished = FinishedSplit(
        int(ready or 0), int(picked_up or 0), int(total) - int(ready or 0) - int(picked_up or 0)
    )

    rank = case({p.value: p.rank for p in Priority}, value=orders.c.priority, else_=9)
    urgent_rows = conn.execute(
        select(*_WAITING_COLUMNS)
        .where(orders.c.status.in_(_ACTIVE), orders.c.priority.in_(_URGENT))
        .order_by(rank, promised_sql(conn.dialect.name, targets), orders.c.name)
        .limit(urgent_limit)
    ).mappings()
    urgent_counts = {p: 0 for p in _URGENT}
    urgent_counts.update(
        (str(p), int(n))
        for p, n in conn.execute(
            select(orders.c.priority, func.count())
            .where(orders.c.status.in_(_ACTIVE), orders.c.priority.in_(_URGENT))
            .group_by(orders.c.priority)
        )
    )
    moves = [
        TickerMove(
            at=r["at"],
            actor=str(r["actor"]),
            station=str(r["station"]),
            action=str(r["action"]),
            order_name=str(r["name"]),
            from_status=r["from_status"],
            to_status=r["to_status"],
            source=str(r["source"]),
            order_source=str(r["order_source"]),
        )
        for r in conn.execute(
            select(audit_events, orders.c.name, orders.c.source.label("order_source"))
            .join(orders, orders.c.id == audit_events.c.order_id)
            .where(audit_events.c.action.in_(TICKER_ACTIONS))
            .order_by(audit_events.c.id.desc())
            .limit(moves_limit)
        ).mappings()
    ]
    return WallFigures(
        now=now,
        columns=columns,
        finished_today=finished.ready + finished.picked_up + finished.shipped,
        finished_last_hour=closed_since(Status.FINISHED, now - timedelta(hours=1)),
        cancelled_today=closed_since(Status.CANCELLED, day_start),
        urgent=[_waiting(r, targets, now) for r in urgent_rows],
        urgent_counts=urgent_counts,
        moves=moves,
        health=sync_health(conn, sources),
        alerts=open_alerts(conn),
        exceptions=exception_queue.count(conn),
        finished_split=finished,
        return_to_stock=None
        if will_call_days is None
        else ready_older_than(conn, now, will_call_days, limit=will_call_limit),
    )


def batch_scans(conn: Connection, batch: str) -> list[RowMapping]:
    """Every pack of ``batch`` scanned into an order, oldest first, with its order and item."""
    item = line_items.c
    stmt = (
        select(product_scans, orders.c.name, orders.c.status, item.drug)
        .join(orders, orders.c.id == product_scans.c.order_id)
        .outerjoin(
            line_items,
            (item.order_id == product_scans.c.order_id)
            & (item.position == product_scans.c.position),
        )
        .where(product_scans.c.batch == batch)
        .order_by(product_scans.c.id)
    )
    return list(conn.execute(stmt).mappings())

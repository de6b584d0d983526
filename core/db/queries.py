"""Extra read queries the board needs, kept apart from the store so the sync work can evolve it.

All of them return SQLAlchemy Core rows or plain values (fast, no ORM, no pydantic).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, RowMapping, select

from rxfloor.core.db import Store, orders, outbox
from rxfloor.core.models import OutboxState

_CHUNK = 500  # stay under SQLite's bound-variable limit


def board_load(
    store: Store, statuses: Sequence[str], finished_since: datetime
) -> tuple[int, list[RowMapping], set[str]]:
    """Everything the first paint needs, read in one go: change cursor, rows, failed ids.

    The cursor is read first so that a change committed during the load is seen again by
    the feed rather than lost.
    """
    cursor = store.change_cursor()
    rows = store.board_rows(statuses, finished_since=finished_since)
    return cursor, rows, failed_order_ids(store)


def rows_for(store: Store, ids: Sequence[str]) -> tuple[list[RowMapping], set[str]]:
    """Fresh rows for the orders the change feed named, and which of them failed to sync."""
    rows: list[RowMapping] = []
    failed: set[str] = set()
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows.extend(store.board_rows(ids=chunk))
        failed |= failed_order_ids(store, chunk)
    return rows, failed


def failed_order_ids(store: Store, ids: Sequence[str] | None = None) -> set[str]:
    """Orders with a parked (``failed``) outbox row: the card's sync-error badge."""
    stmt = select(outbox.c.order_id).where(outbox.c.state == OutboxState.FAILED).distinct()
    if ids is not None:
        stmt = stmt.where(outbox.c.order_id.in_(list(ids)))
    with store.read() as conn:
        return set(conn.execute(stmt).scalars())


def sync_errors(store: Store, order_id: str) -> list[str]:
    """The remote's messages for the order's parked pushes, oldest first (detail view)."""
    stmt = (
        select(outbox.c.action, outbox.c.last_error)
        .where(outbox.c.order_id == order_id, outbox.c.state == OutboxState.FAILED)
        .order_by(outbox.c.id)
    )
    with store.read() as conn:
        return [f"{a}: {e or 'no message'}" for a, e in conn.execute(stmt).all()]


def find_any(store: Store, ref: str) -> RowMapping | None:
    """An order by uid, name or scanned barcode (the uid or the name, with or without ``#``)."""
    with store.read() as conn:
        row = store.find_order(conn, ref)
        if row is None and ref.strip().isdigit():
            row = (
                conn.execute(select(orders).where(orders.c.name.like(f"%-{ref.strip()}")))
                .mappings()
                .first()
            )
        return row


def sync_errors_by_order(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, str]:
    """The sync error of each order that has one: the message of its latest parked
    (``failed``) push. The outbox is the fact's one home; orders carry no copy of it."""
    stmt = (
        select(outbox.c.order_id, outbox.c.last_error)
        .where(outbox.c.state == OutboxState.FAILED)
        .order_by(outbox.c.id)
    )
    if ids is not None:
        stmt = stmt.where(outbox.c.order_id.in_(list(ids)))
    return {oid: error or "refused by the remote" for oid, error in conn.execute(stmt).all()}

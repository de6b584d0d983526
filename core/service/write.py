"""A move's write (issue 26 §4), apart from its decision (:mod:`.moves`): the service decides
on a row read with no transaction open, and the write is conditional on the version it read.

PostgreSQL: ONE statement (the order's UPDATE … RETURNING, its audit event, its outbox row
(core/outbox.py's CTE), its change-log row and the pg_notify as data-modifying CTEs) in
autocommit: its own transaction, nothing held between round trips. SQLite (no data-modifying
CTEs; its round trips are calls in the process): BEGIN IMMEDIATE, the writes, COMMIT.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import audit_events, changelog, changes, orders, queries


@dataclass(frozen=True, slots=True)
class _Written:
    row: dict[str, Any]
    event_id: int
    sync_error: str | None


def write_move(
    conn: Connection,
    *,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> _Written | None:
    """Write the move if the order is still at ``version``; None when it is not."""
    if conn.dialect.name == "sqlite":
        return _write_move_sqlite(conn, order_id, version, values, event, queue, at)
    params: dict[str, object] = {"m_id": order_id, "m_version": version, "m_at": at}
    params |= {f"v_{k}": v for k, v in values.items()}
    params |= {f"e_{k}": v for k, v in event.items()}
    if queue is not None:
        params |= outbox_rows.move_params(queue, at)
    stmt = _move_statement(tuple(values), tuple(event), queue is not None)
    found = conn.execute(stmt, params).mappings().first()
    if found is None:
        return None
    changelog.trim(conn, int(found["rx_seq"]))
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return _Written(row, int(found["rx_event_id"]), found["rx_sync_error"])


def _bind(table: Any, prefix: str, name: str) -> Any:
    return bindparam(f"{prefix}_{name}", type_=table.c[name].type)


@functools.lru_cache(maxsize=64)
def _move_statement(values: tuple[str, ...], event: tuple[str, ...], queued: bool) -> Any:
    """The move's one statement for a shape of move, built once per process (building it
    costs more than running it)."""
    upd = (
        update(orders)
        .where(orders.c.id == bindparam("m_id"), orders.c.version == bindparam("m_version"))
        .values({k: _bind(orders, "v", k) for k in values})
        .returning(*orders.c)
        .cte("upd")
    )
    ev = (
        insert(audit_events)
        .from_select(
            ["order_id", *event],
            select(upd.c.id, *(_bind(audit_events, "e", k).label(k) for k in event)),
        )
        .returning(audit_events.c.id, audit_events.c.order_id)
        .cte("ev")
    )
    ch = changelog.record_change_after(upd.c.id, bindparam("m_at", type_=changes.c.at.type))
    note = changelog.notify_after(ch)
    extra: list[Any] = []
    if queued:
        ob = outbox_rows.enqueue_after(ev)
        extra.append(select(func.count()).select_from(ob).scalar_subquery().label("rx_queued"))
    return select(
        upd,
        select(ev.c.id).scalar_subquery().label("rx_event_id"),
        select(ch.c.seq).scalar_subquery().label("rx_seq"),
        select(func.count()).select_from(note).scalar_subquery().label("rx_notified"),
        queries.sync_error_of(upd.c.id).label("rx_sync_error"),
        *extra,
    )


def _write_move_sqlite(
    conn: Connection,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> _Written | None:
    if conn.in_transaction():  # the reads' (no BEGIN was sent: see Store.moving)
        conn.commit()
    conn.execution_options(rx_write=True)  # BEGIN IMMEDIATE: take the write lock up front
    with conn.begin():
        found = (
            conn.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.version == version)
                .values(**values)
                .returning(*orders.c, queries.sync_error_of(orders.c.id).label("rx_sync_error"))
            )
            .mappings()
            .first()
        )
        if found is None:
            return None
        event_id = int(
            conn.execute(
                insert(audit_events).values(order_id=order_id, **event).returning(audit_events.c.id)
            ).scalar_one()
        )
        if queue is not None:
            outbox_rows.enqueue(
                conn,
                order_id=order_id,
                audit_event_id=event_id,
                action=str(queue["action"]),
                reason=queue.get("reason"),
                at=at,
                payload=queue.get("payload"),
            )
        changelog.record_change(conn, [order_id])
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return _Written(row, event_id, found["rx_sync_error"])

"""A move's write in as few round trips as the database allows (issue 26 §4).

The service decides on a row it read without holding a transaction open (see
:meth:`Store.moving`); the write here is conditional on the version it read, so a decision
made on a row that changed since writes nothing and the caller says what happened instead.

PostgreSQL: ONE statement — the order's UPDATE … RETURNING, its audit event, its outbox row,
its change-log row and the ``pg_notify`` as data-modifying CTEs — run in autocommit, so the
statement is its own transaction: no BEGIN, no COMMIT, nothing held between round trips.
SQLite (no data-modifying CTEs; its round trips are calls inside the process): BEGIN
IMMEDIATE, the four statements, COMMIT.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from rxfloor.core.db.changelog import CHANGE_LOG_KEEP, NOTIFY_CHANNEL, TRIM_EVERY
from rxfloor.core.db.queries import SAYS_SOMETHING
from rxfloor.core.db.schema import audit_events, changes, orders, outbox
from rxfloor.core.models import OutboxState

_REFUSED = "refused by the remote"


@dataclass(frozen=True, slots=True)
class Written:
    """The order as the move left it, its audit event and its sync error (if any)."""

    row: Mapping[str, Any]
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
) -> Written | None:
    """Write the move if the order is still at ``version``; None when it is not (nothing
    written). ``event``: the audit event's columns; ``queue``: the outbox row's ``action``,
    ``reason`` and ``payload`` when the move goes to the remote."""
    if conn.dialect.name == "sqlite":
        return _sqlite(conn, order_id, version, values, event, queue, at)
    return _postgres(conn, order_id, version, values, event, queue, at)


def _sync_error(order_id: Any) -> Any:
    """The order's sync error as one scalar (as :func:`queries.sync_errors_by_order`)."""
    return (
        select(func.coalesce(outbox.c.last_error, _REFUSED))
        .where(SAYS_SOMETHING, outbox.c.order_id == order_id)
        .order_by(outbox.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_OUTBOX_COLUMNS = ("action", "reason", "payload", "idempotency_key", "state", "attempts",
                   "created_at")  # fmt: skip


def _outbox_values(queue: dict[str, Any], at: datetime) -> dict[str, object]:
    payload = queue.get("payload")
    return {
        "action": str(queue["action"]),
        "reason": queue.get("reason"),
        "payload": None if payload is None else json.dumps(payload, sort_keys=True),
        "idempotency_key": uuid.uuid4().hex,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "created_at": at,
    }


def _postgres(
    conn: Connection,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> Written | None:
    stmt = _statement(tuple(values), tuple(event), queue is not None)
    params: dict[str, object] = {"m_id": order_id, "m_version": version, "m_at": at}
    params |= {f"v_{k}": v for k, v in values.items()}
    params |= {f"e_{k}": v for k, v in event.items()}
    if queue is not None:
        params |= {f"o_{k}": v for k, v in _outbox_values(queue, at).items()}
    found = conn.execute(stmt, params).mappings().first()
    if found is None:
        return None
    _trim(conn, int(found["rx_seq"]))
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return Written(row, int(found["rx_event_id"]), found["rx_sync_error"])


def _bind(table: Any, prefix: str, name: str) -> Any:
    return bindparam(f"{prefix}_{name}", type_=table.c[name].type)


@functools.lru_cache(maxsize=64)
def _statement(values: tuple[str, ...], event: tuple[str, ...], queued: bool) -> Any:
    """The move's one statement for a shape of move, built once per process (building
    it costs more than running it)."""
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
    ch = (
        insert(changes)
        .from_select(
            ["order_id", "at"],
            select(upd.c.id, bindparam("m_at", type_=changes.c.at.type).label("at")),
        )
        .returning(changes.c.seq)
        .cte("ch")
    )
    note = select(func.pg_notify(NOTIFY_CHANNEL, "").label("n")).select_from(ch).cte("note")
    extra: list[Any] = []
    if queued:
        names = list(_OUTBOX_COLUMNS)
        ob = (
            insert(outbox)
            .from_select(
                ["order_id", "audit_event_id", *names],
                select(ev.c.order_id, ev.c.id, *(_bind(outbox, "o", k).label(k) for k in names)),
            )
            .returning(outbox.c.id)
            .cte("ob")
        )
        extra.append(select(func.count()).select_from(ob).scalar_subquery().label("rx_queued"))
    return select(
        upd,
        select(ev.c.id).scalar_subquery().label("rx_event_id"),
        select(ch.c.seq).scalar_subquery().label("rx_seq"),
        select(func.count()).select_from(note).scalar_subquery().label("rx_notified"),
        _sync_error(upd.c.id).label("rx_sync_error"),
        *extra,
    )


def _sqlite(
    conn: Connection,
    order_id: str,
    version: int,
    values: dict[str, object],
    event: dict[str, object],
    queue: dict[str, Any] | None,
    at: datetime,
) -> Written | None:
    if conn.in_transaction():  # the reads' (no BEGIN was sent: see Store.moving)
        conn.commit()
    conn.execution_options(rx_write=True)  # BEGIN IMMEDIATE: take the write lock up front
    with conn.begin():
        found = (
            conn.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.version == version)
                .values(**values)
                .returning(*orders.c, _sync_error(orders.c.id).label("rx_sync_error"))
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
            conn.execute(
                insert(outbox).values(
                    order_id=order_id, audit_event_id=event_id, **_outbox_values(queue, at)
                )
            )
        seq = conn.execute(
            insert(changes).values(order_id=order_id, at=at).returning(changes.c.seq)
        ).scalar_one()
        _trim(conn, int(seq))
    row = {str(k): v for k, v in found.items() if not str(k).startswith("rx_")}
    return Written(row, event_id, found["rx_sync_error"])


def _trim(conn: Connection, seq: int) -> None:
    """Now and then (never on every write) drop the change log's old rows."""
    if seq % TRIM_EVERY == 0:
        conn.execute(delete(changes).where(changes.c.seq <= seq - CHANGE_LOG_KEEP))

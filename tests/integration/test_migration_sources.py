"""Migration 0006 (several sources): a 0005 database with data keeps every row, as RxScale's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import func, select, text

from rxfloor.core.db import (
    SCHEMA_HEAD,
    Store,
    alerts,
    audit_events,
    orders,
    outbox,
    sync_state,
    webhook_inbox,
)
from rxfloor.core.db.migrations.runner import alembic_config
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService

AT = "2026-11-30 09:00:00.000000"

#: every database here starts empty: these tests run the real migrations
pytestmark = pytest.mark.empty_db


def _at_0005(url: str) -> Store:
    store = Store.open(url, migrate=False)
    cfg = alembic_config()
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_one_sync_error")
    return store


def _fill_0005(store: Store, n: int) -> None:
    with store.write() as conn:
        for i in range(n):
            conn.execute(
                text(
                    "INSERT INTO orders (id, name, status, remote_status, priority, delivery_type,"
                    " patient_name, items_summary, on_hold, sample, version, created_at,"
                    " updated_at, status_since) VALUES (:id, :name, 'PROCESSING', 'in-progress',"
                    " 'normal', 'ship', 'Ann Lee', 'Aspirin', :hold, :sample, 2, :at, :at, :at)"
                ),
                {
                    "id": f"po-{i}",
                    "name": f"#{1000 + i}",
                    "hold": False,
                    "sample": False,
                    "at": AT,
                },
            )
            for version, action in ((1, "created"), (2, "start")):
                conn.execute(
                    text(
                        "INSERT INTO audit_events (order_id, at, actor, station, action,"
                        " from_status, to_status, reason, source, version) VALUES"
                        " (:id, :at, 'AB', 'c1', :action, NULL, 'PROCESSING', NULL, 'local', :v)"
                    ),
                    {"id": f"po-{i}", "at": AT, "action": action, "v": version},
                )
            event = conn.execute(
                text("SELECT max(id) FROM audit_events WHERE order_id = :id"), {"id": f"po-{i}"}
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO outbox (order_id, audit_event_id, action, reason,"
                    " idempotency_key, state, attempts, maybe_applied, created_at) VALUES"
                    " (:id, :ev, 'start', NULL, :key, :state, 0, :maybe, :at)"
                ),
                {
                    "id": f"po-{i}",
                    "ev": event,
                    "key": f"k{i}",
                    "at": AT,
                    "maybe": False,
                    "state": "pending" if i % 2 else "sent",
                },
            )
        conn.execute(
            text(
                "INSERT INTO alerts (order_id, kind, message, created_at) VALUES"
                " ('po-0', 'remote_cancel', 'stop work', :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO webhook_inbox (dedupe_key, body, order_uid, event_ts, received_at,"
                " attempts) VALUES ('k', :body, 'po-0', 1.0, :at, 0)"
            ),
            {"body": b"{}", "at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO sync_state (id, online, last_error, updated_at)"
                " VALUES (1, :online, 'slow', :at)"
            ),
            {"online": True, "at": AT},
        )


def test_a_0005_database_keeps_every_row_as_rxscale(db_url: str) -> None:
    n = 40
    old = _at_0005(db_url)
    _fill_0005(old, n)
    with old.read() as conn:
        before = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (orders, audit_events, outbox, alerts, webhook_inbox)
        }
    old.close()

    store = Store.open(db_url)  # migrates to the head
    try:
        assert store.schema_revision() == SCHEMA_HEAD
        with store.read() as conn:
            after = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (orders, audit_events, outbox, alerts, webhook_inbox)
            }
            assert after == before == {"orders": n, "audit_events": 2 * n, "outbox": n,
                                       "alerts": 1, "webhook_inbox": 1}  # fmt: skip
            rows = conn.execute(select(orders.c.id, orders.c.source, orders.c.remote_id)).all()
            assert all(source == "rxscale" and rid == oid for oid, source, rid in rows)
            assert conn.execute(select(webhook_inbox.c.source)).scalar_one() == "rxscale"
            state = conn.execute(select(sync_state)).mappings().one()
            assert (state["source"], state["online"], state["last_error"]) == (
                "rxscale", True, "slow")  # fmt: skip
            pending = conn.execute(
                select(func.count()).where(outbox.c.state == "pending", outbox.c.payload.is_(None))
            ).scalar_one()
            assert pending == n // 2
        # the old orders work as they did: found by their ids and names, moved, queued
        service = OrderService(store, Actor("AB", "c1"), clock=lambda: datetime.now(UTC))
        view = service.get("#1003")
        assert (view.id, view.source, view.remote_id) == ("po-3", "rxscale", "po-3")
        assert service.get("rxscale:po-3").id == "po-3"
        service.act("po-2", Action.FINISH)
        with store.read() as conn:
            assert (
                conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.order_id == "po-2")
                ).scalar_one()
                == 2
            )
    finally:
        store.close()


def test_the_downgrade_gives_a_0005_database_back(sqlite_url: str) -> None:
    old = _at_0005(sqlite_url)
    _fill_0005(old, 3)
    old.close()
    store = Store.open(sqlite_url)
    cfg = alembic_config()
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_one_sync_error")
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar_one() == 3
        assert conn.execute(text("SELECT id, last_error FROM sync_state")).one() == (1, "slow")
    store.close()

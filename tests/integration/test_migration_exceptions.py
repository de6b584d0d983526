"""Migration 0007 (exceptions queue, one automatic retry): old rows read as never refused,
never parked by hand, and the migrated tables are the models' tables on both backends."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from rxfloor.core.db import Store, metadata
from rxfloor.core.db.migrations.runner import alembic_config

AT = "2026-11-30 09:00:00.000000"

#: every database here starts empty: these tests run the real migrations
pytestmark = pytest.mark.empty_db


def _at(url: str, revision: str) -> Store:
    store = Store.open(url, migrate=False)
    cfg = alembic_config()
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return store


def test_a_0006_outbox_row_reads_as_never_refused(db_url: str) -> None:
    old = _at(db_url, "0006_sources")
    with old.write() as conn:
        conn.execute(
            text(
                "INSERT INTO orders (id, source, remote_id, name, status, remote_status, priority,"
                " delivery_type, patient_name, items_summary, on_hold, sample, version,"
                " created_at, updated_at, status_since) VALUES ('po-1', 'rxscale', 'po-1', '#1',"
                " 'PROCESSING', 'error', 'normal', 'ship', 'Ann Lee', 'Aspirin', false, false, 2,"
                " :at, :at, :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO audit_events (order_id, at, actor, station, action, to_status,"
                " source, version) VALUES ('po-1', :at, 'AB', 'c1', 'start', 'PROCESSING',"
                " 'local', 2)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO outbox (order_id, audit_event_id, action, idempotency_key, state,"
                " attempts, created_at) VALUES ('po-1', 1, 'start', 'k1', 'failed', 3, :at)"
            ),
            {"at": AT},
        )
    old.close()
    store = Store.open(db_url)  # migrates to the head
    try:
        with store.read() as conn:
            row = conn.execute(text("SELECT refusals, failed_at FROM outbox")).one()
            assert tuple(row) == (0, None)
            resolved = conn.execute(text("SELECT exception_resolved FROM orders")).scalar_one()
            assert resolved is None
    finally:
        store.close()


def test_the_migrated_schema_is_the_models_schema(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        with store.read() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # column changes are tuples; type/default nuances (lists) differ by backend and are
        # not what this test is about: a column the models have and the migrations lack
        kinds = {"add_column", "remove_column", "add_table", "remove_table"}
        missing = [d for d in diff if isinstance(d, tuple) and d[0] in kinds]
        assert missing == []
    finally:
        store.close()


def test_the_downgrade_gives_a_0006_database_back(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    store = Store.open(sqlite_url)
    cfg = alembic_config()
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006_sources")
    with store.read() as conn:
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(outbox)"))}
        assert "refusals" not in columns and "failed_at" not in columns
    store.close()

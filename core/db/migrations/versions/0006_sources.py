"""Several sources on one floor: an order's identity is (source, the source's id).

* ``orders.source`` (every existing order is RxScale's) and ``orders.remote_id`` (the
  source's own id; backfilled from ``id``, which RxScale orders keep as it was), unique
  per source; ``orders.id`` stays the local key (``core/sources: local_id``), widened to
  160 characters on PostgreSQL (with every column that refers to it) so that
  ``<source>:<remote id>`` fits (and ``remote_status`` to 64, for Shopify's compact
  ``IN_PROGRESS/CANCELLATION_REQUESTED``);
* a merchant's request on the order (``request_kind``, ``request_message``) and the
  tracking a finish sent (``tracking_company``, ``tracking_number``, ``tracking_url``);
* ``outbox.payload``: what the move carries beyond its reason (JSON; a finish's tracking);
* ``webhook_inbox.source``: which source's receiver stored the delivery, and ``headers``:
  the delivery's ``X-*`` headers (a source may send the event's id and time there);
* ``sync_state`` keyed by source (one health row per source): the old single row becomes
  RxScale's.

SQLite keeps an empty-string default on ``remote_id`` (it cannot drop a column default in
place); every insert sets it. The downgrade refuses a database holding orders of another
source than RxScale (their ids would collide with nothing, but their meaning would be lost).

Revision ID: 0006_sources
Revises: 0005_one_sync_error
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0006_sources"
down_revision: str | None = "0005_one_sync_error"
branch_labels = None
depends_on = None

_ORDER_REFS = (
    ("line_items", "order_id"),
    ("audit_events", "order_id"),
    ("outbox", "order_id"),
    ("alerts", "order_id"),
    ("changes", "order_id"),
)
_STATE_COLUMNS = ("online", "offline_since", "last_ok_at", "last_error", "pull_cursor",
                  "updated_at")  # fmt: skip


def _state_table(key: sa.Column[object]) -> None:
    op.create_table(
        "sync_state",
        key,
        sa.Column("online", sa.Boolean()),
        sa.Column("offline_since", UTCDateTime()),
        sa.Column("last_ok_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("pull_cursor", sa.Text()),
        sa.Column("updated_at", UTCDateTime()),
        sa.PrimaryKeyConstraint(key.name, name="pk_sync_state"),
    )


def _rekey_sync_state(key: sa.Column[object], old_key: str, new_key: object) -> None:
    """Recreate ``sync_state`` with another key column, carrying the one row over."""
    bind = op.get_bind()
    cols = ", ".join(_STATE_COLUMNS)
    rows = bind.execute(sa.text(f"SELECT {cols} FROM sync_state WHERE {old_key}")).mappings().all()
    op.drop_table("sync_state")
    _state_table(key)
    table = sa.table("sync_state", sa.column(key.name), *(sa.column(c) for c in _STATE_COLUMNS))
    for row in rows[:1]:
        bind.execute(sa.insert(table).values({key.name: new_key, **row}))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # SQLite does not enforce VARCHAR lengths
        op.alter_column("orders", "id", type_=sa.String(160))
        for table, column in _ORDER_REFS:
            op.alter_column(table, column, type_=sa.String(160))
        op.alter_column("webhook_inbox", "order_uid", type_=sa.String(128))
        op.alter_column("orders", "remote_status", type_=sa.String(64))
    op.add_column(
        "orders",
        sa.Column("source", sa.String(16), nullable=False, server_default="rxscale"),
    )
    op.add_column(
        "orders", sa.Column("remote_id", sa.String(128), nullable=False, server_default="")
    )
    op.execute("UPDATE orders SET remote_id = id")
    if postgres:
        op.alter_column("orders", "remote_id", server_default=None)
    op.create_index("ix_orders_source_remote_id", "orders", ["source", "remote_id"], unique=True)
    op.add_column("orders", sa.Column("request_kind", sa.String(32)))
    op.add_column("orders", sa.Column("request_message", sa.Text()))
    op.add_column("orders", sa.Column("tracking_company", sa.String(128)))
    op.add_column("orders", sa.Column("tracking_number", sa.String(128)))
    op.add_column("orders", sa.Column("tracking_url", sa.Text()))
    op.add_column("outbox", sa.Column("payload", sa.Text()))
    op.add_column(
        "webhook_inbox",
        sa.Column("source", sa.String(16), nullable=False, server_default="rxscale"),
    )
    op.add_column("webhook_inbox", sa.Column("headers", sa.Text()))
    _rekey_sync_state(sa.Column("source", sa.String(16), nullable=False), "id = 1", "rxscale")


def downgrade() -> None:
    bind = op.get_bind()
    others = bind.execute(sa.text("SELECT count(*) FROM orders WHERE source <> 'rxscale'"))
    if others.scalar_one():
        raise RuntimeError("cannot downgrade: the database holds orders of other sources")
    _rekey_sync_state(sa.Column("id", sa.Integer(), nullable=False), "source = 'rxscale'", 1)
    op.drop_column("webhook_inbox", "headers")  # SQLite >= 3.35 drops it in place
    op.drop_column("webhook_inbox", "source")
    op.drop_column("outbox", "payload")
    op.drop_index("ix_orders_source_remote_id", "orders")
    for column in (
        "tracking_url",
        "tracking_number",
        "tracking_company",
        "request_message",
        "request_kind",
        "remote_id",
        "source",
    ):
        op.drop_column("orders", column)

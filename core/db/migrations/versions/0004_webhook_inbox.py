"""The webhook inbox: every verified delivery is stored before it is acknowledged.

Replaces ``webhook_events`` (keys of applied deliveries, written after the 2xx): the inbox
row is the dedupe record, the crash-recovery queue and the audit of what was not applied.

Revision ID: 0004_webhook_inbox
Revises: 0003_push
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0004_webhook_inbox"
down_revision: str | None = "0003_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("order_uid", sa.String(64), nullable=False),
        sa.Column("event_ts", sa.Float(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("applied_at", UTCDateTime()),
        sa.Column("outcome", sa.String(16)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_inbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_webhook_inbox_dedupe_key"),
    )
    op.create_index("ix_webhook_inbox_applied_at", "webhook_inbox", ["applied_at"])
    op.create_index("ix_webhook_inbox_order_uid", "webhook_inbox", ["order_uid"])
    op.drop_table("webhook_events")


def downgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_webhook_events"),
    )
    op.drop_table("webhook_inbox")

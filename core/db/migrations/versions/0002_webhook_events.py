"""Webhook deliveries already applied, so a retried or replayed delivery is applied once.

Revision ID: 0002_webhook_events
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0002_webhook_events"
down_revision: str | None = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_webhook_events"),
    )


def downgrade() -> None:
    op.drop_table("webhook_events")

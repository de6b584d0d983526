"""One home for the sync error: ``orders.sync_error`` is dropped.

The fact "this order's move is parked" lives in its ``failed`` outbox row (with the
remote's words in ``last_error``); the column was a second copy written beside it.
Nothing to carry over: every message in the column is the ``last_error`` of such a row.
The downgrade puts the column back and fills it from those rows.

Revision ID: 0005_one_sync_error
Revises: 0004_webhook_inbox
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_one_sync_error"
down_revision: str | None = "0004_webhook_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("orders", "sync_error")  # SQLite >= 3.35 drops it in place


def downgrade() -> None:
    op.add_column("orders", sa.Column("sync_error", sa.Text()))
    op.execute(
        "UPDATE orders SET sync_error = (SELECT last_error FROM outbox"
        " WHERE outbox.order_id = orders.id AND outbox.state = 'failed'"
        " ORDER BY outbox.id DESC LIMIT 1)"
    )

"""Outbox rows know who claimed them and whether an attempt may have been applied.

``claimed_by``: the push lease holder that marked the row ``sending``; a row is settled only
by the pusher that claimed it (a pusher that lost its lease cannot overwrite the new one's
outcome). ``maybe_applied``: an earlier attempt may have reached the remote (a timeout, a
dropped answer, a 5xx after a PATCH), so the row is read back before it is sent again; a 429
or a refused connection is certainly not applied and leaves it false.

Revision ID: 0003_push
Revises: 0002_webhook_events
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_push"
down_revision: str | None = "0002_webhook_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claimed_by", sa.String(128), nullable=True))
    op.add_column(
        "outbox",
        sa.Column("maybe_applied", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # before this revision any earlier attempt counted as uncertain: keep that for old rows
    op.execute("UPDATE outbox SET maybe_applied = (attempts > 0)")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("maybe_applied")
        batch.drop_column("claimed_by")

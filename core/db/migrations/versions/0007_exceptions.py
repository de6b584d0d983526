"""The exceptions queue and the one automatic retry of a refused push.

* ``outbox.refusals``: how many times the source refused this row. The first refusal puts
  the row back in the queue once (Konnektive's "Recycled", applied to every source); the
  second parks it (``failed``).
* ``outbox.failed_at``: when the row was parked, so the exceptions queue lists the oldest
  first (rows parked before this migration read their ``created_at``).
* ``orders.exception_resolved``: the source's exceptional word (``remote_status``) that a
  person resolved with a note; the order leaves the queue until the source says something
  else that needs a person.

Revision ID: 0007_exceptions
Revises: 0006_sources
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0007_exceptions"
down_revision: str | None = "0006_sources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("refusals", sa.Integer(), server_default="0", nullable=False))
    op.add_column("outbox", sa.Column("failed_at", UTCDateTime()))
    op.add_column("orders", sa.Column("exception_resolved", sa.String(64)))


def downgrade() -> None:
    op.drop_column("orders", "exception_resolved")  # SQLite >= 3.35 drops them in place
    op.drop_column("outbox", "failed_at")
    op.drop_column("outbox", "refusals")

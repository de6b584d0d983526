"""Indexes for the exceptions queue's count: the header asks it every second.

Without them the count scans every order twice a second (``remote_status`` against each
source's exceptional words, ``request_kind`` for unanswered cancellation requests): about
30 ms on 100,000 orders in SQLite. With them it reads only the few orders that match.

Revision ID: 0008_exceptions_index
Revises: 0007_exceptions
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0008_exceptions_index"
down_revision: str | None = "0007_exceptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_remote_status", "orders", ["remote_status"])
    op.create_index("ix_orders_request_kind", "orders", ["request_kind"])


def downgrade() -> None:
    op.drop_index("ix_orders_request_kind", "orders")
    op.drop_index("ix_orders_remote_status", "orders")

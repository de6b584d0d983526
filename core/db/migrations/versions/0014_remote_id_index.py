"""An index on the source's own id alone, so that finding an order by any reference is one
indexed query.

``resolve_order`` looks for a reference as a local id, a source's id or a name in one query
(an OR of the three). The local id is the primary key and the name has its index, but the
source's id was indexed only behind ``source`` (``ix_orders_source_remote_id``): a reference
typed without its source made the OR scan the table (~100 ms a move at 100,000 orders), so
the lookup tried the primary key first in a query of its own. With this index every branch
of the OR is indexed, and the lookup is one query whatever was typed.

Revision ID: 0014_remote_id_index
Revises: 0013_ready_index
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision: str = "0014_remote_id_index"
down_revision: str | None = "0013_ready_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_remote_id", "orders", ["remote_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_remote_id", "orders")

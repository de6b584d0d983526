"""Product codes from the sources (issue 24 §2): ``line_items.barcode``, the number of the
pack's barcode where a source gives one beside its SKU (a Shopify variant's ``barcode``). A
scan matches it as it matches ``sku`` and ``pzn``; items stored before it have none.

Revision ID: 0012_item_barcode
Revises: 0011_handoff
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_item_barcode"
down_revision: str | None = "0011_handoff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("line_items", sa.Column("barcode", sa.String(64)))


def downgrade() -> None:
    op.drop_column("line_items", "barcode")

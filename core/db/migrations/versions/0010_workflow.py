"""The pharmacy's own workflow (issue 24): the check before finish, people, notes, flags.

* ``orders.fill_step``, ``filled_by``, ``checked_by``, ``check_note``: the steps inside
  PROCESSING on a floor that checks before finish (``[floor] check``); local, never sent;
* ``orders.note_count``: how many notes the floor wrote on the order (each note is an audit
  event ``note``: the timeline is its one home);
* ``orders.flags``: what the items need on the bench (``fridge``, ``controlled``);
* ``product_scans`` (each pack scanned against an item while filling: GTIN, batch, serial,
  expiry) and ``orders.scan_progress`` (``2/3``);
* ``people`` (one list per floor: name, role, badge, PIN hash) and ``people_events``
  (every change to it, every sign-in and sign-out).

Revision ID: 0010_workflow
Revises: 0009_change_tx
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0010_workflow"
down_revision: str | None = "0009_change_tx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("fill_step", sa.String(16)))
    op.add_column("orders", sa.Column("filled_by", sa.String(64)))
    op.add_column("orders", sa.Column("checked_by", sa.String(64)))
    op.add_column("orders", sa.Column("check_note", sa.Text()))
    op.add_column(
        "orders", sa.Column("note_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("orders", sa.Column("flags", sa.String(64), server_default="", nullable=False))
    op.add_column("orders", sa.Column("scan_progress", sa.String(16)))
    op.create_table(
        "product_scans",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(160), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("gtin", sa.String(14)),
        sa.Column("batch", sa.String(64)),
        sa.Column("serial", sa.String(64)),
        sa.Column("expiry", sa.String(10)),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_product_scans_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_product_scans"),
    )
    op.create_index("ix_product_scans_order_id", "product_scans", ["order_id"])
    op.create_index("ix_product_scans_batch", "product_scans", ["batch"])
    op.create_table(
        "people",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("badge", sa.String(64)),
        sa.Column("pin_hash", sa.String(256)),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_people"),
        sa.UniqueConstraint("badge", name="uq_people_badge"),
    )
    op.create_table(
        "people_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("person", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_people_events"),
    )


def downgrade() -> None:
    op.drop_index("ix_product_scans_batch", "product_scans")
    op.drop_index("ix_product_scans_order_id", "product_scans")
    op.drop_table("product_scans")
    op.drop_table("people_events")
    op.drop_table("people")
    columns = ("scan_progress", "flags", "note_count", "check_note", "checked_by", "filled_by",
               "fill_step")  # fmt: skip
    for column in columns:
        op.drop_column("orders", column)

"""Ready and handed off (issue 24 §3): the steps inside FINISHED of a pickup order.

* ``orders.will_call_bin``: the bin a finished pickup order waits in (``B12``), optional;
* ``orders.patient_dob``: the patient's date of birth where the source gives it (ISO), what
  the counter confirms at hand-off;
* ``orders.picked_up_at``, ``picked_up_by``: the hand-off (an audit event ``handoff`` too).
  Pickup orders FINISHED before this revision left the floor unrecorded: they are marked
  picked up when they were finished (by nobody named), so they never wait on the board.

Revision ID: 0011_handoff
Revises: 0010_workflow
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rxfloor.core.db import UTCDateTime

revision: str = "0011_handoff"
down_revision: str | None = "0010_workflow"
branch_labels = None
depends_on = None

_COLUMNS = ("picked_up_by", "picked_up_at", "patient_dob", "will_call_bin")


def upgrade() -> None:
    op.add_column("orders", sa.Column("will_call_bin", sa.String(16)))
    op.add_column("orders", sa.Column("patient_dob", sa.String(10)))
    op.add_column("orders", sa.Column("picked_up_at", UTCDateTime()))
    op.add_column("orders", sa.Column("picked_up_by", sa.String(64)))
    op.create_index("ix_orders_will_call_bin", "orders", ["will_call_bin"])
    op.execute(
        "UPDATE orders SET picked_up_at = status_since "
        "WHERE status = 'FINISHED' AND delivery_type = 'pickup'"
    )


def downgrade() -> None:
    op.drop_index("ix_orders_will_call_bin", "orders")
    for column in _COLUMNS:
        op.drop_column("orders", column)

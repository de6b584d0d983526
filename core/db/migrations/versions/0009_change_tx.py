"""The change log knows which transaction wrote each change (PostgreSQL): ``changes.tx``.

A change's ``seq`` is taken at insert and its transaction commits later, so on PostgreSQL a
follower whose cursor is the highest ``seq`` it saw skips a lower one still in flight, for
good. With the writer's transaction id (``pg_current_xact_id()``, 64-bit: it never wraps)
a follower holds its cursor below every transaction still running
(``pg_snapshot_xmin(pg_current_snapshot())``): see :mod:`rxfloor.core.db.changelog`.

SQLite writers take the write lock at BEGIN and keep it to the commit: seq order is commit
order there, the column stays empty.

Revision ID: 0009_change_tx
Revises: 0008_exceptions_index
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_change_tx"
down_revision: str | None = "0008_exceptions_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    default = sa.text("(pg_current_xact_id()::text::bigint)") if postgres else None
    op.add_column("changes", sa.Column("tx", sa.BigInteger(), server_default=default))
    if postgres:
        op.execute("UPDATE changes SET tx = 0")  # written before: below every cursor
        op.create_index("ix_changes_tx", "changes", ["tx"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_changes_tx", "changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("tx")

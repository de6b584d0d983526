"""Alembic environment: always handed a live connection by runner.upgrade."""

from __future__ import annotations

from alembic import context

from rxfloor.core.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through a hand-written alembic.ini
    raise RuntimeError("run migrations through rxfloor (Store.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

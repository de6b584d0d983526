"""The local database's tables: ORM classes for migrations and Core ``Table`` objects for queries.

Timestamps are stored as naive UTC on every backend (:class:`UTCDateTime`) and read back
timezone-aware; :data:`SCHEMA_HEAD` is the migration these tables correspond to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rxfloor.core.models import OutboxState

#: The newest migration this code knows (checked against Alembic's head by a test).
SCHEMA_HEAD = "0005_one_sync_error"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC on every backend and read back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class OrderRow(Base):
    """One fulfillment order as the board shows it (item summary denormalised for speed)."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the remote uid
    name: Mapped[str] = mapped_column(String(64), index=True)  # human name, e.g. "#1001"
    status: Mapped[str] = mapped_column(String(16), index=True)
    remote_status: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    delivery_type: Mapped[str] = mapped_column(String(16), default="pickup")
    patient_name: Mapped[str] = mapped_column(String(128), default="")
    items_summary: Mapped[str] = mapped_column(String(256), default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfill_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_by: Mapped[str | None] = mapped_column(String(64))
    hold_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_since: Mapped[datetime] = mapped_column(UTCDateTime)


class LineItemRow(Base):
    __tablename__ = "line_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(128))
    strength: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    pzn: Mapped[str | None] = mapped_column(String(16))


class AuditEventRow(Base):
    """Who did what to which order, when, from where and why. Never updated, never deleted."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8))  # local | remote
    version: Mapped[int] = mapped_column(Integer)  # the order's version after this event


class OutboxRow(Base):
    """A move the remote must learn about, written in the same transaction as the move."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: an earlier attempt may have reached the remote: read the order back before sending
    maybe_applied: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the push lease holder that marked the row ``sending`` (only it may settle the row)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChangeRow(Base):
    """Append-only change log: one row per order touched, the board's cursor is ``seq``."""

    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertRow(Base):
    """Something a pharmacist must acknowledge (e.g. the remote cancelled an order in work)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. remote_cancel
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class SyncStateRow(Base):
    """Health of the sync worker, shared by every terminal on the database (one row, id 1)."""

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    online: Mapped[bool | None] = mapped_column(Boolean)  # None: never tried
    offline_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    pull_cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncLeaseRow(Base):
    """Who may push right now (SQLite; PostgreSQL uses an advisory lock instead)."""

    __tablename__ = "sync_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookInboxRow(Base):
    """A verified webhook delivery, stored before it is acknowledged; applied from here.

    ``dedupe_key`` (event type, full timestamp, order uid, a hash of the event) makes an
    exact retry a duplicate; ``applied_at`` is when it was settled, ``outcome`` how:
    ``applied``, ``stale`` (recorded, never applied: too old, or older than an event
    already applied to the order) or ``failed``; unsettled rows are the worker's queue.
    """

    __tablename__ = "webhook_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    order_uid: Mapped[str] = mapped_column(String(64), index=True)
    event_ts: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)


orders = cast(Table, OrderRow.__table__)
line_items = cast(Table, LineItemRow.__table__)
audit_events = cast(Table, AuditEventRow.__table__)
outbox = cast(Table, OutboxRow.__table__)
changes = cast(Table, ChangeRow.__table__)
alerts = cast(Table, AlertRow.__table__)
sync_state = cast(Table, SyncStateRow.__table__)
sync_lease = cast(Table, SyncLeaseRow.__table__)
webhook_inbox = cast(Table, WebhookInboxRow.__table__)

"""The local database's tables, as Core ``Table`` objects (no ORM: it would cost every command
its import).

Timestamps are stored as naive UTC on every backend (:class:`UTCDateTime`) and read back
timezone-aware; :data:`SCHEMA_HEAD` is the migration these tables correspond to.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)

# the bare-ids source: every row from before sources is its (migration 0006 wrote its name)
from rxfloor.core.sources import default_source
from rxfloor.core.states import OutboxState

#: The newest migration this code knows (checked against Alembic's head by a test).
SCHEMA_HEAD = "0014_remote_id_index"


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

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """The driver's value to an aware datetime in one call per value (the board reads
        four timestamps of each of 100,000 orders): what :meth:`process_result_value` does,
        without the decorator's second call around the dialect's own parser."""
        parse = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)
        if parse is None:  # the driver gives datetimes (PostgreSQL)

            def aware(value: Any) -> datetime | None:
                return None if value is None else value.replace(tzinfo=UTC)

            return aware

        if dialect.name == "sqlite":  # the text SQLAlchemy stores, ISO 8601: parsed aware
            return _sqlite_aware(parse)

        def parsed(value: Any) -> datetime | None:
            if value is None:
                return None
            at: datetime = parse(value)  # type: ignore[assignment]  # a datetime for a value
            return at.replace(tzinfo=UTC)

        return parsed


def _sqlite_aware(parse: Callable[[Any], Any]) -> Callable[[Any], datetime | None]:
    """SQLite's stored text (``2025-03-04 10:11:12.123456``, naive UTC) to an aware datetime
    in one C call (~10x faster than parsing and then ``replace``: 100,000 cards carry
    four timestamps each); anything else stored there goes through SQLAlchemy's parser."""
    iso = datetime.fromisoformat

    def aware(value: Any) -> datetime | None:
        if value is None:
            return None
        try:
            at = iso(value + "+00:00")
        except (TypeError, ValueError):
            at = parse(value)
        # a date alone ignores the offset: as SQLAlchemy reads it, then in UTC
        return at if at.tzinfo is UTC else at.replace(tzinfo=UTC)

    return aware


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


#: One fulfillment order as the board shows it (item summary denormalised for speed).
#:
#: Its identity is (``source``, ``remote_id``: the source's own id); ``id`` is the local key,
#: derived from them by ``core.sources.local_id`` (an RxScale order keeps ``id == remote_id``).
orders = Table(
    "orders",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("source", String(16), server_default=default_source(), nullable=False),
    Column("remote_id", String(128), nullable=False),
    Column("name", String(64), index=True, nullable=False),  # human name, e.g. "#1001"
    Column("status", String(16), index=True, nullable=False),
    # the source's own word(s); indexed for the exceptions queue's count
    Column("remote_status", String(64), index=True),
    Column("priority", String(8), default="normal", nullable=False),
    Column("delivery_type", String(16), default="pickup", nullable=False),
    Column("patient_name", String(128), default="", nullable=False),
    Column("items_summary", String(256), default="", nullable=False),
    Column("due_at", UTCDateTime),
    Column("fulfill_at", UTCDateTime),
    Column("on_hold", Boolean, default=False, nullable=False),
    Column("hold_reason", Text),
    Column("hold_by", String(64)),
    Column("hold_since", UTCDateTime),
    Column("sample", Boolean, default=False, nullable=False),
    Column("version", Integer, default=1, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("status_since", UTCDateTime, nullable=False),
    # a merchant's request awaiting an answer ("cancellation") and its message
    Column("request_kind", String(32), index=True),
    Column("request_message", Text),
    # what the finish sent the source (a shipped order of a source that tracks parcels)
    Column("tracking_company", String(128)),
    Column("tracking_number", String(128)),
    Column("tracking_url", Text),
    # the exceptional ``remote_status`` a person resolved with a note (the exceptions queue)
    Column("exception_resolved", String(64)),
    # the steps inside PROCESSING on a floor that checks before finish ([floor] check): the
    # step, who fills (filled) it, who checked it, and why the last check failed
    Column("fill_step", String(16)),
    Column("filled_by", String(64)),
    Column("checked_by", String(64)),
    Column("check_note", Text),
    # the floor's own notes on the order (audit events ``note``): how many, for the card's mark
    Column("note_count", Integer, default=0, server_default="0", nullable=False),
    # what the items need on the bench: "fridge", "controlled", comma separated ("" none)
    Column("flags", String(64), default="", server_default="", nullable=False),
    # the packs scanned against its items while filling ("2/3"), None before the first one
    Column("scan_progress", String(16)),
    # ready and handed off (FINISHED pickup orders): the will-call bin it waits in, the
    # patient's date of birth where the source gives it (ISO), when and by whom picked up
    Column("will_call_bin", String(16), index=True),
    Column("patient_dob", String(10)),
    Column("picked_up_at", UTCDateTime),
    Column("picked_up_by", String(64)),
    Index("ix_orders_source_remote_id", "source", "remote_id", unique=True),
    # a reference typed without its source (a Shopify gid): resolve_order's one query
    Index("ix_orders_remote_id", "remote_id"),
    # the ready pickup orders, oldest first (the wall's back-to-stock list, each second)
    Index("ix_orders_ready", "status", "delivery_type", "picked_up_at", "status_since"),
)


line_items = Table(
    "line_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False),
    Column("position", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("drug", String(128), nullable=False),
    Column("strength", String(64), default="", nullable=False),
    Column("quantity", Integer, default=1, nullable=False),
    Column("pzn", String(16)),
    Column("barcode", String(64)),
)


#: Who did what to which order, when, from where and why. Never updated, never deleted.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id"), index=True, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("station", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("reason", Text),
    Column("source", String(8), nullable=False),  # local | remote
    Column("version", Integer, nullable=False),  # the order's version after this event
)


#: A pack scanned while filling an order and found to be one of its items: the recall
#: look-up (``rxfloor history --batch``) reads its batch and serial. Never updated.
product_scans = Table(
    "product_scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id"), index=True, nullable=False),
    Column("position", Integer, nullable=False),  # the line item's position in the order
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("station", String(64), nullable=False),
    Column("gtin", String(14)),
    Column("batch", String(64), index=True),
    Column("serial", String(64)),
    Column("expiry", String(10)),  # ISO date (AI 17), as the pack says
    Column("raw", Text, nullable=False),  # what the scanner typed (controls visible on show)
)


#: The floor's people (one list per database): who may sign in, and as what.
people = Table(
    "people",
    metadata,
    Column("name", String(32), primary_key=True),  # initials or a short name, as on the card
    Column("role", String(16), nullable=False),  # pharmacist | technician
    Column("badge", String(64), unique=True),  # what their badge scans as
    Column("pin_hash", String(256)),  # scrypt, salted; None: the badge alone signs in
    Column("added_at", UTCDateTime, nullable=False),
    Column("added_by", String(64), nullable=False),
)


#: Every change to ``people`` and every sign-in and sign-out. Never updated, never deleted.
people_events = Table(
    "people_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("station", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # add | change | remove | sign_in | ...
    Column("person", String(32), nullable=False),
    Column("detail", Text),
)


#: A move the remote must learn about, written in the same transaction as the move.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id"), index=True, nullable=False),
    Column("audit_event_id", ForeignKey("audit_events.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text),
    Column("payload", Text),  # JSON: what the move carries besides its reason (tracking)
    Column("idempotency_key", String(64), unique=True, nullable=False),
    Column("state", String(16), index=True, default=OutboxState.PENDING, nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    # times the source refused this row: the first refusal is retried once, the second parks
    Column("refusals", Integer, default=0, server_default="0", nullable=False),
    # an earlier attempt may have reached the remote: read the order back before sending
    Column("maybe_applied", Boolean, default=False, server_default=false(), nullable=False),
    # the push lease holder that marked the row ``sending`` (only it may settle the row)
    Column("claimed_by", String(128)),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("failed_at", UTCDateTime),  # when it was parked (the exceptions queue's order)
)


#: Append-only change log: one row per order touched, the board's cursor is ``seq``.
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(160), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    #: PostgreSQL: the writer's transaction id (server default ``pg_current_xact_id()``);
    #: the feed's cursor stays below the ones still running. Empty on SQLite.
    Column("tx", BigInteger),
)


#: Something a pharmacist must acknowledge (e.g. the remote cancelled an order in work).
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id"), index=True, nullable=False),
    Column("kind", String(32), nullable=False),  # e.g. remote_cancel
    Column("message", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledged_by", String(64)),
)


#: Health of each source's sync worker, shared by every terminal on the database.
sync_state = Table(
    "sync_state",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("online", Boolean),  # None: never tried
    Column("offline_since", UTCDateTime),
    Column("last_ok_at", UTCDateTime),
    Column("last_error", Text),
    Column("pull_cursor", Text),
    Column("updated_at", UTCDateTime),
)


#: Who may push right now (SQLite; PostgreSQL uses an advisory lock instead).
sync_lease = Table(
    "sync_lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)


#: A verified webhook delivery, stored before it is acknowledged; applied from here.
#:
#: ``dedupe_key`` (the source's event id where it sends one; else event type, full
#: timestamp, order uid, a hash of the event) makes an exact retry a duplicate;
#: ``applied_at`` is when it was settled, ``outcome`` how: ``applied``, ``stale``
#: (recorded, never applied: too old, or older than an event already applied to the
#: order) or ``failed``; unsettled rows are the worker's queue.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), server_default=default_source(), nullable=False),
    Column("dedupe_key", String(200), unique=True, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text),  # JSON: the delivery's X-* headers (some sources put facts there)
    Column("order_uid", String(128), index=True, nullable=False),  # the source's id
    Column("event_ts", Float, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    Column("applied_at", UTCDateTime, index=True),
    Column("outcome", String(16)),
    Column("last_error", Text),
)

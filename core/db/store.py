"""The local database: tables, engine set-up, migrations on first use, reads and the change feed.

One code path for SQLite (the embedded default, WAL) and PostgreSQL (a shared floor).
Writes go through :meth:`Store.write`, which on SQLite takes the write lock up front
(``BEGIN IMMEDIATE``) so that concurrent writers queue on the busy timeout instead of
failing half-way; every write that touches an order also appends to the change log,
which is what the board follows.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from rxfloor.core.models import UNSETTLED, OutboxState
from rxfloor.core.text import clip

#: The newest migration this code knows (checked against Alembic's head by a test).
SCHEMA_HEAD = "0005_one_sync_error"
_NOTIFY_CHANNEL = "rxfloor_changes"
_CHANGE_LOG_KEEP = 200_000


class StoreError(Exception):
    """A database problem, phrased in one line for a person (never with a password)."""


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


@dataclass(frozen=True, slots=True)
class SyncHealth:
    """What the header shows: online / offline since, queued and failed pushes."""

    online: bool | None
    offline_since: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    queued: int
    failed: int


def normalise_url(raw: str) -> str:
    """Accept URLs as people type them: ``postgresql://…``, ``postgres://…``, a bare file path."""
    raw = raw.strip()
    if not raw:
        raise ValueError("database URL is empty")
    if "://" not in raw and not raw.startswith("sqlite:"):
        raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            raw = "postgresql+psycopg://" + raw[len(prefix) :]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(f"not a database URL: {clip(raw)}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {url.get_backend_name()!r}: use sqlite:///FILE or postgresql://…"
        )
    if url.get_backend_name() == "postgresql" and url.drivername != "postgresql+psycopg":
        raise ValueError("PostgreSQL is reached through psycopg 3: write postgresql://…")
    return url.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


class Store:
    """Engine + schema + reads. Create with :meth:`open`; share one per process."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.is_sqlite = engine.dialect.name == "sqlite"

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int = 5000, migrate: bool = True) -> Store:
        url = normalise_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(url, busy_timeout_ms)
        else:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                connect_args={"connect_timeout": 5, "application_name": "rxfloor"},
            )
        store = cls(engine, url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            engine.dispose()
            if _damaged(exc):
                raise store._storage_error(exc) from None
            raise StoreError(f"cannot open database {safe_url(url)}: {_first_line(exc)}") from None
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_HEAD`; refuse a database newer than this code,
        and one with rxfloor's tables but no schema version (never guess what it holds)."""
        current = self.schema_revision()
        if current == SCHEMA_HEAD:
            return
        if current is None and self._has_table("orders"):
            raise StoreError(
                f"the database {self.where} has rxfloor tables but no schema version "
                "(alembic_version); it was not created by rxfloor or was damaged"
            )
        from rxfloor.core.db.migrations.runner import upgrade

        upgrade(self, current)

    def schema_revision(self) -> str | None:
        """The Alembic revision, or None for a database without one (a new one)."""
        with self.read() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])

    def _has_table(self, name: str) -> bool:
        with self.read() as conn:
            return bool(inspect(conn).has_table(name))

    @property
    def where(self) -> str:
        """The database for messages: the SQLite file's path, else the URL (no password)."""
        parsed = make_url(self.url)
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            return str(parsed.database)
        return safe_url(self.url)

    def _storage_error(self, exc: DBAPIError) -> StoreError:
        """One line for a person: a damaged file said so, anything else as busy/unavailable."""
        if _damaged(exc):
            return StoreError(
                f"{self.where}: the database file is damaged ({_first_line(exc)}); "
                "restore it from a backup"
            )
        return StoreError(f"database busy or unavailable: {_first_line(exc)}")

    # ------------------------------------------------------------- transactions
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (the SQLite write lock is taken at BEGIN)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(rx_write=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise self._storage_error(exc) from None
        except DBAPIError as exc:
            if _damaged(exc):
                raise self._storage_error(exc) from None
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            if _damaged(exc) or isinstance(exc, OperationalError):
                raise self._storage_error(exc) from None
            raise

    # -------------------------------------------------------------------- reads
    def find_order(self, conn: Connection, ref: str) -> RowMapping | None:
        """An order by uid, or by human name (``#1001`` or ``1001``)."""
        ref = ref.strip()
        names = {ref, ref.lstrip("#"), "#" + ref.lstrip("#")}
        stmt = (
            select(orders)
            .where(or_(orders.c.id == ref, orders.c.name.in_(names)))
            .order_by((orders.c.id == ref).desc())
            .limit(1)
        )
        return conn.execute(stmt).mappings().first()

    def board_rows(
        self,
        statuses: Sequence[str] | None = None,
        *,
        finished_since: datetime | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[RowMapping]:
        """Orders for the board as Core rows (fast: no ORM objects, no pydantic)."""
        stmt = select(orders)
        if statuses is not None:
            stmt = stmt.where(orders.c.status.in_(list(statuses)))
        if finished_since is not None:
            stmt = stmt.where(
                or_(orders.c.status != "FINISHED", orders.c.status_since >= finished_since)
            )
        if ids is not None:
            stmt = stmt.where(orders.c.id.in_(list(ids)))
        with self.read() as conn:
            return list(conn.execute(stmt).mappings())

    def line_items(self, order_id: str) -> list[RowMapping]:
        stmt = (
            select(line_items)
            .where(line_items.c.order_id == order_id)
            .order_by(line_items.c.position)
        )
        with self.read() as conn:
            return list(conn.execute(stmt).mappings())

    def history(self, order_id: str) -> list[RowMapping]:
        stmt = (
            select(audit_events)
            .where(audit_events.c.order_id == order_id)
            .order_by(audit_events.c.id)
        )
        with self.read() as conn:
            return list(conn.execute(stmt).mappings())

    def count_orders(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(orders)).scalar_one())

    def open_alerts(self) -> list[RowMapping]:
        """Unacknowledged alerts, oldest first, with the order's name."""
        stmt = (
            select(alerts, orders.c.name.label("order_name"))
            .join(orders, orders.c.id == alerts.c.order_id)
            .where(alerts.c.acknowledged_at.is_(None))
            .order_by(alerts.c.id)
        )
        with self.read() as conn:
            return list(conn.execute(stmt).mappings())

    def sync_health(self) -> SyncHealth:
        with self.read() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(outbox.c.state, func.count())
                    .where(outbox.c.state.in_(UNSETTLED))
                    .group_by(outbox.c.state)
                ).all()
            )
            row = conn.execute(select(sync_state).where(sync_state.c.id == 1)).mappings().first()
        return SyncHealth(
            online=row["online"] if row else None,
            offline_since=row["offline_since"] if row else None,
            last_ok_at=row["last_ok_at"] if row else None,
            last_error=row["last_error"] if row else None,
            queued=int(counts.get(OutboxState.PENDING, 0))
            + int(counts.get(OutboxState.SENDING, 0)),
            failed=int(counts.get(OutboxState.FAILED, 0)),
        )

    # -------------------------------------------------------------- change feed
    def record_change(self, conn: Connection, order_ids: Sequence[str]) -> None:
        """Append to the change log inside the caller's write transaction."""
        if not order_ids:
            return
        now = utcnow()
        conn.execute(insert(changes), [{"order_id": oid, "at": now} for oid in order_ids])
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_notify(:ch, '')"), {"ch": _NOTIFY_CHANNEL})
        last = conn.execute(select(func.max(changes.c.seq))).scalar_one()
        if last and last % 1000 < len(order_ids):  # trim now and then, never on every write
            conn.execute(delete(changes).where(changes.c.seq <= last - _CHANGE_LOG_KEEP))

    def change_cursor(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())

    def changes_since(self, cursor: int) -> tuple[int, set[str]]:
        """Order ids changed after ``cursor`` and the new cursor."""
        stmt = select(changes.c.seq, changes.c.order_id).where(changes.c.seq > cursor)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return cursor, set()
        return max(r[0] for r in rows), {r[1] for r in rows}

    def change_waiter(self) -> ChangeWaiter:
        return ChangeWaiter(self)


class ChangeWaiter:
    """Blocks until another connection may have changed something (or a timeout passes).

    SQLite: ``PRAGMA data_version`` on a dedicated connection, polled cheaply.
    PostgreSQL: ``LISTEN rxfloor_changes``. Either way the caller then reads
    :meth:`Store.changes_since`, so a spurious wake-up costs one small query.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._raw: Any = None
        self._last_version: int | None = None

    def _connect(self) -> Any:
        if self._raw is None:
            if self._store.is_sqlite:
                self._raw = self._store.engine.raw_connection()
                self._last_version = self._data_version()
            else:
                import psycopg

                url = make_url(self._store.url).set(drivername="postgresql")
                self._raw = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self._raw.execute(f"LISTEN {_NOTIFY_CHANNEL}")
        return self._raw

    def _data_version(self) -> int:
        cur = self._raw.cursor()
        try:
            cur.execute("PRAGMA data_version")
            return int(cur.fetchone()[0])
        finally:
            cur.close()

    def wait(self, timeout: float, poll_interval: float = 0.05) -> bool:
        """True when a change may have happened within ``timeout`` seconds."""
        with self._lock:
            self._connect()
            if not self._store.is_sqlite:
                got = False
                for _ in self._raw.notifies(timeout=timeout, stop_after=1):
                    got = True
                return got
            deadline = time.monotonic() + timeout
            while True:
                version = self._data_version()
                if version != self._last_version:
                    self._last_version = version
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(poll_interval)

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("rx_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _damaged(exc: DBAPIError) -> bool:
    """SQLite says the file is corrupt or not a database at all."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__

"""The change log the board follows: appended inside every write that touches an order.

:func:`record_change` runs in the writer's transaction; :func:`changes_since` reads what
was appended after a cursor; :class:`ChangeWaiter` sleeps until another connection may
have appended something (``PRAGMA data_version`` on SQLite, ``LISTEN`` on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text

from rxfloor.core.db.schema import changes, utcnow

if TYPE_CHECKING:
    from rxfloor.core.db.engine import Store

T = TypeVar("T")

_NOTIFY_CHANNEL = "rxfloor_changes"
_CHANGE_LOG_KEEP = 200_000
#: behind a transaction pooler the feed reads the log this often (no LISTEN there)
_POLL_S = 0.25


def record_change(conn: Connection, order_ids: Sequence[str]) -> None:
    """Append to the change log inside the caller's write transaction."""
    if not order_ids:
        return
    now = utcnow()
    conn.execute(insert(changes), [{"order_id": oid, "at": now} for oid in order_ids])
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_notify(:ch, '')"), {"ch": _NOTIFY_CHANNEL})
    last = conn.execute(select(func.max(changes.c.seq))).scalar_one()
    if last and last % 1000 < len(order_ids):  # trim now and then, never on every write
        conn.execute(delete(changes).where(changes.c.seq <= last - _CHANGE_LOG_KEEP))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a follower is in the change log; opaque to callers, who only hand it back.

    SQLite: ``at`` is the highest ``seq`` seen. Writers hold the write lock from BEGIN to
    COMMIT there, so seq order is commit order and nothing can commit below it later.

    PostgreSQL: ``at`` is a transaction id such that every transaction below it had ended
    when the follower last looked, and its changes were read; no change can ever be written
    below it again (ids only grow). Changes of transactions at or above ``at`` that were
    already committed were read too: their ``seq`` are in ``seen``, so each comes once.
    """

    at: int
    seen: frozenset[int] = frozenset()


def change_cursor(conn: Connection) -> Cursor:
    """A cursor before which every committed change is visible to a read that starts now:
    read it *before* loading what the follower shows."""
    if conn.dialect.name == "sqlite":
        return Cursor(
            int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())
        )
    xmin = _xmin(conn)  # the changes at or above it already committed are in the load
    seen = conn.execute(select(changes.c.seq).where(changes.c.tx >= xmin)).scalars()
    return Cursor(xmin, frozenset(seen))


def _xmin(conn: Connection) -> int:
    """The oldest transaction id still running (all below it have ended)."""
    return int(
        conn.execute(
            text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        ).scalar_one()
    )


def changes_since(conn: Connection, cursor: Cursor) -> tuple[Cursor, set[str]]:
    """Order ids changed after ``cursor`` and the new cursor.

    PostgreSQL reads every visible change of a transaction at or above the cursor's, and
    moves the cursor only to the oldest transaction still running: a change that commits
    later with a lower ``seq`` than one already seen is still read next time.
    """
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            select(changes.c.seq, changes.c.order_id).where(changes.c.seq > cursor.at)
        ).all()
        if not rows:
            return cursor, set()
        return Cursor(max(r[0] for r in rows)), {r[1] for r in rows}
    xmin = _xmin(conn)  # first: whatever ended below it is visible to the read below
    found = conn.execute(
        select(changes.c.seq, changes.c.order_id, changes.c.tx).where(changes.c.tx >= cursor.at)
    ).all()
    ids = {oid for seq, oid, _tx in found if seq not in cursor.seen}
    at = max(cursor.at, xmin)
    return Cursor(at, frozenset(seq for seq, _oid, tx in found if tx >= at)), ids


class ChangeWaiter:
    """Blocks until another connection may have changed something (or a timeout passes).

    SQLite: ``PRAGMA data_version`` on a dedicated connection, polled cheaply.
    PostgreSQL: ``LISTEN rxfloor_changes``. Either way the caller then reads
    :meth:`Store.changes_since`, so a spurious wake-up costs one small query.

    A database that goes away (the server restarted, the connection dropped, the SQLite
    file replaced or removed under us) raises :class:`StoreError`; the waiter is then
    closed and a new one is made to try again.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._raw: Any = None
        self._last_version: int | None = None

    def open(self) -> None:
        """Connect now (and LISTEN on PostgreSQL): raises :class:`StoreError` if it cannot."""
        with self._lock:
            self._guarded(self._connect)

    def _guarded(self, step: Callable[[], T]) -> T:
        from rxfloor.core.db.engine import StoreError, unreachable

        try:
            if self._store.is_sqlite:
                self._store.check_file()
            return step()
        except StoreError:
            self._drop()
            raise
        except Exception as exc:
            if not _driver_error(exc):
                raise
            self._drop()
            raise unreachable(self._store, exc) from None

    def _connect(self) -> Any:
        if self._store.pgbouncer:
            with self._store.read() as conn:  # the probe: the database answers
                conn.execute(text("SELECT 1"))
            return None
        if self._raw is None:
            if self._store.is_sqlite:
                self._raw = self._store.engine.raw_connection()
                self._last_version = self._data_version()
            else:
                import psycopg

                self._raw = psycopg.connect(
                    self._store.driver_url(), autocommit=True, **self._store.connect_args("listen")
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
            return self._guarded(lambda: self._wait(timeout, poll_interval))

    def _wait(self, timeout: float, poll_interval: float) -> bool:
        if self._store.pgbouncer:  # no LISTEN through a transaction pooler: the caller polls
            time.sleep(min(timeout, _POLL_S))
            return True
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
            self._store.check_file()

    def _drop(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
            self._raw = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def _driver_error(exc: BaseException) -> bool:
    """An error of the database driver (psycopg, sqlite3) or of SQLAlchemy's wrapping."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, sqlite3.Error | DBAPIError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith("psycopg")

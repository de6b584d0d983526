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

NOTIFY_CHANNEL = "rxfloor_changes"
CHANGE_LOG_KEEP = 200_000
#: the log is trimmed when a new seq is a multiple of this
TRIM_EVERY = 1000
#: behind a transaction pooler the feed reads the log this often (no LISTEN there)
_POLL_S = 0.25


def record_change(conn: Connection, order_ids: Sequence[str]) -> None:
    """Append to the change log inside the caller's write transaction.

    PostgreSQL: one statement (the rows, and the ``pg_notify`` the first time in this
    transaction: followers wake once per commit, however many calls a transaction makes).
    """
    if not order_ids:
        return
    now = utcnow()
    rows = [{"order_id": oid, "at": now} for oid in order_ids]
    if conn.dialect.name == "sqlite":
        seqs = conn.execute(insert(changes).returning(changes.c.seq), rows).scalars().all()
    else:
        tx = conn.get_transaction()
        if tx is not None and conn.info.get(_NOTIFIED) is tx:
            seqs = conn.execute(insert(changes).returning(changes.c.seq), rows).scalars().all()
        else:
            ins = insert(changes).values(rows).returning(changes.c.seq).cte("ins")
            got = conn.execute(
                select(func.max(ins.c.seq), func.pg_notify(NOTIFY_CHANNEL, ""))
            ).first()
            seqs = [got[0]] if got is not None and got[0] is not None else []
            conn.info[_NOTIFIED] = tx
    last = max(seqs, default=0)
    if last and last % TRIM_EVERY < len(order_ids):  # trim now and then, never on every write
        conn.execute(delete(changes).where(changes.c.seq <= last - CHANGE_LOG_KEEP))


def record_change_after(order_id: Any, at: Any) -> Any:
    """PostgreSQL: :func:`record_change` as a CTE of a move's one statement (``order_id``:
    the column of the CTE that updated the order); its ``seq`` is returned."""
    return (
        insert(changes)
        .from_select(["order_id", "at"], select(order_id, at.label("at")))
        .returning(changes.c.seq)
        .cte("ch")
    )


def notify_after(change: Any) -> Any:
    """PostgreSQL: the followers' ``pg_notify``, once, as a CTE after ``change``'s insert."""
    return select(func.pg_notify(NOTIFY_CHANNEL, "").label("n")).select_from(change).cte("note")


def trim(conn: Connection, seq: int) -> None:
    """Now and then (``seq`` a multiple of TRIM_EVERY) drop the change log's old rows."""
    if seq % TRIM_EVERY == 0:
        conn.execute(delete(changes).where(changes.c.seq <= seq - CHANGE_LOG_KEEP))


#: the transaction of a connection that already notified the followers
_NOTIFIED = "rxfloor_notified"


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
                self._raw.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return self._raw

    def _data_version(self) -> int:
        cur = self._raw.cursor()
        try:
            cur.execute("PRAGMA data_version")
            return int(cur.fetchone()[0])
        finally:
            cur.close()

    def wait(
        self, timeout: float, poll_interval: float = 0.05, wake: threading.Event | None = None
    ) -> bool:
        """True when a change may have happened within ``timeout`` seconds.

        ``wake`` (SQLite): set by a writer of this process after its commit, it ends the
        poll's sleep at once, so the change is read now rather than up to ``poll_interval``
        later (PostgreSQL's notification arrives at the commit anyway)."""
        with self._lock:
            return self._guarded(lambda: self._wait(timeout, poll_interval, wake))

    def _wait(self, timeout: float, poll_interval: float, wake: threading.Event | None) -> bool:
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
            if wake is None:
                time.sleep(poll_interval)
            elif wake.wait(poll_interval):
                wake.clear()  # before the next look: a later nudge is not lost
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

"""The change log the board follows: appended inside every write that touches an order.

:func:`record_change` runs in the writer's transaction; :func:`changes_since` reads what
was appended after a cursor; :class:`ChangeWaiter` sleeps until another connection may
have appended something (``PRAGMA data_version`` on SQLite, ``LISTEN`` on PostgreSQL).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from rxfloor.core.db.schema import changes, utcnow

if TYPE_CHECKING:
    from rxfloor.core.db.engine import Store

_NOTIFY_CHANNEL = "rxfloor_changes"
_CHANGE_LOG_KEEP = 200_000


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


def change_cursor(conn: Connection) -> int:
    """The newest change's sequence number (0 for an empty log)."""
    return int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())


def changes_since(conn: Connection, cursor: int) -> tuple[int, set[str]]:
    """Order ids changed after ``cursor`` and the new cursor."""
    rows = conn.execute(
        select(changes.c.seq, changes.c.order_id).where(changes.c.seq > cursor)
    ).all()
    if not rows:
        return cursor, set()
    return max(r[0] for r in rows), {r[1] for r in rows}


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

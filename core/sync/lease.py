"""The push lease: exactly one pusher per source per database.

A lease is named after its source (``push:rxscale``), so two sources push side by side while
two terminals never push the same source at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from rxfloor.core.db import Store, StoreError, sync_lease, utcnow
from rxfloor.core.db.engine import unreachable


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of lease ``name``: 62 bits of its SHA-256, so that
    it is positive and the same on every machine."""
    return int.from_bytes(hashlib.sha256(f"rxfloor:{name}".encode()).digest()[:8]) >> 2


class PushLease:
    """Exactly one pusher of ``source`` per database. PostgreSQL: a session advisory lock
    held on a dedicated connection; SQLite: a row in ``sync_lease`` renewed before it expires.

    :meth:`verify` is asked before every send (from the push threads): a pusher that lost
    the lease (its SQLite lease ran out, its lock connection died) learns it before its
    next PATCH, never after a whole pass.
    """

    def __init__(
        self, store: Store, holder: str | None = None, ttl_s: float = 30.0, *, source: str
    ) -> None:
        self.store = store
        self.source = source
        self.name = f"push:{source}"
        self._key = advisory_key(self.name)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=ttl_s)
        self._pg: Connection | None = None
        self._expires: datetime | None = None  # SQLite: when our lease runs out
        self._lock = threading.Lock()
        #: PostgreSQL reached directly: a session advisory lock. SQLite, and PostgreSQL behind
        #: a transaction pooler (the lock would stay on whichever server connection took
        #: it): a lease row with an expiry
        self._advisory = not store.is_sqlite and not store.pgbouncer

    def acquire(self) -> bool:
        """Keep or take the lease; False while another terminal holds it."""
        with self._lock:
            return self._holds() or self._take()

    def verify(self) -> bool:
        """True while this pusher still holds the lease (renewing it when due)."""
        with self._lock:
            return self._holds()

    def _holds(self) -> bool:
        if self._advisory:
            return self._pg_holds()
        if self._expires is None:
            return False
        now = utcnow()
        if now >= self._expires:
            self._expires = None
            return False
        if self._expires - now > self.ttl / 2:
            return True  # nobody may take it before it expires: no need to ask
        try:
            with self.store.write() as conn:
                renewed = conn.execute(
                    update(sync_lease)
                    .where(
                        sync_lease.c.name == self.name,
                        sync_lease.c.holder == self.holder,
                        sync_lease.c.expires_at > now,
                    )
                    .values(expires_at=now + self.ttl)
                ).rowcount
        except StoreError:
            renewed = 0  # cannot prove we still hold it: behave as if lost
        self._expires = now + self.ttl if renewed == 1 else None
        return renewed == 1

    def _take(self) -> bool:
        if self._advisory:
            try:
                conn = self.store.session_connection()
                got = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
                    ).scalar_one()
                )
                conn.commit()
            except DBAPIError as exc:  # the database is away: not "someone else holds it"
                raise unreachable(self.store, exc) from None
            if not got:
                conn.close()
                return False
            self._pg = conn
            return True
        now = utcnow()
        with self.store.write() as conn:
            row = conn.execute(
                select(sync_lease).where(sync_lease.c.name == self.name).with_for_update()
            ).first()
            values = {"holder": self.holder, "expires_at": now + self.ttl}
            if row is None:  # two takers at once on PostgreSQL: the second's insert fails
                try:
                    with conn.begin_nested():
                        conn.execute(insert(sync_lease).values(name=self.name, **values))
                except IntegrityError:
                    return False
            elif row.holder != self.holder and row.expires_at > now and holder_alive(row.holder):
                return False
            else:
                conn.execute(
                    update(sync_lease).where(sync_lease.c.name == self.name).values(**values)
                )
        self._expires = now + self.ttl
        return True

    def _pg_holds(self) -> bool:
        """Ask the lock's own connection whether it still holds the lock (any error: lost)."""
        if self._pg is None:
            return False
        try:
            held = self._pg.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND objsubid = 1"
                    " AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": self._key},
            ).scalar_one()
            self._pg.commit()
        except DBAPIError:
            held = 0
        if not held:
            self._drop_pg()
        return bool(held)

    def _drop_pg(self) -> None:
        conn, self._pg = self._pg, None
        if conn is None:
            return
        with contextlib.suppress(DBAPIError):
            conn.invalidate()  # the lock (if any) goes with the session
        with contextlib.suppress(DBAPIError):
            conn.close()

    def release(self) -> None:
        with self._lock:
            if self._pg is not None:
                with contextlib.suppress(DBAPIError):
                    self._pg.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                    self._pg.commit()
                self._drop_pg()
                return
            if not self._advisory:
                self._expires = None
                with self.store.write() as conn:
                    conn.execute(
                        delete(sync_lease).where(
                            sync_lease.c.name == self.name, sync_lease.c.holder == self.holder
                        )
                    )


def holder_alive(holder: str) -> bool:
    """False only when the holder is a process on this machine that no longer exists
    (a crashed pusher need not wait for its SQLite lease to expire)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True

"""The local database's engine: open a URL, migrate on first use, read and write transactions.

One code path for SQLite (the embedded default, WAL) and PostgreSQL (a shared floor).
Writes go through :meth:`Store.write`, which on SQLite takes the write lock up front
(``BEGIN IMMEDIATE``) so that concurrent writers queue on the busy timeout instead of
failing half-way. Database errors leave here as one-line :class:`StoreError` messages.

The read methods on :class:`Store` are conveniences: each is one read transaction around
the query of the same purpose in :mod:`rxfloor.core.db.queries` (or the change log in
:mod:`rxfloor.core.db.changelog`), for callers that are not already inside a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool, StaticPool

from rxfloor.core.db import changelog, queries
from rxfloor.core.db.changelog import ChangeWaiter, Cursor
from rxfloor.core.db.queries import SyncHealth
from rxfloor.core.db.schema import SCHEMA_HEAD
from rxfloor.core.text import clip


class StoreError(Exception):
    """A database problem, phrased in one line for a person (never with a password)."""


def normalise_url(raw: str) -> str:
    """Accept URLs as people type them: ``postgresql://…``, ``postgres://…``, a bare file path."""
    raw = typed = raw.strip()
    if not raw:
        raise ValueError("database URL is empty")
    if "://" not in raw and not raw.startswith("sqlite:"):
        raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            raw = "postgresql+psycopg://" + raw[len(prefix) :]
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"not a database URL: {clip(typed)}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {url.get_backend_name()!r}: use sqlite:///FILE or postgresql://…"
        )
    if url.get_backend_name() == "postgresql" and url.drivername != "postgresql+psycopg":
        raise ValueError("PostgreSQL is reached through psycopg 3: write postgresql://…")
    return url.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages, in the scheme people type
    (``postgresql://``, not the driver's ``postgresql+psycopg://``)."""
    shown = make_url(url).render_as_string(hide_password=True)
    return shown.replace("postgresql+psycopg://", "postgresql://", 1)


def shown_url(typed: str) -> str:
    """``typed`` as its person wrote it, with any password masked."""
    typed = typed.strip()
    try:
        parsed = make_url(typed)
    except ArgumentError:
        return clip(typed)
    if parsed.password is None:
        return clip(typed)
    return clip(typed.replace(f":{parsed.password}@", ":***@", 1))


class Store:
    """Engine, migrations, transactions and read conveniences. Create with :meth:`open`;
    share one per process."""

    def __init__(
        self, engine: Engine, url: str, *, app_name: str = "rxfloor", pgbouncer: bool = False
    ) -> None:
        self.engine = engine
        self.url = url
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.app_name = app_name  # every PostgreSQL connection's application_name
        #: behind a transaction pooler: no prepared statements, session state, LISTEN
        self.pgbouncer = pgbouncer and not self.is_sqlite
        #: SQLite: (device, inode) of the file opened, to notice it replaced or removed
        self._file_id: tuple[int, int] | None = None
        database = make_url(url).database
        #: SQLite: the file's path (None: a server or memory), parsed from the URL once: the
        #: change feed looks at the file ~20 times a second, and messages name it
        self.file = (
            str(database) if self.is_sqlite and database not in (None, "", ":memory:") else None
        )
        self._busy_timeout_ms = 5000
        self._session_engine: Engine | None = None
        #: the URL as its person typed it (messages show this, never the driver's scheme)
        self.typed_url = url

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        migrate: bool = True,
        pool_size: int = 1,
        app_name: str = "rxfloor",
        pgbouncer: bool = False,
    ) -> Store:
        """``pool_size``: PostgreSQL connections kept for reads and writes, never more
        (threads queue for one); ``app_name`` names them; ``pgbouncer``: see
        :attr:`Settings.db_pgbouncer`."""
        typed, url = url, normalise_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(url, busy_timeout_ms)
            store = cls(engine, url)
            store._busy_timeout_ms = busy_timeout_ms
        else:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=0,
                connect_args=pg_connect_args(app_name, pgbouncer=pgbouncer),
            )
            store = cls(engine, url, app_name=app_name, pgbouncer=pgbouncer)
        store.typed_url = typed
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            engine.dispose()
            if _damaged(exc):
                raise store._storage_error(exc) from None
            why = _first_line(exc)
            if store.file is not None:
                reason = _cannot_write(Path(store.file))
                why = f"{reason} ({why})" if reason else why
            raise StoreError(f"cannot open database {store.where}: {why}") from None
        if store.file is not None:
            with contextlib.suppress(OSError):
                st = Path(store.file).stat()
                store._file_id = (st.st_dev, st.st_ino)
        if migrate:
            store.migrate()
        return store

    def check_file(self) -> None:
        """SQLite: refuse to go on with a file that was replaced or removed while open (the
        open connections would read and write the old one, which nobody else sees)."""
        if self._file_id is None or self.file is None:
            return
        path = self.file
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            raise StoreError(
                f"the database file {path} was removed while rxfloor had it open"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot read the database file {path}: {exc.strerror}") from None
        if (st.st_dev, st.st_ino) != self._file_id:
            raise StoreError(
                f"the database file {path} was replaced while rxfloor had it open: "
                "restart rxfloor to open the new one"
            )

    def file_replaced(self) -> bool:
        """SQLite: whether the path now holds another file than the one opened (a restarted
        ``--demo`` removes its file and makes a new one). A path with no file yet: False."""
        if self._file_id is None or self.file is None:
            return False
        try:
            st = Path(self.file).stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != self._file_id

    def reopen(self) -> None:
        """SQLite: open the file the path now holds (see :meth:`file_replaced`) in place of
        the old one, once it holds this code's schema (a new file still being made is left
        for the next try: :class:`StoreError`). Connections still out on the old file finish
        there; the old engine is disposed."""
        path = Path(self.where)
        engine = _sqlite_engine(self.url, self._busy_timeout_ms)
        try:
            st = path.stat()
            with engine.connect() as conn:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OSError, DBAPIError) as exc:
            engine.dispose()
            raise StoreError(
                f"the new database file {path} cannot be read yet: {_first_line(exc)}"
            ) from None
        if revision != SCHEMA_HEAD:
            engine.dispose()
            raise StoreError(
                f"the new database file {path} is not ready yet (schema {revision or 'none'})"
            )
        old, self.engine = self.engine, engine
        self._file_id = (st.st_dev, st.st_ino)
        old.dispose()

    def session_connection(self) -> Connection:
        """A connection of its own, outside the pool, for session state that must stay with
        one server connection (the push lease's advisory lock): the pool's connections stay
        free for the reads and writes. Closing it ends the session."""
        if self._session_engine is None:
            self._session_engine = create_engine(
                self.url, poolclass=NullPool, connect_args=self.connect_args("session")
            )
        return self._session_engine.connect()

    def driver_url(self) -> str:
        """The URL as psycopg takes it (for connections outside the engine's pool)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def connect_args(self, purpose: str = "") -> dict[str, Any]:
        """What every PostgreSQL connection of this process is opened with: its name (63
        bytes at most, PostgreSQL's limit), and behind a pooler no prepared statements."""
        return pg_connect_args(self.app_name, pgbouncer=self.pgbouncer)

    def close(self) -> None:
        self.engine.dispose()
        if self._session_engine is not None:
            self._session_engine.dispose()

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
        if self.file is not None:
            return self.file
        if self.typed_url != self.url:
            return shown_url(self.typed_url)
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
        self.check_file()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(rx_write=True)
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            if _damaged(exc) or _gone(exc):
                raise self._storage_error(exc) from None
            raise

    @contextmanager
    def moving(self) -> Iterator[Connection]:
        """One connection for a move (:mod:`rxfloor.core.db.moves`): its reads run in
        autocommit, so no transaction is open while the service decides (PostgreSQL sends
        no BEGIN and no ROLLBACK for them), and the write then opens its own, as short as
        it can be."""
        self.check_file()
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:  # the driver is in autocommit already: no BEGIN (_on_begin)
                    conn.execution_options(rx_autocommit=True)
                else:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        except DBAPIError as exc:
            if _damaged(exc) or _gone(exc):
                raise self._storage_error(exc) from None
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            if _damaged(exc) or _gone(exc):
                raise self._storage_error(exc) from None
            raise

    # -------------------------------------------------------------------- reads
    def board_rows(
        self,
        statuses: Sequence[str] | None = None,
        *,
        finished_since: datetime | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[RowMapping]:
        with self.read() as conn:
            return queries.board_rows(conn, statuses, finished_since=finished_since, ids=ids)

    def line_items(self, order_id: str) -> list[RowMapping]:
        with self.read() as conn:
            return queries.order_items(conn, order_id)

    def history(self, order_id: str) -> list[RowMapping]:
        with self.read() as conn:
            return queries.order_history(conn, order_id)

    def count_orders(self) -> int:
        with self.read() as conn:
            return queries.count_orders(conn)

    def open_alerts(self) -> list[RowMapping]:
        with self.read() as conn:
            return queries.open_alerts(conn)

    def sync_health(self, names: Iterable[str] = ()) -> dict[str, SyncHealth]:
        """Each source's health (see :func:`queries.sync_health`)."""
        with self.read() as conn:
            return queries.sync_health(conn, names)

    # --------------------------------------------------------------- change log
    def record_change(self, conn: Connection, order_ids: Sequence[str]) -> None:
        """Append to the change log inside the caller's write transaction."""
        changelog.record_change(conn, order_ids)

    def change_cursor(self) -> Cursor:
        with self.read() as conn:
            return changelog.change_cursor(conn)

    def changes_since(self, cursor: Cursor) -> tuple[Cursor, set[str]]:
        with self.read() as conn:
            return changelog.changes_since(conn, cursor)

    def change_waiter(self) -> ChangeWaiter:
        return ChangeWaiter(self)


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        _check_directory(Path(database).expanduser())
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

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
        # a waiting connection keeps no page cache: each fills up to 2 MB (the board's
        # load, a burst's rows) and held it while idle, 5-7 MB at 100,000 orders; in WAL
        # mode another connection's commit empties it anyway before the next read
        if dbapi_conn is not None and not memory:
            with contextlib.suppress(sqlite3.Error):
                dbapi_conn.execute("PRAGMA shrink_memory")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("rx_autocommit", False) and not options.get("rx_write", False):
            return  # a move's reads: each statement is its own transaction
        immediate = options.get("rx_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _check_directory(path: Path) -> None:
    """Refuse a SQLite file whose directory is missing or not a directory, in one line.

    Only the default data dir is created: a typo in an explicit path must not open a new,
    empty board somewhere else.
    """
    from rxfloor.core.config import data_dir

    parent = path.parent
    for above in (parent, *parent.parents):
        if above.exists():
            if not above.is_dir():
                raise StoreError(f"cannot open database {path}: {above} is not a directory")
            break
    if parent.is_dir():
        return
    if parent.resolve() != data_dir().expanduser().resolve():
        raise StoreError(f"cannot open database {path}: directory {parent} does not exist")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot open database {path}: cannot create {parent} ({exc.strerror or exc})"
        ) from None


def _cannot_write(path: Path) -> str | None:
    """Why the file cannot be opened for writing (``Read-only file system``, ...), if it can't.

    SQLite only says "unable to open database file"; the OS says why. A file this probe
    creates is removed again.
    """
    import os

    created = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    if created:
        path.unlink(missing_ok=True)
    return None


def pg_connect_args(app_name: str, *, pgbouncer: bool) -> dict[str, Any]:
    """psycopg's connection arguments: the name shown in pg_stat_activity (63 bytes at most,
    PostgreSQL's limit) and, behind a transaction pooler, no server-side prepared statements
    (another client's transaction may get the server connection that holds them)."""
    args: dict[str, Any] = {
        "connect_timeout": 5,
        "application_name": app_name.encode()[:63].decode(errors="ignore"),
    }
    if pgbouncer:
        args["prepare_threshold"] = None
    return args


def unreachable(store: Store, exc: BaseException) -> StoreError:
    """A driver's own error (outside SQLAlchemy: the LISTEN connection) in one line."""
    if isinstance(exc, DBAPIError):
        return store._storage_error(exc)
    return StoreError(f"database busy or unavailable: {_first_line(exc)}")


def _gone(exc: DBAPIError) -> bool:
    """The database did not answer: unreachable, restarted, the connection dropped."""
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


def _damaged(exc: DBAPIError) -> bool:
    """SQLite says the file is corrupt or not a database at all."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__

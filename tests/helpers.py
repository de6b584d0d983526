"""Helpers for tests that run rxfloor in other processes."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rxfloor.core.db import Store, normalise_url


def rxfloor_cmd(*args: str) -> list[str]:
    """The installed console script, run by this interpreter (works in any venv)."""
    return [
        sys.executable,
        "-c",
        "import sys; from rxfloor.tui.cli.main import main; sys.exit(main())",
        *args,
    ]


def run_cli(
    db_url: str, *args: str, env_extra: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RXFLOOR_DATABASE_URL": db_url, **(env_extra or {})}
    return subprocess.run(
        rxfloor_cmd(*args), capture_output=True, text=True, env=env, timeout=120, **kw
    )


@functools.cache
def _sqlite_head() -> Path:
    """A SQLite file migrated to the head once per test process (each xdist worker has its
    own), in a directory removed when the process ends. Its WAL is checkpointed into the file
    and gone, so the file alone is the whole database."""
    where = Path(tempfile.mkdtemp(prefix="rxfloor-head-"))
    atexit.register(shutil.rmtree, where, True)
    path = where / "head.db"
    Store.open(f"sqlite:///{path}").close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()  # the last connection: SQLite removes the -wal and -shm files
    assert not path.with_name("head.db-wal").exists()
    return path


def migrated_sqlite(path: Path) -> str:
    """The URL of a new SQLite file at ``path`` already at the schema head: a copy of one
    migrated once per process (running the migrations costs ~0.1-0.5 s of CPU per database;
    the copy, a millisecond). ``Store.open`` finds it at the head and migrates nothing. For a
    test of the migrations themselves, or of a new empty database, use a path with no file."""
    shutil.copyfile(_sqlite_head(), path)
    return f"sqlite:///{path}"


@contextmanager
def postgres_head(base_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated to the head, to copy new databases from (see
    :func:`scratch_postgres`), dropped afterwards. Named for this process and xdist worker,
    so the workers (and other runs on the same server) never share one: ``CREATE DATABASE ...
    TEMPLATE`` needs the template without other connections."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = f"rxfloor_head_{worker}_{os.getpid()}"
    with scratch_postgres(base_url, prefix) as url:
        Store.open(url).close()  # disposes its engine: no connection left on the template
        yield str(make_url(url).database)


@contextmanager
def scratch_postgres(
    base_url: str, prefix: str = "rxfloor_test", template: str | None = None
) -> Iterator[str]:
    """A brand-new PostgreSQL database on the server of ``base_url``, dropped afterwards:
    empty, or a copy of the database ``template`` (see :func:`postgres_head`)."""
    admin_url = normalise_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds (a bound on
    the wait, never an assertion on speed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def inbox_settled(store: Any) -> bool:
    """Every delivery stored in the webhook inbox has been settled (applied, stale or given
    up): what a test waits for after its deliveries were acknowledged."""
    from sqlalchemy import func, select

    from rxfloor.core.db import webhook_inbox

    with store.read() as conn:
        left = conn.execute(
            select(func.count()).where(webhook_inbox.c.applied_at.is_(None))
        ).scalar_one()
    return not left

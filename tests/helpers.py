"""Helpers for tests that run rxfloor in other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rxfloor.core.db import normalise_url


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


@contextmanager
def scratch_postgres(base_url: str, prefix: str = "rxfloor_test") -> Iterator[str]:
    """A brand-new PostgreSQL database on the server of ``base_url``, dropped afterwards."""
    admin_url = normalise_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
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

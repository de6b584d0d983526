"""Errors that point the right way (issue 9, item 12): damaged files, foreign schemas, long data,
lost races named for what really happened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.store import Store, StoreError, utcnow
from tests.helpers import run_cli

EXIT_STORAGE = 3  # README: bad configuration or database unreachable / damaged


def _corrupt_an_orders_page(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = [
        row[0]
        for row in db.execute(
            "SELECT pageno FROM dbstat WHERE name = 'orders' AND pagetype = 'leaf'"
        )
    ]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as f:
        f.seek((pages[1] - 1) * page_size + 100)
        f.write(b"\xde\xad" * 1000)


def test_a_damaged_sqlite_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rx.db"
    store = Store.open(str(path))
    OrderService(store, Actor("AB", "t")).add_orders(sample_orders(300, 0, utcnow()))
    store.close()
    _corrupt_an_orders_page(path)
    result = run_cli(f"sqlite:///{path}", "orders")
    assert result.returncode == EXIT_STORAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "the database file is damaged (" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "rx.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StoreError, match="the database file is damaged"):
        Store.open(str(path))


def test_tables_without_a_schema_version_are_named_as_such(db_url: str) -> None:
    engine = create_engine(Store.open(db_url, migrate=False).url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(StoreError) as err:
        Store.open(db_url)
    message = str(err.value)
    assert "has rxfloor tables but no schema version (alembic_version)" in message
    assert "not created by rxfloor or was damaged" in message
    assert "already exists" not in message and "busy" not in message

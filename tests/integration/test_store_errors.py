"""Errors that point the right way (issue 9, item 12): damaged files, foreign schemas, long data,
lost races named for what really happened."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from rxfloor.core import lifecycle
from rxfloor.core.db import Store, StoreError, utcnow
from rxfloor.core.lifecycle import Action
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, Conflict, OrderNotFound, OrderService
from rxfloor.core.text import clip
from rxfloor.tui.cli.main import main
from tests.helpers import run_cli

EXIT_STORAGE = 3  # docs/pages/cli.md: bad configuration or database unreachable / damaged


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


@pytest.mark.empty_db  # the tables made by hand must be the only ones
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


def test_a_start_that_lost_to_a_hold_says_it_was_put_on_hold(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL READ COMMITTED: the hold commits between our read and our update."""
    store = Store.open(pg_url, pool_size=2)  # two terminals: a connection each
    mine = OrderService(store, Actor("AB", "counter-1"))
    theirs = OrderService(store, Actor("XY", "counter-2"))
    mine.add_orders(sample_orders(3, 0, utcnow()))
    order = next(v for v in map(mine.get, ["#1001", "#1002", "#1003"]) if not v.hold)
    real_apply = lifecycle.apply
    raced = threading.Event()

    def apply_after_their_hold(*args: Any, **kw: Any) -> Any:
        if not raced.is_set():
            raced.set()  # their hold commits while our transaction has only read the order
            worker = threading.Thread(
                target=theirs.act, args=(order.id, Action.HOLD), kwargs={"reason": "no stock"}
            )
            worker.start()
            worker.join(10)
        return real_apply(*args, **kw)

    monkeypatch.setattr(lifecycle, "apply", apply_after_their_hold)
    try:
        with pytest.raises(Conflict) as err:
            mine.act(order.id, Action.START)
    finally:
        store.close()
    message = str(err.value)
    assert f"{order.name} was put on hold by XY meanwhile" in message, message
    assert "already OPEN" not in message


def test_a_start_that_lost_to_a_start_says_already_processing(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(pg_url, pool_size=2)  # two terminals: a connection each
    mine = OrderService(store, Actor("AB", "counter-1"))
    theirs = OrderService(store, Actor("XY", "counter-2"))
    mine.add_orders(sample_orders(3, 0, utcnow()))
    order = next(v for v in map(mine.get, ["#1001", "#1002", "#1003"]) if not v.hold)
    real_apply = lifecycle.apply
    raced = threading.Event()

    def apply_after_their_start(*args: Any, **kw: Any) -> Any:
        if not raced.is_set():
            raced.set()
            worker = threading.Thread(target=theirs.act, args=(order.id, Action.START))
            worker.start()
            worker.join(10)
        return real_apply(*args, **kw)

    monkeypatch.setattr(lifecycle, "apply", apply_after_their_start)
    try:
        with pytest.raises(Conflict, match=rf"{order.name} is already PROCESSING \(by XY at"):
            mine.act(order.id, Action.START)
    finally:
        store.close()


def test_a_long_value_is_cut_in_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    reason = "x" * 10_000
    with pytest.raises(SystemExit) as done:
        main(["cancel", "#1001", "--reason", reason])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "x" * 80 + "…" in err and "x" * 81 not in err
    assert len(err) < 600
    assert clip("short") == "'short'"


def test_an_unknown_long_reference_is_cut(service: OrderService) -> None:
    with pytest.raises(OrderNotFound) as err:
        service.get("#" + "9" * 5000)
    assert len(str(err.value)) < 200 and "…" in str(err.value)


@pytest.mark.parametrize("typed", ["postgresql://rx:secret@127.0.0.1:1/floor",
                                   "postgres://rx:secret@127.0.0.1:1/floor"])  # fmt: skip
def test_an_unreachable_server_is_named_as_typed(typed: str) -> None:
    """Not the internal ``postgresql+psycopg://`` the driver needs (issue 26, minor)."""
    with pytest.raises(StoreError) as caught:
        Store.open(typed)
    message = str(caught.value)
    assert typed.replace("secret", "***") in message, message
    assert "+psycopg" not in message and "secret" not in message


def test_a_url_that_is_not_one_is_quoted_as_typed() -> None:
    with pytest.raises(ValueError, match=r"postgres://rx@host:port/x") as caught:
        Store.open("postgres://rx@host:port/x")
    assert "+psycopg" not in str(caught.value)

"""Several processes on one database: races, crashes and the change feed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rxfloor.core.db import Store, audit_events, changes, orders, outbox
from tests.helpers import run_cli, rxfloor_cmd

pytestmark = pytest.mark.slow


def test_eight_processes_start_the_same_order_exactly_one_wins(db_url: str) -> None:
    assert run_cli(db_url, "seed", "--count", "3").returncode == 0
    env = {**os.environ, "RXFLOOR_DATABASE_URL": db_url}
    procs = [
        subprocess.Popen(
            rxfloor_cmd("--actor", f"P{i}", "start", "#1001"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    assert winners[0][1].strip() == "#1001 OPEN -> PROCESSING"
    for _code, _out, err in losers:
        assert err.count("\n") == 1, err
        assert "#1001 is already PROCESSING (by P" in err
    history = json.loads(run_cli(db_url, "history", "#1001", "--json").stdout)
    assert [e["action"] for e in history].count("start") == 1


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from sqlalchemy import event
    from rxfloor.core.service import Actor, OrderService
    from rxfloor.core.db import Store
    from rxfloor.core.lifecycle import Action

    url, point, marker = sys.argv[1:4]
    store = Store.open(url)

    @event.listens_for(store.engine, "after_cursor_execute")
    def stop_here(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(point):
            open(marker, "w").close()
            time.sleep(600)  # the test kills us here, mid-transaction

    OrderService(store, Actor("KZ", "crashy")).act("#1001", Action.START)
    """
)


@pytest.mark.parametrize(
    "point",
    ["UPDATE ORDERS", "INSERT INTO AUDIT_EVENTS", "INSERT INTO OUTBOX", "INSERT INTO CHANGES"],
)
def test_killed_mid_transition_leaves_nothing_half_written(
    db_url: str, point: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip(
            "on PostgreSQL a move is one statement: no point between its writes "
            "(test_a_move_killed_in_its_statement_is_all_or_nothing_on_postgresql)"
        )
    store = Store.open(db_url)
    from rxfloor.core.models import NewOrder
    from rxfloor.core.service import Actor, OrderService

    OrderService(store, Actor("AB", "c1")).add_orders([NewOrder(id="po-1", name="#1001")])
    marker = tmp_path / "inside"
    child = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, db_url, point, str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, "the child finished without reaching the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with store.read() as conn:
        order = conn.execute(select(orders.c.status, orders.c.version)).one()
        assert tuple(order) == ("OPEN", 1)
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(audit_events)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(changes)).scalar_one() == 1
    # and the database is usable straight away (no lock left behind)
    from rxfloor.core.lifecycle import Action

    result = OrderService(store, Actor("AB", "c1")).act("#1001", Action.START)
    assert result.order.version == 2
    store.close()


@pytest.mark.postgres
def test_a_move_killed_in_its_statement_is_all_or_nothing_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    """The move's one statement is blocked on the order's row lock (held here) when its
    process is killed; whatever the server then does with it, the order, its event, its
    outbox row and its change are all there or none is."""
    from sqlalchemy import text

    from rxfloor.core.models import NewOrder
    from rxfloor.core.service import Actor, OrderService

    store = Store.open(pg_url)
    OrderService(store, Actor("AB", "c1")).add_orders([NewOrder(id="po-1", name="#1001")])
    marker = tmp_path / "inside"
    script = CRASH_SCRIPT.replace("after_cursor_execute", "before_cursor_execute")
    with store.engine.connect() as locker:
        locker.execute(text("SELECT 1 FROM orders WHERE id = 'po-1' FOR UPDATE"))
        child = subprocess.Popen([sys.executable, "-c", script.replace(
            "time.sleep(600)", "pass"), pg_url, "WITH UPD", str(marker)])  # fmt: skip
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the child finished without reaching its move"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)  # the statement is on the server, waiting for the lock
        child.send_signal(signal.SIGKILL)
        child.wait()
        locker.rollback()
    time.sleep(0.5)
    with store.read() as conn:
        order = tuple(conn.execute(select(orders.c.status, orders.c.version)).one())
        counts = tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (outbox, audit_events, changes)
        )
    assert (order, counts) in {(("OPEN", 1), (0, 1, 1)), (("PROCESSING", 2), (1, 2, 2))}
    store.close()


def test_change_feed_wakes_up_for_another_process(db_url: str) -> None:
    assert run_cli(db_url, "seed", "--count", "2").returncode == 0
    store = Store.open(db_url)
    cursor = store.change_cursor()
    waiter = store.change_waiter()
    try:
        assert waiter.wait(0.1) is False or store.changes_since(cursor)[1] == set()
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(run_cli, db_url, "start", "#1002")
            woke = waiter.wait(30)
            assert job.result().returncode == 0
        if not woke:  # the notification may land between two waits; a second wait sees it
            woke = waiter.wait(5)
        assert woke
        new_cursor, ids = store.changes_since(cursor)
        assert ids == {"po-s0-000002"} and store.changes_since(new_cursor)[1] == set()
    finally:
        waiter.close()
        store.close()

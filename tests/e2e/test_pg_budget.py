"""PostgreSQL connections a floor can plan with, and a floor behind pgbouncer (issue 26 §3).

Every connection is named ``rxfloor <command>@<station>``; a board holds at most 2 (its
pool of ``db_pool_size`` = 1 and its LISTEN), ``sync`` at most 2 (its pool and the push
lease's lock), a CLI call 1. Behind pgbouncer in transaction mode: no server-side prepared
statements, a lease row instead of a session lock, the feed polls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService, Refused, open_service
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.board_fixtures import ObservedApp, frozen, ready, seed_board, until
from tests.helpers import wait_for
from tests.integration.test_sync import NO_WAIT
from tests.pg_server import free_port
from tests.remote_fixtures import SandboxServer

pytestmark = pytest.mark.postgres
sandbox_server = remote_fixtures.sandbox_server


def connections(url: str, name: str) -> int:
    engine = create_engine(make_url(Store.open(url, migrate=False).url).render_as_string(False))
    try:
        with engine.connect() as conn:
            return int(conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": name},
            ).scalar_one())  # fmt: skip
    finally:
        engine.dispose()


async def test_a_board_holds_at_most_two_named_connections(pg_url: str) -> None:
    seed_board(pg_url)
    settings = load_settings(database_url=pg_url, actor="AB", station="budget-1",
                             pharmacy="Test pharmacy")  # fmt: skip
    service = open_service(settings, "board")
    service.clock = frozen
    app = ObservedApp(service, settings, clock=frozen, remember_theme=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.board.move(app.board.model.cards["po-s0-000001"], Action.START)
        other = Store.open(pg_url)
        OrderService(other, Actor("CD", "c2"), clock=frozen).act("#1004", Action.START)
        other.close()
        await until(pilot, lambda: app.board.model.cards["po-s0-000004"].status
                    is Status.PROCESSING)  # fmt: skip
        assert 1 <= connections(pg_url, "rxfloor board@budget-1") <= 2


def test_sync_holds_at_most_two_and_a_cli_call_one(
    pg_url: str, sandbox_server: SandboxServer
) -> None:
    settings = load_settings(database_url=pg_url, actor="AB", station="budget-2")
    service = open_service(settings, "sync")
    source = sandbox_server.source(rate_limit_per_s=None, timeout_s=2.0)
    try:
        with BackgroundSync([SyncWorker(service, source, policy=NO_WAIT)], 0.05) as background:
            wait_for(lambda: "rxscale" in background.last)
            assert 1 <= connections(pg_url, "rxfloor sync@budget-2") <= 2
    finally:
        service.store.close()
    cli = open_service(settings, "orders")
    try:
        cli.store.count_orders()
        assert connections(pg_url, "rxfloor orders@budget-2") == 1
    finally:
        cli.store.close()


@pytest.fixture
def pgbouncer(pg_url: str) -> Iterator[str]:
    """pgbouncer in transaction mode on a free port, in front of the test's database."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    target = make_url(pg_url)
    root = Path(tempfile.mkdtemp(prefix="rxfloor-bouncer-"))
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    (root / "pgbouncer.ini").write_text(
        f"[databases]\n{target.database} = host={target.host} port={target.port or 5432}"
        f" dbname={target.database}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir =\nauth_type = trust\nauth_file = {root}/users.txt\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 100\n"
        "ignore_startup_parameters = application_name\n"
    )
    cmd = [binary, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        for f in root.iterdir():
            shutil.chown(f, "postgres", "postgres")
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = target.set(port=port).render_as_string(hide_password=False)
    try:
        wait_for(lambda: _answers(url), 10)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("+psycopg", ""), connect_timeout=1).close()
    except psycopg.Error:
        return False
    return True


def test_moves_leases_and_the_feed_through_pgbouncer(pg_url: str, pgbouncer: str) -> None:
    seed_board(pg_url)  # migrated directly; the floor then works through the pooler only
    stores = [Store.open(pgbouncer, pgbouncer=True) for _ in range(3)]
    try:
        cursor = stores[0].change_cursor()
        errors: list[BaseException] = []

        def terminal(n: int) -> None:
            svc = OrderService(stores[n], Actor(f"T{n}", f"c{n}"), clock=frozen)
            for i in range(n + 1, 31, 3):  # each terminal its own orders, many statements
                try:
                    svc.act(f"#{1000 + i}", Action.CANCEL, reason="Duplicate order")
                except Refused:  # finished or cancelled by the seed: refused, as it should
                    continue
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=terminal, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not any("prepared statement" in str(e) for e in errors), errors
        # the feed (polling behind the pooler) sees the moves
        waiter = stores[0].change_waiter()
        assert waiter.wait(0.1) is True
        waiter.close()
        _cursor, ids = stores[0].changes_since(cursor)
        assert len(ids) == 28  # 30 orders, 2 of them final already
        # exactly one of two pushers holds the lease, and it is its own on every check
        first = PushLease(stores[1], source="rxscale")
        second = PushLease(stores[2], source="rxscale")
        assert [first.acquire(), second.acquire()] == [True, False]
        assert all(first.verify() for _ in range(20))
        assert second.acquire() is False
        first.release()
        assert second.acquire() is True
    finally:
        for s in stores:
            s.close()

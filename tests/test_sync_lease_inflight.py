"""A lease lost while a send is on the wire: the new holder must not send that row again.

The old holder checked its lease, then its PATCH left; before the answer came back the lease
ran out and another terminal took it. The row is ``sending`` for the old holder. Reading it
back proves nothing yet (the PATCH may not have reached the remote), so the new holder must
leave the row alone until the old holder's send has certainly ended (answered or timed out),
and only then read it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from rxfloor.core.db import Store, utcnow
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sync import lease as lease_module
from rxfloor.core.sync import worker as sync_module
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)
TIMEOUT_S = 2.0


@pytest.fixture
def services(db_url: str) -> Iterator[Callable[[str], OrderService]]:
    stores: list[Store] = []

    def make(name: str) -> OrderService:
        stores.append(Store.open(db_url))
        return OrderService(stores[-1], Actor(name, f"station-{name}"))

    yield make
    for s in stores:
        s.close()


def make_worker(service: OrderService, server: SandboxServer) -> SyncWorker:
    source = server.source(rate_limit_per_s=None, timeout_s=TIMEOUT_S)
    return SyncWorker(service, source, policy=NO_WAIT, concurrency=1,
                      lease=PushLease(service.store, ttl_s=30, source="rxscale"))  # fmt: skip


def patches(server: SandboxServer, uid: str) -> int:
    """PATCH requests the remote received for ``uid``."""
    return sum(1 for r in server.requests() if r["method"] == "PATCH" and uid in r["path"])


def test_a_row_on_the_wire_when_the_lease_is_lost_is_never_sent_twice(
    services: Callable[[str], OrderService],
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offset = [timedelta(0)]
    monkeypatch.setattr(sync_module, "utcnow", lambda: utcnow() + offset[0])
    monkeypatch.setattr(lease_module, "utcnow", lambda: utcnow() + offset[0])
    service_a, service_b = services("A"), services("B")
    a, b = make_worker(service_a, sandbox_server), make_worker(service_b, sandbox_server)
    on_the_wire, let_go = threading.Event(), threading.Event()
    try:
        a.cycle()
        uid = service_a.store.board_rows()[0]["id"]
        service_a.act(uid, Action.START)
        real = a.source.push_step
        assert a.lease.acquire()
        lock_pid = None
        if a.lease._pg is not None:
            lock_pid = a.lease._pg.execute(text("SELECT pg_backend_pid()")).scalar_one()
            a.lease._pg.commit()

        def held_send(*args: Any, **kw: Any) -> Any:
            on_the_wire.set()  # a checked its lease; the PATCH is leaving now
            assert let_go.wait(20)
            return real(*args, **kw)

        monkeypatch.setattr(a.source, "push_step", held_send)
        pusher = threading.Thread(target=a.push)
        pusher.start()
        assert on_the_wire.wait(20)
        # a's lease is lost while its PATCH is in flight: SQLite, the lease row ran out;
        # PostgreSQL, the lock's backend is gone
        offset[0] += timedelta(seconds=31)
        if lock_pid is not None:
            with create_engine(service_a.store.url).connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": lock_pid})
        for _ in range(500):
            if b.lease.acquire():
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the second worker never got the lease")
        b.cycle()  # b must leave the row a is sending alone
        assert patches(sandbox_server, uid) == 0
        let_go.set()
        pusher.join(20)
        assert not pusher.is_alive()
        # later, once a's send has certainly ended, b reads the row back: nothing resent
        offset[0] += timedelta(seconds=b.in_flight_s)
        assert b.lease.acquire()
        b.cycle()
        assert patches(sandbox_server, uid) == 1
        assert str(sandbox_server.state.get(uid)["status"]) == "processing"  # type: ignore[index]
        assert service_b.store.sync_health().queued == 0
    finally:
        let_go.set()
        for w in (a, b):
            w.close()
            w.source.close()

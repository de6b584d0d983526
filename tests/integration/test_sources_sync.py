"""Several sources syncing into one database: each its own orders, queue, lease and health,
and a source that hangs holds up no other (real stand-ins on loopback, real SQLite)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, orders, sync_state
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer
from tests.second_source import Renamed

sandbox_factory = remote_fixtures.sandbox_factory
N = 6


def _worker(service: OrderService, source: object) -> SyncWorker:
    return SyncWorker(service, source, policy=RetryPolicy(base_s=0.0, cap_s=0.0))  # type: ignore[arg-type]


def _patches(server: SandboxServer) -> int:
    return sum(1 for r in server.requests() if r["method"] == "PATCH")


@pytest.fixture
def two(
    store: Store, sandbox_factory: Callable[..., SandboxServer]
) -> tuple[OrderService, SandboxServer, SandboxServer]:
    """Two stand-ins seeded alike: the same uids (and names) in both sources."""
    return OrderService(store, Actor("AB", "c1")), sandbox_factory(seed=N), sandbox_factory(seed=N)


def test_each_source_pushes_only_its_own_queue(
    two: tuple[OrderService, SandboxServer, SandboxServer],
) -> None:
    service, rx_server, other_server = two
    rx = _worker(service, rx_server.source())
    other = _worker(service, Renamed(other_server.source(), "shopify"))
    try:
        rx.cycle()
        other.cycle()
        with service.store.read() as conn:
            rows = conn.execute(select(orders.c.id, orders.c.source, orders.c.remote_id)).all()
        assert len(rows) == 2 * N  # the same number in two sources is two orders
        uids = {r.remote_id for r in rows if r.source == "rxscale"}
        assert uids == {r.remote_id for r in rows if r.source == "shopify"}
        for row in rows:
            service.act(row.id, Action.START)
        health = service.store.sync_health(["rxscale", "shopify"])
        assert (health["rxscale"].queued, health["shopify"].queued) == (N, N)

        assert rx.cycle().pushed == N
        assert _patches(rx_server) == N and _patches(other_server) == 0  # never the other's
        health = service.store.sync_health()
        assert (health["rxscale"].queued, health["shopify"].queued) == (0, N)
        assert health["rxscale"].online is True and health["shopify"].online is True

        other_server.stop()  # the second source goes offline: only its health says so
        report = other.cycle()
        assert not report.online and report.source == "shopify" and report.pending == N
        health = service.store.sync_health()
        assert health["shopify"].online is False and health["shopify"].offline_since
        assert health["rxscale"].online is True
        with service.store.read() as conn:
            named = set(conn.execute(select(sync_state.c.source)).scalars())
        assert named == {"rxscale", "shopify"}
        other_server.start()
        assert other.cycle().pushed == N
        assert _patches(other_server) == N and _patches(rx_server) == N
        assert {(other_server.state.get(u) or {})["status"] for u in uids} == {"processing"}
        assert all(service.get(r.id).status is Status.PROCESSING for r in rows)
    finally:
        for worker in (rx, other):
            worker.close()
            worker.source.close()


def test_a_source_that_hangs_holds_up_no_other(
    two: tuple[OrderService, SandboxServer, SandboxServer],
) -> None:
    service, rx_server, other_server = two
    hanging = Renamed(other_server.source(), "shopify")
    background = BackgroundSync(
        [_worker(service, rx_server.source()), _worker(service, hanging)], interval_s=0.05
    )
    hanging.gate.clear()  # every call of the second source waits until the test says
    with background:
        deadline = time.monotonic() + 20
        while service.store.count_orders() < N:
            assert time.monotonic() < deadline, "the first source never pulled"
            time.sleep(0.02)
        for row in service.store.board_rows():
            service.act(row["id"], Action.START)
        while service.store.sync_health(["rxscale"])["rxscale"].queued:
            assert time.monotonic() < deadline, "the first source never pushed"
            time.sleep(0.02)
        assert _patches(rx_server) == N
        assert hanging.calls == 1 and "shopify" not in background.last  # still in its pull
        hanging.gate.set()
        while service.store.count_orders() < 2 * N:
            assert time.monotonic() < deadline, "the second source never caught up"
            time.sleep(0.02)
    assert background.last["rxscale"].online

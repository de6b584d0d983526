"""The sync worker against the RxScale stand-in (in-process, or on a real uvicorn on loopback
where the test is marked ``network``), and against the in-memory source where no vendor's
rule is in play."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.runner import background_sync
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.tui.cli.main import main
from tests import memory_source, remote_fixtures, source_harness
from tests.memory_source import MemoryRemote
from tests.remote_fixtures import SandboxServer
from tests.source_harness import Harness

sandbox_server = remote_fixtures.sandbox_server
sandbox_factory = remote_fixtures.sandbox_factory
remote_kind = source_harness.remote_kind  # every source's stand-in in turn
memory = memory_source.memory

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def make_worker(service: OrderService, server: SandboxServer, **kw: object) -> SyncWorker:
    source = server.source(rate_limit_per_s=None, timeout_s=2.0)
    return SyncWorker(service, source, policy=NO_WAIT, **kw)  # type: ignore[arg-type]


@pytest.fixture
def sq_service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def outbox_states(store: Store) -> Counter[str]:
    with store.read() as conn:
        return Counter(conn.execute(select(outbox.c.state)).scalars())


def api_moves(server: SandboxServer) -> list[tuple[str, str]]:
    return [(t["uid"], t["to"]) for t in server.transitions() if t["by"] == "api"]


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_pull_then_push_each_move_once(sq_service: OrderService, sandbox_factory, dialect: str):
    server = sandbox_factory(seed=6, dialect=dialect)
    worker = make_worker(sq_service, server)
    first = worker.cycle()
    assert first.pulled == 6 and first.online
    events = [e for o in sq_service.store.board_rows() for e in sq_service.store.history(o["id"])]
    assert {e["source"] for e in events} == {"remote"}
    assert {(e["actor"], e["station"]) for e in events} == {("remote", "remote")}
    a, b, c = (r["id"] for r in sq_service.store.board_rows()[:3])
    sq_service.act(a, Action.START)
    sq_service.act(a, Action.FINISH)
    sq_service.act(b, Action.START)
    sq_service.act(c, Action.CANCEL, reason="patient moved")
    report = worker.cycle()
    assert (report.pushed, report.pending, report.failed) == (4, 0, 0)
    moves = api_moves(server)
    if dialect == "v1":
        assert sorted(moves) == sorted(
            [(a, "processing"), (a, "shipped"), (b, "processing"), (c, "cancelled")]
        )
    else:
        assert Counter(u for u, _ in moves) == {a: 3, b: 2, c: 1}
        assert server.state.get(a)["status"] == "ready_for_pickup"
    assert len(moves) == len(set(moves))
    assert worker.cycle().pushed == 0  # nothing sent twice
    assert api_moves(server) == moves


def test_remote_cancel_raises_alert_and_supersedes_queued_step(
    service: OrderService, memory: MemoryRemote
) -> None:
    """On SQLite and PostgreSQL."""
    sq_service = service
    worker = SyncWorker(sq_service, memory.source(), policy=NO_WAIT)
    worker.cycle()
    a, b = (r["id"] for r in sq_service.store.board_rows()[:2])
    sq_service.act(a, Action.START)
    worker.cycle()  # a is PROCESSING on both sides
    sq_service.act(b, Action.START)  # queued, not yet pushed
    memory.remote(a, "cancelled")
    memory.remote(b, "cancelled")
    report = worker.pull()
    assert report == 2
    assert sq_service.get(a).status is Status.CANCELLED
    assert sq_service.get(b).status is Status.CANCELLED
    alerts = sq_service.store.open_alerts()
    assert {al["order_id"] for al in alerts} == {a, b}  # both were PROCESSING here
    assert "cancelled by the remote" in alerts[0]["message"]
    assert outbox_states(sq_service.store) == {"sent": 1, "superseded": 1}
    history = sq_service.store.history(b)
    assert history[-1]["source"] == "remote" and history[-1]["to_status"] == "CANCELLED"
    assert worker.cycle().pushed == 0
    assert memory.moves() == [(a, "processing")]
    sq_service.acknowledge_alert(alerts[0]["id"])
    assert len(sq_service.store.open_alerts()) == 1


@pytest.mark.network
def test_lost_answers_are_read_back_not_resent(
    sq_service: OrderService, sandbox_server: SandboxServer
) -> None:
    worker = make_worker(sq_service, sandbox_server)
    worker.cycle()
    ids = [r["id"] for r in sq_service.store.board_rows()[:4]]
    for uid in ids:
        sq_service.act(uid, Action.START)
    sandbox_server.set_faults(
        next=["drop_after", "malformed", "server_error", "drop_before"], methods=["PATCH"]
    )
    for _ in range(4):
        worker.push()
    assert outbox_states(sq_service.store) == {"sent": 4}
    assert sorted(api_moves(sandbox_server)) == sorted((u, "processing") for u in ids)


def test_permanent_refusal_is_parked_with_the_servers_words(
    sq_service: OrderService, sandbox_factory
) -> None:
    server = sandbox_factory(seed=2, dialect="v2")
    worker = make_worker(sq_service, server)
    worker.cycle()
    a, b = (r["id"] for r in sq_service.store.board_rows())
    sq_service.act(a, Action.START)
    worker.cycle()
    sq_service.act(a, Action.CANCEL, reason="wrong drug")  # v2 refuses cancel from in-progress
    report = worker.cycle()
    assert report.failed == 1 and report.pushed == 0
    order = sq_service.get(a)
    assert order.sync_error is not None and "cannot change status" in order.sync_error
    with sq_service.store.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.state == "failed")).mappings().one()
    assert sq_service.store.sync_health(["rxscale"])["rxscale"].failed == 1
    # a person settles it; nothing was dropped silently
    sq_service.retry_failed(row["id"])
    assert worker.cycle().failed == 1  # still refused: parked again
    sq_service.resolve_failed(row["id"], "cancelled by phone with the remote")
    assert sq_service.get(a).sync_error is None
    assert worker.cycle().failed == 0
    assert [e["action"] for e in sq_service.store.history(a)][-2:] == ["retry", "resolve"]
    sq_service.act(b, Action.START)
    assert worker.cycle().pushed == 1


def test_outage_is_offline_then_drains(sq_service: OrderService, sandbox_server: SandboxServer):
    worker = make_worker(sq_service, sandbox_server)
    worker.cycle()
    uid = sq_service.store.board_rows()[0]["id"]
    sq_service.act(uid, Action.START)
    sandbox_server.stop()
    report = worker.cycle()
    assert not report.online and report.pending == 1
    health = sq_service.store.sync_health(["rxscale"])["rxscale"]
    assert health.online is False and health.offline_since is not None
    sandbox_server.start()
    report = worker.cycle()
    assert report.online and report.pushed == 1
    assert sq_service.store.sync_health(["rxscale"])["rxscale"].online is True


def test_exactly_one_pusher_per_database(db_url: str, remote_kind: Harness) -> None:
    """Every source, SQLite and PostgreSQL: one pusher per source per database."""
    with remote_kind.serve(20, in_process=True) as server:
        stores = [Store.open(db_url) for _ in range(2)]
        services = [OrderService(s, Actor(f"P{i}", f"st-{i}")) for i, s in enumerate(stores)]
        workers = [SyncWorker(s, server.open_source()) for s in services]
        try:
            assert workers[0].cycle().lease
            server.arrive(services[0])
            blocked = workers[1].cycle()
            assert not blocked.lease and blocked.pulled == 0
            uid = stores[1].board_rows()[0]["id"]
            # the other terminal keeps working locally (a cancel: a move every source receives)
            services[1].act(uid, Action.CANCEL, reason="lease test")
            assert workers[0].cycle().pushed == 1
            workers[0].close()
            assert workers[1].cycle().lease
            assert PushLease(stores[0], source=server.source_name).acquire() is False
        finally:
            for w in workers:
                w.close()
                w.source.close()
            for s in stores:
                s.close()


def test_the_key_never_reaches_the_database(sqlite_url: str, sandbox_factory) -> None:
    key = "k-9f8e7d-never-stored"
    server = sandbox_factory(seed=3, api_key=key)
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "c"))
    worker = make_worker(service, server)
    worker.cycle()
    service.act(store.board_rows()[0]["id"], Action.START)
    server.set_faults(next=["server_error"])
    worker.cycle()
    worker.close()
    store.close()
    raw = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    assert key.encode() not in raw


@pytest.mark.network
def test_cli_sync_once(
    sqlite_url: str,
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process (a subprocess start costs seconds here; the SIGKILL test runs the real one)."""

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        base = {"RXFLOOR_DATABASE_URL": sqlite_url, "RXFLOOR_API_URL": sandbox_server.base_url,
                "RXFLOOR_API_KEY": sandbox_server.api_key}  # fmt: skip
        for name, value in {**base, **env}.items():
            if value:
                monkeypatch.setenv(name, value)
            else:
                monkeypatch.delenv(name, raising=False)
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("sync", "--once")
    assert code == 0, err
    report = json.loads(out)
    assert report["pulled"] == 20 and {"pushed", "pending", "failed"} <= report.keys()
    code, out, err = run("sync", "--once", RXFLOOR_API_KEY="wrong-k")
    assert code == 4 and "401" in err and "wrong-k" not in err + out
    assert len(err.strip().splitlines()) == 1
    code, out, err = run("sync", "--once", RXFLOOR_API_URL="http://127.0.0.1:9/v1/x")
    assert code == 4 and "cannot reach" in err and json.loads(out)["online"] is False
    code, out, err = run("sync", "--once", RXFLOOR_API_URL="")
    assert code == 3 and "RXFLOOR_API_URL" in err
    code, out, err = run("sync", "--retry", "999")
    assert code == 1 and "no queued move 999" in err


def test_cli_webhooks_serve_needs_its_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["webhooks", "serve", "--port", "0", "--secret-env", "RXFLOOR_NO_SUCH_SECRET"])
    assert code == 3
    assert "RXFLOOR_NO_SUCH_SECRET is unset or empty" in capsys.readouterr().err


@pytest.mark.network
def test_background_sync_from_settings(sqlite_url: str, sandbox_server: SandboxServer) -> None:
    from rxfloor.core.config import load_settings

    settings = load_settings(database_url=sqlite_url, actor="AB", station="c")
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "c"))
    assert background_sync(settings, service) is None  # no API URL: the board runs offline
    settings = load_settings(database_url=sqlite_url, api_url=sandbox_server.base_url,
                             api_key=sandbox_server.api_key, sync_interval_s=0.1)  # fmt: skip
    running = background_sync(settings, service)
    assert running is not None
    with running:
        deadline = time.monotonic() + 10
        while store.count_orders() < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert store.sync_health(["rxscale"])["rxscale"].online is True
    store.close()


def test_v2_remote_hold_and_release(sq_service: OrderService, sandbox_factory) -> None:
    server = sandbox_factory(seed=2, dialect="v2")
    worker = make_worker(sq_service, server)
    worker.cycle()
    uid = sq_service.store.board_rows()[0]["id"]
    server.remote_status(uid, "pending review")
    server.remote_status(uid, "hold", comment="check insurance")
    assert worker.pull() == 1
    order = sq_service.get(uid)
    assert order.hold and order.hold_reason == "check insurance" and order.status is Status.OPEN
    server.remote_status(uid, "pending review")
    assert worker.pull() == 1
    assert not sq_service.get(uid).hold
    assert [(e["action"], e["source"]) for e in sq_service.store.history(uid)][-2:] == [
        ("hold", "remote"),
        ("release", "remote"),
    ]
    sq_service.act(uid, Action.START)
    assert worker.cycle().pushed == 1
    assert server.state.get(uid)["status"] == "in-progress"

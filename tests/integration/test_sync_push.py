"""The push path: undo against push, the lease checked before every send, rows settled as
their answers arrive, a 429 counted as not sent, a flaky pull that still lets the push run.

Races are made deterministic by hooks: the worker's own methods (or its source's) are
wrapped in the test so the competing action runs at one exact point of a pass. The engine's
own rules run against the in-memory source (:mod:`tests.memory_source`); what an HTTP answer
means (a 429, a dropped GET) against the RxScale stand-in.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from rxfloor.core.db import Store, outbox, utcnow
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import OrderService, Refused
from rxfloor.core.sources.base import OrderSource
from rxfloor.core.sync import lease as lease_module
from rxfloor.core.sync import worker as sync_module
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import CycleReport, SyncWorker
from rxfloor.tui.cli.main import main
from tests import memory_source, remote_fixtures
from tests.memory_source import MemoryRemote
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server
memory = memory_source.memory

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)


@pytest.fixture
def workers(services: Callable[[str], OrderService]) -> Iterator[Callable[..., SyncWorker]]:
    """``workers(service, remote, **options)``: a worker with a source of its own on the
    in-memory remote, or on the stand-in; every one closed at the end (before the stores
    of ``services``)."""
    made: list[SyncWorker] = []

    def make(service: OrderService, remote: SandboxServer | MemoryRemote, **kw: Any) -> SyncWorker:
        if isinstance(remote, MemoryRemote):
            source: OrderSource = remote.source()
        else:
            source = remote.source(rate_limit_per_s=None, timeout_s=2.0)
        made.append(SyncWorker(service, source, policy=NO_WAIT, **kw))
        return made[-1]

    yield make
    for worker in made:
        worker.close()
        worker.source.close()


def skewed_clock(monkeypatch: pytest.MonkeyPatch) -> list[timedelta]:
    """The worker's and the lease's clock, ahead by ``offset[0]`` (what the test moves)."""
    offset = [timedelta(0)]
    monkeypatch.setattr(sync_module, "utcnow", lambda: utcnow() + offset[0])
    monkeypatch.setattr(lease_module, "utcnow", lambda: utcnow() + offset[0])
    return offset


def start_first(worker: SyncWorker) -> str:
    """The worker's first cycle, then the first order on the board started (not pushed)."""
    worker.cycle()
    uid: str = worker.service.store.board_rows()[0]["id"]
    worker.service.act(uid, Action.START)
    return uid


def remote_status(server: SandboxServer, uid: str) -> str:
    order = server.state.get(uid)
    assert order is not None
    return str(order["status"])


def states(store: Store) -> Counter[str]:
    with store.read() as conn:
        return Counter(conn.execute(select(outbox.c.state)).scalars())


def patches(memory: MemoryRemote) -> Counter[tuple[str, str]]:
    """Steps the remote received, by (uid, idempotency key)."""
    return Counter((p.uid, p.idempotency_key) for p in memory.pushed())


def wrap_set_status(
    monkeypatch: pytest.MonkeyPatch, worker: SyncWorker, after: Callable[[int], None]
) -> list[str]:
    """Calls ``after(n)`` once the n-th PATCH of ``worker`` has been answered."""
    real = worker.source.push_step
    sent: list[str] = []

    def set_status(uid: str, status: str, **kw: Any) -> Any:
        answer = real(uid, status, **kw)
        sent.append(uid)
        after(len(sent))
        return answer

    monkeypatch.setattr(worker.source, "push_step", set_status)
    return sent


# -- item 1: undo and push never both win -----------------------------------------------------


def test_undo_between_reading_and_claiming_is_never_pushed(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    memory: MemoryRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = services("AB")
    worker = workers(service, memory)
    worker.cycle()
    uid, other = (r["id"] for r in service.store.board_rows()[:2])
    moved = service.act(uid, Action.START)
    service.act(other, Action.START)
    real_due = worker._due_rows
    undone: list[int] = []

    def due_then_undo() -> list[dict[str, Any]]:
        rows = real_due()
        if not undone:  # the pharmacist presses undo right after the worker read the queue
            service.undo(moved.event_id)
            undone.append(moved.event_id)
        return rows

    monkeypatch.setattr(worker, "_due_rows", due_then_undo)
    assert worker.push() == 1 and undone
    assert not memory.pushed(uid)
    assert memory.status(uid) == "open"
    assert service.get(uid).status is Status.OPEN
    assert states(service.store) == {"undone": 1, "sent": 1}
    assert worker.push() == 0  # and never later either
    assert not memory.pushed(uid)


def test_undo_while_the_move_is_being_sent_is_refused(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    memory: MemoryRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = services("AB")
    worker = workers(service, memory, concurrency=1)
    worker.cycle()
    uid = service.store.board_rows()[0]["id"]
    moved = service.act(uid, Action.START)
    real = worker.source.push_step
    refusals: list[str] = []

    def set_status(*args: Any, **kw: Any) -> Any:
        with pytest.raises(Refused) as err:  # the PATCH is about to leave
            service.undo(moved.event_id)
        refusals.append(str(err.value))
        return real(*args, **kw)

    monkeypatch.setattr(worker.source, "push_step", set_status)
    assert worker.push() == 1
    assert len(refusals) == 1 and "already being sent to the remote" in refusals[0]
    assert service.get(uid).status is Status.PROCESSING
    with pytest.raises(Refused, match="already been sent to the remote"):
        service.undo(moved.event_id)
    assert states(service.store) == {"sent": 1}


# -- item 2: the lease is checked before every send --------------------------------------------


def test_lease_lost_mid_pass_stops_the_pass_and_nothing_is_sent_twice(
    db_url: str,
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    memory: MemoryRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite: the pass outlives the lease's TTL (the clock jumps past it between two sends)
    and a second worker takes the lease. PostgreSQL: the lock's backend is terminated
    between two sends. Either way the first worker notices before its next send."""
    offset = skewed_clock(monkeypatch)
    service_a, service_b = services("A"), services("B")
    a = workers(service_a, memory, concurrency=1,
                lease=PushLease(service_a.store, ttl_s=30, source="rxscale"))  # fmt: skip
    b = workers(service_b, memory, lease=PushLease(service_b.store, ttl_s=30, source="rxscale"))
    admin = None if service_a.store.is_sqlite else create_engine(service_a.store.url)
    try:
        a.cycle()
        uids = [r["id"] for r in service_a.store.board_rows()[:6]]
        for uid in uids:
            service_a.act(uid, Action.START)
        assert a.lease.acquire() and not b.lease.acquire()
        lock_pid = None
        if admin is not None:
            assert a.lease._pg is not None
            lock_pid = a.lease._pg.execute(text("SELECT pg_backend_pid()")).scalar_one()
            a.lease._pg.commit()
        b_report: list[Any] = []

        def take_over(n: int) -> None:
            if n != 2:
                return
            if admin is None:
                offset[0] += timedelta(seconds=31)  # the 30 s lease ran out mid-pass
            else:
                with admin.connect() as conn:
                    conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": lock_pid})
            for _ in range(500):  # the backend exits (and frees its lock) a moment later
                if b.lease.acquire():
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the second worker never got the lease")
            b_report.append(b.cycle())

        sent_by_a = wrap_set_status(monkeypatch, a, take_over)
        report = CycleReport()
        a.push(report)
        assert b_report and b_report[0].lease
        assert len(sent_by_a) == 2  # a stopped before its third send
        assert not report.lease
        # the rows a had claimed ahead are b's once a put them back (b left them alone
        # while they were a's: one of them might have been on the wire)
        assert b.cycle().lease
        counts = patches(memory)
        assert sum(counts.values()) == len(uids)
        assert set(counts.values()) == {1}, counts  # no step sent twice
        applied = memory.moves()
        assert sorted(applied) == sorted((u, "processing") for u in uids)
        assert states(service_a.store) == {"sent": len(uids)}
        assert b.lease.acquire() and not a.lease.acquire()
    finally:
        if admin is not None:
            admin.dispose()


def test_a_row_on_the_wire_when_the_lease_is_lost_is_never_sent_twice(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    memory: MemoryRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lease lost while a send is on the wire: the new holder must not send that row again.

    The old holder checked its lease, then its PATCH left; before the answer came back the lease
    ran out and another terminal took it. The row is ``sending`` for the old holder. Reading it
    back proves nothing yet (the PATCH may not have reached the remote), so the new holder must
    leave the row alone until the old holder's send has certainly ended (answered or timed out),
    and only then read it back.
    """
    offset = skewed_clock(monkeypatch)
    service_a, service_b = services("A"), services("B")
    a, b = (workers(s, memory, concurrency=1,
                    lease=PushLease(s.store, ttl_s=30, source="rxscale"))
            for s in (service_a, service_b))  # fmt: skip
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
        assert not memory.pushed(uid)
        let_go.set()
        pusher.join(20)
        assert not pusher.is_alive()
        # later, once a's send has certainly ended, b reads the row back: nothing resent
        offset[0] += timedelta(seconds=b.in_flight_s)
        assert b.lease.acquire()
        b.cycle()
        assert len(memory.pushed(uid)) == 1
        assert memory.status(uid) == "processing"
        assert service_b.store.sync_health(["rxscale"])["rxscale"].queued == 0
    finally:
        let_go.set()


# -- item 11: progress, 429, flaky pulls --------------------------------------------------------


def test_rows_are_settled_and_progress_reported_as_answers_arrive(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    memory: MemoryRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = services("AB")
    worker = workers(service, memory, concurrency=1)
    worker.pull()  # a new holder: nothing reported yet
    uids = [r["id"] for r in service.store.board_rows()[:8]]
    for uid in uids:
        service.act(uid, Action.START)
    seen: list[tuple[Counter[str], Any]] = []

    def look(n: int) -> None:
        if n == 5:  # the writer may commit between two reads: read until they agree
            while True:
                counted = states(service.store)
                health = service.store.sync_health(["rxscale"])["rxscale"]
                if states(service.store) == counted:
                    break
            seen.append((counted, health))

    wrap_set_status(monkeypatch, worker, look)
    assert worker.cycle().pushed == 8
    counted, health = seen[0]
    # settled as the answers come, not at the end of the pass: at the fifth answer the
    # first ones are committed; at most two rounds of the (one-thread) pool are not yet
    # (the fifth is being answered, the fourth may still wait for its commit)
    assert 3 <= counted["sent"] <= 4
    assert health.queued == 8 - counted["sent"]
    assert health.online is True and health.last_ok_at is not None


def test_a_429_is_not_an_uncertain_attempt(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    sandbox_server: SandboxServer,
) -> None:
    service = services("AB")
    worker = workers(service, sandbox_server)
    start_first(worker)
    sandbox_server.set_faults(next=["rate_limit"], methods=["PATCH"], retry_after_s=0)
    assert worker.push(max_passes=1) == 0
    assert states(service.store) == {"pending": 1}
    before = len(sandbox_server.requests())
    assert worker.push() == 1
    after = sandbox_server.requests()[before:]
    assert [r["method"] for r in after] == ["PATCH"]  # no read-back: it was not applied


@pytest.mark.network
def test_a_dropped_get_in_the_pull_still_lets_the_push_run(
    services: Callable[[str], OrderService],
    workers: Callable[..., SyncWorker],
    sandbox_server: SandboxServer,
) -> None:
    service = services("AB")
    worker = workers(service, sandbox_server)
    uid = start_first(worker)
    sandbox_server.set_faults(next=["drop_before"], methods=["GET"])
    report = worker.cycle()
    assert report.errors and report.online
    assert report.pushed == 1 and report.pending == 0
    assert remote_status(sandbox_server, uid) == "processing"


def test_sync_once_prints_its_report_even_when_it_exits_4(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RXFLOOR_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RXFLOOR_API_URL", "http://127.0.0.1:9/v1/x")
    monkeypatch.setenv("RXFLOOR_API_KEY", "some-key")
    code = main(["sync", "--once"])
    out, err = capsys.readouterr()
    assert code == 4 and "cannot reach" in err and len(err.strip().splitlines()) == 1
    report = json.loads(out)
    assert report["online"] is False and report["errors"]

"""The folder drop through the real sync worker and the real command line: each order on
the floor once, each move one result file, written once — also when an answer is lost
after the file was written and when ``rxfloor sync`` is killed (SIGKILL) between file
writes, mid-take or mid-push."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, orders, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import Tracking
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import TransientError
from rxfloor.core.sources.folder.source import FolderOrder, FolderSource
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import CycleReport, SyncWorker
from rxfloor.sandbox.folder import Partner
from tests.helpers import rxfloor_cmd

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def local(order: str) -> str:
    return local_id("folder", order)


@pytest.fixture
def service(db_url: str) -> Iterator[OrderService]:
    """On SQLite and on PostgreSQL (``db_url``)."""
    store = Store.open(db_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


@pytest.fixture
def partner(tmp_path: Path) -> Partner:
    return Partner(tmp_path / "drop", seed=2)


def drain(w: SyncWorker, cycles: int = 50) -> CycleReport:
    for _ in range(cycles):
        report = w.cycle()
        if report.pending == 0:
            return report
    raise AssertionError(f"the outbox did not drain: {report}")


def outbox_states(service: OrderService) -> Counter[str]:
    with service.store.read() as conn:
        return Counter(conn.execute(select(outbox.c.state)).scalars())


def test_orders_arrive_once_and_each_move_reaches_the_partner_once(
    service: OrderService, partner: Partner
) -> None:
    partner.drop(4)
    w = SyncWorker(service, FolderSource(partner.root, settle_s=0.0), policy=NO_WAIT)
    report = drain(w)
    assert report.pulled == 4
    cards = {c["name"]: c for c in service.store.board_rows()}
    assert sorted(cards) == ["#TH-1001", "#TH-1002", "#TH-1003", "#TH-1004"]
    service.act(local("TH-1001"), Action.START)
    service.act(local("TH-1001"), Action.FINISH, tracking=Tracking(number="1Z9", company="UPS"))
    service.act(local("TH-1002"), Action.CANCEL, reason="patient unreachable")
    service.act(local("TH-1003"), Action.HOLD, reason="awaiting the prescriber")  # local
    drain(w)
    results = partner.read_results()
    assert sorted(results) == ["TH-1001.finish.json", "TH-1001.start.json",
                               "TH-1002.cancel.json"]  # fmt: skip
    assert results["TH-1001.finish.json"]["tracking"]["number"] == "1Z9"
    assert results["TH-1002.cancel.json"]["reason"] == "patient unreachable"
    assert outbox_states(service) == Counter({"sent": 3})
    partner.drop_again()
    drain(w)
    assert partner.read_results() == {}  # nothing written again
    statuses = {c["name"]: c["status"] for c in service.store.board_rows()}
    assert len(statuses) == 4  # each order once
    assert (statuses["#TH-1001"], statuses["#TH-1002"]) == (Status.FINISHED, Status.CANCELLED)
    with service.store.read() as conn:
        assert conn.execute(select(orders.c.remote_status).where(
            orders.c.id == local("TH-1001"))).scalar_one() == "finished"  # fmt: skip


def test_a_lost_answer_after_the_file_was_written_is_read_back_not_written_again(
    service: OrderService, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner.drop(2)
    source = FolderSource(partner.root, settle_s=0.0)
    w = SyncWorker(service, source, policy=NO_WAIT)
    drain(w)
    written = []
    real = FolderSource.push_step

    def lost(self: FolderSource, uid: str, step: str, **kw: Any) -> FolderOrder:
        written.append(real(self, uid, step, **kw))
        raise TransientError("the share went away after the write")  # maybe applied

    monkeypatch.setattr(FolderSource, "push_step", lost)
    service.act(local("TH-1001"), Action.START)
    w.cycle()
    monkeypatch.undo()
    drain(w)
    assert len(written) == 1
    assert sorted(partner.read_results()) == ["TH-1001.start.json"]
    assert outbox_states(service) == Counter({"sent": 1})
    card = next(c for c in service.store.board_rows() if c["name"] == "#TH-1001")
    assert card["status"] == Status.PROCESSING


# -- SIGKILL -------------------------------------------------------------------------------------


def _sync(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(rxfloor_cmd("sync", "--source", "folder", *args), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _kill_when(proc: subprocess.Popen[bytes], ready: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    try:
        while not ready():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def _once(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(rxfloor_cmd("sync", "--source", "folder", "--once"), env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each visible file's inode and modification time: a rewrite changes one of them."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()
            if not p.name.startswith(".")}  # fmt: skip


@pytest.mark.slow
def test_sigkill_between_file_writes_then_restart_takes_and_writes_each_once(
    sqlite_url: str, partner: Partner
) -> None:
    root = partner.root
    Path(os.environ["RXFLOOR_CONFIG"]).write_text(
        f'[sources.folder]\npath = "{root}"\nsettle_s = 0\n'
    )
    env = {**os.environ, "RXFLOOR_DATABASE_URL": sqlite_url}
    count = 120
    partner.drop(count)  # one file: a take is hundreds of writes, the kill lands inside
    proc = _sync(env, "--interval", "0.05")
    orders_dir = root / "orders"
    _kill_when(proc, lambda: orders_dir.is_dir() and len(os.listdir(orders_dir)) >= count // 3)
    assert os.listdir(root / "inbox"), "the kill came after the take: nothing tested"
    assert _once(env)["pulled"] == count
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    with store.read() as conn:
        ids = list(conn.execute(select(orders.c.remote_id)).scalars())
    assert len(ids) == len(set(ids)) == count
    assert not os.listdir(root / "inbox") and not os.listdir(root / "rejected")
    for uid in sorted(ids)[:30]:  # 60 moves: each a result file
        service.act(local(uid), Action.START)
        service.act(local(uid), Action.FINISH)
    seen: dict[str, tuple[int, int]] = {}
    for kill_at in (10, 35):
        proc = _sync(env, "--interval", "0.05")
        _kill_when(proc, lambda at=kill_at: len(os.listdir(root / "results")) >= at)
        now = _files(root / "results")
        assert {k: now[k] for k in seen} == seen, "a result file was written twice"
        seen = now
    for _ in range(5):
        if _once(env)["pending"] == 0:
            break
    final = _files(root / "results")
    assert {k: final[k] for k in seen} == seen, "a result file was written twice"
    assert sorted(final) == sorted(
        f"{uid}.{move}.json" for uid in sorted(ids)[:30] for move in ("start", "finish")
    )
    with store.read() as conn:
        assert Counter(conn.execute(select(outbox.c.state)).scalars()) == Counter({"sent": 60})
    store.close()


# -- the demo ------------------------------------------------------------------------------------


def test_the_demo_runs_the_partner_beside_the_other_sources(sqlite_url: str) -> None:
    from rxfloor.core.config import load_settings
    from rxfloor.core.demo import start_demo_sync
    from tests.helpers import wait_for

    settings = load_settings(database_url=sqlite_url, actor="DM", station="demo")
    with start_demo_sync(settings, every_s=0.1, cancel_chance=0.0, interval_s=0.1) as demo:
        partner: Partner = demo.states["folder"]
        store = demo.service.store

        def folder_open() -> list[str]:
            rows = store.board_rows([Status.OPEN])
            return [str(r["id"]) for r in rows if r["source"] == "folder"]

        wait_for(lambda: len(folder_open()) >= 6, 20)
        assert {r["source"] for r in store.board_rows()} > {"folder"}  # beside the others
        uid = folder_open()[0]
        demo.service.act(uid, Action.START)
        name = f"{uid.removeprefix('folder:')}.start.json"
        wait_for(lambda: name in (partner.read_results() or partner.results), 20)
        assert partner.results[name]["status"] == "started"
        # the partner's line it got wrong waits in rejected/ with its reason
        assert any("cells where the header has" in p.read_text()
                   for p in (partner.root / "rejected").glob("*.json"))  # fmt: skip

"""``rxfloor sync`` killed with SIGKILL mid-push (several points), restarted: exactly once.

The worker settles a batch after its PATCH calls, so a kill right after the remote logged a
transition leaves rows in ``sending`` whose move WAS applied: the restarted worker must
read them back instead of sending them again.

Runs for every source (``tests/source_harness.py``): the moves checked are those the source
receives (a Konnektive start stays local), Photon's orders arrive as webhook deliveries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter as Tally

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, orders, outbox
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, Counter, OrderService
from tests import source_harness
from tests.helpers import rxfloor_cmd
from tests.source_harness import Harness

ORDERS = 15  # each started and finished
remote_kind = source_harness.remote_kind  # every source's stand-in in turn


def _remote_ids(store: Store) -> dict[str, str]:
    with store.read() as conn:
        return dict(conn.execute(select(orders.c.id, orders.c.remote_id)).all())


@pytest.mark.slow
def test_sigkill_mid_push_then_restart_applies_each_move_once(
    sqlite_url: str, remote_kind: Harness
) -> None:
    with remote_kind.serve(ORDERS) as server:
        store = Store.open(sqlite_url)
        service = OrderService(store, Actor("AB", "counter-1"))
        env = {
            **os.environ,
            "RXFLOOR_DATABASE_URL": sqlite_url,
            **server.env(pushes_per_s=15),  # paced, so the kills land mid-push
        }
        sync = ("sync", "--source", server.source_name)
        first = subprocess.run(rxfloor_cmd(*sync, "--once"), env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert first.returncode == 0, first.stderr
        server.arrive(service)
        cards = store.board_rows()
        assert len(cards) == ORDERS
        for card in cards:
            service.act(card["id"], Action.START)
            service.act(card["id"], Action.FINISH)
            if card["delivery_type"] == "pickup":  # and handed off at the counter
                service.act(card["id"], Action.HANDOFF, counter=Counter(id_checked=True))
        with store.read() as conn:
            moves = [a for a in conn.execute(select(outbox.c.action)).scalars()
                     if server.target(a) is not None]  # fmt: skip
        server.fault_next_pushes()
        kills = 0
        for kill_at in (len(moves) * 2 // 15, len(moves) * 6 // 15, len(moves) * 7 // 10):
            proc = subprocess.Popen(
                rxfloor_cmd(*sync, "--interval", "0.05"), env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 60
                while len(server.applied()) < kill_at:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the worker made no progress"
                    time.sleep(0.005)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
        with store.read() as conn:
            in_flight = Tally(conn.execute(select(outbox.c.state)).scalars())
        assert in_flight["sending"] > 0  # a kill did land between PATCH and bookkeeping
        for _ in range(5):
            done = subprocess.run(rxfloor_cmd(*sync, "--once"), env=env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0, done.stderr
            if '"pending": 0' in done.stdout:
                break
        with store.read() as conn:
            rows = list(conn.execute(select(outbox)).mappings())
        remote_ids = _remote_ids(store)
        store.close()
        assert kills == 3
        assert {r["state"] for r in rows} == {"sent"}, [
            (r["action"], r["state"], r["last_error"]) for r in rows if r["state"] != "sent"
        ]
        applied = Tally((t.uid, t.to) for t in server.applied() if t.by_us)
        assert len(applied) == len(moves) and set(applied.values()) == {1}
        pushed = [r for r in rows if server.target(r["action"]) is not None]
        assert set(applied) == {(remote_ids[r["order_id"]], server.target(r["action"]))
                                for r in pushed}  # fmt: skip


@pytest.mark.slow
def test_sigkill_mid_drain_leaves_applied_moves_settled(
    sqlite_url: str, remote_kind: Harness
) -> None:
    """Rows are settled as their answers arrive: after a kill in the middle of a pass, every
    move the remote applied is ``sent`` here, but for at most the ones then in flight."""
    orders = 40
    with remote_kind.serve(orders) as server:
        store = Store.open(sqlite_url)
        service = OrderService(store, Actor("AB", "counter-1"))
        env = {
            **os.environ,
            "RXFLOOR_DATABASE_URL": sqlite_url,
            **server.env(pushes_per_s=20),
        }
        sync = ("sync", "--source", server.source_name)
        first = subprocess.run(rxfloor_cmd(*sync, "--once"), env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert first.returncode == 0, first.stderr
        server.arrive(service)
        for row in store.board_rows():  # one pass of 40 rows, one call each for every source
            service.act(row["id"], Action.CANCEL, reason="kill test")
        proc = subprocess.Popen(
            rxfloor_cmd(*sync, "--interval", "0.05"), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while len(server.applied()) < orders // 2:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the worker made no progress"
                time.sleep(0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        applied = {t.uid for t in server.applied() if t.by_us}
        with store.read() as conn:
            rows = list(conn.execute(select(outbox)).mappings())
        remote_ids = _remote_ids(store)
        store.close()
        sent = {remote_ids[r["order_id"]] for r in rows if r["state"] == "sent"}
        in_flight = 16  # two rounds of the pool (8 threads) are claimed ahead at most
        assert orders // 2 <= len(applied) < orders
        assert sent <= applied
        assert len(applied - sent) <= in_flight, (len(applied), len(sent))
        sending = sum(r["state"] == "sending" for r in rows)
        assert sending <= in_flight  # a restart reads back only these, not the whole pass

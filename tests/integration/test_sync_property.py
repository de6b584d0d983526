"""Property: random local moves, undos, remote changes and pushers losing their lease
under random faults, then a quiet drain.

Among the steps: an undo that races the push (it commits between the worker reading the
queue and claiming a row), and a second pusher taking the lease over in the middle of a
pass (the first one's lease runs out between two of its sends, the clock jumps past it).

Runs for every source (``tests/source_harness.py``; Photon's orders and its own changes
arrive as signed webhook deliveries between the steps). Proved from the stand-in's own logs
(RxScale: ``/_sandbox/transitions`` and ``/requests``): every
move the remote accepted from us was applied exactly once and corresponds to one outbox
row marked ``sent``; no PATCH was refused as a repeat on an order the remote never changed
by itself (nothing sent twice, no undone row sent); no row is left unsettled; every
``superseded`` row was made stale by a remote change; and both sides end in the same column.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rxfloor.core.db import Store, orders, outbox, utcnow
from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.service import Actor, Counter, OrderService, ServiceError
from rxfloor.core.sync import lease as lease_module
from rxfloor.core.sync import worker as sync_module
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests.helpers import migrated_sqlite
from tests.source_harness import HARNESSES
from tests.sync_faults import Killed, kill_after_send, lagging_listing, throttle_next_read

TTL_S = 30.0
#: a hand-off's confirmation (the counter checked the patient's identity)
ID_CHECKED = Counter(id_checked=True)

ORDERS = 5

local_op = st.tuples(
    st.just("local"),
    st.integers(0, ORDERS - 1),
    st.sampled_from(["start", "finish", "cancel", "handoff"]),
)
remote_op = st.tuples(
    st.just("remote"), st.integers(0, ORDERS - 1), st.sampled_from(["cancel", "complete"])
)
sync_op = st.tuples(st.just("sync"), st.just(0), st.sampled_from(["push", "cycle"]))
#: undo the order's last move: on its own, or racing the push (between read and claim)
undo_op = st.tuples(st.just("undo"), st.integers(0, ORDERS - 1), st.sampled_from(["plain", "race"]))
#: a second pusher takes the lease over after the first one's n-th send of a pass
takeover_op = st.tuples(st.just("takeover"), st.integers(1, 3), st.just(""))
#: the pusher dies right after the order's step reached the remote (its row left
#: ``sending``), the next read-back of the order is throttled, or a pull applies a listing
#: read before a push settled (tests/sync_faults.py)
fault_op = st.tuples(st.sampled_from(["kill", "throttle", "lagging"]),
                     st.integers(0, ORDERS - 1), st.just(""))  # fmt: skip
ops = st.lists(
    st.one_of(
        local_op, local_op, local_op, remote_op, sync_op, sync_op, undo_op, takeover_op, fault_op
    ),
    min_size=3,
    max_size=25,
)


@pytest.fixture(scope="module")
def clock() -> Iterator[list[timedelta]]:
    """The sync worker's clock, moved forward when a lease must run out mid-pass."""
    offset = [timedelta(0)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sync_module, "utcnow", lambda: utcnow() + offset[0])
        mp.setattr(lease_module, "utcnow", lambda: utcnow() + offset[0])
        yield offset


#: each source's run is ~20-25 s; RxScale's stays in the quick suite
KINDS = [
    k if k == "rxscale" else pytest.param(k, marks=pytest.mark.slow) for k in sorted(HARNESSES)
]


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=40,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=ops,
    fail_rate=st.sampled_from([0.0, 0.2, 0.4]),
    fault_seed=st.integers(0, 10_000),
)
@example(  # found here: a new lease holder re-sent a PATCH the old one still had on the wire
    steps=[("takeover", 3, ""), ("local", 3, "cancel"), ("remote", 3, "complete"),
           ("remote", 0, "complete"), ("takeover", 1, ""), ("local", 0, "start"),
           ("local", 2, "start"), ("undo", 3, "plain")],
    fail_rate=0.2,
    fault_seed=133,
)  # fmt: skip
@example(  # issue 21 §2.3: a row left ``sending`` whose restart read-back got a 429 was
    # taken for "not sent" and recorded "superseded … not sent" though the remote had it
    steps=[("local", 0, "start"), ("kill", 0, ""), ("throttle", 0, ""), ("sync", 0, "push"),
           ("sync", 0, "push")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # issue 21 §2.2: a listing read before a push was settled parked the settled move
    # as "the remote may have lost this move"
    steps=[("local", 0, "start"), ("local", 1, "cancel"), ("lagging", 0, "")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # issue 24 §3: a pickup order finished, handed off, the pusher killed mid-send
    steps=[("local", 0, "start"), ("local", 0, "finish"), ("local", 0, "handoff"),
           ("kill", 0, ""), ("sync", 0, "push"), ("remote", 0, "complete"), ("sync", 0, "cycle")],
    fail_rate=0.2,
    fault_seed=7,
)  # fmt: skip
@example(  # a start that reached the remote, its pusher killed, then the remote's cancel: the
    # read-back cannot tell after from before, so the start is sent, never "not sent"
    steps=[("local", 0, "start"), ("kill", 0, ""), ("remote", 0, "cancel"), ("sync", 0, "cycle")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # seen once under load (which order drew the fault depends on the threads): a start
    # applied with its answer too late (slow: request 0), then the remote's cancel before the
    # next pass; the pull superseded it "not sent". Now a lost answer is read back at once
    steps=[("local", 0, "start"), ("sync", 0, "push"), ("remote", 0, "cancel")],
    fail_rate=0.4,
    fault_seed=84,
)  # fmt: skip
@example(  # not a product defect: two throttles armed on an order the remote then cancelled
    # struck the drain's only two pulls (its read-back of the order no longer listed), and the
    # drain stopped as soon as nothing was pending, before a pull could learn the cancel
    steps=[("takeover", 2, ""), ("sync", 0, "cycle"), ("throttle", 1, ""), ("remote", 0, "cancel"),
           ("sync", 0, "push"), ("remote", 3, "cancel"), ("throttle", 3, ""), ("throttle", 3, ""),
           ("local", 0, "cancel"), ("kill", 3, "")],
    fail_rate=0.4,
    fault_seed=1142,
)  # fmt: skip
def test_exactly_once_under_faults(
    clock: list[timedelta], kind: str, steps: Any, fail_rate: float, fault_seed: int
) -> None:
    with HARNESSES[kind].serve(ORDERS) as server, tempfile.TemporaryDirectory() as tmp:
        url = migrated_sqlite(Path(tmp) / "p.db")
        store, other_store = Store.open(url), Store.open(url)
        service = OrderService(store, Actor("PT", "prop"))
        other_service = OrderService(other_store, Actor("P2", "prop-2"))
        name = server.source_name
        source, other_source = server.open_source(timeout_s=0.5), server.open_source(timeout_s=0.5)
        no_wait = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)
        worker = SyncWorker(service, source, policy=no_wait,
                            lease=PushLease(store, ttl_s=TTL_S, source=name))  # fmt: skip
        last_move: dict[str, int] = {}

        def push_with_undo(uid: str, event_id: int) -> None:
            real = worker._due_rows

            def due_then_undo() -> list[dict[str, Any]]:
                rows = real()
                worker._due_rows = real  # type: ignore[method-assign]
                with contextlib.suppress(ServiceError):
                    service.undo(event_id)
                return rows

            worker._due_rows = due_then_undo  # type: ignore[method-assign]
            try:
                worker.push(max_passes=2)
            finally:
                worker._due_rows = real  # type: ignore[method-assign]

        def push_with_takeover(after: int) -> None:
            real = source.push_step
            sent: list[str] = []
            started_after_loss: list[str] = []
            others: list[SyncWorker] = []

            def push_step(uid: str, step: str, **kw: Any) -> Any:
                if others:
                    started_after_loss.append(uid)
                answer = real(uid, step, **kw)
                sent.append(uid)
                if len(sent) == after:  # the lease runs out between two sends
                    clock[0] += timedelta(seconds=TTL_S + 1)
                    other_lease = PushLease(other_store, ttl_s=TTL_S, source=name)
                    other = SyncWorker(other_service, other_source, policy=no_wait,
                                       lease=other_lease)  # fmt: skip
                    others.append(other)
                    assert other.lease.acquire()
                    other.cycle()
                return answer

            source.push_step = push_step  # type: ignore[method-assign]
            try:
                worker.push(max_passes=2)
            finally:
                source.push_step = real  # type: ignore[method-assign]
                for other in others:
                    other.close()  # gives the lease back
            if others:
                # the first pusher stopped at once: only sends of its other push threads that
                # had checked the lease before it was lost may still leave (one per thread)
                assert len(started_after_loss) <= worker.concurrency - 1

        try:
            for _ in range(5):  # setting up, not the property: a slow first answer is retried
                worker.cycle()
                server.arrive(service)  # Photon's orders come as webhook deliveries
                ids = sorted(r["id"] for r in store.board_rows())
                if len(ids) == ORDERS:
                    break
            assert len(ids) == ORDERS
            with store.read() as conn:
                remote_ids = dict(conn.execute(select(orders.c.id, orders.c.remote_id)).all())
            server.set_faults(fail_rate=fail_rate, fault_seed=fault_seed, slow_s=0.6)
            for op, index, what in steps:
                uid = ids[index]
                if op == "local":
                    with contextlib.suppress(ServiceError):  # refused locally: nothing queued
                        last_move[uid] = service.act(uid, Action(what), reason="prop test",
                                                     counter=ID_CHECKED).event_id  # fmt: skip
                elif op == "undo":
                    if uid not in last_move:
                        continue
                    event_id = last_move.pop(uid)
                    if what == "race":
                        push_with_undo(uid, event_id)
                    else:
                        with contextlib.suppress(ServiceError):
                            service.undo(event_id)
                elif op == "takeover":
                    push_with_takeover(after=index)
                elif op == "kill":
                    restore = kill_after_send(source, remote_ids[uid])
                    try:
                        worker.push(max_passes=2)
                    except Killed:  # the restart finds the dead pusher's claim run out
                        clock[0] += timedelta(seconds=worker.in_flight_s + 1)
                    restore()
                elif op == "throttle":
                    throttle_next_read(source, remote_ids[uid])
                elif op == "lagging":
                    lagging_listing(source, meanwhile=lambda: worker.push(max_passes=2))
                    worker.pull()
                elif op == "remote":
                    server.remote_change(
                        remote_ids[uid], "cancel" if what == "cancel" else "complete"
                    )
                    server.arrive(service)
                elif what == "push":
                    worker.push(max_passes=2)
                else:
                    worker.cycle()
                    server.arrive(service)
            server.clear_faults()
            # the quiet drain: no new faults, but a one-shot fault armed in the steps that has
            # not struck yet (a throttled read-back) still may, and a pull it strikes learns
            # nothing more that cycle; so the drain ends on a cycle with nothing left to push
            # that also read the remote without an error, as the daemon's next cycle would
            for _ in range(20):
                report = worker.cycle()
                if report.pending == 0 and not report.errors:
                    break
            server.arrive(service)
            worker.pull()

            with store.read() as conn:
                rows = list(conn.execute(select(outbox)).mappings())
            assert {r["state"] for r in rows} <= {"sent", "superseded", "failed", "undone"}
            # a stand-in never loses a move it applied: a divergence parked is a false alarm
            # (e.g. a late webhook echo of an earlier report taken for the remote now)
            lost = [r for r in rows if "may have lost" in (r["last_error"] or "")]
            assert not lost, lost
            log = server.applied()
            by_api = Tally((t.uid, t.to) for t in log if t.by_us)
            assert all(n == 1 for n in by_api.values()), by_api  # never twice
            remote_changed = {t.uid for t in log if not t.by_us}
            for refused in server.refused_repeats():  # a repeat (or an undone move): stale
                assert refused in remote_changed, refused
            sent = Tally(
                (remote_ids[r["order_id"]], server.target(r["action"]))
                for r in rows
                if r["state"] == "sent" and server.target(r["action"]) is not None
            )
            assert set(by_api) <= set(sent)  # whatever the remote applied, we know as sent
            assert all(n == 1 for n in sent.values()), sent
            for key in set(sent) - set(by_api):
                # only where a lost answer met the remote's own identical change
                assert key in {(t.uid, t.to) for t in log}, key
            for r in rows:
                if r["state"] == "superseded":
                    assert remote_ids[r["order_id"]] in remote_changed, r
            failed = {r["order_id"] for r in rows if r["state"] == "failed"}
            for uid in ids:
                if uid not in failed:
                    view = service.get(uid)
                    waiting = (view.status is Status.FINISHED and view.picked_up_at is None
                               and view.delivery_type is DeliveryType.PICKUP)  # fmt: skip
                    local = server.as_remote_tells(view.status, waiting=waiting)
                    assert server.board_status(remote_ids[uid]) == local, uid
        finally:
            worker.close()
            source.close()
            other_source.close()
            store.close()
            other_store.close()

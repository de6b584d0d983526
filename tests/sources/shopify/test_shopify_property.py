"""Property (Shopify): random local moves, undos, merchant-side changes (cancellation
requests, holds, releases, cancels) and pushes under random faults (5xx, connections
dropped before or after the mutation ran, slow answers, malformed JSON, THROTTLED), then a
quiet drain.

Proved from the stand-in's own logs: no mutation was ever applied twice to one fulfillment
order (Shopify offers no idempotency key: a lost answer must be read back, never resent);
every mutation applied corresponds to an outbox row marked ``sent``; nothing is left
unsettled; a ``superseded`` row is one whose order the merchant changed; and both sides end
in the same column.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from rxfloor.core.db import Store, outbox, utcnow
from rxfloor.core.lifecycle import Action, DeliveryType, Status
from rxfloor.core.service import Actor, OrderService, ServiceError
from rxfloor.core.service import Counter as Desk
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.mapping import board_status, split
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sync import worker as sync_module
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests.helpers import migrated_sqlite
from tests.shopify_fixtures import ShopifyServer, serve_shopify
from tests.sync_faults import Killed, kill_after_send, lagging_listing, throttle_next_read

ORDERS = 5
LOCAL = ["start", "finish", "cancel", "accept_cancel", "reject_cancel", "handoff"]
MERCHANT = ["request_cancellation", "hold", "release", "cancel"]

local_op = st.tuples(st.just("local"), st.integers(0, ORDERS - 1), st.sampled_from(LOCAL))
merchant_op = st.tuples(st.just("merchant"), st.integers(0, ORDERS - 1),
                        st.sampled_from(MERCHANT))  # fmt: skip
sync_op = st.tuples(st.just("sync"), st.just(0), st.sampled_from(["push", "cycle"]))
undo_op = st.tuples(st.just("undo"), st.integers(0, ORDERS - 1), st.just(""))
#: the pusher dies right after the order's mutation reached Shopify (its row left
#: ``sending``), the next read-back of the order is throttled, or a pull applies a listing
#: read before a push settled (tests/sync_faults.py)
fault_op = st.tuples(st.sampled_from(["kill", "throttle", "lagging"]),
                     st.integers(0, ORDERS - 1), st.just(""))  # fmt: skip
ops = st.lists(
    st.one_of(local_op, local_op, local_op, merchant_op, sync_op, sync_op, undo_op, fault_op),
    min_size=3,
    max_size=25,
)


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopifyServer]:
    with serve_shopify(seed=0) as server:
        yield server


@pytest.fixture(scope="module")
def clock() -> Iterator[list[timedelta]]:
    """The sync worker's clock, moved past a dead pusher's claim when it was killed."""
    offset = [timedelta(0)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sync_module, "utcnow", lambda: utcnow() + offset[0])
        yield offset


@pytest.mark.slow
@settings(
    max_examples=30,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=ops,
    fail_rate=st.sampled_from([0.0, 0.2, 0.4]),
    fault_seed=st.integers(0, 10_000),
)
@example(  # found here: the merchant holds an order whose start (our accept) is still queued
    steps=[("local", 1, "accept_cancel"), ("undo", 0, ""), ("merchant", 0, "cancel"),
           ("undo", 0, ""), ("sync", 0, "push"), ("sync", 0, "cycle"), ("merchant", 0, "hold"),
           ("undo", 1, ""), ("local", 2, "start"), ("undo", 4, ""), ("merchant", 2, "hold"),
           ("local", 3, "reject_cancel"), ("merchant", 4, "cancel")],
    fail_rate=0.0,
    fault_seed=299,
)  # fmt: skip
@example(  # found in CI: the merchant holds an order started here before the start is sent
    steps=[("undo", 0, ""), ("merchant", 2, "hold"), ("merchant", 4, "hold"),
           ("merchant", 3, "hold"), ("local", 3, "start"), ("merchant", 3, "hold"),
           ("sync", 0, "push"), ("sync", 0, "push")],
    fail_rate=0.4,
    fault_seed=8950,
)  # fmt: skip
@example(  # issue 21 §2.1: a start whose answer was lost (the pusher killed), then the
    # merchant asks to cancel: the start was planned stale and the order reverted to OPEN
    # for ever while Shopify had it IN_PROGRESS
    steps=[("local", 0, "start"), ("kill", 0, ""), ("merchant", 0, "request_cancellation"),
           ("sync", 0, "cycle")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # issue 21 §2.3: the restart's read-back of a row left ``sending`` got THROTTLED
    steps=[("local", 1, "start"), ("kill", 1, ""), ("throttle", 1, ""), ("sync", 0, "push"),
           ("sync", 0, "push")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # issue 21 §2.2: a listing read before a push was settled is applied after it
    steps=[("local", 2, "start"), ("local", 3, "start"), ("lagging", 0, "")],
    fail_rate=0.0,
    fault_seed=0,
)  # fmt: skip
@example(  # not a product defect: two throttles armed on order 1, which the merchant then
    # cancelled, struck the drain's only two pulls (its read-back of the order no longer
    # listed), and the drain stopped as soon as nothing was pending, before a pull read it
    steps=[("throttle", 1, ""), ("sync", 0, "push"), ("local", 2, "start"), ("sync", 0, "push"),
           ("sync", 0, "cycle"), ("throttle", 1, ""), ("kill", 4, ""), ("throttle", 2, ""),
           ("merchant", 4, "hold"), ("local", 3, "start"), ("sync", 0, "cycle"),
           ("local", 0, "accept_cancel"), ("undo", 4, ""), ("merchant", 2, "hold"),
           ("local", 2, "cancel"), ("undo", 2, ""), ("undo", 1, ""), ("undo", 0, ""),
           ("merchant", 1, "cancel"), ("local", 0, "cancel")],
    fail_rate=0.2,
    fault_seed=251,
)  # fmt: skip
def test_exactly_once_under_faults(
    clock: list[timedelta], shop: ShopifyServer, steps: Any, fail_rate: float, fault_seed: int
) -> None:
    shop.reset(seed=ORDERS)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(migrated_sqlite(Path(tmp) / "p.db"))
        service = OrderService(store, Actor("PT", "prop"))
        client = ShopifyClient(shop.base_url, SecretStr(shop.access_token), timeout_s=0.5)
        source = ShopifySource(client)
        worker = SyncWorker(service, source,
                            policy=RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0))  # fmt: skip
        last_move: dict[str, int] = {}
        try:
            for _ in range(5):  # setting up, not the property: a slow first answer is retried
                worker.cycle()  # (on a loaded machine the first read can outlast timeout_s)
                gids = sorted(r["remote_id"] for r in store.board_rows())
                if len(gids) == ORDERS:
                    break
            assert len(gids) == ORDERS
            shop.set_faults(fail_rate=fail_rate, fault_seed=fault_seed, slow_s=0.6)
            for kind, index, what in steps:
                gid = gids[index]
                ref = f"shopify:{gid}"
                if kind == "local":
                    # a hand-off (a ready pickup order at the counter) confirms the patient
                    counter = Desk(id_checked=True) if what == "handoff" else Desk()
                    with contextlib.suppress(ServiceError):  # refused locally: nothing queued
                        last_move[ref] = service.act(ref, Action(what), reason="prop test",
                                                     counter=counter).event_id  # fmt: skip
                elif kind == "undo":
                    if ref in last_move:
                        with contextlib.suppress(ServiceError):
                            service.undo(last_move.pop(ref))
                elif kind == "merchant":
                    with contextlib.suppress(AssertionError):  # refused by the merchant side
                        kw = {"message": "prop"} if what == "request_cancellation" else {}
                        shop.merchant(what, gid, **kw)
                elif kind == "kill":
                    restore = kill_after_send(source, gid)
                    try:
                        worker.push(max_passes=2)
                    except Killed:  # the restart finds the dead pusher's claim run out
                        clock[0] += timedelta(seconds=worker.in_flight_s + 1)
                    restore()
                elif kind == "throttle":
                    throttle_next_read(source, gid)
                elif kind == "lagging":
                    lagging_listing(source, meanwhile=lambda: worker.push(max_passes=2))
                    worker.pull()
                elif what == "push":
                    worker.push(max_passes=2)
                else:
                    worker.cycle()
            shop.set_faults(fail_rate=0.0)
            # the quiet drain: no new faults, but a one-shot fault armed in the steps that has
            # not struck yet (a throttled read-back) still may, and a pull it strikes learns
            # nothing more that cycle; so the drain ends on a cycle with nothing left to push
            # that also read the remote without an error, as the daemon's next cycle would
            for _ in range(20):
                report = worker.cycle()
                if report.pending == 0 and not report.errors:
                    break
            worker.pull()

            with store.read() as conn:
                rows = list(conn.execute(select(outbox)).mappings())
            assert {r["state"] for r in rows} <= {"sent", "superseded", "failed", "undone"}
            log = shop.transitions()
            by_api = Counter((t["id"], t["action"]) for t in log if t["by"] == "api")
            assert all(n == 1 for n in by_api.values()), by_api  # never applied twice
            merchant_touched = {t["id"] for t in log if t["by"] == "merchant"}
            sent_orders = {r["order_id"] for r in rows if r["state"] == "sent"}
            for gid, _mutation in by_api:  # whatever Shopify applied, we know as sent
                assert f"shopify:{gid}" in sent_orders, (gid, _mutation)
            for r in rows:
                if r["state"] == "superseded":
                    assert r["order_id"].removeprefix("shopify:") in merchant_touched, r
            failed = {r["order_id"] for r in rows if r["state"] == "failed"}
            for gid in gids:
                ref = f"shopify:{gid}"
                remote = shop.fulfillment_order(gid)
                column = board_status(*split(f"{remote['status']}/{remote['requestStatus']}"))
                if ref not in failed:
                    mine = [(r["action"], r["state"], r["last_error"], r["maybe_applied"])
                            for r in rows if r["order_id"] == ref]  # fmt: skip
                    said = (gid, remote["status"], remote["requestStatus"], mine)
                    view = service.get(ref)
                    # a pickup order ready here is still in progress in Shopify (prepared for
                    # pickup: no field shows it) until its hand-off's fulfillment
                    waiting = (view.status is Status.FINISHED and view.picked_up_at is None
                               and view.delivery_type is DeliveryType.PICKUP)  # fmt: skip
                    assert column == (Status.PROCESSING if waiting else view.status), said
                    if waiting:
                        assert shop.state.prepared(gid), said
        finally:
            worker.close()
            client.close()
            store.close()

"""The remote losing moves is noticed (issue 9, item 3).

Moves are pushed to the stand-in over loopback, then the stand-in "forgets" some of them (a
remote-side change back to an earlier status, as after a restore that lost its state). The
pull must flag each such order as a divergence — a failed outbox row and a sync error on the
card, counted in the header's failed count — and ``retry`` must send the move again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sync.worker import SyncWorker
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_factory = remote_fixtures.sandbox_factory


@pytest.fixture
def setup(
    sandbox_factory: Callable[..., SandboxServer], db_url: str
) -> Iterator[tuple[SandboxServer, SyncWorker]]:
    server = sandbox_factory(seed=8)
    store = Store.open(db_url)
    client = server.client(rate_limit_per_s=None)
    worker = SyncWorker(OrderService(store, Actor("AB", "counter-1")), RxScaleSource(client))
    yield server, worker
    worker.close()
    client.close()
    store.close()


def _forget(server: SandboxServer, uid: str, status: str) -> None:
    """The remote loses our move: the order is back at ``status`` there."""
    answer = server.control.post(f"/orders/{uid}/status", json={"status": status, "force": True})
    assert answer.status_code == 200, answer.text


def test_a_move_the_remote_lost_is_flagged_and_retry_sends_it_again(
    setup: tuple[SandboxServer, SyncWorker],
) -> None:
    server, worker = setup
    service, store = worker.service, worker.store
    worker.pull()
    ids = sorted(r["id"] for r in store.board_rows())
    started, finished, cancelled, shipped_lost, unpushed, fine = ids[:6]
    for uid in (started, finished, shipped_lost, fine):
        service.act(uid, Action.START)
    for uid in (finished, shipped_lost):
        service.act(uid, Action.FINISH)
    service.act(cancelled, Action.CANCEL, reason="patient called")
    worker.push()
    assert store.sync_health(["rxscale"])["rxscale"].queued == 0
    service.act(unpushed, Action.START)  # queued, not pushed yet: the remote is just behind

    for uid in (started, finished, cancelled):
        _forget(server, uid, "open")
    _forget(server, shipped_lost, "processing")
    diverged = {started, finished, cancelled, shipped_lost}
    worker.pull(full=True)

    health = store.sync_health(["rxscale"])["rxscale"]
    assert health.failed == len(diverged)
    for uid in ids:
        order = service.get(uid)
        if uid in diverged:
            assert order.sync_error is not None, uid
            assert "may have lost this move" in order.sync_error
            assert "retry or resolve" in order.sync_error
        else:
            assert order.sync_error is None, (uid, order.sync_error)
    assert "remote shows open but processing was sent" in (service.get(started).sync_error or "")
    assert "remote shows processing but finished was sent" in (
        service.get(shipped_lost).sync_error or ""
    )
    # the local moves stand: the pull did not take the remote's word for it
    assert service.get(started).status is Status.PROCESSING
    assert service.get(cancelled).status is Status.CANCELLED
    worker.pull(full=True)  # seen again: still one divergence each
    assert store.sync_health(["rxscale"])["rxscale"].failed == len(diverged)
    assert any(e["action"] == "divergence" for e in store.history(started))

    with store.read() as conn:
        failed = list(conn.execute(outbox.select().where(outbox.c.state == "failed")).mappings())
    for row in failed:
        service.retry_failed(row["id"])
    worker.push()
    assert (
        store.sync_health(["rxscale"])["rxscale"].failed == 0
        and store.sync_health(["rxscale"])["rxscale"].queued == 0
    )
    remote = {uid: (server.state.get(uid) or {}).get("status") for uid in diverged}
    assert remote == {started: "processing", finished: "shipped", cancelled: "cancelled",
                      shipped_lost: "shipped"}  # fmt: skip
    worker.pull(full=True)
    assert store.sync_health(["rxscale"])["rxscale"].failed == 0
    assert all(service.get(uid).sync_error is None for uid in diverged)

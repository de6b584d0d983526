"""Photon through the real sync worker (the push path) against the stand-in over loopback:
each status report reaches Photon exactly once although answers are lost after the report
was applied; a refusal is read back before it is believed; a reroute seen only on read-back
takes the order off the floor with the remote-cancel alert."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, alerts
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.service import Counter as AtTheCounter
from rxfloor.core.sources.photon.source import PhotonSource
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import photon_fixtures
from tests.photon_fixtures import PhotonServer
from tests.source_harness import HARNESSES

photon_server = photon_fixtures.photon_server

#: a hand-off's confirmation (the counter checked the patient's identity)
ID_CHECKED = AtTheCounter(id_checked=True)
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def onto_the_floor(service: OrderService, source: PhotonSource, uids: list[str]) -> list[str]:
    """The orders as the inbox would insert them; returns their names (refs on the floor)."""
    orders = [source.get_order(uid) for uid in uids]
    RemoteApplier(service, "photon").apply(orders)
    return [o.name or o.uid for o in orders]


def drain(worker: SyncWorker, rounds: int = 60) -> None:
    for _ in range(rounds):
        report = worker.cycle()
        if report.pending == 0:
            assert report.failed == 0, report
            return
    raise AssertionError(f"the outbox did not drain: {report}")


def reports(server: PhotonServer) -> Counter[tuple[str, str]]:
    return Counter((t["order_id"], t["what"]) for t in server.transitions(by="pharmacy"))


def hook_answers(server: PhotonServer) -> Counter[Any]:
    return Counter(r["status_code"] for r in server.requests() if r["path"] == "/v1/hooks/pharmacy")


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.network
def test_each_report_reaches_photon_exactly_once(
    photon_server: PhotonServer, service: OrderService, seed: int
) -> None:
    uids = photon_server.create(6)
    source = photon_server.source(timeout_s=2.0)
    names = onto_the_floor(service, source, uids)
    worker = SyncWorker(service, source, policy=NO_WAIT, concurrency=3)
    # every third request loses its answer after Photon applied it, or never arrives
    photon_server.set_faults(fail_rate=0.4, fault_seed=seed, next=["drop_after"] * 2,
                             kinds=["drop_after", "drop_before", "server_error"])  # fmt: skip
    for name in names:
        service.act(name, Action.START)
    drain(worker)
    for name in names[:4]:
        service.act(name, Action.FINISH)  # ready for pickup: nothing to report
    service.act(names[4], Action.CANCEL, reason="patient asked")
    for name in names[:2]:  # the patient has it: completed
        service.act(name, Action.HANDOFF, counter=ID_CHECKED)
    drain(worker)
    worker.close()
    source.close()
    expected: Counter[tuple[str, str]] = Counter()
    for uid in uids:
        expected[(uid, "in_progress")] = 1
    for uid in uids[:2]:
        expected[(uid, "completed")] = 1
    expected[(uids[4], "canceled")] = 1
    assert reports(photon_server) == expected
    # no report was repeated blindly: Photon never had to refuse one as already applied
    assert 409 not in hook_answers(photon_server)
    assert any(r["fault"] == "drop_after" for r in photon_server.requests())
    for name, status in zip(names, [Status.FINISHED] * 4 + [Status.CANCELLED, Status.PROCESSING],
                            strict=True):  # fmt: skip
        assert service.get(name).status is status


def test_a_refused_report_is_read_back_and_a_reroute_cancels_with_the_alert(
    photon_server: PhotonServer, service: OrderService
) -> None:
    (uid,) = photon_server.create(1)
    source = photon_server.source(timeout_s=2.0)
    (name,) = onto_the_floor(service, source, [uid])
    worker = SyncWorker(service, source, policy=NO_WAIT)
    service.act(name, Action.START)
    photon_server.reroute(uid)  # the patient moves it before the start reaches Photon
    report = worker.cycle()
    worker.close()
    source.close()
    assert report.superseded == 1 and report.failed == 0, report
    order = service.get(name)
    assert (order.status, order.remote_status) == (Status.CANCELLED, "rerouted")
    with service.store.read() as conn:
        kinds = list(conn.execute(select(alerts.c.kind).where(alerts.c.order_id == order.id)))
    assert [k for (k,) in kinds] == ["remote_cancel"]
    assert photon_server.transitions(by="pharmacy") == []
    assert hook_answers(photon_server) == {409: 1}  # refused once, then read back


def test_an_order_photon_does_not_know_is_parked_with_its_words(
    photon_server: PhotonServer, service: OrderService
) -> None:
    (uid,) = photon_server.create(1)
    source = photon_server.source(timeout_s=2.0)
    (name,) = onto_the_floor(service, source, [uid])
    photon_server.reset()  # Photon forgot it (another environment, a wrong id)
    worker = SyncWorker(service, source, policy=NO_WAIT)
    service.act(name, Action.START)
    report = worker.cycle()
    worker.close()
    source.close()
    assert report.failed == 1
    # the retry read the order back first: Photon's words of that refusal are the last
    assert (
        service.get(name).sync_error
        == f"refused twice: Photon has no order {uid!r}: Order not found"
    )
    refusals = [
        e["reason"] for e in service.store.history(service.get(name).id) if e["action"] == "refused"
    ]
    assert refusals[0].startswith("start refused by the remote: Photon refused the status "
                                  "report (404): order not found — retrying once at")  # fmt: skip


def test_a_late_echo_of_the_start_never_parks_the_finish_sent_after_it(sqlite_url: str) -> None:
    """Photon sends an event for each report: the one of the start (``filling``) may land
    after the hand-off (``completed``) was sent and settled. It shows Photon as it was
    before, so it is no sign that Photon lost the move (found by benchmarks/sync.py
    --only-photon)."""
    with HARNESSES["photon"].serve(2, in_process=True) as remote:
        store = Store.open(sqlite_url)
        service = OrderService(store, Actor("AB", "counter-1"))
        source = remote.open_source(timeout_s=2.0)
        worker = SyncWorker(service, source, policy=NO_WAIT)
        try:
            remote.arrive(service)  # the orders, as their deliveries
            refs = [r["id"] for r in store.board_rows()]
            for ref in refs:
                service.act(ref, Action.START)
                service.act(ref, Action.FINISH)
                service.act(ref, Action.HANDOFF, counter=ID_CHECKED)
            drain(worker)
            remote.arrive(service)  # now the echoes: filling (the start's), then completed
            assert [service.get(ref).sync_error for ref in refs] == [None, None]
            assert store.sync_health(["photon"])["photon"].failed == 0
            assert {service.get(ref).remote_status for ref in refs} == {"completed"}
        finally:
            worker.close()
            source.close()
            store.close()


def test_an_order_placed_by_event_is_read_back_for_its_patient_and_items(
    sqlite_url: str,
) -> None:
    """Photon's ``placed`` event names the order only; its ``created`` event (patient, fills)
    comes before the order is this pharmacy's, so nothing of it is on the floor. The worker
    reads such a bare order back once: the card gets its patient and its items."""
    with HARNESSES["photon"].serve(2, in_process=True) as remote:
        store = Store.open(sqlite_url)
        service = OrderService(store, Actor("AB", "counter-1"))
        source = remote.open_source(timeout_s=2.0)
        worker = SyncWorker(service, source, policy=NO_WAIT)
        try:
            remote.arrive(service)
            rows = store.board_rows()
            assert len(rows) == 2
            worker.cycle()
            for row in store.board_rows():
                held = remote.server.order(row["remote_id"])  # type: ignore[attr-defined]
                assert row["patient_name"] == held["patient"]["name"]["full"], dict(row)
                assert row["items_summary"] and store.line_items(row["id"])
            reads = len(remote.server.requests())  # type: ignore[attr-defined]
            worker.cycle()  # read once: nothing is bare any more
            assert len(remote.server.requests()) == reads  # type: ignore[attr-defined]
        finally:
            worker.close()
            source.close()
            store.close()

"""Shopify end to end: the sync worker against the Shopify stand-in served by a real uvicorn
on loopback (GraphQL executed by graphql-core, the cost bucket, the merchant side).

Every claim is read from the stand-in's own logs (``/_sandbox/transitions``,
``/_sandbox/requests``): one mutation per move, the words sent, nothing throttled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from rxfloor.core import exception_queue
from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import Tracking
from rxfloor.core.service import Actor, OrderService, ServiceError
from rxfloor.core.sources.base import TransientError
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import shopify_fixtures
from tests.shopify_fixtures import ShopifyServer

shopify_factory = shopify_fixtures.shopify_factory

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def shop_source(server: ShopifyServer, **kw: Any) -> ShopifySource:
    kw.setdefault("timeout_s", 2.0)
    client = server.client(**kw)
    return ShopifySource(client)


def make_worker(service: OrderService, server: ShopifyServer, **kw: Any) -> SyncWorker:
    return SyncWorker(service, shop_source(server), policy=NO_WAIT, **kw)


def arrive(server: ShopifyServer, worker: SyncWorker) -> str:
    """One new order, submitted by the merchant and pulled onto the board: its gid."""
    gid = server.submit(1)[0]
    worker.cycle()
    return gid


@pytest.fixture
def shopify_server(shopify_factory) -> ShopifyServer:
    """20 submitted orders; a bucket restored fast (these tests are not about pacing)."""
    server: ShopifyServer = shopify_factory(seed=20, restore_rate=2000.0)
    return server


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


@pytest.fixture
def worker(service: OrderService, shopify_server: ShopifyServer) -> Iterator[SyncWorker]:
    """The worker on the stand-in, its first cycle done (the 20 orders pulled)."""
    worker = make_worker(service, shopify_server)
    worker.cycle()
    yield worker
    worker.close()


def local(gid: str) -> str:
    return f"shopify:{gid}"


def api_transitions(server: ShopifyServer) -> list[dict[str, Any]]:
    """The changes our requests made, oldest first."""
    return [t for t in server.transitions() if t["by"] == "api"]


def api_moves(server: ShopifyServer) -> list[tuple[str, str, str]]:
    return [(t["id"], t["action"], t["to"]) for t in api_transitions(server)]


def test_pull_shows_requested_orders_only(service: OrderService, shopify_factory) -> None:
    server = shopify_factory(seed=0)
    asked = server.submit(3)
    server.submit(2, submitted=False)  # the merchant has not asked the pharmacy yet
    worker = make_worker(service, server)
    report = worker.cycle()
    assert report.pulled == 3 and report.online, report
    views = [service.get(local(g)) for g in asked]
    assert {v.status for v in views} == {Status.OPEN}
    assert {v.source for v in views} == {"shopify"}
    assert {v.remote_status for v in views} == {"OPEN/SUBMITTED"}
    assert all(v.name.startswith("#") and v.items_summary for v in views)
    assert [v.remote_id for v in views] == asked
    worker.close()


def test_accept_then_fulfil_with_tracking(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.cycle()
    assert api_moves(shopify_server) == [
        (gid, "fulfillmentOrderAcceptFulfillmentRequest", "IN_PROGRESS/ACCEPTED")
    ]
    parcel = Tracking(company="DHL", number="00340434161234567890",
                      url="https://www.dhl.de/track?id=00340434161234567890")  # fmt: skip
    service.act(local(gid), Action.FINISH, tracking=parcel)
    report = worker.cycle()
    assert report.errors == [], report
    moves = api_transitions(shopify_server)
    assert [(t["action"], t["to"]) for t in moves] == [
        ("fulfillmentOrderAcceptFulfillmentRequest", "IN_PROGRESS/ACCEPTED"),
        ("fulfillmentCreate", "CLOSED/ACCEPTED"),
    ]
    assert moves[1]["tracking"] == [{"company": "DHL", "number": parcel.number, "url": parcel.url}]
    assert moves[1]["notify_customer"] is True
    view = service.get(local(gid))
    assert (view.status, view.remote_status) == (Status.FINISHED, "CLOSED/ACCEPTED")


def test_finish_from_open_accepts_then_fulfils_once(
    service: OrderService, shopify_server, worker: SyncWorker
):
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    service.act(local(gid), Action.FINISH)  # both queued before the push
    worker.cycle()
    assert [a for _, a, _ in api_moves(shopify_server)] == [
        "fulfillmentOrderAcceptFulfillmentRequest", "fulfillmentCreate"]  # fmt: skip
    worker.cycle()  # nothing more goes out
    assert len(api_moves(shopify_server)) == 2


def test_cancel_from_open_rejects_with_the_mapped_reason(
    service: OrderService, shopify_server, worker: SyncWorker
):
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.CANCEL, reason="Out of stock, no substitute")
    worker.cycle()
    (move,) = api_transitions(shopify_server)
    assert (move["action"], move["to"]) == ("fulfillmentOrderRejectFulfillmentRequest",
                                           "OPEN/REJECTED")  # fmt: skip
    assert move["reason"] == "INVENTORY_OUT_OF_STOCK"
    assert move["message"] == "Out of stock, no substitute"
    view = service.get(local(gid))
    assert (view.status, view.remote_status) == (Status.CANCELLED, "OPEN/REJECTED")
    worker.cycle()
    assert no_exceptions(service)  # the rejection is what the pharmacist asked for


def test_cancel_in_progress_closes_it_incomplete(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.cycle()
    service.act(local(gid), Action.CANCEL, reason="Patient cancelled")
    worker.cycle()
    last = api_transitions(shopify_server)[-1]
    assert (last["action"], last["to"]) == ("fulfillmentOrderClose", "INCOMPLETE/CLOSED")
    assert last["message"] == "Patient cancelled"
    assert service.get(local(gid)).status is Status.CANCELLED
    worker.cycle()
    assert no_exceptions(service)  # closed incomplete is what the pharmacist asked for


def no_exceptions(service: OrderService) -> bool:
    with service.store.read() as conn:
        return exception_queue.queue(conn) == [] and exception_queue.count(conn) == 0


@pytest.mark.parametrize("answer", ["accept", "reject"])
def test_a_cancellation_request_is_answered_once(
    service: OrderService, shopify_server, worker: SyncWorker, answer: str
) -> None:
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.cycle()
    shopify_server.request_cancellation(gid, "Customer changed their mind")
    worker.cycle()
    view = service.get(local(gid))
    assert view.cancel_requested and view.request_message == "Customer changed their mind"
    assert [a["kind"] for a in service.store.open_alerts()] == ["cancel_request"]
    with pytest.raises(ServiceError, match="asked to cancel"):
        service.act(local(gid), Action.FINISH)
    if answer == "accept":
        service.act(local(gid), Action.ACCEPT_CANCEL)
        mutation = "fulfillmentOrderAcceptCancellationRequest"
        remote, column = "CANCELLED/CANCELLATION_ACCEPTED", Status.CANCELLED
    else:
        service.act(local(gid), Action.REJECT_CANCEL, reason="Already packed and labelled")
        mutation = "fulfillmentOrderRejectCancellationRequest"
        remote, column = "IN_PROGRESS/CANCELLATION_REJECTED", Status.PROCESSING
    report = worker.cycle()
    assert report.errors == [], report
    last = api_transitions(shopify_server)[-1]
    assert (last["action"], last["to"]) == (mutation, remote)
    if answer == "reject":
        assert last["message"] == "Already packed and labelled"
    view = service.get(local(gid))
    assert (view.status, view.remote_status, view.cancel_requested) == (column, remote, False)
    if answer == "reject":  # the order goes on: it can be finished now
        service.act(local(gid), Action.FINISH)
        worker.cycle()
        assert service.get(local(gid)).remote_status == "CLOSED/CANCELLATION_REJECTED"
        assert service.get(local(gid)).status is Status.FINISHED


def test_merchant_hold_and_schedule(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    held = shopify_server.submit(1)[0]
    later = datetime.now(UTC) + timedelta(days=2)
    scheduled = shopify_server.submit(1, fulfill_at=later)[0]
    worker.cycle()
    shopify_server.hold(held, reason="AWAITING_PAYMENT", notes="card declined")
    worker.cycle()
    view = service.get(local(held))
    assert view.hold and view.status is Status.OPEN
    assert view.hold_reason == "held by the merchant in Shopify: awaiting payment (card declined)"
    with pytest.raises(ServiceError):
        service.act(local(held), Action.START)  # held by the merchant
    with pytest.raises(ServiceError, match="release it there"):
        service.act(local(held), Action.RELEASE)
    shopify_server.release(held)
    worker.cycle()
    assert not service.get(local(held)).hold
    service.act(local(held), Action.START)
    worker.cycle()
    assert service.get(local(held)).remote_status == "IN_PROGRESS/ACCEPTED"
    # the scheduled one is on the board, flagged, and cannot be started before its time
    view = service.get(local(scheduled))
    assert view.status is Status.OPEN and view.fulfill_at is not None
    assert abs(view.fulfill_at.timestamp() - later.timestamp()) < 1
    with pytest.raises(ServiceError):
        service.act(local(scheduled), Action.START)
    # the merchant moves it a day later: the card follows, and the timeline says so
    later += timedelta(days=1)
    shopify_server.schedule(scheduled, later)
    worker.cycle()
    view = service.get(local(scheduled))
    assert view.fulfill_at is not None
    assert abs(view.fulfill_at.timestamp() - later.timestamp()) < 1
    events = [e for e in service.store.history(view.id) if e["action"] == "rescheduled"]
    assert [e["reason"] for e in events] == [f"scheduled for {later:%Y-%m-%d %H:%M} UTC"]
    assert events[0]["actor"] == "remote" and events[0]["version"] == view.version
    # ready early: the schedule is lifted and the order can be started now
    shopify_server.ready(scheduled)
    worker.cycle()
    assert service.get(local(scheduled)).fulfill_at is None
    service.act(local(scheduled), Action.START)


def test_a_start_the_merchant_held_first_goes_back_to_open(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    """The pharmacist starts an order; before the accept goes out the merchant holds it.
    Shopify cannot take the accept: the start is void there, so the card goes back to OPEN
    (held by the merchant) instead of staying in PROCESSING for ever (found by the property
    test)."""
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    shopify_server.hold(gid, reason="AWAITING_PAYMENT")
    worker.cycle()
    worker.cycle()
    view = service.get(local(gid))
    assert (view.status, view.hold, view.remote_status) == (Status.OPEN, True, "ON_HOLD/SUBMITTED")
    last = service.store.history(view.id)[-1]
    assert (last["action"], last["from_status"], last["to_status"]) == (
        "superseded", "PROCESSING", "OPEN")  # fmt: skip
    assert last["reason"].startswith("start not sent: ") and last["reason"].endswith("back to OPEN")
    assert not api_transitions(shopify_server)
    shopify_server.release(gid)
    worker.cycle()
    service.act(local(gid), Action.START)  # released: the start goes out now
    worker.cycle()
    assert service.get(local(gid)).remote_status == "IN_PROGRESS/ACCEPTED"


def test_a_fulfillment_whose_follow_up_read_fails_is_known_as_maybe_applied(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    """``fulfillmentCreate`` names no fulfillment order, so a read follows it. When that
    read fails (timed out, throttled, garbled) the fulfillment is already made: the next
    attempt must read back, not fulfil again and take Shopify's refusal for someone else's
    move (found by the SIGKILL test in CI: a finish settled as ``superseded``)."""
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.push()
    service.act(local(gid), Action.FINISH)
    shopify_server.set_faults(next=["malformed"], operations=["query"])
    worker.push()  # the fulfillment is made; the read after it is garbled
    shopify_server.set_faults(next=[])
    worker.push()
    with service.store.read() as conn:
        states = [r.state for r in conn.execute(select(outbox.c.state, outbox.c.action))]
    assert states == ["sent", "sent"]
    made = [t for t in shopify_server.transitions() if t["action"] == "fulfillmentCreate"]
    assert len(made) == 1
    assert (service.get(local(gid)).remote_status or "").startswith("CLOSED")


def test_user_errors_are_parked_with_shopifys_words(
    service: OrderService, shopify_server, worker: SyncWorker
):
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.cycle()
    # a tracking URL Shopify refuses: HTTP 200, the refusal inside userErrors
    service.act(local(gid), Action.FINISH,
                tracking=Tracking(number="123", url="ftp://tracking.example"))  # fmt: skip
    report = worker.cycle()
    assert report.failed == 1
    view = service.get(local(gid))
    assert view.sync_error is not None and "Tracking URL is invalid." in view.sync_error
    assert "fulfillmentCreate" in view.sync_error
    assert shopify_server.fulfillment_order(gid)["status"] == "IN_PROGRESS"


def test_a_state_refusal_is_read_back_before_it_is_believed(
    service: OrderService, shopify_server, worker: SyncWorker
) -> None:
    gid = arrive(shopify_server, worker)
    service.act(local(gid), Action.START)
    worker.cycle()
    shopify_server.hold(gid)  # the merchant holds it; we have not pulled that yet
    service.act(local(gid), Action.CANCEL, reason="Patient cancelled")
    report = worker.push()
    view = service.get(local(gid))
    # Shopify refused the close ("Cannot close …: … status ON_HOLD"): read back, tried again
    # against the real state, refused again: parked with Shopify's words
    assert view.sync_error is not None and "Cannot close" in view.sync_error, report
    ops = [r["operation_name"] for r in shopify_server.requests()]
    assert ops[-3:] == ["Close", "One", "Close"]


def test_paced_from_throttle_status_without_a_throttled_answer(
    service: OrderService, shopify_factory
) -> None:
    # a page asks for ~750 points: the pull waits for the bucket between pages
    server = shopify_factory(seed=120, bucket_size=800.0, restore_rate=400.0)
    worker = make_worker(service, server)
    worker.cycle()
    for row in service.store.board_rows():
        service.act(row["id"], Action.START)
    pulled = len(server.requests())
    started = time.monotonic()
    worker.push()
    elapsed = time.monotonic() - started
    log = server.requests()
    assert not [r for r in log if r["throttled"]], server.stats()
    assert len(api_moves(server)) == 120
    # 120 mutations at 10 points against 400 points/s from what the bucket held when the
    # first one was admitted (the stand-in's own reading: the test's clock only adds to it)
    available = log[pulled]["currently_available"] + 10
    assert elapsed >= (120 * 10 - available) / 400 * 0.8
    worker.close()


def test_throttled_answer_says_when_to_retry(shopify_factory) -> None:
    server = shopify_factory(seed=1, bucket_size=1000.0, restore_rate=50.0)
    server.set_throttle(currentlyAvailable=0.0)
    source = shop_source(server)
    with pytest.raises(TransientError) as caught:
        list(source.iter_orders(queries.PAGE_SIZE, active=False))
    err = caught.value
    assert "THROTTLED" in str(err) and err.maybe_applied is False
    answer = server.requests()[-1]
    wait = (answer["requested_cost"] - answer["currently_available"]) / 50.0
    assert err.retry_after == pytest.approx(wait, abs=0.05)
    assert source.client.bucket.stats().throttled == 1
    source.close()


def test_the_token_never_leaks(service: OrderService, shopify_factory) -> None:
    server = shopify_factory(seed=1)
    server.set_faults(echo_token=True)
    bad = ShopifySource(ShopifyClient(server.base_url, SecretStr("shpat_wrong_token_123"),
                                      timeout_s=2.0, transport=server.transport))  # fmt: skip
    with pytest.raises(Exception) as caught:
        bad.get_order("gid://shopify/FulfillmentOrder/1")
    assert "shpat_wrong_token_123" not in str(caught.value)
    bad.close()


def test_one_pusher_per_source_per_database(db_url: str, shopify_server: ShopifyServer) -> None:
    """Two terminals: one Shopify pusher at a time; the RxScale lease is another lease."""
    from rxfloor.core.sync.lease import PushLease

    stores = [Store.open(db_url) for _ in range(2)]
    workers: list[SyncWorker] = []
    try:
        services = [OrderService(s, Actor(f"P{i}", f"st-{i}")) for i, s in enumerate(stores)]
        workers = [make_worker(s, shopify_server) for s in services]
        assert workers[0].cycle().lease
        blocked = workers[1].cycle()
        assert not blocked.lease and blocked.pulled == 0
        rxscale = PushLease(stores[1], source="rxscale")
        assert rxscale.acquire()  # another source's pusher is not blocked by Shopify's
        rxscale.release()
        ref = stores[1].board_rows()[0]["id"]
        services[1].act(ref, Action.START)  # the other terminal keeps working locally
        assert workers[0].cycle().pushed == 1
        workers[0].close()
        assert workers[1].cycle().lease
        assert PushLease(stores[0], source="shopify").acquire() is False
        assert len(api_moves(shopify_server)) == 1
    finally:
        for w in workers:
            w.close()
        for s in stores:
            s.close()

"""Konnektive over loopback: every mapping row, every refusal, pagination at 200.

The stand-in (``sandbox/konnektive``) is served by a real uvicorn server; the
pull goes through the real :class:`SyncWorker` into a real database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
    UnreachableError,
)
from rxfloor.core.sources.konnektive import mapping, wire
from rxfloor.core.sources.konnektive.client import MAX_PAGE_SIZE, KonnektiveClient
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from rxfloor.core.sources.konnektive.wire import NAME
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox.konnektive import BUSY, NO_ORDERS
from tests import konnektive_fixtures
from tests.konnektive_fixtures import KonnektiveServer

konnektive_server = konnektive_fixtures.konnektive_server
konnektive_factory = konnektive_fixtures.konnektive_factory

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)


def local(order_id: str) -> str:
    return local_id(NAME, order_id)


@pytest.fixture
def source(konnektive_server: KonnektiveServer) -> Iterator[KonnektiveSource]:
    s = konnektive_server.source()
    yield s
    s.close()


def done(w: SyncWorker) -> None:
    """Stop a worker and close its source's connections (the server then stops at once)."""
    w.close()
    w.source.close()


def worker(service: OrderService, server: KonnektiveServer, **kw: Any) -> SyncWorker:
    return SyncWorker(service, server.source(), policy=NO_WAIT, **kw)


# -- the mapping ------------------------------------------------------------------------

#: Konnektive status -> (column of a new order, hold flag, return badge, exception queue)
ROWS = [
    ("HOLD", Status.OPEN, True, None, False),
    ("PENDING", Status.OPEN, False, None, False),
    ("PENDING_SHIPMENT", Status.FINISHED, False, None, False),
    ("SHIPPED", Status.FINISHED, False, None, False),
    ("DELIVERED", Status.FINISHED, False, None, False),
    ("CANCELLED", Status.CANCELLED, False, None, False),
    ("RMA_PENDING", Status.FINISHED, False, "return pending", False),
    ("RETURNED", Status.FINISHED, False, "returned", False),
    ("FAILED", Status.OPEN, True, None, True),
    ("RECYCLED", Status.OPEN, True, None, False),
]


@pytest.mark.parametrize(("status", "column", "hold", "badge", "exception"), ROWS)
def test_every_status_of_a_new_order(
    konnektive_factory: Any,
    service: OrderService,
    status: str,
    column: Status,
    hold: bool,
    badge: str | None,
    exception: bool,
) -> None:
    server: KonnektiveServer = konnektive_factory()
    (order_id,) = server.add_orders(1, status)
    w = worker(service, server)
    assert w.pull() == 1
    order = service.get(local(order_id))
    assert (order.status, order.hold, order.remote_status) == (column, hold, status)
    assert order.name == order_id and order.patient_name and order.items_summary
    if hold:
        assert order.hold_reason == mapping.REMOTE_HOLD[status]
    assert mapping.return_badge(order.remote_status) == badge
    assert (mapping.exception_words(order.remote_status) is not None) is exception
    done(w)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # the merchant holds a PROCESSING order: the hold flag, the column stays
        (["HOLD"], (Status.PROCESSING, True)),
        (["HOLD", "PENDING"], (Status.PROCESSING, False)),  # released in Konnektive
        (["CANCELLED"], (Status.CANCELLED, False)),
        (["FAILED"], (Status.PROCESSING, True)),  # parked where it is: exceptions queue
        (["FAILED", "RECYCLED"], (Status.PROCESSING, True)),
        (["FAILED", "RECYCLED", "PENDING"], (Status.PROCESSING, False)),
    ],
)
def test_merchant_side_changes_of_a_known_order(
    konnektive_factory: Any,
    service: OrderService,
    path: list[str],
    expected: tuple[Status, bool],
) -> None:
    server: KonnektiveServer = konnektive_factory()
    (order_id,) = server.add_orders(1)
    w = worker(service, server)
    w.pull()
    service.act(local(order_id), Action.START)
    for status in path:
        server.merchant(order_id, status)
        w.pull()
    order = service.get(local(order_id))
    assert (order.status, order.hold) == expected
    assert order.remote_status == path[-1]
    if order.hold:  # the words of the hold that was placed first (FAILED, then RECYCLED)
        assert order.hold_reason in mapping.REMOTE_HOLD.values()
    done(w)


def test_shipped_then_the_carrier_then_a_return(
    konnektive_server: KonnektiveServer, service: OrderService
) -> None:
    order_id = konnektive_server.add_orders(1)[0]
    w = worker(service, konnektive_server)
    w.pull()
    service.act(local(order_id), Action.START)
    service.act(local(order_id), Action.FINISH)
    w.cycle()
    assert konnektive_server.fulfillment(order_id)["fulfillmentStatus"] == "SHIPPED"
    for status, by in (("DELIVERED", "carrier"), ("RMA_PENDING", "merchant"),
                       ("RETURNED", "merchant")):  # fmt: skip
        getattr(konnektive_server, by)(order_id, status)
        w.pull()
        order = service.get(local(order_id))
        assert (order.status, order.remote_status) == (Status.FINISHED, status)
    assert mapping.return_badge("RETURNED") == "returned"
    assert mapping.status_words("PENDING_SHIPMENT") == "Pending Shipment"
    assert mapping.status_words("RMA_PENDING") == "RMA Pending"
    done(w)


def test_status_words_are_read_in_any_spelling() -> None:
    f = wire.Fulfillment.model_validate(
        {"fulfillmentId": 7, "orderId": "A1", "fulfillmentStatus": "Pending Shipment"}
    )
    assert (f.status, f.fulfillment_id) == ("PENDING_SHIPMENT", "7")
    assert mapping.normalise("rma-pending") == "RMA_PENDING"
    # data as an object keyed by id, as Konnektive sends it too
    assert wire.rows({"1": {"a": 1}, "2": {"a": 2}}) == [{"a": 1}, {"a": 2}]


def test_the_newest_fulfillment_not_cancelled_speaks_for_the_order() -> None:
    def f(fid: str, status: str) -> wire.Fulfillment:
        return wire.Fulfillment.model_validate(
            {"fulfillmentId": fid, "orderId": "A1", "fulfillmentStatus": status}
        )

    order = wire.KonnektiveOrder("A1", None, [f("9", "SHIPPED"), f("10", "PENDING"),
                                              f("11", "CANCELLED")])  # fmt: skip
    assert order.status == "PENDING"  # 10 > 9 as numbers, and 11 is cancelled
    assert wire.KonnektiveOrder("A1", None, [f("3", "CANCELLED")]).status == "CANCELLED"
    none = wire.KonnektiveOrder("A1", None, [])
    assert (none.status, none.board_status) == (mapping.NO_FULFILLMENT, None)


# -- the push ---------------------------------------------------------------------------


def test_finish_sends_shipped_with_tracking_and_reads_the_fulfillment_back(
    konnektive_server: KonnektiveServer, source: KonnektiveSource
) -> None:
    order_id = konnektive_server.add_orders(1)[0]
    answer = source.push_step(order_id, "SHIPPED", reason=None, idempotency_key="k",
                              payload={"tracking": {"number": "1Z999AA1"}})  # fmt: skip
    # a tracking number: Pending Shipment until a carrier confirms
    assert (answer.status, answer.tracking_number) == ("PENDING_SHIPMENT", "1Z999AA1")
    (update,) = [r for r in konnektive_server.requests() if r["endpoint"] == "fulfillment/update"]
    assert update["method"] == "POST"
    assert update["params"]["trackingNumber"] == "1Z999AA1"
    assert len(update["params"]["dateShipped"]) == 10  # mm/dd/yyyy
    konnektive_server.set_faults(carrier_validation=False)
    other = konnektive_server.add_orders(1)[0]
    assert source.push_step(other, "SHIPPED", reason=None, idempotency_key="k2",
                            payload=None).status == "SHIPPED"  # fmt: skip


def test_a_repeated_update_is_refused_as_a_conflict(
    konnektive_server: KonnektiveServer, source: KonnektiveSource
) -> None:
    order_id = konnektive_server.add_orders(1)[0]
    source.push_step(order_id, "SHIPPED", reason=None, idempotency_key="k", payload=None)
    with pytest.raises(PermanentError) as refused:
        source.push_step(order_id, "SHIPPED", reason=None, idempotency_key="k", payload=None)
    assert refused.value.conflict  # the worker reads the order back before believing it
    assert "SHIPPED" in str(refused.value) and refused.value.status_code == 200
    assert len(konnektive_server.transitions()) == 1


def test_http_200_carrying_error_is_a_refusal_and_nothing_applied(
    konnektive_server: KonnektiveServer, source: KonnektiveSource
) -> None:
    order_id = konnektive_server.add_orders(1)[0]
    konnektive_server.set_faults(next=["error_200"])
    with pytest.raises(PermanentError, match=BUSY) as refused:
        source.push_step(order_id, "CANCELLED", reason="x", idempotency_key="k", payload=None)
    assert refused.value.conflict and refused.value.status_code == 200
    assert konnektive_server.transitions() == []


@pytest.mark.network
def test_a_lost_answer_after_the_update_is_maybe_applied(
    konnektive_server: KonnektiveServer, source: KonnektiveSource
) -> None:
    first, second = konnektive_server.add_orders(2)
    konnektive_server.set_faults(next=["drop_after"])
    with pytest.raises(TransientError) as lost:
        source.push_step(first, "SHIPPED", reason=None, idempotency_key="k", payload=None)
    assert lost.value.maybe_applied
    assert konnektive_server.fulfillment(first)["fulfillmentStatus"] == "SHIPPED"
    # the update went through but its read-back was lost: still "maybe applied"
    konnektive_server.set_faults(next=["drop_after"], endpoints=["order/query"])
    with pytest.raises(TransientError, match="accepted SHIPPED") as read_back:
        source.push_step(second, "SHIPPED", reason=None, idempotency_key="k", payload=None)
    assert read_back.value.maybe_applied


@pytest.mark.network
def test_a_query_that_fails_is_never_maybe_applied(
    konnektive_server: KonnektiveServer, source: KonnektiveSource
) -> None:
    for fault in ("drop_after", "server_error", "malformed"):
        konnektive_server.set_faults(next=[fault])
        with pytest.raises(TransientError) as failed:
            list(source.iter_orders(200, active=False))
        assert not failed.value.maybe_applied, fault
    konnektive_server.set_faults(next=["rate_limit"], retry_after_s=0)
    with pytest.raises(TransientError, match="429"):
        source.get_order("K100000")


# -- refusals ---------------------------------------------------------------------------


def test_no_orders_matching_is_an_empty_page(konnektive_factory: Any) -> None:
    server: KonnektiveServer = konnektive_factory()  # no orders at all
    s = server.source()
    assert list(s.iter_orders(200, active=False)) == []
    kinds = {(r["endpoint"], r["status_code"]) for r in server.requests()}
    assert kinds == {("order/query", 200)}  # the fulfillments come with the orders
    with pytest.raises(PermanentError, match="not in Konnektive") as missing:
        s.get_order("K999999")
    assert not missing.value.conflict
    s.close()


def test_an_update_of_an_unknown_order_is_refused(source: KonnektiveSource) -> None:
    with pytest.raises(PermanentError, match="No fulfillments matching"):
        source.push_step("NOPE1", "SHIPPED", reason=None, idempotency_key="k", payload=None)


def test_a_bad_login_is_an_auth_error_and_names_no_secret(
    konnektive_server: KonnektiveServer,
) -> None:
    konnektive_server.set_faults(echo_secret=True)
    wrong = "Wr0ng-pass&word=42"
    client = KonnektiveClient(konnektive_server.base_url, SecretStr(konnektive_server.login_id),
                              SecretStr(wrong), rate_limit_per_s=None,
                              transport=konnektive_server.transport)  # fmt: skip
    with pytest.raises(AuthError) as refused:
        list(KonnektiveSource(client).iter_orders(200, active=False))
    words = str(refused.value)
    assert "Invalid login credentials" in words
    assert wrong not in words and konnektive_server.login_id not in words
    assert "Wr0ng-pass%26word%3D42" not in words and "<redacted>" in words
    # the stand-in keeps no credential of what it was sent (they travel in the URL)
    assert all("password" not in r["params"] for r in konnektive_server.requests())
    client.close()


def test_a_bad_login_stops_the_worker(
    konnektive_server: KonnektiveServer, service: OrderService
) -> None:
    client = KonnektiveClient(konnektive_server.base_url, SecretStr("someone-else"),
                              SecretStr("whatever-it-is"), rate_limit_per_s=None,
                              transport=konnektive_server.transport)  # fmt: skip
    w = SyncWorker(service, KonnektiveSource(client), policy=NO_WAIT)
    with pytest.raises(AuthError):
        w.cycle()
    done(w)


def test_missing_or_malformed_credentials_are_named() -> None:
    url = "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="no Konnektive login id"):
        KonnektiveClient(url, None, SecretStr("secret-pw"))
    with pytest.raises(ValueError, match="no Konnektive password"):
        KonnektiveClient(url, SecretStr("api-user"), SecretStr(""))
    with pytest.raises(ValueError, match="password ends with a newline"):
        KonnektiveClient(url, SecretStr("api-user"), SecretStr("secret-pw\n"))
    with pytest.raises(ValueError, match="no Konnektive API URL"):
        KonnektiveClient("", SecretStr("api-user"), SecretStr("secret-pw"))


def test_an_unreachable_konnektive_is_offline(konnektive_server: KonnektiveServer) -> None:
    s = konnektive_server.source()
    konnektive_server.stop()
    try:
        with pytest.raises(UnreachableError):
            s.get_order("K100000")
    finally:
        konnektive_server.start()
        s.close()


def test_the_stand_in_refuses_what_konnektive_would(konnektive_server: KonnektiveServer) -> None:
    def call(endpoint: str, **params: str) -> dict[str, Any]:
        body = {"loginId": konnektive_server.login_id, "password": konnektive_server.password}
        answer = konnektive_server.control.post(
            konnektive_server.base_url + f"/{endpoint}/", data={**body, **params}
        )
        assert answer.status_code == 200
        return answer.json()  # type: ignore[no-any-return]

    assert call("order/query", resultsPerPage="201", startDate="01/01/2020",
                endDate="01/01/2030")["result"] == "ERROR"  # fmt: skip
    assert "startDate" in call("order/query")["message"]
    assert call("order/query", orderId="K999999") == {"result": "ERROR", "message": NO_ORDERS}
    assert "Invalid fulfillmentStatus" in call("fulfillment/update", orderId="K100000",
                                               fulfillmentStatus="LOST")["message"]  # fmt: skip
    page = call("order/query", orderId="K100000")
    assert page["result"] == "SUCCESS" and page["message"]["totalResults"] == 1


# -- pagination -------------------------------------------------------------------------


def test_pages_of_200(konnektive_factory: Any, service: OrderService) -> None:
    server: KonnektiveServer = konnektive_factory(seed=450)
    w = worker(service, server, page_size=500)  # more than Konnektive allows: 200 sent
    assert w.pull() == 450
    pages = [r["params"] for r in server.requests() if r["endpoint"] == "order/query"]
    assert [p["page"] for p in pages] == ["1", "2", "3"]
    assert {p["resultsPerPage"] for p in pages} == {str(MAX_PAGE_SIZE)}
    assert {p.keys() >= {"startDate", "endDate"} for p in pages} == {True}
    done(w)


def test_exactly_200_stops_at_an_empty_page(konnektive_factory: Any) -> None:
    server: KonnektiveServer = konnektive_factory(seed=200)
    s = server.source()
    assert len(list(s.iter_orders(200, active=False))) == 200
    # page 1 was full and totalResults said 200: no second request
    assert [r["endpoint"] for r in server.requests()] == ["order/query"]
    s.close()


def test_an_order_older_than_the_window_is_read_back_by_id(
    konnektive_server: KonnektiveServer, service: OrderService
) -> None:
    now = [datetime.now(UTC)]
    server = konnektive_server
    client = KonnektiveClient(server.base_url, SecretStr(server.login_id),
                              SecretStr(server.password), rate_limit_per_s=None,
                              transport=server.transport)  # fmt: skip
    source = KonnektiveSource(client, lookback_days=30, clock=lambda: now[0])
    w = SyncWorker(service, source, policy=NO_WAIT, full_every=100)
    assert w.pull() == 20  # the first pull lists everything in the window
    now[0] += timedelta(days=45)  # the orders are older than the window now
    konnektive_server.merchant("K100004", "CANCELLED")
    before = len(konnektive_server.requests())
    assert w.pull() == 1
    assert service.get(local("K100004")).status is Status.CANCELLED
    by_id = [r for r in konnektive_server.requests()[before:] if "orderId" in r["params"]]
    assert len(by_id) == 20  # each locally active order: one Order Query (its fulfillments in it)
    assert {r["endpoint"] for r in by_id} == {"order/query"}
    done(w)

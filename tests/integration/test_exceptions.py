"""The exceptions queue (issue 12): what lands there, in which words, oldest first, and that
nothing leaves it without an audit event. Real SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, update

from rxfloor.core import exception_queue
from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import Store, outbox
from rxfloor.core.exception_queue import Kind, Remedy
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import NewOrder, OutboxState
from rxfloor.core.service import _SET_REMOTE_STATUS, Actor, OrderService, PushResult, Refused
from rxfloor.core.sources import local_id
from rxfloor.core.sources.konnektive import mapping as konnektive
from rxfloor.core.text import register_secret

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # long before any real parking time
HOSTILE = "[/]bad [bold]markup\x1b[2J and a key sk_live_exceptions_0001"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 10) -> None:
        self.now += timedelta(minutes=minutes)


PHOTON = local_id("photon", "ord_1")
KONNEKTIVE = local_id("konnektive", "5001")
SHOP_CLOSED = local_id("shopify", "gid://shopify/FulfillmentOrder/1")
SHOP_REJECTED = local_id("shopify", "gid://shopify/FulfillmentOrder/2")
SHOP_ASKED = local_id("shopify", "gid://shopify/FulfillmentOrder/3")


def _order(oid: str, source: str, remote_id: str, name: str, status: str) -> NewOrder:
    return NewOrder(id=oid, source=source, remote_id=remote_id, name=name, remote_status=status)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def floor(store: Store, clock: Clock) -> OrderService:
    service = OrderService(store, Actor("AB", "c1"), clock=clock)
    service.add_orders(
        [
            NewOrder(id="po-1", name="#2001", remote_status="open"),
            NewOrder(id="po-2", name="#2002", remote_status="open"),
            _order(PHOTON, "photon", "ord_1", "PH-1", "placed"),
            _order(KONNEKTIVE, "konnektive", "5001", "5001", "PENDING"),
            _order(SHOP_CLOSED, "shopify", "gid://shopify/FulfillmentOrder/1", "#1001",
                   "OPEN/SUBMITTED"),
            _order(SHOP_REJECTED, "shopify", "gid://shopify/FulfillmentOrder/2", "#1002",
                   "OPEN/SUBMITTED"),
            _order(SHOP_ASKED, "shopify", "gid://shopify/FulfillmentOrder/3", "#1003",
                   "OPEN/SUBMITTED"),
        ],
        source="remote",
    )  # fmt: skip
    return service


def park(store: Store, order_id: str, words: str) -> int:
    """The pusher's path: the order's pending row claimed, then refused (``failed``)."""
    with store.write() as conn:
        row_id = conn.execute(
            select(outbox.c.id).where(outbox.c.order_id == order_id,
                                      outbox.c.state == OutboxState.PENDING)
        ).scalar_one()  # fmt: skip
        until = datetime.now(UTC) + timedelta(minutes=1)
        assert outbox_rows.claim(conn, [(row_id, OutboxState.PENDING)], "t", until=until)
        settled = outbox_rows.settle(
            conn, "t", [outbox_rows.Settle(row_id, order_id, OutboxState.FAILED, 1, words)]
        )
        assert settled
    return int(row_id)


def queue(store: Store) -> list[exception_queue.ExceptionItem]:
    with store.read() as conn:
        return exception_queue.queue(conn)


def count(store: Store) -> int:
    with store.read() as conn:
        return exception_queue.count(conn)


def history(service: OrderService, oid: str) -> list[tuple[str, str | None]]:
    return [(e["action"], e["reason"]) for e in service.store.history(oid)]


def every_kind(floor: OrderService, clock: Clock) -> int:
    """One item of each kind and each source's exception, each 10 minutes after the last;
    the parked move is parked now (real time, the newest). Returns its outbox row."""
    clock.tick()
    floor.apply_remote(PHOTON, "error", None, remote_hold=True,
                       hold_comment="Photon reports an error: no stock of Zepbound")  # fmt: skip
    clock.tick()
    floor.apply_remote(KONNEKTIVE, konnektive.FAILED, None, remote_hold=True,
                       hold_comment=konnektive.REMOTE_HOLD[konnektive.FAILED])  # fmt: skip
    clock.tick()
    floor.apply_remote(SHOP_CLOSED, "INCOMPLETE/CLOSED", Status.CANCELLED)
    clock.tick()
    floor.apply_remote(SHOP_REJECTED, "OPEN/REJECTED", Status.CANCELLED)
    clock.tick()
    floor.apply_remote(SHOP_ASKED, "OPEN/CANCELLATION_REQUESTED", Status.OPEN,
                       cancel_requested=True,
                       request_message="wrong size, please cancel")  # fmt: skip
    clock.tick()
    floor.act("po-1", Action.START)
    return park(floor.store, "po-1", "409: order is locked by the prescriber")


def test_each_kind_appears_with_its_words_oldest_first(floor: OrderService, clock: Clock) -> None:
    row_id = every_kind(floor, clock)
    items = queue(floor.store)
    assert [(i.kind, i.order_name, i.words) for i in items] == [
        (Kind.SOURCE, "PH-1", "Photon reports an error: no stock of Zepbound"),
        (Kind.SOURCE, "5001", konnektive.REMOTE_HOLD[konnektive.FAILED]),
        (Kind.SOURCE, "#1001", "INCOMPLETE in Shopify: closed unfulfilled, back with the merchant"),
        (Kind.SOURCE, "#1002",
         "request REJECTED in Shopify: the merchant must reassign or cancel it"),
        (Kind.REQUEST, "#1003", "wrong size, please cancel"),
        (Kind.MOVE, "#2001", "409: order is locked by the prescriber"),
    ]  # fmt: skip
    assert [i.since for i in items[:5]] == [T0 + timedelta(minutes=10 * n) for n in range(1, 6)]
    move = items[-1]
    assert (move.outbox_id, move.move, move.source_label) == (row_id, "start", "RxScale")
    assert move.actions == (Remedy.RETRY, Remedy.RESOLVE, Remedy.OPEN)
    assert items[0].actions == (Remedy.RESOLVE, Remedy.OPEN)
    assert items[4].actions == (Remedy.ACCEPT, Remedy.REJECT, Remedy.OPEN)
    assert items[0].source_label == "Photon" and items[0].remote_status == "error"
    assert count(floor.store) == len(items) == 6


def test_a_move_parked_before_the_migration_reads_its_creation_time(
    floor: OrderService, clock: Clock
) -> None:
    clock.tick()
    floor.act("po-1", Action.START)
    clock.tick()
    floor.act("po-2", Action.START)
    row_2 = park(floor.store, "po-2", "refused second")
    row_1 = park(floor.store, "po-1", "refused first")
    with floor.store.write() as conn:
        parked = conn.execute(select(outbox.c.failed_at).where(outbox.c.id == row_1)).scalar()
        assert parked is not None  # the worker's settle writes it
        conn.execute(update(outbox).values(failed_at=None))  # rows from before 0007
    assert [(i.outbox_id, i.since) for i in queue(floor.store)] == [
        (row_1, T0 + timedelta(minutes=10)), (row_2, T0 + timedelta(minutes=20))]  # fmt: skip


def test_retry_puts_the_move_back_pending_and_it_leaves_the_queue(
    floor: OrderService, clock: Clock
) -> None:
    floor.act("po-1", Action.START)
    row_id = park(floor.store, "po-1", "refused")
    assert count(floor.store) == 1
    floor.retry_failed(row_id)
    with floor.store.read() as conn:
        assert outbox_rows.get(conn, row_id)["state"] == OutboxState.PENDING  # type: ignore[index]
    assert queue(floor.store) == [] and count(floor.store) == 0
    assert history(floor, "po-1")[-1] == ("retry", "start sent again")


def test_resolving_a_source_exception_needs_a_note_and_is_audited(
    floor: OrderService, clock: Clock
) -> None:
    every_kind(floor, clock)
    with pytest.raises(Refused, match="needs a note"):
        floor.resolve_exception("PH-1", "  ")
    with pytest.raises(Refused, match=r"^#2002 is not a source status in the queue"):
        floor.resolve_exception("#2002", "nothing to resolve")
    with pytest.raises(Refused, match="not a source status"):
        floor.resolve_exception("#1003", "a request is answered, not resolved")
    assert floor.resolve_exception("PH-1", "called Photon, order rerouted") == (
        "PH-1: Photon error resolved"
    )
    assert history(floor, PHOTON)[-1] == ("resolve", "Photon error: called Photon, order rerouted")
    assert "PH-1" not in {i.order_name for i in queue(floor.store)}
    assert count(floor.store) == 5
    with pytest.raises(Refused, match="not a source status"):
        floor.resolve_exception("PH-1", "twice")


def test_a_resolved_exception_stays_out_until_the_source_says_another_word(
    floor: OrderService, clock: Clock
) -> None:
    floor.apply_remote(SHOP_CLOSED, "IN_PROGRESS/REJECTED", Status.CANCELLED)
    floor.resolve_exception(SHOP_CLOSED, "merchant reassigned it")
    floor.apply_remote(SHOP_CLOSED, "IN_PROGRESS/REJECTED", Status.CANCELLED)  # said again
    assert queue(floor.store) == []
    floor.apply_remote(SHOP_CLOSED, "INCOMPLETE/REJECTED", Status.CANCELLED)
    assert [i.words for i in queue(floor.store)] == [
        "INCOMPLETE in Shopify: closed unfulfilled, back with the merchant"]  # fmt: skip
    # the same word after a normal one is news again
    floor.apply_remote(PHOTON, "error", None, remote_hold=True, hold_comment="first error")
    floor.resolve_exception(PHOTON, "fixed")
    floor.apply_remote(PHOTON, "received", Status.OPEN)
    floor.apply_remote(PHOTON, "error", None, remote_hold=True, hold_comment="second error")
    assert "second error" in {i.words for i in queue(floor.store)}


def test_a_push_answer_with_a_new_word_ends_a_resolve(floor: OrderService, clock: Clock) -> None:
    """``record_push`` writes the remote status of a drain in bulk: a new word clears the
    resolve, the same word keeps it."""
    floor.apply_remote(KONNEKTIVE, konnektive.FAILED, None, remote_hold=True)
    floor.resolve_exception(KONNEKTIVE, "reshipped by hand")
    with floor.store.write() as conn:
        conn.execute(_SET_REMOTE_STATUS, {"b_ids": [KONNEKTIVE], "b_status": "FAILED"})
    assert count(floor.store) == 0
    with floor.store.write() as conn:
        conn.execute(_SET_REMOTE_STATUS, {"b_ids": [KONNEKTIVE], "b_status": "RECYCLED"})
        conn.execute(_SET_REMOTE_STATUS, {"b_ids": [KONNEKTIVE], "b_status": "FAILED"})
    assert count(floor.store) == 1


def test_a_recovery_at_the_source_leaves_the_queue_with_an_audit_event(
    floor: OrderService, clock: Clock
) -> None:
    """Only the remote status changes (no column, no hold): still the timeline says it."""
    floor.add_orders([_order(local_id("konnektive", "5002"), "konnektive", "5002", "5002",
                             konnektive.FAILED)], source="remote")  # fmt: skip
    oid = local_id("konnektive", "5002")
    assert [i.order_name for i in queue(floor.store)] == ["5002"]
    assert floor.apply_remote(oid, konnektive.PENDING, Status.OPEN) == "exception closed"
    assert queue(floor.store) == []
    assert history(floor, oid)[-1] == (
        "exception_closed",
        "Konnektive now says Pending (was Failed): out of the exceptions queue",
    )
    # Photon's recovery releases its hold, and says it left the queue too
    floor.apply_remote(PHOTON, "error", None, remote_hold=True, hold_comment="oops")
    floor.apply_remote(PHOTON, "filling", Status.PROCESSING)
    assert [a for a, _ in history(floor, PHOTON)][-3:] == ["exception_closed", "remote", "release"]
    assert count(floor.store) == 0


def test_answering_a_cancel_request_takes_it_out_with_its_event(
    floor: OrderService, clock: Clock
) -> None:
    for oid in (SHOP_ASKED, SHOP_REJECTED):
        floor.apply_remote(oid, "OPEN/CANCELLATION_REQUESTED", Status.OPEN,
                           cancel_requested=True, request_message=None)  # fmt: skip
    assert [i.words for i in queue(floor.store)] == [
        "the merchant asks to cancel (no message)"] * 2  # fmt: skip
    floor.act(SHOP_ASKED, Action.ACCEPT_CANCEL)
    floor.act(SHOP_REJECTED, Action.REJECT_CANCEL, reason="already packed")
    assert queue(floor.store) == []
    assert history(floor, SHOP_REJECTED)[-1] == ("reject_cancel", "already packed")


def test_hostile_words_are_scrubbed_and_kept_as_data(floor: OrderService, clock: Clock) -> None:
    register_secret("sk_live_exceptions_0001")
    floor.act("po-1", Action.START)
    park(floor.store, "po-1", HOSTILE)
    floor.apply_remote(PHOTON, "error", None, remote_hold=True, hold_comment=HOSTILE)
    words = {i.words for i in queue(floor.store)}
    assert words == {HOSTILE.replace("sk_live_exceptions_0001", "<redacted>")}


def test_a_word_exceptional_for_another_source_is_not_an_exception(floor: OrderService) -> None:
    floor.add_orders([NewOrder(id="po-9", name="#2009", remote_status="error"),
                      _order(local_id("photon", "ord_2"), "photon", "ord_2", "PH-2", "FAILED")],
                     source="remote")  # fmt: skip
    assert queue(floor.store) == [] and count(floor.store) == 0


def test_the_count_is_read_from_indexes(store: Store) -> None:
    """Migration 0008: the header's count every second finds its few rows by index."""
    with store.read() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("orders")}
    assert {"ix_orders_remote_status", "ix_orders_request_kind"} <= names


@pytest.mark.parametrize(("start", "answer"), [(False, "OPEN/REJECTED"),
                                               (True, "INCOMPLETE/ACCEPTED")])  # fmt: skip
def test_the_word_our_own_cancel_asked_for_is_no_exception(
    floor: OrderService, start: bool, answer: str
) -> None:
    """A pharmacist's cancel of a Shopify order is a rejection (OPEN) or a close (IN
    PROGRESS): Shopify answers REJECTED or INCOMPLETE, which is what was asked for. Only the
    same word reached by another way (the merchant, a finish that fell short) needs a person."""
    if start:
        floor.act(SHOP_REJECTED, Action.START)
        floor.apply_remote(SHOP_REJECTED, "IN_PROGRESS/ACCEPTED", Status.PROCESSING)
    floor.act(SHOP_REJECTED, Action.CANCEL, reason="Patient cancelled")
    with floor.store.write() as conn:
        row = conn.execute(
            select(outbox.c.id, outbox.c.action).where(
                outbox.c.order_id == SHOP_REJECTED, outbox.c.action == "cancel"
            )
        ).one()
        until = datetime.now(UTC) + timedelta(minutes=1)
        assert outbox_rows.claim(conn, [(row.id, OutboxState.PENDING)], "t", until=until)
        sent = outbox_rows.Settle(row.id, SHOP_REJECTED, OutboxState.SENT, 1, None)
        assert floor.record_push(conn, "t", [PushResult(sent, row.action, answer, None)]) == 1
    assert [i.order_name for i in queue(floor.store)] == []
    assert count(floor.store) == 0
    # the merchant's side says the word again later, by another way: that is news
    floor.apply_remote(SHOP_REJECTED, "OPEN/SUBMITTED", Status.CANCELLED)
    floor.apply_remote(SHOP_REJECTED, answer, Status.CANCELLED)
    assert count(floor.store) == 1

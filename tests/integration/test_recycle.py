"""The one automatic retry of a refused push ("Recycled", Konnektive's word, for every
source), through the real worker against each source's stand-in on loopback: a push refused
once is sent once more later and applied exactly once; refused twice it is parked with the
remote's words (scrubbed); a person's retry that is refused parks it again at once; and a
recycled row is still an unsent move that an undo takes back.

Each stand-in refuses as its API would (``refuse`` / ``error_200`` faults): RxScale a 409,
Shopify ``userErrors``, Photon a 409, Konnektive HTTP 200 carrying ERROR. "Refused once" is
one attempt refused, whatever it sent (a conflict-like refusal is read back and sent again
within the attempt): the test refuses everything for one push pass, then accepts.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.db import queries as bq
from rxfloor.core.db.queries import sync_mark
from rxfloor.core.lifecycle import Action
from rxfloor.core.models import OutboxState, Tracking
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.base import OrderSource
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox.konnektive.state import BUSY
from rxfloor.sandbox.photon.state import REFUSED as PHOTON_REFUSED
from rxfloor.sandbox.rxscale.app import REFUSED as RXSCALE_REFUSED
from rxfloor.sandbox.shopify.state import REFUSED as SHOPIFY_REFUSED
from rxfloor.tui.board.card import badges
from rxfloor.tui.board.model import Card
from tests.konnektive_fixtures import serve_konnektive
from tests.photon_fixtures import serve_photon
from tests.remote_fixtures import serve_sandbox
from tests.shopify_fixtures import serve_shopify

#: the recycled row is due at once: the second attempt is the next push pass
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)
SECRET = "s3cret-echoed-by-the-remote"
SOURCES = ["rxscale", "shopify", "photon", "konnektive"]


@dataclass
class Stand:
    """One stand-in with one order on the floor, seen as these tests need it."""

    source: OrderSource
    ref: str  # the order's local id
    move: Action  # the pushed move (Konnektive's start is local: its finish)
    words: str  # what the stand-in says when it refuses
    refuse: Callable[[], object]  # refuse every push from now on
    accept: Callable[[], object]
    applied: Callable[[], list[Any]]  # the stand-in's log of changes rxfloor made

    def act(self, service: OrderService) -> int:
        tracking = Tracking(number="1ZRECYCLE", company="UPS")
        if self.move is Action.FINISH:
            service.act(self.ref, Action.START)  # local: nothing queued
        done = service.act(self.ref, self.move,
                           tracking=tracking if self.move is Action.FINISH else None)  # fmt: skip
        return done.event_id


@contextlib.contextmanager
def stand_in(kind: str, service: OrderService) -> Iterator[Stand]:
    """The stand-in of source ``kind`` in-process (echoing its secret in its errors where it
    can), its one order pulled onto the floor."""
    with contextlib.ExitStack() as stack:
        if kind == "rxscale":
            rx = stack.enter_context(serve_sandbox(seed=1, api_key=SECRET, in_process=True,
                                                   faults={"echo_key": True}))  # fmt: skip
            stand = Stand(
                rx.source(rate_limit_per_s=None, timeout_s=2.0), "", Action.START,
                RXSCALE_REFUSED,
                lambda: rx.set_faults(fail_rate=1.0, kinds=["refuse"], methods=["PATCH"]),
                lambda: rx.set_faults(fail_rate=0.0),
                lambda: [t for t in rx.transitions() if t["by"] == "api"],
            )  # fmt: skip
        elif kind == "shopify":
            shop = stack.enter_context(serve_shopify(seed=1, restore_rate=2000.0,
                                                     access_token=SECRET,
                                                     in_process=True))  # fmt: skip
            stand = Stand(
                ShopifySource(shop.client(timeout_s=2.0)), "", Action.START, SHOPIFY_REFUSED,
                lambda: shop.set_faults(fail_rate=1.0, kinds=["refuse"],
                                        operations=["mutation"]),
                lambda: shop.set_faults(fail_rate=0.0),
                lambda: [t for t in shop.transitions() if t["by"] == "api"],
            )  # fmt: skip
        elif kind == "photon":
            ph = stack.enter_context(serve_photon(token=SECRET, in_process=True))
            ph.set_faults(echo_token=True)
            stand = Stand(
                ph.source(timeout_s=2.0), "", Action.START, PHOTON_REFUSED,
                lambda: ph.set_faults(fail_rate=1.0, kinds=["refuse"],
                                      paths=["/v1/hooks/pharmacy"]),
                lambda: ph.set_faults(fail_rate=0.0),
                lambda: ph.transitions(by="pharmacy"),
            )  # fmt: skip
            (uid,) = ph.create(1)
            RemoteApplier(service, "photon").apply([stand.source.get_order(uid)])
        else:
            k = stack.enter_context(serve_konnektive(seed=1, password=SECRET, in_process=True))
            k.set_faults(echo_secret=True)
            stand = Stand(
                k.source(), "", Action.FINISH, BUSY,
                lambda: k.set_faults(fail_rate=1.0, kinds=["error_200"],
                                     endpoints=["fulfillment/update"]),
                lambda: k.set_faults(fail_rate=0.0),
                lambda: [t for t in k.transitions() if t["by"] == "api"],
            )  # fmt: skip
        stack.callback(stand.source.close)
        worker = SyncWorker(service, stand.source, policy=NO_WAIT)
        worker.pull()
        worker.close()
        (row,) = service.store.board_rows()
        stand.ref = row["id"]
        yield stand


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def the_row(service: OrderService) -> dict[str, Any]:
    with service.store.read() as conn:
        return dict(conn.execute(select(outbox)).mappings().one())


def test_the_retry_waits_retry_refused_s(service: OrderService) -> None:
    """The delay comes from the policy (``retry_refused_s``): not sent again before then,
    and the card's words name the time it will be."""
    with stand_in("rxscale", service) as stand:
        stand.act(service)
        worker = SyncWorker(service, stand.source, policy=RetryPolicy(refused_s=600.0))
        stand.refuse()
        worker.push()
        row = the_row(service)
        at = row["next_attempt_at"]
        assert (row["state"], row["refusals"]) == ("pending", 1)
        assert 590 < (at - datetime.now(UTC)).total_seconds() <= 600
        assert row["last_error"].endswith(f"retrying once at {at.astimezone():%H:%M}")
        stand.accept()
        assert worker.cycle().pushed == 0  # not due yet
        worker.close()
        assert the_row(service)["state"] == "pending" and stand.applied() == []


def refused_once(service: OrderService, stand: Stand, worker: SyncWorker) -> dict[str, Any]:
    """Refuse one push pass: the row is back in the queue, refused once, nothing applied."""
    stand.refuse()
    worker.push(max_passes=1)
    row = the_row(service)
    assert (row["state"], row["refusals"], row["maybe_applied"]) == ("pending", 1, False)
    assert row["next_attempt_at"] is not None and row["failed_at"] is None
    assert re.fullmatch(r"refused: .* — retrying once at \d\d:\d\d", row["last_error"])
    assert stand.words in row["last_error"] and SECRET not in row["last_error"]
    assert service.get(stand.ref).sync_error == row["last_error"]  # the detail, `orders`
    health = service.store.sync_health([stand.source.name])[stand.source.name]
    assert (health.queued, health.failed) == (1, 0)
    assert stand.applied() == []
    marks = bq.sync_marks(service.store)
    assert marks == {stand.ref: row["next_attempt_at"]}  # the card's mark: not parked
    card = Card.from_row(service.store.board_rows(ids=[stand.ref])[0], *sync_mark(marks, stand.ref))
    now = datetime.now(UTC)
    retry = f" refused · retry {row['next_attempt_at'].astimezone():%H:%M}"
    assert (retry, "column--dim") in badges(card, now) and not card.sync_failed
    return row


@pytest.mark.parametrize("kind", SOURCES)
def test_refused_once_then_accepted_is_applied_exactly_once(
    kind: str, service: OrderService
) -> None:
    with stand_in(kind, service) as stand:
        stand.act(service)
        worker = SyncWorker(service, stand.source, policy=NO_WAIT)
        refused_once(service, stand, worker)
        stand.accept()
        report = worker.cycle()
        worker.close()
        assert (report.pushed, report.pending, report.failed) == (1, 0, 0), report
        assert len(stand.applied()) == 1
        row = the_row(service)
        assert (row["state"], row["refusals"]) == ("sent", 1)
        assert service.get(stand.ref).sync_error is None
        events = [(e["action"], e["reason"]) for e in service.store.history(stand.ref)]
        refused = [r for a, r in events if a == "refused"]
        assert len(refused) == 1 and "retrying once at" in refused[0]
        assert events[-1][0] == "synced"  # it reached the remote after the refusal


@pytest.mark.parametrize("kind", SOURCES)
def test_refused_twice_is_parked_and_a_persons_retry_refused_parks_at_once(
    kind: str, service: OrderService
) -> None:
    with stand_in(kind, service) as stand:
        stand.act(service)
        worker = SyncWorker(service, stand.source, policy=NO_WAIT)
        refused_once(service, stand, worker)
        worker.push(max_passes=1)  # the one automatic retry: read back, refused again
        row = the_row(service)
        assert (row["state"], row["refusals"]) == ("failed", 2)
        assert row["failed_at"] is not None
        assert row["last_error"].startswith("refused twice: ") and stand.words in row["last_error"]
        assert SECRET not in row["last_error"]
        assert service.get(stand.ref).sync_error == row["last_error"]
        assert worker.cycle().failed == 1
        assert stand.applied() == []
        assert bq.sync_marks(service.store) == {stand.ref: None}  # parked: SYNC!
        # a person's retry is the one more send: refused, it is parked again at once
        service.retry_failed(row["id"])
        worker.push(max_passes=1)
        again = the_row(service)
        assert (again["state"], again["refusals"]) == ("failed", 3)
        assert again["last_error"].startswith("refused again: ")
        # then accepted after a person's retry: applied once
        service.retry_failed(row["id"])
        stand.accept()
        assert worker.cycle().failed == 0
        worker.close()
        assert len(stand.applied()) == 1 and the_row(service)["state"] == "sent"
        history = [e["action"] for e in service.store.history(stand.ref)]
        assert history.count("refused") == 2  # once retried, once parked (the repeat: no)


@pytest.mark.parametrize("kind", SOURCES)
def test_a_recycled_move_is_undone_like_any_unsent_one(kind: str, service: OrderService) -> None:
    with stand_in(kind, service) as stand:
        event_id = stand.act(service)
        worker = SyncWorker(service, stand.source, policy=NO_WAIT)
        refused_once(service, stand, worker)
        before = service.get(stand.ref).status
        undone = service.undo(event_id)
        assert undone.to_status != before
        assert the_row(service)["state"] == OutboxState.UNDONE
        assert service.get(stand.ref).sync_error is None
        stand.accept()
        assert worker.cycle().pushed == 0
        worker.close()
        assert stand.applied() == []

"""Konnektive through the real sync worker: every fulfillment update reaches Konnektive
exactly once although answers are lost after the update was applied; a refusal (HTTP 200
carrying ERROR) is read back and sent once more, then parked; the password and the login id
appear in nothing the program writes.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import OutboxState, Tracking
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.konnektive.client import KonnektiveClient
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from rxfloor.core.sources.konnektive.wire import NAME
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import CycleReport, SyncWorker
from rxfloor.sandbox.konnektive import BUSY
from tests import konnektive_fixtures
from tests.konnektive_fixtures import KonnektiveServer

konnektive_factory = konnektive_fixtures.konnektive_factory

NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0, refused_s=0.0)


def local(order_id: str) -> str:
    return local_id(NAME, order_id)


def finish(service: OrderService, order_id: str, number: str | None = None) -> None:
    tracking = Tracking(number=number, company="UPS") if number else None
    service.act(local(order_id), Action.FINISH, tracking=tracking)


def done(w: SyncWorker) -> None:
    """Stop a worker and close its source's connections (the server then stops at once)."""
    w.close()
    w.source.close()


def worker(service: OrderService, server: KonnektiveServer, **client_kw: Any) -> SyncWorker:
    return SyncWorker(service, server.source(**client_kw), policy=NO_WAIT, concurrency=4)


def drain(w: SyncWorker, cycles: int = 200) -> CycleReport:
    for _ in range(cycles):
        report = w.cycle()
        if report.pending == 0:
            return report
    raise AssertionError(f"the outbox did not drain: {report}")


def updates(server: KonnektiveServer) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["endpoint"] == "fulfillment/update"]


def outbox_states(service: OrderService) -> Counter[str]:
    with service.store.read() as conn:
        return Counter(conn.execute(select(outbox.c.state)).scalars())


# each seed's sequence of update faults (the stand-in draws one per endpoint) meets a
# drop_after within its first six updates, whichever push thread sends first (seed 3 had
# none in its first twelve: the "really attacked" check below failed in a loaded run)
@pytest.mark.parametrize("fault_seed", [1, 2, 4])
@pytest.mark.network
def test_every_update_reaches_konnektive_exactly_once(
    konnektive_factory: Any, service: OrderService, fault_seed: int
) -> None:
    server: KonnektiveServer = konnektive_factory(seed=24)
    w = worker(service, server, timeout_s=0.5)
    assert w.pull() == 24
    ids = [f"K{100000 + i:06d}" for i in range(24)]
    for i, order_id in enumerate(ids):
        service.act(local(order_id), Action.START)
        if i % 4 == 3:
            service.act(local(order_id), Action.CANCEL, reason="prescription expired")
        else:
            finish(service, order_id, f"1Z{i:08d}")
    # half the updates (and their read-backs) fail, many of them after being applied
    server.set_faults(fail_rate=0.5, fault_seed=fault_seed, slow_s=0.8,
                      kinds=["drop_after", "drop_after", "drop_before", "server_error",
                             "malformed", "slow"],
                      endpoints=["fulfillment/update", "order/query"])  # fmt: skip
    report = drain(w)
    assert report.failed == 0
    applied = Counter(t["order_id"] for t in server.transitions() if t["by"] == "api")
    assert applied == Counter({order_id: 1 for order_id in ids}), "an update applied twice"
    for i, order_id in enumerate(ids):
        order = service.get(local(order_id))
        remote = server.fulfillment(order_id)["fulfillmentStatus"]
        if i % 4 == 3:
            assert (order.status, remote) == (Status.CANCELLED, "CANCELLED")
        else:
            assert (order.status, remote) == (Status.FINISHED, "PENDING_SHIPMENT")
            assert server.fulfillment(order_id)["trackingNumber"] == f"1Z{i:08d}"
    faults = Counter((r["endpoint"], r["fault"]) for r in server.requests() if r["fault"])
    assert faults["fulfillment/update", "drop_after"] > 0, (
        faults
    )  # the property was really attacked
    assert set(outbox_states(service)) == {OutboxState.SENT}
    done(w)


@pytest.mark.network
def test_a_lost_answer_is_read_back_not_resent(
    konnektive_factory: Any, service: OrderService
) -> None:
    server: KonnektiveServer = konnektive_factory(seed=1)
    w = worker(service, server)
    w.pull()
    service.act(local("K100000"), Action.START)
    finish(service, "K100000", "1ZLOST")
    server.set_faults(next=["drop_after"], endpoints=["fulfillment/update"])
    first = w.cycle()
    # read back at once, in the same attempt (before Konnektive can move on): settled, once
    assert first.pending == 0 and first.pushed == 1, first
    assert len(updates(server)) == 1
    shipped = server.fulfillment("K100000")
    assert (shipped["fulfillmentStatus"], shipped["trackingNumber"]) == ("PENDING_SHIPMENT",
                                                                         "1ZLOST")  # fmt: skip
    drain(w)
    assert len(updates(server)) == 1  # nothing sent again
    assert service.get(local("K100000")).remote_status == "PENDING_SHIPMENT"
    done(w)


def test_a_start_sends_nothing(konnektive_factory: Any, service: OrderService) -> None:
    server: KonnektiveServer = konnektive_factory(seed=1)
    w = worker(service, server)
    w.pull()
    service.act(local("K100000"), Action.START)
    assert outbox_states(service) == Counter()  # Konnektive has no "in progress": local
    drain(w)
    assert updates(server) == [] and server.transitions() == []
    assert service.get(local("K100000")).status is Status.PROCESSING
    finish(service, "K100000", "1ZSTART")
    drain(w)
    assert [u["params"]["fulfillmentStatus"] for u in updates(server)] == ["SHIPPED"]
    assert outbox_states(service) == Counter({OutboxState.SENT: 1})
    done(w)


def test_a_refusal_is_retried_once_then_parked(
    konnektive_factory: Any, service: OrderService
) -> None:
    """HTTP 200 carrying ERROR: the worker reads the order back and sends once more; a
    second refusal is retried once more later (read back first: "Recycled", as Konnektive
    does with its own), and a refusal of that parks the move with Konnektive's words."""
    server: KonnektiveServer = konnektive_factory(seed=2)
    w = worker(service, server)
    w.pull()
    for order_id in ("K100000", "K100001"):
        service.act(local(order_id), Action.START)
    # once refused: read back, sent again, applied
    finish(service, "K100000")
    server.set_faults(next=["error_200"], endpoints=["fulfillment/update"])
    assert w.cycle().failed == 0
    assert [u["fault"] for u in updates(server)] == ["error_200", None]
    # refused on both sends of the first attempt and on the recycled one: parked, with
    # Konnektive's words on the card
    service.act(local("K100001"), Action.CANCEL, reason="patient moved")
    server.set_faults(next=["error_200"] * 3, endpoints=["fulfillment/update"])
    report = w.cycle()
    assert report.failed == 1
    parked = service.get(local("K100001"))
    assert parked.sync_error is not None and BUSY in parked.sync_error
    assert server.fulfillment("K100001")["fulfillmentStatus"] == "PENDING"
    # a person retries: sent
    with service.store.read() as conn:
        row_id = conn.execute(
            select(outbox.c.id).where(outbox.c.state == OutboxState.FAILED)
        ).scalar_one()
    service.retry_failed(row_id)
    assert drain(w).failed == 0
    assert server.fulfillment("K100001")["fulfillmentStatus"] == "CANCELLED"
    done(w)


@pytest.mark.network
def test_a_merchant_cancel_supersedes_a_queued_finish(
    konnektive_factory: Any, service: OrderService
) -> None:
    server: KonnektiveServer = konnektive_factory(seed=1)
    w = worker(service, server)
    w.pull()
    service.act(local("K100000"), Action.START)
    server.merchant("K100000", "CANCELLED")  # before our finish went out
    finish(service, "K100000")
    server.set_faults(next=["drop_before"], endpoints=["fulfillment/update"])
    w.cycle()  # the finish is lost before Konnektive saw it
    drain(w)
    assert service.get(local("K100000")).status is Status.CANCELLED
    assert [t["by"] for t in server.transitions()] == ["merchant"]
    done(w)


# -- the secret scan ----------------------------------------------------------------------

LOGIN = "rx-floor-api-user7"
PASSWORD = "Kn0x/Secr3t+pw=&42"


def forms(secret: str) -> list[str]:
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]


def assert_clean(blob: bytes, where: str) -> None:
    for secret in (LOGIN, PASSWORD):
        for form in forms(secret):
            assert form.encode() not in blob, f"{form!r} leaked into {where}"


@pytest.fixture
def scan_store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


def test_no_secret_in_anything_the_program_writes(
    konnektive_factory: Any,
    scan_store: Store,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A careless Konnektive quotes the credentials it was sent in every ERROR; the pull,
    the push, the parked refusals, the health row and the logs must carry none of them."""
    caplog.set_level(logging.DEBUG)
    server: KonnektiveServer = konnektive_factory(seed=6, login_id=LOGIN, password=PASSWORD)
    server.set_faults(echo_secret=True)
    service = OrderService(scan_store, Actor("AB", "counter-1"))
    client = KonnektiveClient(server.base_url, SecretStr(LOGIN), SecretStr(PASSWORD),
                              rate_limit_per_s=None, timeout_s=2.0,
                              transport=server.transport)  # fmt: skip
    w = SyncWorker(service, KonnektiveSource(client), policy=NO_WAIT)
    w.pull()
    for i in range(6):
        service.act(local(f"K{100000 + i:06d}"), Action.START)
    for i in range(3):
        finish(service, f"K{100000 + i:06d}")
    server.merchant("K100003", "CANCELLED")  # our cancel will be refused: a real ERROR
    service.act(local("K100003"), Action.CANCEL, reason="refused twice")
    server.set_faults(endpoints=["fulfillment/update"], fail_rate=1.0, kinds=["error_200"])
    report = w.cycle()
    assert report.failed >= 3 and report.errors
    messages = "\n".join(report.errors)
    assert "<redacted>" in messages  # Konnektive did quote them
    server.set_faults(fail_rate=0.0, endpoints=None)
    done(w)  # its push lease goes: the next worker may cycle
    wrong = KonnektiveClient(server.base_url, SecretStr(LOGIN), SecretStr(PASSWORD + "x"),
                             rate_limit_per_s=None, transport=server.transport)  # fmt: skip
    w2 = SyncWorker(service, KonnektiveSource(wrong), policy=NO_WAIT)
    with pytest.raises(AuthError) as refused:
        w2.cycle()
    done(w2)
    scan_store.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    database = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert_clean(database, "the database")
    assert_clean(messages.encode(), "the cycle's errors")
    assert_clean(str(refused.value).encode(), "the auth error")
    assert_clean(caplog.text.encode(), "the log")
    out = capsys.readouterr()
    assert_clean((out.out + out.err).encode(), "stdout/stderr")
    assert any(r["login_ok"] is False for r in server.requests())

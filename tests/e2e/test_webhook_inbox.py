"""The webhook inbox: verified, stored, then acknowledged; applied from the inbox with retries.

Issue 9 items 4 (acknowledged before durable), 5 (dedupe, freshness, body limit) and 6 (500
concurrent deliveries stored and applied once; the timing is in benchmarks/webhooks.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from rxfloor.core.db import Store, webhook_inbox
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import WEBHOOKS
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.sandbox.rxscale import sign
from tests.helpers import inbox_settled, rxfloor_cmd, wait_for
from tests.remote_fixtures import serve_asgi

SECRET = "whsec_test"


def seed(service: OrderService, n: int, remote_status: str = "open") -> list[str]:
    uids = [f"po-{i:04d}" for i in range(n)]
    service.add_orders(
        [NewOrder(id=u, name=f"#{1000 + i}", remote_status=remote_status)
         for i, u in enumerate(uids)],
        source="remote",
    )  # fmt: skip
    return uids


def event(uid: str, status: str, ts: float | None = None, **data: Any) -> bytes:
    stamp = time.time() if ts is None else ts
    body = {"event_type": "pharmacy_order_updated", "timestamp": stamp, "payload_version": "1",
            "data": {"uid": uid, "status": status, "updated_at": stamp, **data}}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    return {"X-Webhook-Signature": sign(SECRET, body), "Content-Type": "application/json"}


def remote_events(service: OrderService, uid: str) -> list[str]:
    return [h["to_status"] for h in service.store.history(uid) if h["action"] == "remote"]


@pytest.fixture
def sqlite_service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url, busy_timeout_ms=200)  # a short busy timeout: fast tests
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


@pytest.fixture
def served(sqlite_service: OrderService) -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(sqlite_service, SECRET.encode(), webhooks=WEBHOOKS)
    with serve_asgi(receiver.asgi_app()) as url:
        yield receiver, url + "/hooks"


def hold_write_lock(url: str) -> sqlite3.Connection:
    """Another connection holding SQLite's write lock (BEGIN IMMEDIATE) until rolled back."""
    raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    return raw


# -- item 4: acknowledged only once durable ---------------------------------------------------

_BLOCKED_APPLY = """
import sys, threading
from rxfloor.core.sync.applier import RemoteApplier
RemoteApplier.apply = lambda self, remote: threading.Event().wait()  # a database that never frees
from rxfloor.tui.cli.main import main
sys.exit(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.05)


@pytest.mark.slow
def test_acknowledged_deliveries_survive_sigkill(sqlite_url: str) -> None:
    """Acknowledged, then killed before applying (the apply blocks): the restart applies all."""
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    uids = seed(service, 40)
    port = _free_port()
    env = {**os.environ, "RXFLOOR_DATABASE_URL": sqlite_url, "HOOK_SECRET": SECRET}
    args = ["webhooks", "serve", "--port", str(port), "--secret-env", "HOOK_SECRET"]
    first = _serve([sys.executable, "-c", _BLOCKED_APPLY, *args], env, port)
    try:
        bodies = [event(u, "cancelled") for u in uids]
        with httpx.Client(timeout=10) as client, ThreadPoolExecutor(len(bodies)) as pool:

            def post(b: bytes) -> httpx.Response:
                return client.post(f"http://127.0.0.1:{port}/hooks", content=b, headers=signed(b))

            answers = list(pool.map(post, bodies))
    finally:
        first.send_signal(signal.SIGKILL)  # right after the last 2xx
        first.wait(10)
    acknowledged = [u for u, a in zip(uids, answers, strict=True) if a.is_success]
    assert acknowledged, [a.status_code for a in answers]
    assert all(service.get(u).status is Status.OPEN for u in uids)  # nothing applied yet
    second = _serve(rxfloor_cmd(*args), env, port)
    try:
        wait_for(lambda: all(service.get(u).status is Status.CANCELLED for u in acknowledged), 15)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    assert all(remote_events(service, u) == ["CANCELLED"] for u in acknowledged)
    store.close()


def test_database_locked_while_receiving_is_503_never_2xx(
    sqlite_url: str, sqlite_service: OrderService, served: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = served
    uids = seed(sqlite_service, 5)
    bodies = [event(u, "cancelled") for u in uids]
    lock = hold_write_lock(sqlite_url)
    try:
        with httpx.Client(timeout=10) as client:
            codes = [client.post(url, content=b, headers=signed(b)).status_code for b in bodies]
    finally:
        lock.rollback()
        lock.close()
    assert codes == [503] * 5  # not stored: the remote must retry
    with httpx.Client(timeout=10) as client:  # the remote retries once the database is free
        codes = [client.post(url, content=b, headers=signed(b)).status_code for b in bodies]
    assert codes == [202] * 5
    wait_for(lambda: inbox_settled(receiver.store))
    assert all(remote_events(sqlite_service, u) == ["CANCELLED"] for u in uids)


def test_apply_is_retried_while_the_database_is_locked(
    sqlite_url: str,
    sqlite_service: OrderService,
    served: tuple[WebhookReceiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver, url = served
    uids = seed(sqlite_service, 5)
    gate = threading.Event()
    real = WebhookReceiver._apply_pending

    def gated(self: WebhookReceiver) -> int:
        gate.wait(10)
        return real(self)

    monkeypatch.setattr(WebhookReceiver, "_apply_pending", gated)
    with httpx.Client(timeout=10) as client:
        for u in uids:
            b = event(u, "cancelled")
            assert client.post(url, content=b, headers=signed(b)).status_code == 202
    lock = hold_write_lock(sqlite_url)
    try:
        gate.set()  # the worker now meets a database busy for longer than its busy timeout

        def failed_once() -> bool:  # the lock refuses writes: the tries are counted in memory
            return receiver.stats.retries >= 1

        wait_for(failed_once, timeout=15)
        assert all(sqlite_service.get(u).status is Status.OPEN for u in uids)
    finally:
        lock.rollback()
        lock.close()
    wait_for(lambda: inbox_settled(receiver.store))
    assert all(remote_events(sqlite_service, u) == ["CANCELLED"] for u in uids)
    with sqlite_service.store.read() as conn:
        rows = list(conn.execute(select(webhook_inbox)).mappings())
    assert len(rows) == 5
    assert all(r["applied_at"] is not None and r["outcome"] == "applied" for r in rows)
    assert all(r["attempts"] >= 2 for r in rows)


# -- item 5: dedupe, freshness, body size -----------------------------------------------------


def test_two_updates_in_one_second_are_distinct_a_retry_is_not(service: OrderService) -> None:
    (uid,) = seed(service, 1)
    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=WEBHOOKS)
    stamp = float(int(time.time()))  # the stand-in stamps whole seconds
    with serve_asgi(receiver.asgi_app()) as root, httpx.Client(timeout=10) as client:
        started, cancelled = event(uid, "processing", stamp), event(uid, "cancelled", stamp)
        codes = [client.post(root, content=b, headers=signed(b)) for b in (started, cancelled)]
        retry = client.post(root, content=cancelled, headers=signed(cancelled))
        wait_for(lambda: inbox_settled(receiver.store))
    assert service.get(uid).status is Status.CANCELLED
    assert remote_events(service, uid) == ["PROCESSING", "CANCELLED"]
    assert [c.status_code for c in codes] == [202, 202]
    assert retry.status_code == 200 and retry.json() == {"status": "duplicate"}


def test_an_event_from_the_year_2000_cancels_nothing(
    sqlite_service: OrderService, served: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = served
    (uid,) = seed(sqlite_service, 1)
    old = event(uid, "cancelled", ts=946_684_800.0)
    future = event(uid, "cancelled", ts=time.time() + 7 * 86_400)
    with httpx.Client(timeout=10) as client:
        answers = [client.post(url, content=b, headers=signed(b)) for b in (old, future)]
    wait_for(lambda: inbox_settled(receiver.store))
    assert sqlite_service.get(uid).status is Status.OPEN
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["status"] for a in answers] == ["stale", "stale"]
    with sqlite_service.store.read() as conn:
        rows = list(conn.execute(select(webhook_inbox)).mappings())
    assert [r["outcome"] for r in rows] == ["stale", "stale"]  # recorded, not applied


def test_an_event_older_than_one_applied_is_recorded_not_applied(
    sqlite_service: OrderService, served: tuple[WebhookReceiver, str]
) -> None:
    """The remote held the order at T and released it at T+10; the hold's delivery comes
    last (a late retry): it must not put the order on hold again."""
    receiver, url = served
    (uid,) = seed(sqlite_service, 1, remote_status="pending review")
    now = time.time()
    held = event(uid, "on-hold", ts=now - 10, comment="call the doctor")
    released = event(uid, "pending review", ts=now)
    with httpx.Client(timeout=10) as client:
        for b in (released, held):
            assert client.post(url, content=b, headers=signed(b)).status_code == 202
            wait_for(lambda: inbox_settled(receiver.store))
    assert not sqlite_service.get(uid).hold
    with sqlite_service.store.read() as conn:
        rows = list(conn.execute(select(webhook_inbox).order_by(webhook_inbox.c.id)).mappings())
    assert [r["outcome"] for r in rows] == ["applied", "stale"]
    assert "older" in rows[1]["last_error"]


def _raw_post(port: int, headers: dict[str, str], first_bytes: bytes) -> bytes:
    """Send the headers and the first bytes of a body, then read whatever answer comes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST /hooks HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + first_bytes)
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b"(no answer: the receiver is still reading the body)"


def test_oversized_bodies_are_refused_without_reading_them(
    sqlite_service: OrderService, served: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = served
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    huge = str(200 * 1024 * 1024)
    chunk = b"x" * 65536
    # unsigned, 200 MB announced, 64 KiB sent: 401 at once
    got = _raw_post(port, {"Content-Length": huge}, chunk)
    assert got.startswith(b"HTTP/1.1 401"), got[:80]
    # signed (wrongly), 200 MB announced: 413 from Content-Length alone
    got = _raw_post(port, {"Content-Length": huge, "X-Webhook-Signature": "0" * 64}, chunk)
    assert got.startswith(b"HTTP/1.1 413"), got[:80]
    # no Content-Length (chunked): counted while streaming, 413 past the limit
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))  # 1.25 MiB
    got = _raw_post(
        port, {"Transfer-Encoding": "chunked", "X-Webhook-Signature": "0" * 64}, chunked
    )
    assert got.startswith(b"HTTP/1.1 413"), got[:80]
    assert receiver.stats.too_large == 2
    # a signed event under the limit still goes through
    (uid,) = seed(sqlite_service, 1)
    ok = event(uid, "cancelled")
    assert httpx.post(url, content=ok, headers=signed(ok)).status_code == 202


def test_body_limit_is_configurable(sqlite_service: OrderService) -> None:
    (uid,) = seed(sqlite_service, 1)
    receiver = WebhookReceiver(sqlite_service, SECRET.encode(), webhooks=WEBHOOKS,
                               max_body_bytes=64)  # fmt: skip
    body = event(uid, "cancelled")
    assert len(body) > 64
    with serve_asgi(receiver.asgi_app()) as root:
        assert httpx.post(root, content=body, headers=signed(body)).status_code == 413


# -- item 6: 500 at once, each stored and applied exactly once --------------------------------


@pytest.mark.slow
def test_500_concurrent_deliveries_are_stored_and_applied_once(service: OrderService) -> None:
    uids = seed(service, 500)
    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=WEBHOOKS)
    bodies = [event(u, "cancelled") for u in uids]

    async def deliver_all(root: str) -> list[int]:
        limits = httpx.Limits(max_connections=600, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            sends = [client.post(root, content=b, headers=signed(b)) for b in bodies]
            sends += [client.post(root, content=b, headers=signed(b)) for b in bodies[:50]]
            return [a.status_code for a in await asyncio.gather(*sends)]

    with serve_asgi(receiver.asgi_app()) as root:
        codes = asyncio.run(deliver_all(root))
        wait_for(lambda: inbox_settled(receiver.store), timeout=60)
    assert all(c in (200, 202) for c in codes), sorted(set(codes))
    assert codes.count(202) == 500  # each event once; the 50 repeats are duplicates
    with service.store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(webhook_inbox)).scalar_one()
    assert stored == 500
    assert all(remote_events(service, u) == ["CANCELLED"] for u in uids)

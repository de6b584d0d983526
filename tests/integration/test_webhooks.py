"""The webhook receiver: signed deliveries from the stand-in, forged ones, replays."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import WEBHOOKS, signature_ok
from rxfloor.core.sync.webhooks import WebhookReceiver
from tests import remote_fixtures
from tests.helpers import inbox_settled, wait_for
from tests.integration.test_sync import make_worker
from tests.remote_fixtures import SandboxServer, serve_asgi

sandbox_server = remote_fixtures.sandbox_server


@pytest.fixture
def service(sqlite_url: str) -> Iterator[OrderService]:
    store = Store.open(sqlite_url)
    yield OrderService(store, Actor("AB", "counter-1"))
    store.close()


def test_signature_check() -> None:
    from rxfloor.sandbox.rxscale import sign

    assert signature_ok(b"whsec_x", b"{}", sign("whsec_x", b"{}"))
    assert not signature_ok(b"whsec_x", b"{} ", sign("whsec_x", b"{}"))
    assert not signature_ok(b"whsec_x", b"{}", None)


def test_deliveries_applied_once_forged_refused(
    service: OrderService, sandbox_server: SandboxServer
) -> None:
    worker = make_worker(service, sandbox_server)
    worker.cycle()
    a, b = (r["id"] for r in service.store.board_rows()[:2])
    service.act(a, Action.START)
    worker.cycle()
    receiver = WebhookReceiver(service, b"placeholder", webhooks=WEBHOOKS)
    with serve_asgi(receiver.asgi_app()) as url, sandbox_server.api() as api:
        target = {"target": url + "/hooks", "notification_type": "pharmacy_order_updated"}
        sub = api.post("webhooks/", json=target)
        assert sub.status_code == 201, sub.text
        receiver.rotate_secret(sub.json()["signing_secret"].encode())
        # the remote cancels an order we are working on: the webhook brings it at once
        sandbox_server.remote_status(a, "cancel")
        wait_for(lambda: receiver.stats.applied == 1)
        assert service.get(a).status is Status.CANCELLED
        assert [al["order_id"] for al in service.store.open_alerts()] == [a]
        # a replayed delivery (same bytes, same signature) is acknowledged and dropped
        deliveries = sandbox_server.control.get("/webhooks/deliveries").json()
        ok = [d for d in deliveries if d["status_code"] == 202]
        assert ok and ok[0]["body"].startswith("{")
        replay = sandbox_server.control.post(f"/webhooks/deliveries/{ok[0]['seq']}/replay")
        assert replay.status_code < 300, replay.text
        wait_for(lambda: receiver.stats.duplicates == 1)
        events_a = len(service.store.history(a))
        # a forged delivery is refused before parsing and changes nothing
        body = json.loads(ok[0]["body"])
        body["data"] = {**body["data"], "uid": b, "status": "cancelled"}
        raw = json.dumps(body).encode()
        forged = httpx.post(url + "/hooks", content=raw,
                            headers={"X-Webhook-Signature": "0" * 64})  # fmt: skip
        assert forged.status_code == 401
        unsigned = httpx.post(url + "/hooks", content=b"not json")
        assert unsigned.status_code == 401
        assert receiver.stats.forged == 2
        wait_for(lambda: inbox_settled(receiver.store))
    assert service.get(b).status is Status.OPEN
    assert len(service.store.history(a)) == events_a

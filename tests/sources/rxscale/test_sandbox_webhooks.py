"""Webhook subscriptions and signed deliveries from the stand-in to a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import remote_fixtures
from tests.remote_fixtures import Receiver, SandboxServer, serve_receiver

sandbox_server = remote_fixtures.sandbox_server
sandbox_factory = remote_fixtures.sandbox_factory


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with serve_receiver(ok=204) as served:
        yield served


def _deliveries(s: SandboxServer, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The stand-in's delivery log once it has ``n`` entries: it logs a delivery only after
    the receiver's answer is back, which can be just after the receiver saw the body."""
    deadline = time.monotonic() + timeout
    while True:
        log: list[dict[str, Any]] = s.control.get("/webhooks/deliveries").json()
        if len(log) >= n or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)
    event: dict[str, Any] = json.loads(body)
    assert headers["x-webhook-event"] == event["event_type"]
    return event


def test_subscribe_list_delete(sandbox_server: SandboxServer) -> None:
    with sandbox_server.api() as api:
        r = api.post(
            "/webhooks/",
            json={
                "target": "https://example.org/hook",
                "notification_type": "pharmacy_order_updated",
            },
        )
        assert r.status_code == 201
        sub = r.json()
        assert sub["signing_secret"].startswith("whsec_") and sub["uid"].startswith("wh-")
        listed = api.get("/webhooks/").json()["data"]
        assert [s["uid"] for s in listed] == [sub["uid"]]
        assert "signing_secret" not in listed[0]  # shown once, at creation
        bad = api.post("/webhooks/", json={"target": "not a url", "notification_type": "nope"})
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["details"]} == {"target", "notification_type"}
        assert api.post("/webhooks/", json={"target": "https://x.org"}).status_code == 422
        assert api.delete(f"/webhooks/{sub['uid']}").status_code == 204
        assert api.delete(f"/webhooks/{sub['uid']}").status_code == 404
        assert api.get("/webhooks/").json() == {"data": []}


def test_signed_deliveries_for_updates_and_new_orders(
    sandbox_server: SandboxServer, receiver: tuple[Receiver, str]
) -> None:
    rec, target = receiver
    s = sandbox_server
    with s.api() as api:
        subs = {
            kind: api.post("/webhooks/", json={"target": target, "notification_type": kind}).json()
            for kind in ("pharmacy_order_updated", "pharmacy_order_created")
        }
        uid = s.state.list_orders(0, 1)[0][0]["uid"]
        assert api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"}).is_success
        s.remote_status(uid, "cancel")
        (new,) = s.add_orders(1)
    got = rec.wait_for(3)
    events = []
    for body, headers in got:
        kind = headers["x-webhook-event"]
        events.append(_verify(subs[kind]["signing_secret"], body, headers))
    updates = [e for e in events if e["event_type"] == "pharmacy_order_updated"]
    assert [e["data"]["status"] for e in updates] == ["processing", "cancelled"]
    assert all(e["data"]["uid"] == uid for e in updates)
    (created,) = [e for e in events if e["event_type"] == "pharmacy_order_created"]
    assert created["data"]["uid"] == new and created["data"]["patient_data"]["display_name"]
    for e in events:
        assert e["payload_version"] == "1" and isinstance(e["timestamp"], int)
    log = _deliveries(s, 3)
    assert len(log) == 3 and all(d["status_code"] == 204 for d in log)


def test_failed_delivery_is_retried_with_the_same_bytes_and_can_be_replayed(
    sandbox_server: SandboxServer, receiver: tuple[Receiver, str]
) -> None:
    rec, target = receiver
    rec.answers = [500]  # the first attempt fails
    s = sandbox_server
    with s.api() as api:
        secret = api.post(
            "/webhooks/", json={"target": target, "notification_type": "pharmacy_order_updated"}
        ).json()["signing_secret"]
    uid = s.state.list_orders(0, 1)[0][0]["uid"]
    s.remote_status(uid, "cancel")
    first, second = rec.wait_for(2)
    assert first == second  # byte for byte, same signature: receivers dedupe it
    _verify(secret, *second)
    log = _deliveries(s, 2)
    assert [(d["attempt"], d["status_code"]) for d in log] == [(1, 500), (2, 204)]
    replay = s.control.post(f"/webhooks/deliveries/{log[1]['seq']}/replay")
    assert replay.status_code == 200 and replay.json()["replay_of"] == log[1]["seq"]
    assert rec.wait_for(3)[2] == first
    assert s.control.post("/webhooks/deliveries/999/replay").status_code == 404


def test_unreachable_receiver_is_logged_not_fatal(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    s = sandbox_factory(webhook_attempts=1)
    with s.api() as api:
        api.post(
            "/webhooks/",
            json={
                "target": "http://127.0.0.1:9/hook",
                "notification_type": "pharmacy_order_created",
            },
        )
    s.add_orders(1)
    deadline = time.monotonic() + 10
    log: list[dict[str, Any]] = []
    while not log and time.monotonic() < deadline:
        log = s.control.get("/webhooks/deliveries").json()
        time.sleep(0.02)
    assert log and log[0]["status_code"] is None and "Connect" in log[0]["error"]
    with s.api() as api:
        assert api.get("/health/").status_code == 200

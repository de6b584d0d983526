"""The Photon stand-in over loopback: every refusal of the status report and the read, the
client's error kinds for each, faults (drop-after-apply applies), and signed CloudEvents
deliveries (held, released out of order, duplicated, replayed with the old timestamp)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
    UnreachableError,
)
from rxfloor.core.sources.photon.client import PhotonClient
from rxfloor.core.sources.photon.source import PhotonWebhooks
from rxfloor.sandbox.photon import sign
from tests import photon_fixtures
from tests.photon_fixtures import PhotonServer
from tests.remote_fixtures import serve_asgi

photon_server = photon_fixtures.photon_server
photon_factory = photon_fixtures.photon_factory


def post(server: PhotonServer, body: Any, **headers: str) -> httpx.Response:
    sent = {**server.headers, **headers}
    return server.post(server.hook_url, json=body, headers=sent, timeout=5)


def test_a_report_moves_the_order_and_is_logged(photon_server: PhotonServer) -> None:
    (uid,) = photon_server.create(1)
    answer = post(photon_server, {"status": "received", "order_id": uid})
    assert answer.status_code == 200
    (t,) = photon_server.transitions(by="pharmacy")
    assert (t["order_id"], t["from"], t["to"], t["what"]) == (uid, "PLACED", "PLACED/RECEIVED",
                                                              "received")  # fmt: skip


REFUSALS: list[tuple[str, dict[str, Any] | None, int, str]] = [
    ("no body object", None, 400, "JSON object"),
    ("no order id", {"status": "received"}, 400, "order_id"),
    ("unknown status", {"status": "ready"}, 400, "unknown status"),
    ("bad carrier", {"status": "shipped", "carrier": 5}, 400, "carrier"),
    ("unknown order", {"status": "received", "order_id": "ord_nope"}, 404, "not found"),
]


@pytest.mark.parametrize(("why", "body", "code", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_malformed_reports_are_refused(
    photon_server: PhotonServer, why: str, body: dict[str, Any] | None, code: int, words: str
) -> None:
    (uid,) = photon_server.create(1)
    if body is not None and "order_id" not in body and why != "no order id":
        body = {**body, "order_id": uid}
    answer = post(photon_server, body if body is not None else [1])
    assert answer.status_code == code and words in answer.json()["error"]
    assert photon_server.transitions(by="pharmacy") == []


def test_no_or_wrong_token_is_401(photon_server: PhotonServer) -> None:
    (uid,) = photon_server.create(1)
    body = {"status": "received", "order_id": uid}
    assert photon_server.post(photon_server.hook_url, json=body).status_code == 401
    assert post(photon_server, body, Authorization="Bearer wrong").status_code == 401
    assert photon_server.post(photon_server.graphql_url, json={}).status_code == 401
    with PhotonClient(photon_server.base_url, SecretStr("wrong-token"), rate_limit_per_s=None,
                      transport=photon_server.transport) as client:  # fmt: skip
        with pytest.raises(AuthError):
            client.report(uid, "received")
        with pytest.raises(AuthError):
            client.read_order(uid)


def test_progress_only_forward_and_completed_only_after_shipped(
    photon_server: PhotonServer,
) -> None:
    (mail,) = photon_server.create(1, "MAIL_ORDER")
    (pickup,) = photon_server.create(1, "PICK_UP")
    with photon_server.client() as client:
        client.report(mail, "in_progress")
        for repeat in ("in_progress", "received"):  # a repeat and a step back: 409
            with pytest.raises(PermanentError) as refused:
                client.report(mail, repeat)
            assert refused.value.status_code == 409 and refused.value.conflict
        with pytest.raises(PermanentError, match="only after shipped"):
            client.report(mail, "completed")
        client.report(mail, "shipped", carrier="USPS", tracking_number="9400")
        client.report(mail, "completed")
        client.report(pickup, "completed")  # picked up: nothing to ship
        order = photon_server.order(mail)
        assert order["state"] == "COMPLETED"
        assert order["fulfillment"]["trackingNumber"] == "9400"


@pytest.mark.parametrize("prescriber", ["reroute", "cancel", "error"])
def test_reports_on_an_order_no_longer_placed_here_are_409(
    photon_server: PhotonServer, prescriber: str
) -> None:
    (uid,) = photon_server.create(1)
    photon_server.act(uid, prescriber)
    with photon_server.client() as client, pytest.raises(PermanentError) as refused:
        client.report(uid, "in_progress")
    assert refused.value.status_code == 409


def test_prescriber_side_refusals(photon_server: PhotonServer) -> None:
    (uid,) = photon_server.create(1)
    for action in ("place", "deliver"):
        answer = photon_server.control.post(f"/orders/{uid}/{action}")
        assert answer.status_code == 409
    photon_server.cancel(uid)
    assert photon_server.control.post(f"/orders/{uid}/reroute").status_code == 409
    assert photon_server.control.post("/orders/ord_nope/cancel").status_code == 404


def test_the_read_and_its_refusals(photon_server: PhotonServer) -> None:
    (uid,) = photon_server.create(1, "MAIL_ORDER")
    with photon_server.client() as client:
        read = client.read_order(uid)
        assert read.state == "PLACED" and read.fulfillment and read.fulfillment.type == "MAIL_ORDER"
        with pytest.raises(PermanentError, match="no order") as missing:
            client.read_order("ord_nope")
        assert not missing.value.conflict
    other = photon_server.post(photon_server.graphql_url, headers=photon_server.headers,
                       json={"query": "{ patients { id } }"}).json()  # fmt: skip
    assert other["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.network
def test_faults_map_to_the_error_kinds(photon_server: PhotonServer) -> None:
    (uid,) = photon_server.create(1)
    with photon_server.client(timeout_s=0.5) as client:
        photon_server.set_faults(next=["drop_after"])
        with pytest.raises(TransientError) as dropped:
            client.report(uid, "received")
        assert dropped.value.maybe_applied  # ... and it was applied:
        assert [t["what"] for t in photon_server.transitions(by="pharmacy")] == ["received"]
        photon_server.set_faults(next=["drop_before"])
        with pytest.raises(TransientError):
            client.report(uid, "in_progress")
        assert len(photon_server.transitions(by="pharmacy")) == 1
        photon_server.set_faults(next=["server_error"])
        with pytest.raises(TransientError) as failed:
            client.read_order(uid)
        assert failed.value.status_code == 500 and not failed.value.maybe_applied
        photon_server.set_faults(next=["malformed"])
        with pytest.raises(TransientError, match="malformed"):
            client.read_order(uid)
        photon_server.set_faults(next=["slow"], slow_s=0.8)
        with pytest.raises(TransientError, match="in time"):
            client.report(uid, "in_progress")
        photon_server.stop()
        with pytest.raises(UnreachableError):
            client.read_order(uid)
        photon_server.start()
        assert client.read_order(uid).state == "PLACED"
        # last: a 429 teaches the client's limiter a slower rate
        photon_server.set_faults(next=["rate_limit"], retry_after_s=0)
        with pytest.raises(TransientError) as limited:
            client.report(uid, "in_progress")
        assert limited.value.status_code == 429 and not limited.value.maybe_applied


class Inbox:
    """A receiver that records what it was sent and answers from a script."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, dict[str, str]]] = []
        self.answers: list[int] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.got.append((await request.body(), dict(request.headers)))
            code = self.answers.pop(0) if self.answers else 200
            return JSONResponse({}, code)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str]]:
    box = Inbox()
    with serve_asgi(box.app()) as url:
        yield box, url + "/hook"


def test_deliveries_are_signed_cloudevents(
    photon_server: PhotonServer, inbox: tuple[Inbox, str]
) -> None:
    box, url = inbox
    photon_server.subscribe(url, "shared-secret-1")
    (uid,) = photon_server.create(1)
    photon_server.wait_deliveries(2)
    formats = PhotonWebhooks()
    for body, headers in box.got:
        assert headers["x-photon-signature"] == sign("shared-secret-1", body)
        assert formats.verify(b"shared-secret-1", body, headers)
        event = json.loads(body)
        assert event["specversion"] == "1.0" and event["subject"] == uid
        assert event["datacontenttype"] == "application/json"
    types = [json.loads(b)["type"] for b, _ in box.got]
    assert sorted(types) == ["photon:order:created", "photon:order:placed"]


def test_held_deliveries_go_out_of_order_twice_and_replay(
    photon_server: PhotonServer, inbox: tuple[Inbox, str]
) -> None:
    box, url = inbox
    photon_server.subscribe(url, "shared-secret-1")
    photon_server.deliveries_held(True)
    photon_server.duplicate(True)
    photon_server.create(1)
    assert photon_server.release("reverse") == 2
    photon_server.wait_deliveries(4)
    ids = [json.loads(b)["id"] for b, _ in box.got]
    assert len(set(ids)) == 2 and len(ids) == 4
    first = photon_server.deliveries()[0]
    again = photon_server.replay(first["seq"], keep_timestamp=True)
    assert again["replay_of"] == first["seq"] and again["timestamp"] == first["timestamp"]
    assert box.got[-1][0] == first["body"].encode()  # byte for byte


def test_a_failed_delivery_is_retried_with_a_fresh_timestamp(
    photon_factory: Any, inbox: tuple[Inbox, str]
) -> None:
    box, url = inbox
    server: PhotonServer = photon_factory(webhook_attempts=2)
    box.answers = [503]
    server.subscribe(url, "shared-secret-1")
    server.create(1, place=False)
    log = server.wait_deliveries(1)
    assert [d["status_code"] for d in log] == [503, 200]
    assert log[0]["body"] == log[1]["body"] and log[0]["signature"] == log[1]["signature"]

"""The Photon stand-in sends and answers what Photon documents (the floor's client is
tested against it, so a stand-in that differs from Photon hides the client's faults).

Pages (facts taken, not text):

* ``WEBHOOKS`` — github.com/Photon-Health/docs ``network/webhooks.mdx``: headers
  ``Content-Type: application/cloudevents-batch+json`` (one event in the body),
  ``X-Photon-Timestamp`` in Unix milliseconds; 5xx, 408, 429, a timeout or no connection are
  retried; any other 4xx drops the event for good.
* ``EVENTS`` — github.com/Photon-Health/docs ``network/webhooks/events.mdx``:
  ``photon:order:placed`` carries ``data.pharmacy {id, name, …}``; an organisation's
  subscription sees orders placed at every pharmacy.
* ``AUTH`` — github.com/Photon-Health/docs ``authentication.mdx``: ``POST /oauth/token`` with
  ``client_id``, ``client_secret``, ``audience``, ``grant_type: client_credentials``; the
  answer ``{access_token, token_type: "Bearer", expires_in: 86400}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.photon.auth import AUDIENCE, ClientCredentials
from tests import photon_fixtures
from tests.photon_fixtures import PhotonServer
from tests.remote_fixtures import serve_asgi

photon_factory = photon_fixtures.photon_factory

#: WEBHOOKS
BATCH = "application/cloudevents-batch+json"


class Target:
    """A receiver that records every delivery and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[dict[str, str], bytes]] = []

    async def answer(self, request: Request) -> Response:
        self.seen.append((dict(request.headers), await request.body()))
        return Response(status_code=self.status)


@pytest.fixture
def target() -> Iterator[tuple[Target, str]]:
    got = Target()
    app = Starlette(routes=[Route("/hook", got.answer, methods=["POST"])])
    with serve_asgi(app) as root:
        yield got, root + "/hook"


def _wait(target: Target, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(target.seen) < count:
        assert time.monotonic() < deadline, f"{len(target.seen)} of {count} deliveries came"
        time.sleep(0.02)


def test_a_delivery_carries_the_documented_headers_and_one_event(
    photon_factory: Callable[..., PhotonServer], target: tuple[Target, str]
) -> None:
    got, url = target
    server = photon_factory()
    server.subscribe(url, "s3cret")
    server.create(1)  # created + placed
    _wait(got, 2)
    for headers, body in got.seen:
        assert headers["content-type"] == BATCH
        stamp = headers["x-photon-timestamp"]
        assert len(stamp) == 13 and stamp.isdigit()  # milliseconds
        assert abs(int(stamp) / 1000 - time.time()) < 60
        event = json.loads(body)
        assert isinstance(event, dict) and event["specversion"] == "1.0"  # one event


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (401, 1), (404, 1), (409, 1),
                                                  (422, 1), (408, 3), (429, 3), (500, 3),
                                                  (503, 3)])  # fmt: skip
def test_only_5xx_408_429_are_retried(
    photon_factory: Callable[..., PhotonServer],
    target: tuple[Target, str],
    status: int,
    attempts: int,
) -> None:
    got, url = target
    got.status = status
    server = photon_factory(webhook_attempts=3)
    server.subscribe(url, "s3cret")
    server.create(1, place=False)  # one event: created
    server.wait_deliveries(attempts, ok=False)
    time.sleep(1.0)  # a retry would have come by now (0.2 s, then 0.4 s)
    assert len(got.seen) == attempts


def test_an_order_placed_at_another_pharmacy_says_so(
    photon_factory: Callable[..., PhotonServer], target: tuple[Target, str]
) -> None:
    got, url = target
    server = photon_factory()
    server.subscribe(url, "s3cret")
    body = {"count": 1, "pharmacy_id": server.config.other_pharmacy_id}
    (uid,) = server._ok(server.control.post("/orders", json=body))["created"]
    _wait(got, 2)
    events = [json.loads(b) for _, b in got.seen]
    placed = next(e for e in events if e["type"] == "photon:order:placed")
    assert placed["data"]["id"] == uid
    assert placed["data"]["pharmacy"]["id"] == server.config.other_pharmacy_id
    assert placed["data"]["pharmacy"]["name"] == server.config.other_pharmacy_name
    mine = server.create(1)
    _wait(got, 4)
    here = [json.loads(b) for _, b in got.seen[2:]]
    placed = next(e for e in here if e["type"] == "photon:order:placed")
    assert placed["data"]["id"] == mine[0]
    assert placed["data"]["pharmacy"]["id"] == server.pharmacy_id


def _token(server: PhotonServer, **body: Any) -> httpx.Response:
    full = {"client_id": server.config.client_id,
            "client_secret": server.config.client_secret.get_secret_value(),
            "audience": AUDIENCE, "grant_type": "client_credentials"} | body  # fmt: skip
    with server.http(server.root_url) as http:
        return http.post("/oauth/token", json=full)


def test_the_token_endpoint_issues_day_long_machine_tokens(
    photon_factory: Callable[..., PhotonServer],
) -> None:
    server = photon_factory()
    answer = _token(server)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["access_token"] and body["access_token"] != server.token
    assert _token(server, client_secret="wrong").status_code == 401
    assert _token(server, grant_type="password").status_code == 400
    # the issued token opens the API; a made-up one does not
    (uid,) = server.create(1)
    read = {"query": "query order($id: ID!) { order(id: $id) { id } }", "variables": {"id": uid}}
    with server.http(server.root_url) as http:
        ok = http.post(server.graphql_url, json=read,
                       headers={"Authorization": f"Bearer {body['access_token']}"})  # fmt: skip
        bad = http.post(server.graphql_url, json=read,
                        headers={"Authorization": "Bearer not-issued"})  # fmt: skip
    assert ok.json()["data"]["order"]["id"] == uid
    assert bad.status_code == 401


def test_the_client_reads_with_machine_tokens_from_the_stand_in(
    photon_factory: Callable[..., PhotonServer],
) -> None:
    server = photon_factory()
    (uid,) = server.create(1)
    auth = ClientCredentials(server.config.client_id, server.config.client_secret,
                             token_url=server.root_url + "/oauth/token",
                             transport=server.transport)  # fmt: skip
    with server.client(auth=auth) as client:
        assert client.read_order(uid).id == uid
    assert auth.fetched == 1
    wrong = ClientCredentials(server.config.client_id, SecretStr("wrong-secret-0123456789"),
                              token_url=server.root_url + "/oauth/token",
                              transport=server.transport)  # fmt: skip
    with (
        server.client(auth=wrong) as client,
        pytest.raises(AuthError),
    ):
        client.read_order(uid)

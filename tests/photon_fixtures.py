"""The Photon stand-in for tests: in-process (no port) or served by a REAL uvicorn server on
127.0.0.1 (a free port).

Same shape as :mod:`tests.remote_fixtures`:

``serve_photon(config=None, *, in_process=False, **fields) -> ContextManager[PhotonServer]``
(``fields``: fields of :class:`PhotonSandboxConfig`, overriding ``config``)

``PhotonServer``:
    ``base_url``     ``http://127.0.0.1:PORT`` (the floor's ``[sources.photon] api_url``)
    ``graphql_url``  ``base_url + "/graphql"``; ``hook_url`` the status report's URL
    ``token``        the API token (str); ``headers`` = ``{"Authorization": "Bearer …"}``
    ``pharmacy_id``  this pharmacy's Photon id; ``control`` an ``httpx.Client`` on ``/_sandbox``
    ``state``        the live :class:`PhotonSandboxState`
    ``source(**client_kw)``  a new ``PhotonSource`` on it (close it yourself)
    ``transitions(by=None)``, ``requests()``, ``deliveries()``   the control logs
    ``create(n, fulfillment_type="PICK_UP", place=True) -> [order id]``  prescriber side
    ``place(id)``, ``reroute(id, to=None)``, ``cancel(id)``, ``error(id, reason)``,
    ``deliver(id)``, ``order(id)``                          prescriber side / read
    ``subscribe(target, secret)``       signed CloudEvents deliveries to ``target``
    ``deliveries_held(True|False)``, ``duplicate(True|False)``, ``release(order, seed)``
                                        hold events back, send each twice, deliver what was
                                        held ("fifo" | "reverse" | "shuffle")
    ``replay(seq, keep_timestamp=False)``   one delivery again, byte for byte
    ``set_faults(**settings)``, ``reset(seed=None)``
    ``wait_deliveries(n, ok=True)``     the deliveries log once n (2xx) attempts are in it
    ``stop()`` / ``start()``            an outage (same port, same state)

Control endpoints (no token, never logged or faulted), under ``/_sandbox``:
    GET  /requests, /transitions?by=pharmacy|prescriber, /orders, /orders/{id}, /faults,
         /webhooks/deliveries
    POST /orders {"count", "fulfillment_type"?, "pharmacy_id"?, "place"?: true}
    POST /orders/{id}/place | reroute {"to"?} | cancel | error {"reason"} | deliver
    POST /faults (FaultSettings fields), /reset {"seed"?}
    POST /webhooks {"target", "secret"}; /webhooks/delivery {"hold"?, "duplicate"?} or
         {"release": "fifo"|"reverse"|"shuffle", "seed"?}
    POST /webhooks/deliveries/{seq}/replay {"keep_timestamp"?}

Fixtures: ``photon_server`` (no orders, no faults), ``photon_factory(**fields)``: in-process
unless the test is marked ``@pytest.mark.network``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.sources.photon.client import PhotonClient
from rxfloor.core.sources.photon.source import PhotonSource
from rxfloor.sandbox.photon import GRAPHQL_PATH, HOOK_PATH, create_app
from rxfloor.sandbox.photon.state import PhotonSandboxConfig, PhotonSandboxState
from tests.remote_fixtures import _Served, served_in_process


class PhotonServer(_Served):
    """A running Photon stand-in (see the module docstring)."""

    def __init__(self, config: PhotonSandboxConfig, *, in_process: bool = False) -> None:
        self.config = config
        self.app = create_app(config)
        self.state: PhotonSandboxState = self.app.state.sandbox
        self.token = config.token.get_secret_value()
        self.headers = {config.auth_header: f"{config.auth_scheme} {self.token}".strip()}
        self.pharmacy_id = config.pharmacy_id
        super().__init__(self.app, in_process=in_process)
        self.base_url = self.root_url
        self.graphql_url = self.root_url + GRAPHQL_PATH
        self.hook_url = self.root_url + HOOK_PATH
        self.control = self.http(self.root_url + "/_sandbox")

    def client(self, **kw: Any) -> PhotonClient:
        kw.setdefault("rate_limit_per_s", None)
        kw.setdefault("transport", self.transport)
        return PhotonClient(self.base_url, SecretStr(self.token),
                            auth_header=self.config.auth_header,
                            auth_scheme=self.config.auth_scheme, **kw)  # fmt: skip

    def source(self, **client_kw: Any) -> PhotonSource:
        return PhotonSource(self.client(**client_kw), pharmacy_id=self.pharmacy_id)

    # -- logs
    def transitions(self, by: str | None = None) -> list[dict[str, Any]]:
        return self.state.transitions(by=by)

    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests()

    def deliveries(self) -> list[dict[str, Any]]:
        return self.state.deliveries()

    def wait_deliveries(
        self, count: int, *, ok: bool = True, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            log = self.state.deliveries()
            done = [d for d in log if not ok or (d["status_code"] or 0) // 100 == 2]
            if len(done) >= count:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} deliveries within {timeout} s: {log}")
            time.sleep(0.01)

    # -- prescriber side
    def create(
        self, count: int = 1, fulfillment_type: str = "PICK_UP", *, place: bool = True
    ) -> list[str]:
        body = {"count": count, "fulfillment_type": fulfillment_type, "place": place}
        return self._ok(self.control.post("/orders", json=body))["created"]  # type: ignore[no-any-return]

    def act(self, uid: str, action: str, **body: Any) -> dict[str, Any]:
        return self._ok(self.control.post(f"/orders/{uid}/{action}", json=body))  # type: ignore[no-any-return]

    def place(self, uid: str) -> dict[str, Any]:
        return self.act(uid, "place")

    def reroute(self, uid: str, to: str | None = None) -> dict[str, Any]:
        return self.act(uid, "reroute", to=to)

    def cancel(self, uid: str) -> dict[str, Any]:
        return self.act(uid, "cancel")

    def error(self, uid: str, reason: str = "insurance rejected the claim") -> dict[str, Any]:
        return self.act(uid, "error", reason=reason)

    def deliver(self, uid: str) -> dict[str, Any]:
        return self.act(uid, "deliver")

    def order(self, uid: str) -> dict[str, Any]:
        return self._ok(self.control.get(f"/orders/{uid}"))  # type: ignore[no-any-return]

    # -- webhooks
    def subscribe(self, target: str, secret: str) -> dict[str, Any]:
        return self._ok(self.control.post("/webhooks", json={"target": target, "secret": secret}))  # type: ignore[no-any-return]

    def deliveries_held(self, hold: bool) -> None:
        self._ok(self.control.post("/webhooks/delivery", json={"hold": hold}))

    def duplicate(self, on: bool) -> None:
        self._ok(self.control.post("/webhooks/delivery", json={"duplicate": on}))

    def release(self, order: str = "fifo", seed: int = 0) -> int:
        body = {"release": order, "seed": seed}
        return self._ok(self.control.post("/webhooks/delivery", json=body))["released"]  # type: ignore[no-any-return]

    def replay(self, seq: int, *, keep_timestamp: bool = False) -> dict[str, Any]:
        body = {"keep_timestamp": keep_timestamp}
        return self._ok(self.control.post(f"/webhooks/deliveries/{seq}/replay", json=body))  # type: ignore[no-any-return]

    # -- faults
    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/faults", json=settings))  # type: ignore[no-any-return]

    def reset(self, seed: int | None = None) -> None:
        self._ok(self.control.post("/reset", json={"seed": seed}))

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise AssertionError(f"sandbox control {response.status_code}: {response.text}")
        return response.json()

    def close(self) -> None:
        self.close_served()
        self.control.close()


@contextlib.contextmanager
def serve_photon(
    config: PhotonSandboxConfig | None = None, *, in_process: bool = False, **fields: Any
) -> Iterator[PhotonServer]:
    merged = {**(config.model_dump() if config else {}), **fields}
    server = PhotonServer(PhotonSandboxConfig.model_validate(merged), in_process=in_process)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def photon_server(request: pytest.FixtureRequest) -> Iterator[PhotonServer]:
    with serve_photon(in_process=served_in_process(request)) as server:
        yield server


@pytest.fixture
def photon_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., PhotonServer]]:
    inside = served_in_process(request)
    with contextlib.ExitStack() as stack:

        def make(config: PhotonSandboxConfig | None = None, **fields: Any) -> PhotonServer:
            return stack.enter_context(serve_photon(config, in_process=inside, **fields))

        yield make

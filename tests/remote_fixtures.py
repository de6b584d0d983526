"""The remote stand-in for tests: in-process (no port) or served by a REAL uvicorn server on
127.0.0.1 (a free port).

Stable interface (other test modules depend on it):

``serve_sandbox(config: RxScaleSandboxConfig | None = None, *, in_process=False, **fields)``
``-> ContextManager[SandboxServer]``
    Builds ``create_app(config)`` (``fields`` are :class:`RxScaleSandboxConfig` fields, e.g.
    ``seed=20, dialect="v2", rate_limit=10, api_key="k"``; given both, ``fields`` override
    ``config``), serves it in a background thread and stops it on exit. No pytest needed.
    ``in_process=True``: no server; the clients it makes call the app through ``transport``
    (its URLs reach nothing outside this process: no subprocess, config file or receiver).

``SandboxServer`` (what you get):
    ``base_url``  ``http://127.0.0.1:PORT/v1/external-pharmacy-api-v1`` (the API base path)
    ``old_base_url`` the same under the old spelling ``/v1/external_pharmacy_api``
    ``root_url``  ``http://127.0.0.1:PORT``; ``port``
    ``api_key``   the full-permission key (str); ``headers`` = ``{"X-API-Key": api_key}``
    ``control``   an ``httpx.Client`` with base URL ``http://127.0.0.1:PORT/_sandbox``
    ``state``     the live :class:`RxScaleSandboxState` (same process; thread-safe)
    ``transport`` the in-process bridge to the app (None on a real server): give it to any
                  client made by hand (``transport=server.transport``)
    ``api()``     a new ``httpx.Client`` on ``base_url`` with the key set (close it yourself)
    ``client(**kw)``  a new ``RxScaleClient`` on ``base_url`` with the key set
    ``source(**client_kw)``  a new ``RxScaleSource`` on ``base_url`` with the key set
                  (``client_kw``: ``RxScaleClient`` options; close it yourself)
    ``transitions()``, ``requests()``        the control logs (lists of dicts)
    ``add_orders(n, status=None) -> [uid]``  new orders arrive on the remote side
    ``remote_status(uid, status, comment=None) -> order``  a remote-side change
                                                  (``cancel`` / ``complete`` / ``hold`` or a status)
    ``set_faults(**settings) -> dict``       live fault settings (see ``FaultSettings``;
                                                  also ``rate_limit``)
    ``reset(seed=None)``                     fresh start: logs, subscriptions, faults, orders
                                                  (``seed`` new ones, default as configured)
    ``stats()``                              counts by status code / fault / method / side
    ``wait_transitions(n, timeout=10)``      the transitions log once it has n entries
    ``stop()`` / ``start()``                 an outage: connections refused until ``start()``
                                                  brings it back on the same port, same state
    ``running``                              True while it serves
    The context manager (and the fixtures) stop it and close ``control`` at the end.

Control endpoints (no key, never logged, faulted or rate limited), under ``/_sandbox``:
    GET  /requests?since=N      every API request: seq, time, method, path, query,
                                status_code (None if dropped), fault, idempotency_key
    GET  /transitions?since=N   every status change: seq, uid, from, to, by (api|sandbox),
                                time, comment, request_seq, idempotency_key
    GET  /stats                 counts (see ``stats()``)
    POST /orders {"count": N, "status"?: S} -> {"created": [uid…]}
    GET  /orders/{uid}          the order as stored (detail form)
    POST /orders/{uid}/status {"status": S | "cancel" | "complete" | "hold",
                               "comment"?: str, "force"?: bool}   a remote-side change
    GET|POST /faults            FaultSettings fields (+ "rate_limit"), partial updates
    POST /reset {"seed"?: N}    fresh start
    GET  /webhooks/deliveries   every delivery attempt (body, signature, status_code, error)
    POST /webhooks/deliveries/{seq}/replay   send that delivery again, byte for byte

``serve_asgi(app) -> ContextManager[str]``
    Any ASGI app (e.g. a webhook receiver) on a real uvicorn server; yields its root URL.

Starting and stopping a server costs ~0.3 s, and up to 1 s more at the stop while a client
keeps a connection open; in-process there is neither. Where many examples share one
(hypothesis), serve one per module and call ``reset()`` (~10 ms) at the start of each example.

Fixtures (bind them in a test module — no ``pytest_plugins``, and ruff stays quiet)::

    from tests import remote_fixtures
    sandbox_server = remote_fixtures.sandbox_server
    sandbox_factory = remote_fixtures.sandbox_factory

    ``sandbox_server``   a v1 stand-in with 20 open orders, no faults, no rate limit
    Both serve in-process unless the test is marked ``@pytest.mark.network`` (a real port).
    ``sandbox_factory``  ``sandbox_factory(**fields) -> SandboxServer``; all stopped at teardown
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rxfloor.core.demo import ASGIBridge, LoopThread
from rxfloor.core.sources.rxscale.client import RxScaleClient
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.sandbox.rxscale import (
    BASE_PATH,
    OLD_BASE_PATH,
    RxScaleSandboxConfig,
    RxScaleSandboxState,
    create_app,
)


class _Refusing(httpx.BaseTransport):
    """The in-process bridge, or a refused connection while the stand-in is stopped."""

    def __init__(self, bridge: httpx.BaseTransport) -> None:
        self._bridge = bridge
        self.up = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError(
                "connection refused (the stand-in is stopped)", request=request
            )
        return self._bridge.handle_request(request)


class _Served:
    """An ASGI app on a real uvicorn server in a daemon thread, on 127.0.0.1:<free port>, or
    (``in_process``) on no port at all: requests go straight to the app through
    ``transport``, the demo's :class:`~rxfloor.core.demo.ASGIBridge` (no socket, no server
    start; a URL of it means nothing outside this process).

    ``stop()`` then ``start()`` brings it back on the same port with the same app (an outage;
    in-process, connections are refused meanwhile). Every client this object makes passes
    ``transport`` (None on a real server).
    """

    def __init__(self, app: Any, *, in_process: bool = False) -> None:
        self._app = app
        self.port = 0
        self._thread: threading.Thread | None = None
        self.transport: _Refusing | None = None
        if in_process:
            self._loop = LoopThread()
            self.transport = _Refusing(ASGIBridge(app, self._loop))
            self.root_url = "http://standin.invalid"
            return
        self.start()
        self.root_url = f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        if self.transport is not None:
            return self.transport.up
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.transport is not None:
            self.transport.up = True
            return
        if self.running:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: no 40 ms Nagle/delayed-ACK stall per answer
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self.port))
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app, log_config=None, log_level="warning", access_log=False,
                lifespan="on", timeout_graceful_shutdown=1,
            )
        )  # fmt: skip
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.up = False
            return
        if self._thread is not None and self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._sock.close()

    def close_served(self) -> None:
        """Stop for good: the server, or the in-process app's loop (its deliverer with it)."""
        self.stop()
        if self.transport is not None:
            self._loop.close()

    def http(self, base_url: str, **kw: Any) -> httpx.Client:
        """A plain client on this stand-in (over ``transport`` in-process)."""
        kw.setdefault("timeout", 10)
        return httpx.Client(base_url=base_url, transport=self.transport, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        """``httpx.get`` of one of this stand-in's URLs."""
        with self.http("") as client:
            return client.get(url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        """``httpx.post`` to one of this stand-in's URLs."""
        with self.http("") as client:
            return client.post(url, **kw)


def served_in_process(request: pytest.FixtureRequest) -> bool:
    """The stand-in fixtures serve in-process unless the test is marked ``network``."""
    return request.node.get_closest_marker("network") is None


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    served = _Served(app)
    try:
        yield served.root_url
    finally:
        served.stop()


class SandboxServer(_Served):
    """A running stand-in (see the module docstring)."""

    def __init__(self, config: RxScaleSandboxConfig, *, in_process: bool = False) -> None:
        self.config = config
        self.app = create_app(config)
        self.state: RxScaleSandboxState = self.app.state.sandbox
        self.api_key = config.api_key.get_secret_value()
        self.headers = {"X-API-Key": self.api_key}
        super().__init__(self.app, in_process=in_process)
        self.base_url = self.root_url + BASE_PATH
        self.old_base_url = self.root_url + OLD_BASE_PATH
        self.control = self.http(self.root_url + "/_sandbox")

    def api(self, **kw: Any) -> httpx.Client:
        return self.http(self.base_url, headers=self.headers, **kw)

    def client(self, **kw: Any) -> RxScaleClient:
        kw.setdefault("transport", self.transport)
        return RxScaleClient(self.base_url, SecretStr(self.api_key), **kw)

    def source(self, **client_kw: Any) -> RxScaleSource:
        return RxScaleSource(self.client(**client_kw))

    def transitions(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/transitions"))  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/requests"))  # type: ignore[no-any-return]

    def add_orders(self, count: int, status: str | None = None) -> list[str]:
        body: dict[str, Any] = {"count": count}
        if status is not None:
            body["status"] = status
        return self._ok(self.control.post("/orders", json=body))["created"]  # type: ignore[no-any-return]

    def remote_status(self, uid: str, status: str, comment: str | None = None) -> dict[str, Any]:
        body = {"status": status, "comment": comment}
        return self._ok(self.control.post(f"/orders/{uid}/status", json=body))  # type: ignore[no-any-return]

    def reset(self, seed: int | None = None) -> None:
        self._ok(self.control.post("/reset", json={"seed": seed}))

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/faults", json=settings))  # type: ignore[no-any-return]

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise AssertionError(f"sandbox control {response.status_code}: {response.text}")
        return response.json()

    def wait_transitions(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The transitions log once it holds at least ``count`` entries (AssertionError if not)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.state.transitions()
            if len(log) >= count:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} transitions within {timeout} s: {log}")
            time.sleep(0.01)

    def stats(self) -> dict[str, Any]:
        return self._ok(self.control.get("/stats"))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.close_served()
        self.control.close()


@contextlib.contextmanager
def serve_sandbox(
    config: RxScaleSandboxConfig | None = None, *, in_process: bool = False, **fields: Any
) -> Iterator[SandboxServer]:
    merged = {**(config.model_dump() if config else {}), **fields}
    server = SandboxServer(RxScaleSandboxConfig.model_validate(merged), in_process=in_process)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sandbox_server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with serve_sandbox(seed=20, in_process=served_in_process(request)) as server:
        yield server


@pytest.fixture
def sandbox_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SandboxServer]]:
    inside = served_in_process(request)
    with contextlib.ExitStack() as stack:

        def make(config: RxScaleSandboxConfig | None = None, **fields: Any) -> SandboxServer:
            return stack.enter_context(serve_sandbox(config, in_process=inside, **fields))

        yield make


class Receiver:
    """A webhook receiver: records every delivery (raw body + headers); answers the queued
    status codes first, then ``ok``."""

    def __init__(self, ok: int = 204) -> None:
        self.got: list[tuple[bytes, dict[str, str]]] = []
        self.answers: list[int] = []
        self.ok = ok
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.got.append((body, dict(request.headers)))
            code = self.answers.pop(0) if self.answers else self.ok
        return Response(status_code=code)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[bytes, dict[str, str]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= n:
                    return list(self.got)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} deliveries, got {len(self.got)}")


@contextlib.contextmanager
def serve_receiver(ok: int = 204) -> Iterator[tuple[Receiver, str]]:
    """A :class:`Receiver` on a real loopback port, and its URL."""
    rec = Receiver(ok)
    app = Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])])
    with serve_asgi(app) as url:
        yield rec, url + "/hook"

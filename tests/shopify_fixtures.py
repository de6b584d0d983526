"""The Shopify stand-in for tests: in-process (no port) or served by a REAL uvicorn server on
127.0.0.1 (a free port), as :mod:`tests.remote_fixtures` says.

Stable interface (other test modules depend on it):

``serve_shopify(config=None, *, in_process=False, **fields) -> ContextManager[ShopifyServer]``
    Builds ``create_app(config)`` (``fields`` are :class:`ShopConfig` fields, e.g.
    ``seed=20, restore_rate=1000, access_token="shpat_x", webhook_url=url``; given both,
    ``fields`` override ``config``), serves it in a background thread, stops it on exit.

``ShopifyServer`` (what you get):
    ``base_url``      the shop URL ``http://127.0.0.1:PORT`` (what ``shop_url`` is set to)
    ``api_version``   ``"2025-10"``; ``graphql_url`` = base_url + /admin/api/2025-10/graphql.json
    ``graphql_path(version)``  the path for another served version
    ``access_token``  (str); ``headers`` = ``{"X-Shopify-Access-Token": access_token}``
    ``app_secret``    (str): signs the webhooks (base64 HMAC-SHA256 of the raw body)
    ``shop_domain``   the X-Shopify-Shop-Domain of the deliveries
    ``control``       an ``httpx.Client`` on ``http://127.0.0.1:PORT/_sandbox``
    ``transport``     the in-process bridge (None on a real server); ``client(**kw)`` a new
                      ``ShopifyClient`` with the token set
    ``state``         the live :class:`ShopState` (same process; thread-safe)
    ``api()``         a new ``httpx.Client`` on ``base_url`` with the token set (close it yourself)
    ``graphql(query, variables=None, *, token=...) -> dict``  POST one query, the JSON answer
                      (AssertionError unless HTTP 200)
    ``fulfillment_order(id) -> dict``   as stored (control view)
    ``transitions()``, ``requests()``, ``deliveries()``, ``stats()``   the control logs
    ``submit(n, *, submitted=True, delivery=None, fulfill_at=None, message=None) -> [gid]``
                      n new orders arrive, each with a fulfillment request (or UNSUBMITTED)
    ``merchant(action, id, **kw) -> dict``  a merchant-side change (409 -> AssertionError):
    ``submit_request(id, message=None)``    UNSUBMITTED / REJECTED / INCOMPLETE -> SUBMITTED
    ``request_cancellation(id, message)``   accepted: CANCELLATION_REQUESTED; else cancelled
    ``cancel(id)``  ``hold(id, reason="OTHER", notes=None)``  ``release(id)``
    ``schedule(id, at: datetime | str)``   ``ready(id)`` (the schedule's time arrives now)
    ``set_faults(**settings) -> dict``     live :class:`FaultSettings` (partial update)
    ``set_throttle(**settings) -> dict``   ``maximumAvailable``, ``restoreRate``,
                      ``currentlyAvailable``, ``throttle`` (bool); answers the bucket's state
    ``subscribe(url, topics=None) -> dict``  webhook deliveries to ``url`` (every topic)
    ``replay(seq) -> dict``                a past delivery again, byte for byte, same headers
    ``send_webhook(topic, payload, *, triggered_at=None, secret=None, url=None, event_id=None)``
                      a hand-made delivery (stale time, forged secret) -> delivery entries
    ``reset(seed=None)``  fresh start: logs, faults, bucket, subscriptions (the configured
                      ``webhook_url`` comes back), ``seed`` new orders (default as configured)
    ``wait_transitions(n, timeout=10)``, ``wait_deliveries(n, timeout=10)``  the log once
                      it holds n entries (AssertionError on timeout)
    ``stop()`` / ``start()``  an outage on the same port, same state; ``running``

Control endpoints (no token, never logged, faulted or throttled), under ``/_sandbox``:
    GET  /requests?since=N     every API request: seq, time, path, api_version, operation,
                               operation_name, root_fields, status_code (None if dropped),
                               fault, throttled, requested_cost, actual_cost,
                               currently_available
    GET  /transitions?since=N  every applied change: seq, id (gid), order_name, from, to
                               ("STATUS/REQUEST_STATUS"), action (the mutation's name or the
                               merchant's action), by (api | merchant), time, request_seq,
                               message / reason / tracking / notify_customer / fulfillment_id
    GET  /stats                counts (requests, by_status_code, by_fault, throttled, costs,
                               transitions_by, fulfillment_orders by status, throttle)
    POST /fulfillment_orders {"count", "submitted"?, "delivery"?: SHIPPING|PICK_UP|LOCAL,
                              "fulfill_at"?: ISO, "message"?} -> {"created": [gid…]}
    GET  /fulfillment_orders?id=GID   the fulfillment order as stored (no id: counts)
    POST /merchant/{submit|request_cancellation|cancel|hold|release|schedule|ready}
         {"id": GID, "message"? | "reason"?, "notes"? | "fulfill_at"?}
    GET|POST /faults  /throttle       live settings, partial updates
    POST /reset {"seed"?: N}
    GET|POST|DELETE /webhooks/subscriptions   ({"url", "topics"?}; DELETE ?id=)
    GET  /webhooks/deliveries                 every attempt: seq, topic, event_id,
                                              webhook_id, triggered_at, attempt, replay_of,
                                              status_code, error, body, headers
    POST /webhooks/deliveries/{seq}/replay    POST /webhooks/send

Fixtures (bind them in a test module — no ``pytest_plugins``)::

    from tests import shopify_fixtures
    shopify_server = shopify_fixtures.shopify_server
    shopify_factory = shopify_fixtures.shopify_factory

    ``shopify_server``   20 submitted fulfillment orders, no faults, the default bucket
                         (1000 points, 50/s)
    ``shopify_factory``  ``shopify_factory(**fields) -> ShopifyServer``; all stopped at teardown
    Both serve in-process unless the test is marked ``@pytest.mark.network`` (a real port).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.sandbox.shopify import ShopConfig, ShopState, create_app, graphql_path
from tests.remote_fixtures import _Served, served_in_process

API_VERSION = "2025-10"


class ShopifyServer(_Served):
    """A running Shopify stand-in (see the module docstring)."""

    def __init__(self, config: ShopConfig, *, in_process: bool = False) -> None:
        self.config = config
        self.app = create_app(config)
        self.state: ShopState = self.app.state.shop
        self.access_token = config.access_token.get_secret_value()
        self.app_secret = config.app_secret.get_secret_value()
        self.shop_domain = config.shop_domain
        self.headers = {"X-Shopify-Access-Token": self.access_token}
        self.api_version = API_VERSION
        super().__init__(self.app, in_process=in_process)
        self.base_url = self.root_url
        self.graphql_url = self.base_url + graphql_path(API_VERSION)
        self.control = self.http(self.root_url + "/_sandbox", timeout=30, verify=_ssl_context())
        self._api = self.api(timeout=30)

    graphql_path = staticmethod(graphql_path)

    def api(self, **kw: Any) -> httpx.Client:
        kw.setdefault("verify", _ssl_context())
        return self.http(self.base_url, headers=self.headers, **kw)

    def client(self, **kw: Any) -> ShopifyClient:
        kw.setdefault("transport", self.transport)
        return ShopifyClient(self.base_url, SecretStr(self.access_token), **kw)

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"X-Shopify-Access-Token": token} if token is not None else None
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        answer = self._api.post(graphql_path(API_VERSION), json=body, headers=headers)
        assert answer.status_code == 200, f"{answer.status_code}: {answer.text}"
        return answer.json()  # type: ignore[no-any-return]

    # -- control ------------------------------------------------------------------------

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise AssertionError(f"sandbox control {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def fulfillment_order(self, fo_id: str) -> dict[str, Any]:
        return self._ok(self.control.get("/fulfillment_orders", params={"id": fo_id}))  # type: ignore[no-any-return]

    def transitions(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/transitions"))  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/requests"))  # type: ignore[no-any-return]

    def deliveries(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/webhooks/deliveries"))  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._ok(self.control.get("/stats"))  # type: ignore[no-any-return]

    def submit(
        self,
        count: int,
        *,
        submitted: bool = True,
        delivery: str | None = None,
        fulfill_at: datetime | str | None = None,
        message: str | None = None,
    ) -> list[str]:
        body: dict[str, Any] = {"count": count, "submitted": submitted}
        if delivery is not None:
            body["delivery"] = delivery
        if fulfill_at is not None:
            body["fulfill_at"] = _iso(fulfill_at)
        if message is not None:
            body["message"] = message
        return self._ok(self.control.post("/fulfillment_orders", json=body))["created"]  # type: ignore[no-any-return]

    def merchant(self, action: str, fo_id: str, **kw: Any) -> dict[str, Any]:
        body = {"id": fo_id, **{k: v for k, v in kw.items() if v is not None}}
        return self._ok(self.control.post(f"/merchant/{action}", json=body))  # type: ignore[no-any-return]

    def submit_request(self, fo_id: str, message: str | None = None) -> dict[str, Any]:
        return self.merchant("submit", fo_id, message=message)

    def request_cancellation(self, fo_id: str, message: str | None = None) -> dict[str, Any]:
        return self.merchant("request_cancellation", fo_id, message=message)

    def cancel(self, fo_id: str) -> dict[str, Any]:
        return self.merchant("cancel", fo_id)

    def hold(self, fo_id: str, reason: str = "OTHER", notes: str | None = None) -> dict[str, Any]:
        return self.merchant("hold", fo_id, reason=reason, notes=notes)

    def release(self, fo_id: str) -> dict[str, Any]:
        return self.merchant("release", fo_id)

    def schedule(self, fo_id: str, at: datetime | str) -> dict[str, Any]:
        return self.merchant("schedule", fo_id, fulfill_at=_iso(at))

    def ready(self, fo_id: str) -> dict[str, Any]:
        return self.merchant("ready", fo_id)

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/faults", json=settings))  # type: ignore[no-any-return]

    def set_throttle(self, **settings: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/throttle", json=settings))  # type: ignore[no-any-return]

    def subscribe(self, url: str, topics: list[str] | None = None) -> dict[str, Any]:
        body = {"url": url, "topics": topics}
        return self._ok(self.control.post("/webhooks/subscriptions", json=body))  # type: ignore[no-any-return]

    def replay(self, seq: int) -> dict[str, Any]:
        return self._ok(self.control.post(f"/webhooks/deliveries/{seq}/replay"))  # type: ignore[no-any-return]

    def send_webhook(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        triggered_at: datetime | str | None = None,
        secret: str | None = None,
        url: str | None = None,
        event_id: str | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"topic": topic, "payload": payload}
        for key, value in (
            ("triggered_at", triggered_at),
            ("secret", secret),
            ("url", url),
            ("event_id", event_id),
        ):
            if value is not None:
                body[key] = _iso(value) if isinstance(value, datetime) else value
        return self._ok(self.control.post("/webhooks/send", json=body))  # type: ignore[no-any-return]

    def reset(self, seed: int | None = None) -> None:
        self._ok(self.control.post("/reset", json={"seed": seed}))

    def wait_transitions(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return _wait(self.state.transitions, count, timeout, "transitions")

    def wait_deliveries(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return _wait(self.state.deliveries, count, timeout, "deliveries")

    def close(self) -> None:
        self.close_served()
        self.control.close()
        self._api.close()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One SSL context for every client (httpx builds one per client: ~0.2 s each)."""
    return ssl.create_default_context()


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def _wait(
    read: Callable[[], list[dict[str, Any]]], count: int, timeout: float, what: str
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        log = read()
        if len(log) >= count:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} {what} within {timeout} s: {log}")
        time.sleep(0.01)


@contextlib.contextmanager
def serve_shopify(
    config: ShopConfig | None = None, *, in_process: bool = False, **fields: Any
) -> Iterator[ShopifyServer]:
    merged = {**(config.model_dump() if config else {}), **fields}
    for key in ("access_token", "app_secret"):  # model_dump masks SecretStr
        if config is not None and key not in fields:
            merged[key] = getattr(config, key).get_secret_value()
    server = ShopifyServer(ShopConfig.model_validate(merged), in_process=in_process)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def shopify_server(request: pytest.FixtureRequest) -> Iterator[ShopifyServer]:
    with serve_shopify(seed=20, in_process=served_in_process(request)) as server:
        yield server


@pytest.fixture
def shopify_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., ShopifyServer]]:
    inside = served_in_process(request)
    with contextlib.ExitStack() as stack:

        def make(config: ShopConfig | None = None, **fields: Any) -> ShopifyServer:
            return stack.enter_context(serve_shopify(config, in_process=inside, **fields))

        yield make

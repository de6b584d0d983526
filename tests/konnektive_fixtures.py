"""The Konnektive stand-in for tests: in-process (no port) or served by a REAL uvicorn server
on 127.0.0.1 (the same shape as :mod:`tests.remote_fixtures`).

``serve_konnektive(config=None, *, in_process=False, **fields)``
``-> ContextManager[KonnektiveServer]``
    ``fields`` are :class:`KonnektiveConfig` fields (``seed=20``, ``password="p"``, …).

``KonnektiveServer``:
    ``base_url`` the API root (what ``[sources.konnektive] api_url`` names); ``port``
    ``login_id``, ``password``  the API user (str)
    ``control``   an ``httpx.Client`` on ``/_sandbox``; ``state`` the live KonnektiveState
    ``source(**client_kw)``  a new ``KonnektiveSource`` with the API user (close it yourself)
    ``transitions()``, ``requests()``       the control logs
    ``add_orders(n, status="PENDING") -> [orderId]``
    ``merchant(order_id, status)``          a merchant-side change (HOLD, PENDING, CANCELLED,
                                            RMA_PENDING, RETURNED, FAILED, RECYCLED)
    ``carrier(order_id, status)``           the carrier saw it: SHIPPED / DELIVERED
    ``fulfillment(order_id) -> dict``       the order's current fulfillment as stored
    ``set_faults(**settings)``, ``reset(seed=None)``
    ``stop()`` / ``start()``                an outage on the same port, same state

Fixtures (bind them in a module): ``konnektive_server`` (20 PENDING orders, no faults) and
``konnektive_factory(**fields)``: in-process unless the test is marked ``@pytest.mark.network``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.sources.konnektive.client import KonnektiveClient
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from rxfloor.sandbox.konnektive import KonnektiveConfig, KonnektiveState, create_app
from tests.remote_fixtures import _Served, served_in_process


class KonnektiveServer(_Served):
    def __init__(self, config: KonnektiveConfig, *, in_process: bool = False) -> None:
        self.config = config
        self.app = create_app(config)
        self.state: KonnektiveState = self.app.state.konnektive
        self.login_id = config.login_id.get_secret_value()
        self.password = config.password.get_secret_value()
        super().__init__(self.app, in_process=in_process)
        self.base_url = self.root_url
        self.control = self.http(self.root_url + "/_sandbox")

    def source(self, **client_kw: Any) -> KonnektiveSource:
        client_kw.setdefault("rate_limit_per_s", None)
        client_kw.setdefault("timeout_s", 2.0)
        client_kw.setdefault("transport", self.transport)
        client = KonnektiveClient(
            self.base_url, SecretStr(self.login_id), SecretStr(self.password), **client_kw
        )
        return KonnektiveSource(client)

    def transitions(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/transitions"))  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self._ok(self.control.get("/requests"))  # type: ignore[no-any-return]

    def add_orders(self, count: int, status: str = "PENDING") -> list[str]:
        body = {"count": count, "status": status}
        return self._ok(self.control.post("/orders", json=body))["created"]  # type: ignore[no-any-return]

    def merchant(self, order_id: str, status: str) -> dict[str, Any]:
        body = {"status": status, "by": "merchant"}
        return self._ok(self.control.post(f"/orders/{order_id}/fulfillment", json=body))  # type: ignore[no-any-return]

    def carrier(self, order_id: str, status: str) -> dict[str, Any]:
        body = {"status": status, "by": "carrier"}
        return self._ok(self.control.post(f"/orders/{order_id}/fulfillment", json=body))  # type: ignore[no-any-return]

    def fulfillment(self, order_id: str) -> dict[str, Any]:
        found = self.state.fulfillment_of(order_id)
        assert found is not None, f"no fulfillment for {order_id}"
        return found

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/faults", json=settings))  # type: ignore[no-any-return]

    def reset(self, seed: int | None = None) -> None:
        self._ok(self.control.post("/reset", json={"seed": seed}))

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise AssertionError(f"konnektive control {response.status_code}: {response.text}")
        return response.json()

    def close(self) -> None:
        self.close_served()
        self.control.close()


@contextlib.contextmanager
def serve_konnektive(
    config: KonnektiveConfig | None = None, *, in_process: bool = False, **fields: Any
) -> Iterator[KonnektiveServer]:
    merged = {**(config.model_dump() if config else {}), **fields}
    for key in ("login_id", "password"):  # model_dump gives SecretStr objects back
        if isinstance(merged.get(key), SecretStr):
            merged[key] = merged[key].get_secret_value()
    server = KonnektiveServer(KonnektiveConfig.model_validate(merged), in_process=in_process)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def konnektive_server(request: pytest.FixtureRequest) -> Iterator[KonnektiveServer]:
    with serve_konnektive(seed=20, in_process=served_in_process(request)) as server:
        yield server


@pytest.fixture
def konnektive_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., KonnektiveServer]]:
    inside = served_in_process(request)
    with contextlib.ExitStack() as stack:

        def make(config: KonnektiveConfig | None = None, **fields: Any) -> KonnektiveServer:
            return stack.enter_context(serve_konnektive(config, in_process=inside, **fields))

        yield make

"""``rxfloor --demo``: the four stand-ins in-process (no port) -- RxScale's, Shopify's,
Photon's and Konnektive's -- each with live activity and its own sync worker, on one board.

A stand-in is an ASGI app and ``httpx.ASGITransport`` is async-only, while the worker is
synchronous: :class:`ASGIBridge` runs the app on an event loop in one daemon thread and
hands each request over to it, so the worker code is exactly the code used against the
real service. The same loop runs the stand-ins' activity drivers (new orders every few
seconds; now and then a remote cancel, a merchant's hold or cancellation request, a
carrier's confirmation) and Photon's deliverer: Photon lists nothing, its orders reach the
demo as signed CloudEvents posted to the demo's own webhook receiver (in-process too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from rxfloor.core.config import Settings
from rxfloor.core.service import OrderService, open_service
from rxfloor.core.sources.konnektive.client import KonnektiveClient
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from rxfloor.core.sources.photon.client import PhotonClient
from rxfloor.core.sources.photon.source import PhotonSource, PhotonWebhooks
from rxfloor.core.sources.rxscale.client import RemoteClient
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.webhooks import WebhookReceiver, serve_app
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.sandbox import konnektive as konnektive_sandbox
from rxfloor.sandbox import photon as photon_sandbox
from rxfloor.sandbox import shopify as shop_sandbox
from rxfloor.sandbox.konnektive.state import Refusal as KonnektiveRefusal
from rxfloor.sandbox.rxscale import (
    BASE_PATH,
    SandboxConfig,
    SandboxState,
    create_app,
    drive_activity,
)

#: where the Photon stand-in posts its events (served by the demo's receiver, no port)
PHOTON_HOOK_URL = "http://rxfloor.demo/webhooks/photon"


class _Loop:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rxfloor-demo-loop",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Cancel what still runs (the activity driver, webhook deliveries), then stop."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.submit(cancel_all()).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class ASGIBridge(httpx.BaseTransport):
    """A synchronous httpx transport that serves requests from an ASGI app on ``loop``."""

    def __init__(self, app: Any, loop: _Loop, timeout_s: float = 10.0) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = loop
        self._timeout = timeout_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def go() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(request.method, request.url, headers=request.headers,
                                  content=body)  # fmt: skip
            response = await self._inner.handle_async_request(inner)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        future = self._loop.submit(go())
        try:
            status, headers, content = future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the demo remote did not answer in time") from None
        return httpx.Response(status, headers=headers, content=content, request=request)


@dataclass
class DemoSync:
    """What the board's ``--demo`` holds while it runs."""

    service: OrderService
    sync: BackgroundSync  # one worker per source, each in its own thread
    remote: SandboxState
    shop: shop_sandbox.ShopState
    photon: photon_sandbox.PhotonSandboxState
    konnektive: konnektive_sandbox.KonnektiveState


@contextmanager
def start_demo_sync(
    settings: Settings,
    *,
    remote_orders: int = 30,
    shop_orders: int = 12,
    photon_orders: int = 8,
    konnektive_orders: int = 10,
    every_s: float = 4.0,
    cancel_chance: float = 0.15,
    interval_s: float = 1.0,
) -> Iterator[DemoSync]:
    """Start the four in-process stand-ins, their activity, Photon's deliveries to the demo's
    receiver and a background worker per source on the configured (demo) database;
    everything stops when the block ends."""
    key = secrets.token_urlsafe(16)  # lives only in this process
    app = create_app(SandboxConfig(api_key=SecretStr(key), seed=remote_orders))
    loop = _Loop()
    activity = loop.submit(
        drive_activity(app.state.sandbox, every_s, seed=0, cancel_chance=cancel_chance)
    )
    section = settings.rxscale()
    client = RemoteClient(
        "http://sandbox" + BASE_PATH,
        SecretStr(key),
        rate_limit_per_s=section.rate_limit_per_s,
        transport=ASGIBridge(app, loop, section.http_timeout_s),
    )
    service = open_service(settings)
    policy = RetryPolicy.from_settings(settings)
    worker = SyncWorker(service, RxScaleSource(client), policy=policy)
    token = "shpat_" + secrets.token_urlsafe(16)
    # a Shopify Plus-sized bucket (1,000 points/s): a pull each second stays well inside it
    shop_app = shop_sandbox.create_app(
        shop_sandbox.ShopConfig(
            access_token=SecretStr(token),
            seed=shop_orders,
            bucket_size=2000.0,
            restore_rate=1000.0,
        )
    )
    shop_activity = loop.submit(
        shop_sandbox.drive_activity(
            shop_app.state.shop, every_s * 1.5, seed=1, change_chance=cancel_chance
        )
    )
    bridge = ASGIBridge(shop_app, loop, section.http_timeout_s)
    shop_client = ShopifyClient("http://shop.sandbox", SecretStr(token), transport=bridge)
    shop_worker = SyncWorker(service, ShopifySource(shop_client), policy=policy)
    photon_worker, receiver, photon_state, photon_tasks = _photon(
        service, loop, policy, orders=photon_orders, every_s=every_s * 1.7,
        cancel_chance=cancel_chance, timeout_s=section.http_timeout_s,
    )  # fmt: skip
    login, password = "demo-" + secrets.token_hex(4), secrets.token_urlsafe(16)
    k_app = konnektive_sandbox.create_app(
        konnektive_sandbox.KonnektiveConfig(
            login_id=SecretStr(login), password=SecretStr(password), seed=konnektive_orders
        )
    )
    k_activity = loop.submit(
        konnektive_sandbox.drive_activity(
            k_app.state.konnektive, every_s * 2.1, seed=3, change_chance=cancel_chance
        )
    )
    k_bridge = ASGIBridge(k_app, loop, section.http_timeout_s)
    k_client = KonnektiveClient("http://konnektive.sandbox", SecretStr(login),
                                SecretStr(password), rate_limit_per_s=None,
                                transport=k_bridge)  # fmt: skip
    k_worker = SyncWorker(service, KonnektiveSource(k_client), policy=policy)
    workers = [worker, shop_worker, photon_worker, k_worker]
    _exceptions_to_see(photon_state, k_app.state.konnektive)
    receiver.start()
    background = BackgroundSync(workers, interval_s).start()
    try:
        yield DemoSync(service, background, app.state.sandbox, shop_app.state.shop,
                       photon_state, k_app.state.konnektive)  # fmt: skip
    finally:
        background.stop()
        for task in (activity, shop_activity, k_activity, *photon_tasks):
            task.cancel()
        loop.close()
        receiver.stop()
        service.store.close()


def _exceptions_to_see(
    photon: photon_sandbox.PhotonSandboxState, konnektive: konnektive_sandbox.KonnektiveState
) -> None:
    """Something for the exceptions queue from the first minute (``e``): a Photon order in
    error and a Konnektive fulfillment that Failed, each in its source's own words."""
    placed = sorted(o["id"] for o in photon.orders() if o.get("state") == "PLACED")
    if placed:
        photon.error(placed[0], "insurance rejected the claim: prior authorization needed")
    pending = sorted(konnektive.orders)
    for order_id in pending[:1]:
        with contextlib.suppress(KonnektiveRefusal):  # refused from where it is: fine
            konnektive.merchant(order_id, "FAILED")


def _photon(
    service: OrderService,
    loop: _Loop,
    policy: RetryPolicy,
    *,
    orders: int,
    every_s: float,
    cancel_chance: float,
    timeout_s: float,
) -> tuple[
    SyncWorker,
    WebhookReceiver,
    photon_sandbox.PhotonSandboxState,
    list[concurrent.futures.Future[Any]],
]:
    """Photon's stand-in subscribed to the demo's receiver: its seeded orders and every
    later event are signed and posted there, as Photon would; the worker sends the floor's
    status reports back."""
    token, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    config = photon_sandbox.PhotonSandboxConfig(token=SecretStr(token), seed=orders,
                                                webhook_url=PHOTON_HOOK_URL,
                                                webhook_secret=SecretStr(secret))  # fmt: skip
    app = photon_sandbox.create_app(config)
    state: photon_sandbox.PhotonSandboxState = app.state.sandbox
    webhooks = PhotonWebhooks(pharmacy_id=config.pharmacy_id, tolerance_s=300.0)
    receiver = WebhookReceiver(service, secret.encode(), webhooks=webhooks, source="photon")
    # the receiver's app without its lifespan (ASGITransport sends none): started by the caller
    receiving = serve_app({"photon": receiver}, default=None)
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiving))
    tasks = [
        loop.submit(photon_sandbox.deliver_forever(state, hooks)),
        loop.submit(
            photon_sandbox.drive_activity(state, every_s, seed=2, cancel_chance=cancel_chance)
        ),
    ]
    client = PhotonClient("http://photon.sandbox", SecretStr(token), rate_limit_per_s=None,
                          transport=ASGIBridge(app, loop, timeout_s))  # fmt: skip
    source = PhotonSource(client, pharmacy_id=config.pharmacy_id, webhooks=webhooks)
    return SyncWorker(service, source, policy=policy), receiver, state, tasks

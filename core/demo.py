"""``rxfloor --demo``: both stand-ins in-process (no port), RxScale's and Shopify's, each with
live activity and its own sync worker, on one board.

A stand-in is an ASGI app and ``httpx.ASGITransport`` is async-only, while the worker is
synchronous: :class:`ASGIBridge` runs the app on an event loop in one daemon thread and
hands each request over to it, so the worker code is exactly the code used against the
real service. The same loop runs both stand-ins' activity drivers (new orders every few
seconds; now and then a remote cancel on RxScale's side, a merchant's hold or cancellation
request on Shopify's).
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
from rxfloor.core.sources.rxscale.client import RemoteClient
from rxfloor.core.sources.rxscale.sandbox import (
    BASE_PATH,
    SandboxConfig,
    SandboxState,
    create_app,
    drive_activity,
)
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sources.shopify import sandbox as shop_sandbox
from rxfloor.core.sources.shopify.client import ShopifyClient
from rxfloor.core.sources.shopify.source import ShopifySource
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.worker import SyncWorker


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


@contextmanager
def start_demo_sync(
    settings: Settings,
    *,
    remote_orders: int = 30,
    shop_orders: int = 12,
    every_s: float = 4.0,
    cancel_chance: float = 0.15,
    interval_s: float = 1.0,
) -> Iterator[DemoSync]:
    """Start both in-process stand-ins, their activity and a background worker per source on
    the configured (demo) database; everything stops when the block ends."""
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
    worker = SyncWorker(service, RxScaleSource(client),
                        policy=RetryPolicy.from_settings(settings))  # fmt: skip
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
    shop_worker = SyncWorker(service, ShopifySource(shop_client),
                             policy=RetryPolicy.from_settings(settings))  # fmt: skip
    background = BackgroundSync([worker, shop_worker], interval_s).start()
    try:
        yield DemoSync(service, background, app.state.sandbox, shop_app.state.shop)
    finally:
        background.stop()
        activity.cancel()
        shop_activity.cancel()
        loop.close()
        service.store.close()

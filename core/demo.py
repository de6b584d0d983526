"""``rxfloor --demo``: every installed stand-in in-process (no port), each with live
activity and its own sync worker, on one board.

The stand-ins are not part of the product: they are found through the entry point group
``rxfloor.sandboxes`` (:mod:`rxfloor.core.sources.standin`), never imported here. Each gets
a :class:`~rxfloor.core.sources.standin.DemoKit` and starts itself: its app, its remote-side
activity, its client over the bridge below, its worker, and (for a source that pushes)
its signed webhooks posted to the demo's own receiver, in-process too.

A stand-in is an ASGI app and ``httpx.ASGITransport`` is async-only, while the worker is
synchronous: :class:`ASGIBridge` runs the app on an event loop in one daemon thread and
hands each request over to it, so the worker code is exactly the code used against the
real service. The same loop runs the stand-ins' activity drivers and deliverers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from rxfloor.core import sources
from rxfloor.core.config import Settings
from rxfloor.core.service import OrderService, open_service
from rxfloor.core.sources.base import OrderSource, WebhookFormat
from rxfloor.core.sources.standin import standins
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.runner import BackgroundSync
from rxfloor.core.sync.webhooks import WebhookReceiver, serve_app
from rxfloor.core.sync.worker import SyncWorker

#: where a stand-in that pushes posts its webhooks (served by the demo's receiver, no port)
HOOK_ROOT = "http://rxfloor.demo/webhooks/"


class LoopThread:
    """An asyncio event loop running forever in a daemon thread: where the in-process
    stand-ins run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="rxfloor-demo-loop", daemon=True
        )
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

    def __init__(self, app: Any, loop: LoopThread, timeout_s: float = 10.0) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = loop
        self._timeout = timeout_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def go() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
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
    #: each stand-in's state (what a test pokes: remote-side changes, the logs), by source
    states: dict[str, Any] = field(default_factory=dict)


class _Kit:
    """The :class:`~rxfloor.core.sources.standin.DemoKit` the stand-ins start with."""

    def __init__(
        self,
        settings: Settings,
        service: OrderService,
        loop: LoopThread,
        every_s: float,
        cancel_chance: float,
    ) -> None:
        self.settings, self.service, self.loop = settings, service, loop
        self.every_s, self.cancel_chance = every_s, cancel_chance
        self.policy = RetryPolicy.from_settings(settings)
        self.workers: list[SyncWorker] = []
        self.receivers: list[WebhookReceiver] = []
        self.tasks: list[concurrent.futures.Future[Any]] = []

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        task = self.loop.submit(coro)
        self.tasks.append(task)
        return task

    def transport(self, app: Any, timeout_s: float | None = None) -> Any:
        return ASGIBridge(app, self.loop, timeout_s or self.settings.http_timeout_s)

    def sync(self, source: OrderSource) -> None:
        self.workers.append(SyncWorker(self.service, source, policy=self.policy))

    def receive(self, name: str, secret: bytes, webhooks: WebhookFormat) -> tuple[str, Any]:
        receiver = WebhookReceiver(self.service, secret, webhooks=webhooks, source=name)
        self.receivers.append(receiver)
        # the receiver's app without its lifespan (ASGITransport sends none): started below
        receiving = serve_app({name: receiver}, default=None)
        return HOOK_ROOT + name, httpx.AsyncClient(transport=httpx.ASGITransport(app=receiving))


def _rank(name: str) -> int:
    """Its source's rank: the stand-ins start, and their workers run, in the board's order."""
    return sources.plugin(name).rank if name in sources.names() else 1_000


@contextmanager
def start_demo_sync(
    settings: Settings,
    *,
    orders: Mapping[str, int] | None = None,
    every_s: float = 4.0,
    cancel_chance: float = 0.15,
    interval_s: float = 1.0,
) -> Iterator[DemoSync]:
    """Start every installed stand-in in-process with its activity, ``orders[name]`` seeded
    (default: its own number), each source's worker and the receiver of their webhooks on
    the configured (demo) database; everything stops when the block ends."""
    loop = LoopThread()
    service = open_service(settings)
    kit = _Kit(settings, service, loop, every_s, cancel_chance)
    ranked = sorted(standins(), key=lambda s: (_rank(s.name), s.name))
    states = {s.name: s.demo(kit, (orders or {}).get(s.name)) for s in ranked if s.demo}
    for receiver in kit.receivers:
        receiver.start()
    background = BackgroundSync(kit.workers, interval_s).start()
    try:
        yield DemoSync(service, background, states)
    finally:
        background.stop()
        for task in kit.tasks:
            task.cancel()
        loop.close()
        for receiver in kit.receivers:
            receiver.stop()
        service.store.close()

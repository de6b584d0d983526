"""The webhook receiver: signed deliveries from the remote, verified, deduplicated, applied.

Moved out of :mod:`rxfloor.core.sync` unchanged; the sync module keeps push, pull, the
lease and the background runner.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from rxfloor.core.remote import RemoteOrder, WebhookEvent
from rxfloor.core.service import OrderService
from rxfloor.core.store import utcnow, webhook_events
from rxfloor.core.sync import RemoteApplier

log = logging.getLogger("rxfloor.webhooks")


def signature_ok(secret: bytes, body: bytes, given: str | None) -> bool:
    """``X-Webhook-Signature`` check: hex HMAC-SHA256 of the raw body, constant-time."""
    if not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


@dataclass
class WebhookStats:
    accepted: int = 0
    applied: int = 0
    duplicates: int = 0
    forged: int = 0
    malformed: int = 0


class WebhookReceiver:
    """Verifies, acknowledges at once, then applies in a worker thread (deduplicated)."""

    def __init__(self, service: OrderService, secret: bytes) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.applier = RemoteApplier(service)
        self.store = service.store
        self._secret = secret
        self.stats = WebhookStats()
        self._queue: queue.Queue[tuple[str, RemoteOrder] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="rxfloor-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def rotate_secret(self, secret: bytes) -> None:
        """A new signing secret (a new subscription); deliveries signed with the old one fail."""
        if not secret:
            raise ValueError("the webhook secret is empty")
        self._secret = secret

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every accepted delivery has been applied (tests)."""
        return self._idle.wait(timeout)

    def receive(self, body: bytes, signature: str | None) -> tuple[int, dict[str, str]]:
        """HTTP status and JSON answer for one delivery; parsing only after the signature."""
        if not signature_ok(self._secret, body, signature):
            self.stats.forged += 1
            return 401, {"error": "invalid signature"}
        try:
            event = WebhookEvent.model_validate_json(body)
            order = RemoteOrder.model_validate(event.data)
        except ValidationError:
            self.stats.malformed += 1
            return 400, {"error": "malformed event"}
        self.stats.accepted += 1
        key = f"{event.event_type}:{event.timestamp:.0f}:{order.uid}"
        self._idle.clear()
        self._queue.put((key, order))
        return 202, {"status": "accepted"}

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, order = item
            try:
                self._apply_once(key, order)
            except Exception as exc:  # the poller will catch up; keep receiving
                log.warning("webhook apply failed: %s", exc)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _apply_once(self, key: str, order: RemoteOrder) -> None:
        with self.store.read() as conn:
            seen = conn.execute(
                select(webhook_events.c.key).where(webhook_events.c.key == key)
            ).first()
        if seen is not None:
            self.stats.duplicates += 1
            return
        self.applier.apply([order])  # idempotent: applying twice after a crash is harmless
        try:
            with self.store.write() as conn:
                conn.execute(insert(webhook_events).values(key=key, received_at=utcnow()))
        except IntegrityError:
            self.stats.duplicates += 1
            return
        self.stats.applied += 1

    def asgi_app(self) -> Any:
        """A Starlette app: POST any path; 2xx at once, the work is done after."""
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            code, answer = self.receive(body, request.headers.get("X-Webhook-Signature"))
            return JSONResponse(answer, code)

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.start()
            try:
                yield
            finally:
                self.stop()

        app = Starlette(
            routes=[
                Route("/", hook, methods=["POST"]),
                Route("/{path:path}", hook, methods=["POST"]),
            ],
            lifespan=lifespan,
        )
        app.state.receiver = self
        return app

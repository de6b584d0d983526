"""A second source for tests of several sources, before its own package: a real RxScale
stand-in on its own loopback server, speaking to the floor under another source's name.

:class:`Renamed` wraps a real :class:`RxScaleSource` (its own server, client, limiter): its
orders are handed out as ``name``'s (local ids ``<name>:<uid>``), its lease, cursor and
health are ``name``'s. ``gate`` (test code, not the source) makes every call wait until the
test opens it: a source that hangs, to prove it holds up no other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import NewOrder
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import OrderSource, PushPlan, SourceOrder, WebhookFormat


class RenamedOrder:
    """One order of the wrapped source, as ``name``'s."""

    def __init__(self, inner: SourceOrder, name: str) -> None:
        self.inner = inner
        self.source_name = name

    @property
    def uid(self) -> str:
        return self.inner.uid

    @property
    def status(self) -> str:
        return self.inner.status

    @property
    def comment(self) -> str | None:
        return self.inner.comment

    @property
    def board_status(self) -> Status | None:
        return self.inner.board_status

    @property
    def on_hold(self) -> bool:
        return self.inner.on_hold

    @property
    def cancel_requested(self) -> bool:
        return self.inner.cancel_requested

    @property
    def request_message(self) -> str | None:
        return self.inner.request_message

    @property
    def scheduled_at(self) -> datetime | None:
        return self.inner.scheduled_at

    def to_new_order(self, board_status: Status) -> NewOrder:
        data = self.inner.to_new_order(board_status).model_dump(exclude={"id", "source"})
        return NewOrder(id=local_id(self.source_name, self.uid), source=self.source_name, **data)


class Renamed:
    """An :class:`OrderSource` named ``name`` over another source's real client."""

    def __init__(self, inner: OrderSource, name: str) -> None:
        self.inner = inner
        self.name = name
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def _wait(self) -> None:
        self.calls += 1
        assert self.gate.wait(60), "the gate was never opened"

    @property
    def webhooks(self) -> WebhookFormat:
        return self.inner.webhooks

    @property
    def rate_limit_per_s(self) -> float | None:
        return self.inner.rate_limit_per_s

    def active_statuses(self) -> tuple[str, ...] | None:
        return self.inner.active_statuses()

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[SourceOrder | str]:
        self._wait()
        for item in self.inner.iter_orders(page_size, active=active):
            yield item if isinstance(item, str) else RenamedOrder(item, self.name)

    def get_order(self, uid: str) -> SourceOrder:
        self._wait()
        return RenamedOrder(self.inner.get_order(uid), self.name)

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return self.inner.plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None,
    ) -> SourceOrder:
        self._wait()
        answer = self.inner.push_step(
            uid, step, reason=reason, idempotency_key=idempotency_key, payload=payload
        )
        return RenamedOrder(answer, self.name)

    def close(self) -> None:
        self.inner.close()

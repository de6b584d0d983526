"""An order source held in memory, for tests of the sync engine that do not care which vendor
answers (the worker, the lease, undo against push, settling): no app, no HTTP, no thread.

It implements :class:`~rxfloor.core.sources.base.OrderSource` with its own small rules: the
forward path ``open -> processing -> shipped -> completed`` and ``cancelled`` from anywhere
before ``completed`` (RxScale's v1 words, so it may run under that registered name: the
engine reads a source's traits by its name, and RxScale's ids stay bare). A step repeated
with the same idempotency key is applied once; a step its rules do not allow is refused
(409). The remote side (:class:`MemoryRemote`) is changed with :meth:`MemoryRemote.add`
and :meth:`MemoryRemote.remote`; what was sent is in :attr:`MemoryRemote.pushes`, what was
applied in :attr:`MemoryRemote.transitions`; each worker gets a source of its own on it
(:meth:`MemoryRemote.source`).

A vendor's own rules, wire format and faults are tested against its stand-in
(``tests/*_fixtures.py``), not here.

Fixture (bind it in a test module, as the stand-ins' are): ``memory`` a remote with 20 open
orders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import NewOrder
from rxfloor.core.sources import local_id
from rxfloor.core.sources.base import PermanentError, PushPlan, SourceOrder
from rxfloor.core.sources.folder.source import NoWebhooks

PATH = ("open", "processing", "shipped", "completed")
BOARD: dict[str, Status] = {
    "open": Status.OPEN,
    "processing": Status.PROCESSING,
    "shipped": Status.FINISHED,
    "completed": Status.FINISHED,
    "cancelled": Status.CANCELLED,
}
ACTIVE = ("open", "processing")
TARGET = {Action.START: "processing", Action.FINISH: "shipped", Action.CANCEL: "cancelled"}


@dataclass(frozen=True)
class MemoryOrder:
    """One order as the memory source hands it out (a snapshot: later changes make new ones).
    It holds nothing, asks nothing and schedules nothing."""

    uid: str
    status: str
    source_name: str
    comment: str | None = None
    on_hold: bool = False
    cancel_requested: bool = False
    request_message: str | None = None
    scheduled_at: datetime | None = None

    @property
    def board_status(self) -> Status | None:
        return BOARD.get(self.status)

    def to_new_order(self, board_status: Status) -> NewOrder:
        return NewOrder(id=local_id(self.source_name, self.uid), source=self.source_name,
                        name=f"#{self.uid}", status=board_status, remote_status=self.status,
                        patient_name=f"Patient {self.uid}")  # fmt: skip


@dataclass(frozen=True)
class Push:
    """One step the source was sent (applied or refused)."""

    uid: str
    step: str
    idempotency_key: str
    reason: str | None


class MemoryRemote:
    """The remote's side: its orders and what it was sent. Each worker talks to it through a
    :class:`MemorySource` of its own (as each opens its own client of a real remote), so a
    test may wrap one worker's source without touching another's."""

    def __init__(self, orders: int = 20, *, name: str = "rxscale") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._orders: dict[str, MemoryOrder] = {}
        self._applied: dict[str, MemoryOrder] = {}  # idempotency key -> its answer
        #: every step sent, in order
        self.pushes: list[Push] = []
        #: every step applied: (uid, from, to)
        self.transitions: list[tuple[str, str, str]] = []
        self.add(orders)

    def source(self) -> MemorySource:
        """A new source on this remote (a worker's own)."""
        return MemorySource(self)

    def add(self, count: int, status: str = "open") -> list[str]:
        """``count`` new orders arrive (uids ``m-1001``, ``m-1002``, …)."""
        with self._lock:
            first = 1001 + len(self._orders)
            made = [f"m-{n}" for n in range(first, first + count)]
            for uid in made:
                self._orders[uid] = MemoryOrder(uid, status, self.name)
            return made

    def remote(self, uid: str, status: str, comment: str | None = None) -> None:
        """The remote moves ``uid`` by itself."""
        with self._lock:
            self._orders[uid] = replace(self._orders[uid], status=status, comment=comment)

    def status(self, uid: str) -> str:
        return self._orders[uid].status

    def pushed(self, uid: str | None = None) -> list[Push]:
        """The steps sent (for ``uid`` only, when given)."""
        with self._lock:
            return [p for p in self.pushes if uid is None or p.uid == uid]

    def moves(self) -> list[tuple[str, str]]:
        """(uid, to) of every step applied, oldest first."""
        with self._lock:
            return [(uid, to) for uid, _, to in self.transitions]

    def orders(self) -> list[MemoryOrder]:
        with self._lock:
            return list(self._orders.values())

    def get(self, uid: str) -> MemoryOrder:
        with self._lock:
            found = self._orders.get(uid)
        if found is None:
            raise PermanentError(f"no order {uid}", 404)
        return found

    def apply(self, push: Push) -> MemoryOrder:
        """Take one step: once per idempotency key, refused (409) where the rules forbid it."""
        with self._lock:
            self.pushes.append(push)
            if push.idempotency_key in self._applied:
                return self._applied[push.idempotency_key]
            order = self._orders.get(push.uid)
            if order is None:
                raise PermanentError(f"no order {push.uid}", 404)
            if not _allowed(order.status, push.step):
                raise PermanentError(f"{push.uid} cannot go from {order.status} to {push.step}",
                                     409)  # fmt: skip
            self.transitions.append((push.uid, order.status, push.step))
            order = replace(order, status=push.step, comment=push.reason)
            self._orders[push.uid] = self._applied[push.idempotency_key] = order
            return order


class MemorySource:
    """An :class:`~rxfloor.core.sources.base.OrderSource` on a :class:`MemoryRemote`."""

    rate_limit_per_s: float | None = None

    def __init__(self, remote: MemoryRemote) -> None:
        self.remote = remote
        self.name = remote.name
        self.webhooks = NoWebhooks()  # the folder's: a source that sends none

    def active_statuses(self) -> tuple[str, ...] | None:
        return ACTIVE

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[SourceOrder | str]:
        for order in self.remote.orders():
            if not active or order.status in ACTIVE:
                yield order

    def get_order(self, uid: str) -> SourceOrder:
        return self.remote.get(uid)

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        if action is Action.HANDOFF:  # a shipped order is handed off with nothing to send
            done = remote_status == "completed"
            return PushPlan(done, remote_status not in ("shipped", "completed"), ())
        target = TARGET[action]
        if remote_status == target or (remote_status == "completed" and target == "shipped"):
            return PushPlan(True, False, ())
        if remote_status in ("cancelled", "completed"):
            return PushPlan(False, True, ())
        if action is Action.CANCEL:
            return PushPlan(False, False, (target,))
        here, there = PATH.index(remote_status), PATH.index(target)
        if here > there:
            return PushPlan(True, False, ())
        return PushPlan(False, False, PATH[here + 1 : there + 1])

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None,
    ) -> SourceOrder:
        return self.remote.apply(Push(uid, step, idempotency_key, reason))

    def close(self) -> None:
        """Nothing to release."""


def _allowed(now: str, step: str) -> bool:
    if step == "cancelled":
        return now not in ("cancelled", "completed")
    return now in PATH and step in PATH and PATH.index(step) == PATH.index(now) + 1


@pytest.fixture
def memory() -> MemoryRemote:
    """The remote: 20 open orders in memory."""
    return MemoryRemote(20)

"""The sync worker: push the outbox exactly once, pull remote changes, report health.

Exactly once rests on three rules:

* a row is marked ``sending`` before its PATCH and settled after it, so a row found in
  ``sending`` (a crash) or with earlier attempts is first **read back** from the remote;
  if the remote is already where the move leads, the row is ``sent`` without a new call;
* the remote's own state machine refuses a repeated step (409), and a refusal is also
  read back before it is believed;
* per order, only the oldest unsettled row is ever in flight, so steps keep their order.

Only the holder of the source's push lease (:mod:`.lease`) runs cycles; other terminals on
the same database keep working locally. The worker knows its remote only through the
:class:`~rxfloor.core.sources.base.OrderSource` protocol: no concrete source is imported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import (
    Store,
    orders,
    outbox,
    sync_state,
    utcnow,
)
from rxfloor.core.lifecycle import Action
from rxfloor.core.outbox import OutboxState
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import (
    AuthError,
    OrderSource,
    PermanentError,
    SourceOrder,
    TransientError,
    UnreachableError,
)
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.text import scrub

# -- the worker ---------------------------------------------------------------------------------


@dataclass
class CycleReport:
    """One pull + push cycle, as ``rxfloor sync --once`` prints it."""

    pulled: int = 0
    pushed: int = 0
    superseded: int = 0
    pending: int = 0
    failed: int = 0
    online: bool = True
    lease: bool = True
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"errors": self.errors[:10]}


@dataclass
class _Outcome:
    state: str  # sent | superseded | failed | retry | lost (the lease: put back, not sent)
    message: str | None = None
    remote_status: str | None = None
    retry_after: float | None = None
    offline: bool = False
    maybe_applied: bool = False  # this attempt may have changed the remote

    def __post_init__(self) -> None:  # stored as outbox.last_error / orders.sync_error
        if self.message:
            self.message = scrub(self.message)


class _LeaseLost(Exception):
    """Raised before a send when this pusher no longer holds the push lease."""


class _GroupWrites:
    """The push threads' small writes (a claim, a settle), one transaction each, or one for
    all that queued up meanwhile (a group commit): a thread returns once its own write is
    committed, and the threads queue here rather than on SQLite's busy handler.

    If a group's transaction fails, the thread that ran it gets the error; the others'
    writes are lost with it, which is safe: an unclaimed row stays due, an unsettled one
    stays ``sending`` and is read back before it is sent again.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()  # held while a group is written
        self._queue_lock = threading.Lock()
        self._queue: list[Callable[[Connection], None]] = []

    def run(self, write: Callable[[Connection], None]) -> None:
        with self._queue_lock:
            self._queue.append(write)
        with self._lock:
            with self._queue_lock:
                group, self._queue = self._queue, []
            if group:  # else another thread already committed ours
                with self._store.write() as conn:
                    for each in group:
                        each(conn)


_LEASE_LOST = "the push lease was lost during a pass (another terminal pushes now): stopped"


class SyncWorker:
    """Pull + push against one source for one database. Not thread-safe: one per thread."""

    def __init__(
        self,
        service: OrderService,
        source: OrderSource,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 250,
        lease: PushLease | None = None,
        page_size: int = 200,
        concurrency: int = 8,
        full_every: int = 60,
    ) -> None:
        self.service = service
        self.store = service.store
        self.source = source
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.page_size = page_size
        self.lease = lease or PushLease(service.store, source=source.name)
        if self.lease.source != source.name:
            raise ValueError(f"the lease of {self.lease.source!r} cannot push {source.name!r}")
        self.applier = RemoteApplier(service)
        self.concurrency = concurrency
        self.full_every = full_every
        self._pulls = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lease_lost = threading.Event()  # set by a push thread: the others stop too
        self._writes = _GroupWrites(service.store)
        self._progress_lock = threading.Lock()
        self._progress_at = float("-inf")  # monotonic time health was last written mid-drain

    def _pool(self) -> ThreadPoolExecutor:
        """Rows of different orders go out side by side (a batch holds one row per order)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="rx-push")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.lease.release()

    # -- one cycle
    def cycle(self, *, pull: bool = True, push: bool = True) -> CycleReport:
        """Pull then push. Raises :class:`AuthError`; other failures land in the report."""
        report = CycleReport()
        if not self.lease.acquire():
            report.lease = False
            self._count(report)
            return report
        try:
            if pull:
                report.pulled = self.pull(report)
            if push and report.online:
                self.push(report)
        except AuthError as exc:
            self._health(False, str(exc))
            raise
        self._health(report.online, report.errors[0] if report.errors else None)
        self._count(report)
        return report

    def _count(self, report: CycleReport) -> None:
        health = self.store.sync_health()
        report.pending, report.failed = health.queued, health.failed

    # -- pull
    def pull(self, report: CycleReport | None = None, *, full: bool | None = None) -> int:
        """Page through the remote's orders and apply them; returns orders added or changed.

        A full pull lists every order (the first time, then every ``full_every`` cycles);
        otherwise only the active statuses are listed and each local order the remote had
        active but no longer lists is read back on its own (cancelled, completed, …).
        """
        report = report or CycleReport()
        self._pulls += 1
        active = self.source.active_statuses()
        if full is None:
            full = active is None or self._pulls % self.full_every == 1 or self.full_every == 1
        seen: list[SourceOrder] = []
        try:
            for item in self.source.iter_orders(self.page_size, active=not full):
                if isinstance(item, str):
                    report.errors.append(item)
                else:
                    seen.append(item)
            if not full and active is not None:
                listed = {o.uid for o in seen}
                for uid in self._locally_active(active) - listed:
                    seen.append(self.source.get_order(uid))
        except PermanentError as exc:
            if not full:  # e.g. the status filter of a dialect we guessed wrong
                return self.pull(report, full=True)
            report.errors.append(str(exc))
        except UnreachableError as exc:
            report.errors.append(str(exc))
            report.online = False
        except TransientError as exc:  # it answered badly or dropped one call: push anyway
            report.errors.append(str(exc))
        # apply what we saw even when a later page failed: each order is judged alone
        return self.applier.apply(seen)

    def _locally_active(self, active: tuple[str, ...]) -> set[str]:
        with self.store.read() as conn:
            return set(
                conn.execute(
                    select(orders.c.id).where(orders.c.remote_status.in_(list(active)))
                ).scalars()
            )

    # -- push
    def push(self, report: CycleReport | None = None, max_passes: int | None = None) -> int:
        """Send every due outbox row (oldest first, one in flight per order).

        Each row is claimed just before it is sent and settled as soon as its answer
        arrives; the lease is verified before every send and the pass stops once it is lost.
        """
        report = report or CycleReport()
        passes = 0
        while max_passes is None or passes < max_passes:
            passes += 1
            if not self.lease.acquire():  # renew; stop if lost
                report.lease = False
                break
            rows = self._due_rows()
            if not rows:
                break
            results = self._send_all(rows)
            offline = any(o.offline for o in results)
            if offline:
                report.online = False
            for o in results:
                if o.state == "sent":
                    report.pushed += 1
                elif o.state == "superseded":
                    report.superseded += 1
                elif o.state in ("retry", "failed") and o.message:
                    report.errors.append(o.message)
            if self._lease_lost.is_set():
                report.lease = False
                report.errors.append(_LEASE_LOST)
                break
            if offline or all(o.state == "retry" for o in results):
                break
        return report.pushed

    def _due_rows(self) -> list[dict[str, Any]]:
        """The oldest unsettled row of each order, if it is due (failed rows block their order)."""
        now = utcnow()
        stmt = (
            select(outbox, orders.c.remote_status, orders.c.sync_error.label("order_error"))
            .join(orders, orders.c.id == outbox.c.order_id)
            .where(outbox.c.state.in_(["pending", "sending", "failed"]))
            .order_by(outbox.c.id)
            .limit(self.batch_size * 20)
        )
        with self.store.read() as conn:
            rows = list(conn.execute(stmt).mappings())
        seen: set[str] = set()
        due: list[dict[str, Any]] = []
        for row in rows:
            if row["order_id"] in seen:
                continue
            seen.add(row["order_id"])
            if row["state"] == "failed":
                continue
            if row["next_attempt_at"] is not None and row["next_attempt_at"] > now:
                continue
            due.append(dict(row))
            if len(due) >= self.batch_size:
                break
        return due

    def _send_all(self, rows: list[dict[str, Any]]) -> list[_Outcome]:
        """Claim rows a few at a time, just ahead of the push threads, and send them.

        At most two rounds of the pool's width are claimed and not yet settled at any
        moment, so a crash leaves few rows ``sending`` (each read back on restart).
        """
        self._lease_lost.clear()
        window = threading.Semaphore(2 * self.concurrency)
        futures = []
        for start in range(0, len(rows), self.concurrency):
            chunk = rows[start : start + self.concurrency]
            for _ in chunk:
                window.acquire()  # wait for earlier rows to be settled
            if self._lease_lost.is_set() or not self.lease.verify():
                self._lease_lost.set()
                break
            claimed = self._claim(chunk)
            for row in chunk:
                if row["id"] in claimed:
                    futures.append(self._pool().submit(self._send_row, row, window))
                else:  # undone, superseded, taken by another pusher since it was read
                    window.release()
        return [f.result() for f in futures]

    def _claim(self, chunk: list[dict[str, Any]]) -> set[int]:
        claimed: set[int] = set()
        seen = [(r["id"], OutboxState(r["state"])) for r in chunk]
        self._writes.run(
            lambda conn: claimed.update(outbox_rows.claim(conn, seen, self.lease.holder))
        )
        return claimed

    def _send_row(self, row: dict[str, Any], window: threading.Semaphore) -> _Outcome:
        """Send one claimed row and settle it at once (a push thread)."""
        try:
            outcome = self._push_one(row)
            if outcome.state == "lost":
                self._lease_lost.set()
            self._settle_one(row, outcome)
        finally:
            window.release()
        if outcome.state in ("sent", "superseded", "failed"):
            self._progress()
        return outcome

    def _push_one(self, row: dict[str, Any]) -> _Outcome:
        action = Action(row["action"])
        uid = row["order_id"]
        status: str | None = row["remote_status"]
        # an earlier attempt may have been applied without our hearing the answer
        uncertain = row["state"] == "sending" or bool(row["maybe_applied"])
        check = uncertain or status is None
        sent = False  # a PATCH of this attempt was applied
        try:
            for _ in range(3):  # a refusal is read back and re-planned, at most twice
                try:
                    if check:
                        remote = self.source.get_order(uid)
                        status = remote.status
                        self.applier.apply([remote])
                    assert status is not None
                    plan = self.source.plan_push(action, status)
                    if plan.done and not (uncertain or sent):
                        # we never sent this row: the remote got there by itself
                        return _Outcome(
                            "superseded",
                            f"superseded: the remote had already set the order to {status}",
                            remote_status=status,
                        )
                    if plan.done:
                        return _Outcome("sent", remote_status=status)
                    if plan.stale:
                        return _Outcome(
                            "superseded",
                            f"superseded: the remote set the order to {status}",
                            remote_status=status,
                        )
                    for i, step in enumerate(plan.steps):
                        key = row["idempotency_key"] if i == 0 else f"{row['idempotency_key']}.{i}"
                        if not self.lease.verify():
                            raise _LeaseLost
                        answer = self.source.push_step(uid, step, reason=row["reason"],
                                                       idempotency_key=key)  # fmt: skip
                        sent = True
                        status = answer.status
                    return _Outcome("sent", remote_status=status)
                except PermanentError as exc:
                    if check or not exc.conflict:
                        return _Outcome("failed", str(exc))
                    check = True  # our own lost answer, or a remote change: look
                except TransientError as exc:
                    return _Outcome("retry", str(exc), retry_after=exc.retry_after,
                                    offline=isinstance(exc, UnreachableError),
                                    maybe_applied=sent or exc.maybe_applied)  # fmt: skip
        except _LeaseLost:
            return _Outcome("lost", _LEASE_LOST, maybe_applied=sent)
        return _Outcome("failed", "the remote keeps refusing this move")

    def _settle_one(self, row: dict[str, Any], o: _Outcome) -> None:
        """Record one row's outcome as soon as it is known (only if the row is still ours)."""
        now = utcnow()
        maybe_applied = bool(row["maybe_applied"]) or o.maybe_applied
        attempts, error, next_at = row["attempts"] + 1, o.message, None
        if o.state == "lost":  # not an attempt: back in the queue for the new holder
            state, attempts, error = OutboxState.PENDING, row["attempts"], row["last_error"]
        elif o.state == "retry":
            state = OutboxState.PENDING
            next_at = now + timedelta(seconds=self.policy.delay(attempts, o.retry_after))
        else:
            state = OutboxState(o.state)

        def write(conn: Connection) -> None:
            settled = outbox_rows.settle_one(conn, row["id"], self.lease.holder, state,
                                             attempts=attempts, error=error,
                                             next_attempt_at=next_at,
                                             maybe_applied=maybe_applied)  # fmt: skip
            if not settled:
                return  # another pusher took the row over: its outcome stands
            if o.remote_status is not None and o.remote_status != row["remote_status"]:
                conn.execute(
                    update(orders)
                    .where(orders.c.id == row["order_id"])
                    .values(remote_status=o.remote_status)
                )
            done = state in (OutboxState.SENT, OutboxState.SUPERSEDED)
            if state is OutboxState.FAILED or (done and row["order_error"]):
                conn.execute(
                    update(orders)
                    .where(orders.c.id == row["order_id"])
                    .values(sync_error=None if done else o.message)
                )
                self.store.record_change(conn, [row["order_id"]])

        self._writes.run(write)

    def _progress(self) -> None:
        """Mid-drain: the remote answers, say so (at most once a second)."""
        now = time.monotonic()
        with self._progress_lock:
            if now - self._progress_at < 1.0:
                return
            self._progress_at = now
        self._health(True, None, progress=True)

    def _health(self, online: bool, error: str | None, *, progress: bool = False) -> None:
        now = utcnow()
        with self.store.write() as conn:
            row = conn.execute(select(sync_state).where(sync_state.c.id == 1)).mappings().first()
            values: dict[str, Any] = {"online": online, "updated_at": now}
            if not progress:  # mid-drain the cycle's errors are not known yet
                values["last_error"] = scrub(error) if error else None
            if online:
                values |= {"offline_since": None, "last_ok_at": now}
            elif row is None or row["offline_since"] is None or row["online"]:
                values["offline_since"] = now
            if row is None:
                conn.execute(insert(sync_state).values(id=1, **values))
            else:
                conn.execute(update(sync_state).where(sync_state.c.id == 1).values(**values))

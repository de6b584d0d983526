"""The sync worker: push the outbox exactly once, pull remote changes, report health.

Exactly once rests on three rules:

* a row is marked ``sending`` before its PATCH and settled after it, so a row found in
  ``sending`` (a crash) or with earlier attempts is first **read back** from the remote;
  if the remote is already where the move leads, the row is ``sent`` without a new call;
* the remote's own state machine refuses a repeated step (409), and a refusal is also
  read back before it is believed;
* per order, only the oldest unsettled row is ever in flight, so steps keep their order.

Only the holder of the push lease (a PostgreSQL advisory lock, a ``sync_lease`` row on
SQLite) runs cycles; other terminals on the same database keep working locally.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.remote import (
    ACTIVE,
    V2_ONLY,
    AuthError,
    PermanentError,
    RemoteClient,
    RemoteOrder,
    RetryPolicy,
    TransientError,
    WebhookEvent,
    plan_push,
)
from rxfloor.core.service import OrderService
from rxfloor.core.store import Store, orders, outbox, sync_lease, sync_state, utcnow, webhook_events
from rxfloor.core.text import ScrubFilter, scrub

log = logging.getLogger("rxfloor.sync")
log.addFilter(ScrubFilter())

_LEASE_NAME = "push"
_ADVISORY_KEY = 0x7278_666C_6F6F_72  # "rxfloor"


# -- the push lease ---------------------------------------------------------------------------


class PushLease:
    """Exactly one pusher per database. PostgreSQL: a session advisory lock held on a
    dedicated connection; SQLite: a row in ``sync_lease`` renewed before it expires."""

    def __init__(self, store: Store, holder: str | None = None, ttl_s: float = 30.0) -> None:
        self.store = store
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=ttl_s)
        self._pg: Connection | None = None

    def acquire(self) -> bool:
        """Take or renew the lease; False while another terminal holds it."""
        if not self.store.is_sqlite:
            if self._pg is None:
                conn = self.store.engine.connect()
                got = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}
                    ).scalar_one()
                )
                conn.commit()
                if not got:
                    conn.close()
                    return False
                self._pg = conn
            return True
        now = utcnow()
        with self.store.write() as conn:
            row = conn.execute(select(sync_lease).where(sync_lease.c.name == _LEASE_NAME)).first()
            values = {"holder": self.holder, "expires_at": now + self.ttl}
            if row is None:
                conn.execute(insert(sync_lease).values(name=_LEASE_NAME, **values))
                return True
            if row.holder != self.holder and row.expires_at > now and _alive(row.holder):
                return False
            conn.execute(
                update(sync_lease).where(sync_lease.c.name == _LEASE_NAME).values(**values)
            )
        return True

    def release(self) -> None:
        if self._pg is not None:
            try:
                self._pg.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                self._pg.commit()
            finally:
                self._pg.close()
                self._pg = None
            return
        if self.store.is_sqlite:
            with self.store.write() as conn:
                conn.execute(
                    delete(sync_lease).where(
                        sync_lease.c.name == _LEASE_NAME, sync_lease.c.holder == self.holder
                    )
                )


def _alive(holder: str) -> bool:
    """False only when the holder is a process on this machine that no longer exists
    (a crashed pusher need not wait for its SQLite lease to expire)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# -- applying remote orders (poller and webhooks share this) ------------------------------------


class RemoteApplier:
    """Turns remote orders into local ones: new orders inserted, changes applied."""

    def __init__(self, service: OrderService) -> None:
        self.service = service

    def apply(self, remote: Iterable[RemoteOrder]) -> int:
        """Returns how many orders were added or changed."""
        batch = {o.uid: o for o in remote}
        if not batch:
            return 0
        known: dict[str, tuple[str | None, bool]] = {}
        ids = list(batch)
        with self.service.store.read() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(orders.c.id, orders.c.remote_status, orders.c.on_hold).where(
                        orders.c.id.in_(ids[start : start + 500])
                    )
                )
                known.update({r.id: (r.remote_status, r.on_hold) for r in rows})
        new = []
        changed = 0
        for uid, o in batch.items():
            if uid not in known:
                board = o.board_status or (Status.OPEN if o.on_hold else None)
                if board is not None:
                    new.append(o.to_new_order(board))
                continue
            remote_status, on_hold = known[uid]
            if remote_status == o.status and on_hold == o.on_hold:
                continue
            what = self.service.apply_remote(
                uid, o.status, o.board_status, remote_hold=o.on_hold, hold_comment=o.comment
            )
            changed += 1 if what else 0
        added = 0
        if new:
            try:
                added = self.service.add_orders(new, source="remote")
            except IntegrityError:  # the poller and the webhook receiver raced: once more
                added = self.service.add_orders(new, source="remote")
        return added + changed


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
    state: str  # sent | superseded | failed | retry
    message: str | None = None
    remote_status: str | None = None
    retry_after: float | None = None
    offline: bool = False

    def __post_init__(self) -> None:  # stored as outbox.last_error / orders.sync_error
        if self.message:
            self.message = scrub(self.message)


class SyncWorker:
    """Pull + push against one remote for one database. Not thread-safe: one per thread."""

    def __init__(
        self,
        service: OrderService,
        client: RemoteClient,
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
        self.client = client
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.page_size = page_size
        self.lease = lease or PushLease(service.store)
        self.applier = RemoteApplier(service)
        self.concurrency = concurrency
        self.full_every = full_every
        self._pulls = 0
        self._executor: ThreadPoolExecutor | None = None

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
        dialect = self._dialect()
        if full is None:
            full = dialect is None or self._pulls % self.full_every == 1 or self.full_every == 1
        statuses: list[str | None] = [None] if full or dialect is None else list(ACTIVE[dialect])
        seen: list[RemoteOrder] = []
        try:
            for status in statuses:
                for item in self.client.iter_orders(self.page_size, status):
                    if isinstance(item, str):
                        report.errors.append(item)
                    else:
                        seen.append(item)
            if not full and dialect is not None:
                listed = {o.uid for o in seen}
                for uid in self._locally_active(ACTIVE[dialect]) - listed:
                    seen.append(self.client.get_order(uid))
        except PermanentError as exc:
            if not full:  # e.g. the status filter of a dialect we guessed wrong
                return self.pull(report, full=True)
            report.errors.append(str(exc))
        except TransientError as exc:
            report.errors.append(str(exc))
            report.online = exc.status_code is not None  # it answered, just badly
        # apply what we saw even when a later page failed: each order is judged alone
        return self.applier.apply(seen)

    def _dialect(self) -> str | None:
        """The remote's dialect as its statuses show it (None: nothing pulled yet)."""
        with self.store.read() as conn:
            statuses = set(
                conn.execute(
                    select(orders.c.remote_status)
                    .where(orders.c.remote_status.is_not(None))
                    .distinct()
                ).scalars()
            )
        if not statuses:
            return None
        return "v2" if statuses & V2_ONLY else "v1"

    def _locally_active(self, active: tuple[str, ...]) -> set[str]:
        with self.store.read() as conn:
            return set(
                conn.execute(
                    select(orders.c.id).where(orders.c.remote_status.in_(list(active)))
                ).scalars()
            )

    # -- push
    def push(self, report: CycleReport | None = None, max_passes: int | None = None) -> int:
        """Send every due outbox row (oldest first, one in flight per order)."""
        report = report or CycleReport()
        passes = 0
        while max_passes is None or passes < max_passes:
            passes += 1
            if passes > 1 and not self.lease.acquire():  # renew; stop if lost
                break
            rows = self._due_rows()
            if not rows:
                break
            self._claim(rows)
            results = list(self._pool().map(self._push_one, rows))
            outcomes = {row["id"]: o for row, o in zip(rows, results, strict=True)}
            offline = any(o.offline for o in results)
            if offline:
                report.online = False
            self._settle(rows, outcomes)
            for o in outcomes.values():
                if o.state == "sent":
                    report.pushed += 1
                elif o.state == "superseded":
                    report.superseded += 1
                elif o.state in ("retry", "failed") and o.message:
                    report.errors.append(o.message)
            if offline or all(o.state == "retry" for o in outcomes.values()):
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

    def _claim(self, rows: list[dict[str, Any]]) -> None:
        with self.store.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r["id"] for r in rows]), outbox.c.state == "pending")
                .values(state="sending")
            )

    def _push_one(self, row: dict[str, Any]) -> _Outcome:
        action = Action(row["action"])
        uid = row["order_id"]
        status: str | None = row["remote_status"]
        # an earlier attempt may have been applied without our hearing the answer
        uncertain = row["state"] == "sending" or row["attempts"] > 0
        check = uncertain or status is None
        for _ in range(3):  # a refusal is read back and re-planned, at most twice
            try:
                if check:
                    remote = self.client.get_order(uid)
                    status = remote.status
                    self.applier.apply([remote])
                assert status is not None
                plan = plan_push(action, status)
                if plan.done and not uncertain:
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
                    comment = row["reason"] if step in ("cancelled", "on-hold") else None
                    answer = self.client.set_status(uid, step, comment=comment, idempotency_key=key)
                    status = answer.status
                return _Outcome("sent", remote_status=status)
            except PermanentError as exc:
                if check or exc.status_code not in (409, 422):
                    return _Outcome("failed", str(exc))
                check = True  # our own lost answer, or a remote change: look
            except TransientError as exc:
                unreachable = exc.status_code is None and not exc.maybe_applied
                return _Outcome("retry", str(exc), retry_after=exc.retry_after,
                                offline=unreachable)  # fmt: skip
        return _Outcome("failed", "the remote keeps refusing this move")

    def _settle(self, rows: list[dict[str, Any]], outcomes: dict[int, _Outcome]) -> None:
        """Record a batch's outcomes in one transaction (executemany per kind: fast)."""
        now = utcnow()
        by_state: dict[str, list[dict[str, Any]]] = {}
        remote: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for row in rows:
            o = outcomes[row["id"]]
            values: dict[str, Any] = {"b_id": row["id"], "b_attempts": row["attempts"] + 1,
                                      "b_error": o.message, "b_next": None}  # fmt: skip
            if o.state == "retry":
                delay = self.policy.delay(row["attempts"] + 1, o.retry_after)
                values["b_next"] = now + timedelta(seconds=delay)
            by_state.setdefault(o.state, []).append(values)
            if o.remote_status is not None:
                remote.append({"b_oid": row["order_id"], "b_remote": o.remote_status})
            if o.state == "failed":
                errors.append({"b_oid": row["order_id"], "b_err": o.message})
            elif o.state in ("sent", "superseded") and row["order_error"]:
                errors.append({"b_oid": row["order_id"], "b_err": None})
        with self.store.write() as conn:
            for state, params in by_state.items():
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == bindparam("b_id"))
                    .values(
                        state="pending" if state == "retry" else state,
                        attempts=bindparam("b_attempts"),
                        last_error=bindparam("b_error"),
                        next_attempt_at=bindparam("b_next"),
                        sent_at=now if state == "sent" else None,
                    ),
                    params,
                )
            if remote:
                conn.execute(
                    update(orders)
                    .where(orders.c.id == bindparam("b_oid"))
                    .values(remote_status=bindparam("b_remote")),
                    remote,
                )
            if errors:
                conn.execute(
                    update(orders)
                    .where(orders.c.id == bindparam("b_oid"))
                    .values(sync_error=bindparam("b_err")),
                    errors,
                )
                self.store.record_change(conn, [e["b_oid"] for e in errors])

    def _health(self, online: bool, error: str | None) -> None:
        now = utcnow()
        with self.store.write() as conn:
            row = conn.execute(select(sync_state).where(sync_state.c.id == 1)).mappings().first()
            values: dict[str, Any] = {"online": online, "updated_at": now,
                                      "last_error": scrub(error) if error else None}  # fmt: skip
            if online:
                values |= {"offline_since": None, "last_ok_at": now}
            elif row is None or row["offline_since"] is None or row["online"]:
                values["offline_since"] = now
            if row is None:
                conn.execute(insert(sync_state).values(id=1, **values))
            else:
                conn.execute(update(sync_state).where(sync_state.c.id == 1).values(**values))


# -- background running (board, demo, `rxfloor sync`) -------------------------------------------


class BackgroundSync:
    """Runs :meth:`SyncWorker.cycle` every ``interval_s`` in a daemon thread until stopped.

    A wrong key is reported in ``sync_state`` (the header shows it) and retried slowly.
    """

    def __init__(self, worker: SyncWorker, interval_s: float = 5.0) -> None:
        self.worker = worker
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self.last: CycleReport | None = None
        self._thread = threading.Thread(target=self._run, name="rxfloor-sync", daemon=True)

    def start(self) -> BackgroundSync:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.worker.close()
        self.worker.client.close()

    def __enter__(self) -> BackgroundSync:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            wait = self.interval_s
            try:
                self.last = self.worker.cycle()
            except AuthError:
                wait = max(wait, 60.0)
            except Exception as exc:  # never let the board's worker die silently
                log.warning("sync cycle failed: %s", exc)
            self.stop_event.wait(wait)


def background_sync(settings: Settings, service: OrderService) -> BackgroundSync | None:
    """The board's worker (not started), or None when no remote is configured (offline)."""
    if not settings.api_url:
        return None
    from rxfloor.core.remote import client_from_settings

    client = client_from_settings(settings)
    return BackgroundSync(SyncWorker(service, client), settings.sync_interval_s)


# -- webhooks -----------------------------------------------------------------------------------


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

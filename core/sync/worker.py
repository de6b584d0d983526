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

import json
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core.db import (
    orders,
    sync_state,
    utcnow,
)
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import OutboxState
from rxfloor.core.reconcile import Plan, Row, Verdict, row_of, still_uncertain
from rxfloor.core.service import OrderService, PushResult, ReadBack, Refusal
from rxfloor.core.sources.base import (
    AuthError,
    OrderSource,
    PermanentError,
    SourceOrder,
    TransientError,
    UnreachableError,
)
from rxfloor.core.sync.applier import BARE, RemoteApplier
from rxfloor.core.sync.lease import PushLease, holder_alive
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.text import scrub

# -- the worker ---------------------------------------------------------------------------------


@dataclass
class CycleReport:
    """One pull + push cycle of one source, as ``rxfloor sync --once`` prints it."""

    source: str = ""
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


class _Answer(StrEnum):
    """What one send came to."""

    SENT = OutboxState.SENT.value
    READ_BACK = "read_back"  # nothing (more) to send on the read-back: the rule settles it
    FAILED = OutboxState.FAILED.value  # refused
    RETRY = "retry"  # a transient failure: the row is due again after a delay
    LOST = "lost"  # the lease was lost before the send: put back, not an attempt


@dataclass
class _Outcome:
    """What a push thread learned from one send; the writer thread records it."""

    state: _Answer
    message: str | None = None
    remote_status: str | None = None
    retry_after: float | None = None
    offline: bool = False
    maybe_applied: bool = False  # the row may be in effect at the remote after this attempt
    read_back: ReadBack | None = None  # for READ_BACK
    learned: list[SourceOrder] = field(default_factory=list)  # orders read back, to apply

    def __post_init__(self) -> None:  # stored as outbox.last_error: the card's sync error
        if self.message:
            self.message = scrub(self.message)


class _LeaseLost(Exception):
    """Raised before a send when this pusher no longer holds the push lease."""


#: How long an answer may wait for others to be settled with it in one commit (a crash in
#: that window leaves its row ``sending``: read back before any resend).
_SETTLE_WINDOW_S = 0.010
#: bare orders read back per cycle (each one GET; a burst of events waits a few cycles)
BARE_READS_PER_CYCLE = 20
_OPEN_STATUSES = [Status.OPEN.value, Status.PROCESSING.value]

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
        in_flight_s: float = 60.0,
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
        self.applier = RemoteApplier(service, source.name)
        self.concurrency = concurrency
        #: how long a claimed row may wait for its turn and be on the wire (longer than two
        #: sends can take, a few times the HTTP timeout each); until then no other pusher
        #: touches it (a dead pusher's rows are free at once)
        self.in_flight_s = in_flight_s
        self.full_every = full_every
        self._pulls = 0
        self._unreadable: set[str] = set()  # bare orders the source would not give back
        self._executor: ThreadPoolExecutor | None = None
        self._lease_lost = threading.Event()  # set by a push thread: the others stop too
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
        report = CycleReport(self.source.name)
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
        name = self.source.name
        health = self.store.sync_health([name])[name]
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
        # the instant before anything was read: a move settled after it is never judged by
        # what this pull saw (a page read before another terminal's push was settled)
        read_at = outbox_rows.clock()
        try:
            for item in self.source.iter_orders(self.page_size, active=not full):
                if isinstance(item, str):
                    report.errors.append(item)
                else:
                    seen.append(item)
            if not full and active is not None:
                listed = {o.uid for o in seen}
                for uid in sorted(self._locally_active(active) - listed):
                    try:
                        seen.append(self.source.get_order(uid))
                    except UnreachableError:
                        raise
                    except TransientError as exc:
                        if exc.status_code == 429 or exc.retry_after is not None:
                            raise  # it asks us to slow down: the rest waits for next time
                        report.errors.append(str(exc))  # this order only: read the others
            seen.extend(self._read_bare({o.uid for o in seen}))
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
        return self.applier.apply(seen, seen_at={o.uid: read_at for o in seen})

    def _read_bare(self, seen: set[str]) -> list[SourceOrder]:
        """Orders on the floor with neither patient nor items (an event named them only:
        Photon's ``placed``, a Shopify webhook) read back once for what the card needs, a
        few per cycle; one the source will not give is not asked for again."""
        with self.store.read() as conn:
            uids = (
                conn.execute(
                    select(orders.c.remote_id)
                    .where(
                        orders.c.source == self.source.name,
                        BARE,
                        orders.c.status.in_(_OPEN_STATUSES),
                    )
                    .order_by(orders.c.created_at)
                    .limit(BARE_READS_PER_CYCLE + len(self._unreadable))
                )
                .scalars()
                .all()
            )
        read: list[SourceOrder] = []
        for uid in uids:
            if uid in seen or uid in self._unreadable or len(read) >= BARE_READS_PER_CYCLE:
                continue
            try:
                read.append(self.source.get_order(uid))
            except PermanentError:
                self._unreadable.add(uid)
        return read

    def _locally_active(self, active: tuple[str, ...]) -> set[str]:
        with self.store.read() as conn:
            return set(
                conn.execute(
                    select(orders.c.remote_id).where(
                        orders.c.source == self.source.name,
                        orders.c.remote_status.in_(list(active)),
                    )
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
                if o.state is _Answer.SENT:
                    report.pushed += 1
                elif o.state is _Answer.READ_BACK:
                    report.superseded += 1  # or settled as sent unseen: counted once here
                elif o.state in (_Answer.RETRY, _Answer.FAILED) and o.message:
                    report.errors.append(o.message)
            if self._lease_lost.is_set():
                report.lease = False
                report.errors.append(_LEASE_LOST)
                break
            if offline or all(o.state is _Answer.RETRY for o in results):
                break
        return report.pushed

    def _due_rows(self) -> list[dict[str, Any]]:
        """The oldest unsettled row of each order, if it is due (failed rows block their order)."""
        with self.store.read() as conn:
            return outbox_rows.due(
                conn, utcnow(), self.batch_size, alive=holder_alive, source=self.source.name
            )

    def _send_all(self, rows: list[dict[str, Any]]) -> list[_Outcome]:
        """Send rows side by side; the calling thread is the pass's only writer.

        The push threads only send: each answer goes on a queue. This thread commits, in
        one transaction, every answer that has arrived (settled through the service) and
        the claim of the rows that take their places, then waits for the next answer. So a
        row is settled by the first commit after its answer (a crash in between leaves it
        ``sending``: read back before any resend), and at most two rounds of the pool's
        width are claimed and unsettled at any moment (few rows to read back on restart).
        """
        self._lease_lost.clear()
        answers: queue.SimpleQueue[tuple[dict[str, Any], _Outcome | BaseException]]
        answers = queue.SimpleQueue()
        todo = deque(rows)
        window = 2 * self.concurrency
        in_flight = 0  # claimed and not yet settled
        arrived: list[tuple[dict[str, Any], _Outcome]] = []
        outcomes: list[_Outcome] = []
        error: BaseException | None = None
        try:
            while True:
                chunk: list[dict[str, Any]] = []
                if todo and error is None and not self._lease_lost.is_set():
                    if self.lease.verify():
                        room = window - in_flight + len(arrived)
                        chunk = [todo.popleft() for _ in range(min(room, len(todo)))]
                    else:
                        self._lease_lost.set()
                if chunk or arrived:
                    claimed = self._commit(arrived, chunk)
                    in_flight -= len(arrived)
                    outcomes.extend(o for _, o in arrived)
                    arrived = []
                    for row in chunk:
                        if row["id"] in claimed:  # else: undone, superseded, taken meanwhile
                            self._pool().submit(self._send_row, row, answers)
                            in_flight += 1
                if in_flight == 0:
                    break
                # wait for one answer, then for more while the pool is still busy: up to a
                # round of the pool, at most _SETTLE_WINDOW_S after the first one arrived
                item = answers.get()
                deadline = time.monotonic() + _SETTLE_WINDOW_S
                while True:
                    row, got = item
                    if isinstance(got, BaseException):
                        in_flight -= 1  # not settled: stays ``sending``, read back later
                        error = error or got
                    else:
                        arrived.append((row, got))
                    wait = deadline - time.monotonic()
                    if len(arrived) >= self.concurrency or len(arrived) == in_flight or wait <= 0:
                        break
                    try:
                        item = answers.get(timeout=wait)
                    except queue.Empty:
                        break
        except BaseException:
            for _ in range(in_flight - len(arrived)):  # never leave a send behind unawaited
                answers.get()
            raise
        if error is not None:
            raise error
        return outcomes

    def _send_row(
        self,
        row: dict[str, Any],
        answers: queue.SimpleQueue[tuple[dict[str, Any], _Outcome | BaseException]],
    ) -> None:
        """Send one claimed row and hand its answer to the writer (a push thread)."""
        try:
            outcome = self._push_one(row)
        except BaseException as exc:
            answers.put((row, exc))
            return
        if outcome.state is _Answer.LOST:
            self._lease_lost.set()
        answers.put((row, outcome))

    def _commit(
        self, arrived: list[tuple[dict[str, Any], _Outcome]], chunk: list[dict[str, Any]]
    ) -> set[int]:
        """One transaction: settle the answers that arrived, claim ``chunk`` (returns the
        ids claimed) and, at most once a second, say mid-drain that the remote answers."""
        results = [self._result(row, o) for row, o in arrived]
        learned = [order for _, o in arrived for order in o.learned]
        seen = [(r["id"], OutboxState(r["state"])) for r in chunk]
        answered = any(o.state not in (_Answer.RETRY, _Answer.LOST) for _, o in arrived)
        progress = answered and time.monotonic() - self._progress_at >= 1.0
        with self.store.write() as conn:
            if learned:  # what the read-backs saw, before the answers they settle
                self.applier.apply(learned, conn=conn)
            if results:
                results = self.service.judge_read_backs(conn, results)
                self.service.record_push(conn, self.lease.holder, results)
                for (_, o), r in zip(arrived, results, strict=True):
                    if r.verdict is Verdict.CONFIRM:
                        o.state = _Answer.SENT  # in effect: counted as pushed
            until = utcnow() + timedelta(seconds=self.in_flight_s)
            claimed = (
                outbox_rows.claim(conn, seen, self.lease.holder, until=until) if seen else set()
            )
            if progress:
                self._write_health(conn, True, None, progress=True)
        if progress:
            self._progress_at = time.monotonic()
        return claimed

    def _result(self, row: dict[str, Any], o: _Outcome) -> PushResult:
        """What the row records of one send's outcome. A refusal is retried or parked as the
        policy says (:meth:`RetryPolicy.after_refusal`: once, read back first, as the remote
        may have moved; a person's retry counts as that one).
        A row stays maybe applied once it may have been (the outcome says whether this
        attempt left it so: only a read-back that answered clears what a dead pusher left)."""
        maybe_applied = bool(row["maybe_applied"]) or o.maybe_applied
        attempts, error, next_at = row["attempts"] + 1, o.message, None
        refusals = row["refusals"]
        refusal: Refusal | None = None
        if o.state is _Answer.LOST:  # not an attempt: back in the queue for the new holder
            state, attempts, error = OutboxState.PENDING, row["attempts"], row["last_error"]
        elif o.state is _Answer.RETRY:
            state = OutboxState.PENDING
            next_at = utcnow() + timedelta(seconds=self.policy.delay(attempts, o.retry_after))
        elif o.state is _Answer.FAILED:
            refusals += 1
            words = o.message or "no message"
            earlier = Refusal(words, row["refusals"]).error if row["refusals"] >= 2 else None
            wait = self.policy.after_refusal(refusals)
            if wait is not None:
                state = OutboxState.PENDING
                next_at = utcnow() + timedelta(seconds=wait)
            else:
                state = OutboxState.FAILED
            refusal = Refusal(
                words, refusals, next_at, said=earlier is not None and row["last_error"] == earlier
            )
            error = refusal.error
        elif o.state is _Answer.READ_BACK:
            state = OutboxState.SUPERSEDED  # or sent: the reconcile rule decides (record_push)
        else:
            state = OutboxState.SENT
        settle = outbox_rows.Settle(
            row["id"],
            row["order_id"],
            state,
            attempts,
            error,
            next_attempt_at=next_at,
            maybe_applied=maybe_applied,
            refusals=refusals,
        )
        changed = o.remote_status if o.remote_status != row["remote_status"] else None
        return PushResult(
            settle,
            row["action"],
            changed,
            row["last_error"],
            refusal=refusal,
            read_back=o.read_back,
        )

    def _push_one(self, row: dict[str, Any]) -> _Outcome:
        """Send one row (a push thread): read back first where the row may already be in
        effect or the remote may have moved, then send the plan's steps. Nothing is written
        here: the outcome carries what was learned (the orders read back, too) to the
        writer thread."""
        action = Action(row["action"])
        uid = row["remote_id"]  # the source's id; ``order_id`` is the local one
        payload = json.loads(row["payload"]) if row["payload"] else None
        status: str | None = row["remote_status"]
        # an earlier attempt may have been applied without our hearing the answer: a row
        # found ``sending`` (its pusher died) is uncertain until a read-back says otherwise
        kind = row_of(
            sending=row["state"] == OutboxState.SENDING,
            maybe_applied=bool(row["maybe_applied"]),
            refusals=row["refusals"],
        )
        # a refused row was not applied, but the remote may have moved since: look first
        check = kind is Row.UNCERTAIN or status is None or row["refusals"] > 0
        sent = False  # a step of this attempt was applied
        read = False  # a read-back of this attempt answered
        #: a step's answer lost in this attempt: read back at once, once (and sent again at
        #: once only if the request has certainly ended: not a timeout, which may land later)
        lost: TransientError | None = None
        learned: list[SourceOrder] = []

        def maybe(request_lost: bool = False) -> bool:
            # a lost answer of this attempt may still land (a timeout): uncertain for good
            return still_uncertain(
                kind, read_back=read, sent_now=sent, request_lost=request_lost or lost is not None
            )

        try:
            # a refusal is read back and re-planned, at most twice; a lost answer, once
            for _ in range(4):
                try:
                    board: Status | None = None
                    if check:
                        remote = self.source.get_order(uid)
                        read = True
                        learned.append(remote)
                        status, board = remote.status, remote.board_status
                    assert status is not None
                    plan = self.source.plan_push(action, status)
                    if plan.done or plan.stale:
                        # nothing (more) to send: the reconcile rule settles the row by what
                        # the remote has now (record_push), in effect or not
                        judged = ReadBack(
                            Plan.DONE if plan.done else Plan.STALE, status, board, kind, sent
                        )
                        return _Outcome(
                            _Answer.READ_BACK,
                            remote_status=status,
                            maybe_applied=maybe(),
                            read_back=judged,
                            learned=learned,
                        )
                    if lost is not None and lost.late:
                        raise lost  # not there yet, but it may still land: read back later
                    for i, step in enumerate(plan.steps):
                        key = row["idempotency_key"] if i == 0 else f"{row['idempotency_key']}.{i}"
                        if not self.lease.verify():
                            raise _LeaseLost
                        try:
                            answer = self.source.push_step(
                                uid,
                                step,
                                reason=row["reason"],
                                idempotency_key=key,
                                payload=payload,
                            )
                        except TransientError as exc:
                            if lost is not None or not exc.maybe_applied:
                                raise
                            # the step may be in effect: read back now, before the remote
                            # can move on (a cancel after it looks the same as one before)
                            lost, check, kind = exc, True, Row.UNCERTAIN
                            break
                        sent = True
                        status = answer.status
                    else:
                        return _Outcome(_Answer.SENT, remote_status=status, learned=learned)
                except PermanentError as exc:
                    if check or not exc.conflict:
                        return _Outcome(
                            _Answer.FAILED, str(exc), maybe_applied=maybe(), learned=learned
                        )
                    check = True  # our own lost answer, or a remote change: look
                except TransientError as exc:
                    return _Outcome(
                        _Answer.RETRY,
                        str(exc),
                        retry_after=exc.retry_after,
                        offline=isinstance(exc, UnreachableError),
                        maybe_applied=maybe(exc.maybe_applied),
                        learned=learned,
                    )
        except _LeaseLost:
            return _Outcome(_Answer.LOST, _LEASE_LOST, maybe_applied=maybe(), learned=learned)
        return _Outcome(
            _Answer.FAILED,
            "the remote keeps refusing this move",
            maybe_applied=maybe(),
            learned=learned,
        )

    def _health(self, online: bool, error: str | None) -> None:
        with self.store.write() as conn:
            self._write_health(conn, online, error)

    def _write_health(
        self, conn: Connection, online: bool, error: str | None, *, progress: bool = False
    ) -> None:
        now = utcnow()
        mine = sync_state.c.source == self.source.name
        row = conn.execute(select(sync_state).where(mine)).mappings().first()
        values: dict[str, Any] = {"online": online, "updated_at": now}
        if not progress:  # mid-drain the cycle's errors are not known yet
            values["last_error"] = scrub(error) if error else None
        if online:
            values |= {"offline_since": None, "last_ok_at": now}
        elif row is None or row["offline_since"] is None or row["online"]:
            values["offline_since"] = now
        if row is None:
            conn.execute(insert(sync_state).values(source=self.source.name, **values))
        else:
            conn.execute(update(sync_state).where(mine).values(**values))

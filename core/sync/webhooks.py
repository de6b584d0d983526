"""The webhook receiver: verified, stored, then acknowledged; applied from the inbox.

A delivery is answered 2xx only once its raw, verified body is committed to the
``webhook_inbox`` table:

1. no signature header (the source's, e.g. ``X-Webhook-Signature``): 401 before the body
   is read; a body over the limit
   (``Content-Length``, or counted while streaming): 413 without reading the rest;
2. the signature of the raw body is checked (the source's :class:`WebhookFormat`, constant
   time) before anything is parsed: 401;
3. the event is parsed just enough for its dedupe key (event type, full timestamp, order
   uid and a hash of the canonical event): two updates of one order in the same second are
   two events, an exact retry is one; unparseable: 400;
4. it is inserted (many requests per transaction, by one writer thread): new -> 202
   ``accepted``, already there -> 200 ``duplicate``, stamped outside the freshness window
   -> stored as ``stale`` and 200 ``stale`` (acknowledged so the remote stops retrying,
   never applied); the insert failing (database locked) -> 503, so the remote retries.

A worker thread applies the inbox oldest first through :class:`RemoteApplier`, marks each
row settled, retries with capped backoff while the database is busy, and at start drains
what a crash left unapplied. An event older than one already applied to the same order is
recorded as ``stale``, not applied (a late retry never moves an order backwards).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rxfloor.core import sources
from rxfloor.core.db import StoreError, utcnow, webhook_inbox
from rxfloor.core.service import OrderService
from rxfloor.core.sources import DEFAULT_SOURCE
from rxfloor.core.sources.base import Headers, IgnoredEvent, SourceOrder, WebhookFormat
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.retry import DATABASE_BUSY
from rxfloor.core.text import ScrubFilter, clip, register_secret, scrub, visible

log = logging.getLogger("rxfloor.webhooks")
log.addFilter(ScrubFilter())

MAX_BODY_BYTES = 1 << 20
MAX_AGE_S = 86_400.0  # the remote retries failed deliveries for a while: a day is "too old"
MAX_AHEAD_S = 300.0  # clock skew; an event from the future would block every later one
_MAX_ATTEMPTS = 10  # an event that fails to apply for another reason than a busy database
_BATCH = 200
_CHUNK = 25  # events applied per turn on the database (acknowledging goes first)
_QUIET_S = 0.05  # the worker waits for no delivery in flight and this long a pause...
_MAX_DEFER_S = 3.0  # ...but never longer than this
_TURN_WAIT_S = 0.2


def dedupe_key(event: dict[str, Any], event_type: str, timestamp: float, uid: str) -> str:
    """Distinct updates are distinct (a hash of the whole event), an exact retry is not."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{event_type[:48]}:{timestamp!r}:{uid}:{digest}"


@dataclass
class WebhookStats:
    accepted: int = 0  # stored, to be applied
    applied: int = 0
    duplicates: int = 0
    stale: int = 0  # stored, not applied (too old, from the future, older than known)
    forged: int = 0
    malformed: int = 0
    too_large: int = 0
    unavailable: int = 0  # 503: could not be stored
    ignored: int = 0  # signed, but of no use to this floor (2xx, not stored)
    refused_stamp: int = 0  # signed, but its delivery stamp is stale or unreadable (503)
    retries: int = 0  # worker passes that met a busy database
    failed: int = 0  # given up after repeated non-database errors


@dataclass(frozen=True, slots=True)
class _Event:
    key: str
    body: bytes
    headers: str | None  # JSON of the X-* headers, stored with the body
    uid: str
    timestamp: float
    stale: str | None  # why it is never applied, decided at receipt


def kept_headers(headers: Mapping[str, str], signature_header: str) -> dict[str, str]:
    """The headers stored with a delivery: its ``X-*`` ones but the signature."""
    skip = signature_header.lower()
    return {
        k.lower(): v for k, v in headers.items() if k.lower().startswith("x-") and k.lower() != skip
    }


class _Reject(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Ignore(Exception):
    """A signed delivery of no use here: answered 200 ``ignored``, not stored."""


_Done = Callable[[str | BaseException], None]


class WebhookReceiver:
    """Verifies, stores, acknowledges; a worker thread applies the inbox (see the module)."""

    def __init__(
        self,
        service: OrderService,
        secret: bytes,
        *,
        webhooks: WebhookFormat,
        source: str = DEFAULT_SOURCE,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_age_s: float = MAX_AGE_S,
        max_ahead_s: float = MAX_AHEAD_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.applier = RemoteApplier(service, source)
        self.store = service.store
        self.webhooks = webhooks
        self.source = source
        self._secret = secret
        register_secret(secret.decode(errors="replace"))  # never shown, whatever quotes it
        self.max_body_bytes = max_body_bytes
        self.max_age_s = max_age_s
        self.max_ahead_s = max_ahead_s
        self.clock = clock
        self.stats = WebhookStats()
        self._writes: queue.Queue[tuple[_Event, _Done] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_write = 0.0
        #: deliveries being received now (read, verified, stored, answered) and when the
        #: last one began: the worker applies only when none is (see _wait_for_a_pause)
        self._in_flight = 0
        self._last_arrival = 0.0
        #: the writer and the worker take turns on the database here, rather than in
        #: SQLite's busy handler (which sleeps up to 100 ms per retry)
        self._db_turn = threading.Lock()
        self._unrecorded: dict[int, int] = {}  # failed tries not yet written (db locked)

    # -- lifecycle
    def start(self) -> None:
        self._stop.clear()
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, name="rxfloor-webhooks-inbox", daemon=True
            )
            self._writer.start()
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="rxfloor-webhooks", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._writes.put(None)  # after whatever is queued: those are stored first
            self._writer.join(30)
            self._writer = None
        if self._worker is not None:
            self._stop.set()
            self._wake.set()
            self._worker.join(30)
            self._worker = None

    def rotate_secret(self, secret: bytes) -> None:
        """A new signing secret (a new subscription); deliveries signed with the old one fail."""
        if not secret:
            raise ValueError("the webhook secret is empty")
        self._secret = secret
        register_secret(secret.decode(errors="replace"))  # never shown, whatever quotes it

    # -- receiving
    def _verify(self, body: bytes, headers: Mapping[str, str]) -> _Event:
        """Signature first, then the least parsing that yields the dedupe key and freshness."""
        headers = Headers(headers)
        if not self.webhooks.verify(self._secret, body, headers):
            self.stats.forged += 1
            raise _Reject(401, "invalid signature")
        problem = getattr(self.webhooks, "delivery_problem", None)
        why = problem(headers) if callable(problem) else None
        if why:
            self.stats.refused_stamp += 1
            log.warning("webhook not taken (answered 503): %s", why)
            raise _Reject(503, str(why))
        try:
            event = self.webhooks.parse(body, headers)
            if not math.isfinite(event.timestamp):
                raise ValueError("its time is not a number")
            _text_ok(event.raw)
            # everything the apply needs, checked now: a 2xx promises the event is applied
            self.applier.check(event.order)
        except IgnoredEvent as exc:  # an event the floor does not use: 2xx, stored nowhere
            self.stats.ignored += 1
            raise _Ignore(str(exc)) from None
        except (ValueError, OverflowError, OSError) as exc:
            self.stats.malformed += 1
            raise _Reject(self._refusal_code(400), f"malformed event: {_why(exc)}") from None
        ts = event.timestamp
        now = self.clock()
        stale = None
        if ts < now - self.max_age_s:
            stale = f"stale: stamped {now - ts:.0f} s ago (window {self.max_age_s:.0f} s)"
        elif ts > now + self.max_ahead_s:
            stale = f"stale: stamped {ts - now:.0f} s in the future"
        uid = event.order.uid
        if event.event_id:  # the source names its deliveries: a retry repeats the name
            key = f"{self.source}:event:{event.event_id}"[:200]
        else:
            key = dedupe_key(event.raw, event.event_type, ts, uid)
            if not sources.bare_ids(self.source):  # the bare-ids source's keys stay as stored
                key = f"{self.source}:{key}"[:200]
        kept = kept_headers(headers, self.webhooks.signature_header)
        return _Event(key, body, json.dumps(kept) if kept else None, uid, ts, stale)

    def _refusal_code(self, code: int) -> int:
        """``code`` (a 4xx for what is wrong with the delivery itself), or 500 where the
        sender drops an event refused with a 4xx for good (Photon): only a forged signature
        is worth losing an event over; our own parser's refusal may be our own fault."""
        return 500 if getattr(self.webhooks, "drops_on_4xx", False) else code

    def _answer(self, event: _Event, inserted: bool) -> tuple[int, dict[str, str]]:
        if not inserted:
            self.stats.duplicates += 1
            return 200, {"status": "duplicate"}
        if event.stale:
            self.stats.stale += 1
            log.warning("webhook for %s recorded, not applied: %s", event.uid, event.stale)
            return 200, {"status": "stale"}
        self.stats.accepted += 1
        return 202, {"status": "accepted"}

    def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        """HTTP status and JSON answer for one delivery, stored before it returns 2xx."""
        if len(body) > self.max_body_bytes:
            self.stats.too_large += 1
            return self._refusal_code(413), {"error": "body too large"}
        try:
            event = self._verify(body, headers)
            (inserted,) = self._insert([event])
        except _Reject as exc:
            return exc.code, {"error": str(exc)}
        except _Ignore as exc:
            return 200, {"status": "ignored", "reason": str(exc)}
        except Exception as exc:
            self.stats.unavailable += 1
            log.warning("webhook not stored (answered 503): %s", exc)
            return 503, {"error": "cannot store the event now; retry"}
        return self._answer(event, inserted)

    async def receive_async(self, event: _Event) -> tuple[int, dict[str, str]]:
        """Queue the insert for the writer thread and wait for its commit (cheap under load)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | BaseException] = loop.create_future()

        def resolve(result: str | BaseException) -> None:
            if not done.done():
                done.set_result(result)

        def done_from_thread(result: str | BaseException) -> None:
            loop.call_soon_threadsafe(resolve, result)

        self._writes.put((event, done_from_thread))
        result = await done
        if isinstance(result, BaseException):
            self.stats.unavailable += 1
            log.warning("webhook not stored (answered 503): %s", result)
            return 503, {"error": "cannot store the event now; retry"}
        return self._answer(event, result == "new")

    def _write_loop(self) -> None:
        """One writer: takes whatever requests are waiting and inserts them in one commit."""
        while True:
            item = self._writes.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < 1000:
                try:
                    more = self._writes.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                inserted = self._insert([e for e, _ in batch])
                results: list[str | BaseException] = [
                    "new" if ok else "duplicate" for ok in inserted
                ]
            except Exception as exc:  # database locked or gone: every one of them gets 503
                results = [exc] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                done(result)
            if stop:
                return

    def _insert(self, events: list[_Event]) -> list[bool]:
        """Insert new events in one transaction; True where new, False where a duplicate."""
        now = utcnow()
        first: dict[str, int] = {}
        for i, e in enumerate(events):
            first.setdefault(e.key, i)
        rows = [
            {
                "source": self.source,
                "dedupe_key": e.key,
                "body": e.body,
                "headers": e.headers,
                "order_uid": e.uid,
                "event_ts": e.timestamp,
                "received_at": now,
                "attempts": 0,
                "applied_at": now if e.stale else None,
                "outcome": "stale" if e.stale else None,
                "last_error": e.stale,
            }
            for i, e in enumerate(events)
            if first[e.key] == i
        ]
        # the worker's turn is one short chunk; a stuck one must not hold acknowledgements
        turn = self._db_turn.acquire(timeout=_TURN_WAIT_S)
        try:
            with self.store.write() as conn:
                stmt = _insert_ignoring_duplicates(conn).returning(webhook_inbox.c.dedupe_key)
                new = set(conn.execute(stmt, rows).scalars())
        finally:
            if turn:
                self._db_turn.release()
            self._last_write = time.monotonic()
        self._wake.set()
        return [first[e.key] == i and e.key in new for i, e in enumerate(events)]

    # -- applying
    def _work(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wait_for_a_pause()
            try:
                settled = self._apply_pending()
                failures = 0
            except Exception as exc:  # database busy or unavailable: back off, retry
                failures += 1
                self.stats.retries += 1
                log.warning("webhook inbox: apply failed (retrying): %s", exc)
                self._stop.wait(DATABASE_BUSY.delay(failures))
                continue
            if settled:
                continue
            self._wake.wait(1.0)  # also picks up rows another receiver process stored
            self._wake.clear()

    def _busy(self) -> bool:
        """A delivery is being received, or one was stored or began a moment ago."""
        recent = max(self._last_write, self._last_arrival)
        return self._in_flight > 0 or time.monotonic() - recent < _QUIET_S

    def _wait_for_a_pause(self) -> None:
        """Acknowledging is what the remote times: apply in the pauses between deliveries
        (applying holds the interpreter; the event loop answering 500 deliveries at once
        would wait behind it), but never defer it longer than ``_MAX_DEFER_S``."""
        deadline = time.monotonic() + _MAX_DEFER_S
        while self._busy() and time.monotonic() < deadline:
            if self._stop.wait(_QUIET_S / 2):
                return

    def _apply_pending(self) -> int:
        """Apply up to one batch of unsettled rows, oldest first; how many were settled.

        Raises when the database is busy (nothing is settled then; the caller retries).
        """
        with self.store.read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    select(webhook_inbox)
                    .where(
                        webhook_inbox.c.source == self.source,
                        webhook_inbox.c.applied_at.is_(None),
                    )
                    .order_by(webhook_inbox.c.id)
                    .limit(_BATCH)
                ).mappings()
            ]
            if not rows:
                return 0
            uids = sorted({r["order_uid"] for r in rows})
            newest: dict[str, float] = dict(
                conn.execute(
                    select(webhook_inbox.c.order_uid, func.max(webhook_inbox.c.event_ts))
                    .where(
                        webhook_inbox.c.source == self.source,
                        webhook_inbox.c.order_uid.in_(uids),
                        webhook_inbox.c.outcome == "applied",
                    )
                    .group_by(webhook_inbox.c.order_uid)
                ).all()
            )
        settled = 0
        chunk: list[tuple[dict[str, Any], SourceOrder]] = []
        stale: list[tuple[dict[str, Any], str]] = []
        skipped: list[tuple[dict[str, Any], str]] = []
        seen: set[str] = set()  # orders this pass brings to the floor (or finds there)
        for row in rows:
            uid, ts = row["order_uid"], row["event_ts"]
            if ts < newest.get(uid, float("-inf")):
                stale.append((row, "stale: older than an event already applied to the order"))
                continue
            try:
                order = self.webhooks.parse(row["body"], _stored_headers(row)).order
            except ValueError as exc:
                stale.append((row, f"failed: malformed event: {_errors(exc)}"))
                continue
            if len(chunk) >= _CHUNK or any(r["order_uid"] == uid for r, _ in chunk):
                settled += self._apply_chunk(chunk)  # one event per order per apply
                chunk = []
                self._wait_for_a_pause()
            terminal = order.board_status is not None and order.board_status.is_terminal
            if terminal and uid not in seen and not self.applier.known(uid):
                # finished or cancelled before it ever reached this floor: no card. Kept
                # aside: an older event that brings the order later revives it
                skipped.append((row, "skipped: the order was never seen here"))
                continue
            chunk.append((row, order))
            seen.add(uid)
            newest[uid] = ts
        if stale:
            self._settle(
                [(r, "failed" if why.startswith("failed") else "stale", why) for r, why in stale]
            )
            self.stats.stale += sum(1 for _, why in stale if why.startswith("stale"))
            for r, why in stale:
                log.warning("webhook for %s recorded, not applied: %s", r["order_uid"], why)
            settled += len(stale)
        if chunk:
            settled += self._apply_chunk(chunk)
        # one whose order an older event of this pass brought stays unsettled: applied next
        skipped = [(r, why) for r, why in skipped if r["order_uid"] not in seen]
        if skipped:
            self._settle([(r, "skipped", why) for r, why in skipped])
            settled += len(skipped)
        return settled

    def _revive_skipped(self, uids: set[str]) -> int:
        """Events skipped for an order never seen, of orders now on the floor: applied on the
        next pass (the cancel delivered before the order's creation still cancels it)."""
        with self.store.write() as conn:
            revived = conn.execute(
                update(webhook_inbox)
                .where(
                    webhook_inbox.c.source == self.source,
                    webhook_inbox.c.outcome == "skipped",
                    webhook_inbox.c.order_uid.in_(sorted(uids)),
                )
                .values(applied_at=None, outcome=None, last_error=None)
            ).rowcount
        return int(revived or 0)

    def _apply_chunk(self, chunk: list[tuple[dict[str, Any], SourceOrder]]) -> int:
        try:
            with self._db_turn:
                self.applier.apply([o for _, o in chunk], seen_at=_seen_at(chunk))
        except Exception as exc:
            if isinstance(exc, StoreError):
                self._note_failure([r for r, _ in chunk], str(exc))
                raise
            return self._apply_one_by_one(chunk)
        # revived before these are settled: the inbox never looks settled in between
        self._revive_skipped({r["order_uid"] for r, _ in chunk})
        self._settle([(r, "applied", None) for r, _ in chunk])
        self.stats.applied += len(chunk)
        return len(chunk)

    def _apply_one_by_one(self, chunk: list[tuple[dict[str, Any], SourceOrder]]) -> int:
        """A batch failed for another reason than the database: find the event(s) at fault."""
        settled = 0
        for row, order in chunk:
            try:
                self.applier.apply([order], seen_at=_seen_at([(row, order)]))
            except StoreError as exc:
                self._note_failure([row], str(exc))
                raise
            except Exception as exc:
                tries = row["attempts"] + 1 + self._unrecorded.get(row["id"], 0)
                if tries < _MAX_ATTEMPTS:
                    self._note_failure([row], f"{type(exc).__name__}: {exc}")
                    continue
                log.error(
                    "webhook for %s given up after %d tries: %s", row["order_uid"], tries, exc
                )
                self.stats.failed += 1
                self._settle([(row, "failed", f"failed: {type(exc).__name__}: {exc}")])
                settled += 1
                continue
            self._revive_skipped({row["order_uid"]})
            self._settle([(row, "applied", None)])
            self.stats.applied += 1
            settled += 1
        return settled

    def _settle(self, rows: Iterable[tuple[dict[str, Any], str, str | None]]) -> None:
        now = utcnow()
        params = [
            {
                "b_id": r["id"],
                "b_outcome": outcome,
                "b_error": scrub(error) if error else None,
                "b_attempts": r["attempts"] + 1 + self._unrecorded.pop(r["id"], 0),
            }
            for r, outcome, error in rows
        ]
        with self.store.write() as conn:
            conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id == bindparam("b_id"))
                .values(
                    applied_at=now,
                    outcome=bindparam("b_outcome"),
                    last_error=bindparam("b_error"),
                    attempts=bindparam("b_attempts"),
                ),
                params,
            )

    def _note_failure(self, rows: list[dict[str, Any]], error: str) -> None:
        """Count a failed try on the rows; kept in memory while the database refuses writes."""
        for r in rows:
            self._unrecorded[r["id"]] = self._unrecorded.get(r["id"], 0) + 1
        params = [
            {
                "b_id": r["id"],
                "b_error": scrub(error)[:2000],
                "b_attempts": r["attempts"] + self._unrecorded[r["id"]],
            }
            for r in rows
        ]
        try:
            with self.store.write() as conn:
                conn.execute(
                    update(webhook_inbox)
                    .where(webhook_inbox.c.id == bindparam("b_id"))
                    .values(last_error=bindparam("b_error"), attempts=bindparam("b_attempts")),
                    params,
                )
        except Exception:
            return  # still locked: the count stays in memory and is written when settled
        for r in rows:
            self._unrecorded.pop(r["id"], None)

    # -- HTTP
    async def _read_body(self, request: Any) -> bytes:
        """At most ``max_body_bytes``: refused from Content-Length, else counted as it streams."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise _Reject(400, "bad Content-Length")
            if int(length) > self.max_body_bytes:
                raise _Reject(413, "body too large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _Reject(413, "body too large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def handle(self, request: Any) -> Any:
        """One delivery over HTTP: 2xx only once the event is stored."""
        self._in_flight += 1  # the event loop's thread only: no lock needed
        self._last_arrival = time.monotonic()
        try:
            return await self._handle(request)
        finally:
            self._in_flight -= 1

    async def _handle(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        signature = request.headers.get(self.webhooks.signature_header)
        try:
            if not signature:
                self.stats.forged += 1
                raise _Reject(401, "invalid signature")  # before reading any of the body
            try:
                body = await self._read_body(request)
            except _Reject as exc:
                if exc.code == 413:
                    self.stats.too_large += 1
                raise _Reject(self._refusal_code(exc.code), str(exc)) from None
            event = self._verify(body, request.headers)
        except _Reject as exc:
            retry = {"Retry-After": "30"} if exc.code == 503 else None
            return JSONResponse({"error": str(exc)}, exc.code, headers=retry)
        except _Ignore as exc:
            return JSONResponse({"status": "ignored", "reason": str(exc)}, 200)
        except Exception as exc:  # a fault of ours: the sender retries (a 4xx drops it)
            self.stats.unavailable += 1
            log.error("webhook not checked (answered 503): %s: %s", type(exc).__name__, exc)
            return JSONResponse(
                {"error": "cannot take the event now; retry"}, 503, headers={"Retry-After": "5"}
            )
        code, answer = await self.receive_async(event)
        headers = {"Retry-After": "5"} if code == 503 else None
        return JSONResponse(answer, code, headers=headers)

    def asgi_app(self) -> Any:
        """A Starlette app for this source alone: ``/webhooks/<source>`` and any other path."""
        return serve_app({self.source: self}, default=self.source)


def serve_app(receivers: Mapping[str, WebhookReceiver], *, default: str | None) -> Any:
    """A Starlette app serving several sources' receivers: ``POST /webhooks/<source>`` goes to
    that source's receiver (verified with its own secret; a known source not served: 404);
    any other path to ``default``'s (the one receiver there was before several sources), or
    404 when it is None."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def unknown(what: str) -> JSONResponse:
        return JSONResponse({"error": f"no webhook receiver for {what}"}, 404)

    async def by_source(request: Request) -> Response:
        name = str(request.path_params["source"]).lower()
        receiver = receivers.get(name)
        if receiver is None and name in sources.names():
            return unknown(f"source {clip(name, 40)} (its secret is not set)")
        if receiver is None:  # not a source's name: the old single path, as before
            return await fallback(request)
        response: Response = await receiver.handle(request)
        return response

    async def fallback(request: Request) -> Response:
        receiver = receivers.get(default) if default else None
        if receiver is None:
            return unknown("this path (POST /webhooks/<source>)")
        response: Response = await receiver.handle(request)
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[WebhookReceiver] = []
        try:
            for receiver in receivers.values():
                receiver.start()
                started.append(receiver)
            yield
        finally:
            for receiver in started:
                receiver.stop()

    app = Starlette(
        routes=[
            Route("/webhooks/{source}", by_source, methods=["POST"]),
            Route("/", fallback, methods=["POST"]),
            Route("/{path:path}", fallback, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.receivers = dict(receivers)
    if default is not None and default in receivers:
        app.state.receiver = receivers[default]
    return app


def _seen_at(chunk: list[tuple[dict[str, Any], SourceOrder]]) -> dict[str, datetime]:
    """Each event's own time: the remote was as the event says then, not now."""
    return {o.uid: datetime.fromtimestamp(r["event_ts"], UTC) for r, o in chunk}


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING`` in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(webhook_inbox).on_conflict_do_nothing(
            index_elements=["dedupe_key"]
        )
    return sqlite.insert(webhook_inbox).on_conflict_do_nothing(index_elements=["dedupe_key"])


def _stored_headers(row: dict[str, Any]) -> Headers:
    """The headers stored with an inbox row (none before they were kept)."""
    raw = row.get("headers")
    return Headers(json.loads(raw) if raw else None)


def _text_ok(raw: object) -> None:
    """Raises :class:`ValueError` when the event holds text no database or screen can take
    (a lone surrogate such as ``"\\ud800"``: valid JSON, not valid Unicode)."""
    try:
        json.dumps(raw, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("text that is not valid Unicode (a lone surrogate)") from None


def _why(exc: BaseException) -> str:
    """What is wrong with a refused event, in a few inert words for the sender: the fields
    a model refused (never their values), else the check's own words."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        return visible(", ".join(fields)[:120])
    if isinstance(exc, json.JSONDecodeError):
        return "not JSON"
    return visible(str(exc)[:120])


def _errors(exc: ValueError) -> str:
    """How many things are wrong with a stored event (a bad JSON body is one)."""
    return f"{exc.error_count() if isinstance(exc, ValidationError) else 1} errors"

"""The deliverer every stand-in that sends webhooks runs: one task per app, woken when the
state queues events, each delivery (with its retries: :func:`send_with_retries`) a task of
its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

T = TypeVar("T")


class Deliverer(Protocol):
    """What a stand-in's state offers its deliverer."""

    delivery_task: asyncio.Task[None] | None

    def bind_wakeup(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None: ...


def ensure_deliverer(state: Deliverer, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Start the delivery task on the running loop: at startup under a server, and at the
    first subscription in-process (httpx.ASGITransport runs no lifespan)."""
    task = state.delivery_task
    if task is None or task.done():
        state.delivery_task = asyncio.get_running_loop().create_task(run())


async def pump(
    state: Deliverer,
    take: Callable[[], Iterable[T]],
    send: Callable[[httpx.AsyncClient, T], Iterable[Coroutine[Any, Any, Any]]],
    client: Callable[[], httpx.AsyncClient],
    *,
    eager: bool = True,
) -> None:
    """Until cancelled: wait for events (``take`` them all), start every delivery ``send``
    makes of each. The client is made at start (``eager``) or at the first event (an SSL
    context is slow), and closed at the end; deliveries still running are cancelled."""
    wake = asyncio.Event()
    state.bind_wakeup(asyncio.get_running_loop(), wake)
    pending: set[asyncio.Task[Any]] = set()
    http = client() if eager else None
    try:
        while True:
            await wake.wait()
            wake.clear()
            for item in take():
                if http is None:
                    http = client()
                for delivery in send(http, item):
                    task = asyncio.create_task(delivery)
                    pending.add(task)
                    task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()
        if http is not None:
            await http.aclose()


def deliverer_lifespan(
    state: Deliverer, run: Callable[[], Coroutine[Any, Any, None]]
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that starts the deliverer with the server and stops it after."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        ensure_deliverer(state, run)
        try:
            yield
        finally:
            task, state.delivery_task = state.delivery_task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    return lifespan


@dataclass(frozen=True)
class Attempt:
    """One POST of a delivery: where, what, with which headers, and what its log entry
    says beside the attempt's number, status code and error."""

    url: str
    body: bytes
    headers: dict[str, str]
    entry: dict[str, Any]


def _doubling(n: int) -> float:
    return 0.2 * 2.0 ** (n - 1)


async def send_with_retries(
    client: httpx.AsyncClient,
    attempt: Callable[[int], Attempt],
    *,
    attempts: int,
    replay_of: int | None,
    clock: Callable[[], float],
    log: Callable[[dict[str, Any]], object],
    backoff: Callable[[int], float] = _doubling,
    retried: Callable[[int], bool] = lambda code: True,
) -> dict[str, Any]:
    """POST ``attempt(n)`` for n = 1, 2, … until a 2xx, an answer not ``retried`` or
    ``attempts`` are spent (a timeout or no connection is always retried; a replay of
    delivery ``replay_of`` is sent once), sleeping ``backoff(n)`` after attempt n (0.2 s,
    doubling); every attempt is ``log``-ged with its time. Returns the last entry."""
    entry: dict[str, Any] = {}
    attempts = 1 if replay_of is not None else attempts
    for n in range(1, attempts + 1):
        sent = attempt(n)
        entry = {"time": clock(), **sent.entry, "attempt": n, "replay_of": replay_of}
        entry |= {"status_code": None, "error": None}
        try:
            answer = await client.post(sent.url, content=sent.body, headers=sent.headers)
            entry["status_code"] = answer.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        log(entry)
        code = entry["status_code"]
        if code is not None and (200 <= code < 300 or not retried(code)):
            break
        if n < attempts:
            await asyncio.sleep(backoff(n))
    return entry

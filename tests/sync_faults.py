"""Deterministic faults for sync tests, made by wrapping one source object's methods (the
test decides the exact point of a pass where the world changes, never luck).

* :func:`kill_after_send`: the next step sent for one order reaches the remote, then the
  pushing process dies before the answer is settled (:class:`Killed` stands for SIGKILL):
  its outbox row stays ``sending``, as a killed ``rxfloor sync`` leaves it.
* :func:`late_step`: the next step sent for one order times out before the remote applied
  it; the test lands it later (a PATCH still on its way when its client gave up).
* :func:`throttle_next_read`: the next read-back of one order is answered 429.
* :func:`lagging_listing`: a pull reads its listing, then ``meanwhile`` runs (another
  terminal pushes and settles) before the pull applies what it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rxfloor.core.sources.base import OrderSource, SourceOrder, TransientError


class Killed(BaseException):
    """The pushing process died (SIGKILL) right after its step reached the remote."""


def kill_after_send(source: OrderSource, uid: str) -> Callable[[], None]:
    """The next step sent for ``uid`` is applied by the remote, then the pusher dies.
    Returns what takes the fault away if it has not struck."""
    real = source.push_step

    def push_step(order_uid: str, step: str, **kw: Any) -> SourceOrder:
        answer = real(order_uid, step, **kw)
        if order_uid == uid:
            source.push_step = real  # type: ignore[method-assign]
            raise Killed(f"killed after {step} of {uid} reached the remote")
        return answer

    source.push_step = push_step  # type: ignore[method-assign,assignment]

    def restore() -> None:
        source.push_step = real  # type: ignore[method-assign]

    return restore


def late_step(source: OrderSource, uid: str) -> Callable[[], SourceOrder]:
    """The next step sent for ``uid`` gets no answer in time (a timeout) and is not applied
    yet. Returns ``land()``: the remote applies that very step now."""
    real = source.push_step
    held: list[tuple[str, dict[str, Any]]] = []

    def push_step(order_uid: str, step: str, **kw: Any) -> SourceOrder:
        if order_uid != uid:
            return real(order_uid, step, **kw)
        source.push_step = real  # type: ignore[method-assign]
        held.append((step, kw))
        raise TransientError(f"no answer to {step} of {uid} in time", maybe_applied=True,
                             late=True)  # fmt: skip

    source.push_step = push_step  # type: ignore[method-assign,assignment]

    def land() -> SourceOrder:
        step, kw = held[0]
        return real(uid, step, **kw)

    return land


def throttle_next_read(source: OrderSource, uid: str) -> None:
    """The next read of ``uid`` (a read-back) is answered 429: nothing learned."""
    real = source.get_order

    def get_order(order_uid: str) -> SourceOrder:
        if order_uid == uid:
            source.get_order = real  # type: ignore[method-assign]
            raise TransientError("429 Too Many Requests", 429, retry_after=0.0,
                                 maybe_applied=False)  # fmt: skip
        return real(order_uid)

    source.get_order = get_order  # type: ignore[method-assign,assignment]


def lagging_listing(source: OrderSource, meanwhile: Callable[[], object]) -> None:
    """The next listing is read whole, then ``meanwhile`` runs, then it is handed out."""
    real = source.iter_orders

    def iter_orders(page_size: int, *, active: bool) -> Iterator[SourceOrder | str]:
        source.iter_orders = real  # type: ignore[method-assign]
        read = list(real(page_size, active=active))
        meanwhile()
        yield from read

    source.iter_orders = iter_orders  # type: ignore[method-assign]

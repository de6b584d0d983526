"""The gate every stand-in puts in front of its API: log the call, draw its fault, answer
the faults the route never sees, run the route under the others (:func:`applied_then`).

The sequence is the kit's; a vendor supplies only what is its own, as :class:`GateRules`
(which paths are API calls, its log fields, what the fault is drawn by, its error bodies).
``/_sandbox/…`` and anything else not an API call passes untouched: never logged or faulted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from rxfloor.sandbox.kit.asgi import answer, applied_then, drop

#: where the gate leaves the call's log entry for the route to fill in (``request.scope``)
ENTRY = "sandbox.request"


@dataclass(frozen=True)
class Reply:
    """An answer the gate writes itself: the route never runs, nothing is applied."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def _nothing(scope: Scope) -> Reply | None:
    return None


@dataclass(frozen=True)
class GateRules:
    """What one vendor's gate has of its own; each hook sees the call's ASGI scope."""

    #: whether a path is an API call (logged and faulted)
    is_api: Callable[[str], bool]
    #: the vendor's fields of the log entry (time, method, status_code, fault are the kit's)
    fields: Callable[[Scope], dict[str, Any]]
    #: the fault of this call (by method, endpoint or path), consuming the draw
    draw: Callable[[Scope], str | None]
    #: the gate's own answer to a drawn fault (server_error, rate_limit…); None: the route runs
    reply: Callable[[str, Scope], Reply | None]
    #: an answer every call gets before any draw (Photon's ``error_status``)
    override: Callable[[Scope], Reply | None] = _nothing
    #: a refusal after the draw, when the fault let the call through (RxScale's rate limit)
    admit: Callable[[Scope], Reply | None] = _nothing


class _Slow(Protocol):
    @property
    def slow_s(self) -> float: ...


class GateState(Protocol):
    """What the gate needs of a stand-in's state (every one has it: :class:`Logs`, faults)."""

    clock: Callable[[], float]

    def log_request(self, entry: dict[str, Any]) -> dict[str, Any]: ...

    @property
    def faults(self) -> _Slow: ...


class Gate:
    """ASGI middleware in front of a stand-in's API (``Middleware(Gate, state=…, rules=…)``)."""

    def __init__(self, app: ASGIApp, state: GateState, rules: GateRules) -> None:
        self.app = app
        self.state = state
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rules = self.rules
        if scope["type"] != "http" or not rules.is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        entry = self.state.log_request(
            {
                "time": self.state.clock(),
                "method": scope["method"],
                "status_code": None,
                "fault": None,
                **rules.fields(scope),
            }
        )
        scope[ENTRY] = entry
        fault = None
        reply = rules.override(scope)
        if reply is None:
            fault = entry["fault"] = rules.draw(scope)
            if fault == "drop_before":
                await drop(receive)
                return
            if fault is not None:
                reply = rules.reply(fault, scope)
        if reply is None:
            reply = rules.admit(scope)
        if reply is not None:
            await answer(entry, send, reply.status, reply.body, reply.headers)
            return
        # the route runs (the call IS applied), then the fault, if any, spoils the answer
        await applied_then(self.app, scope, receive, send, entry, fault, self.state.faults.slow_s)

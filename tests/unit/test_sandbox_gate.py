"""The kit's gate in front of a one-route app: the order of its steps, which each vendor's
stand-in relies on (an override draws nothing, a fault the gate answers admits nothing)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Scope

from rxfloor.sandbox.kit.asgi import ConnectionDropped
from rxfloor.sandbox.kit.gate import ENTRY, Gate, GateRules, Reply
from rxfloor.sandbox.kit.logs import Logs


class _Faults(BaseModel):
    slow_s: float = 0.0


class _State(Logs):
    """A stand-in reduced to what the gate reads; ``faults`` are the next draws, in order."""

    def __init__(self, faults: list[str | None], override: Reply | None = None) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._transitions: list[dict[str, Any]] = []
        self.clock = lambda: 0.0
        self.faults = _Faults()
        self.next_faults = faults
        self.override = override
        self.drawn = self.admitted = self.applied = 0

    def draw(self, scope: Scope) -> str | None:
        self.drawn += 1
        return self.next_faults.pop(0)

    def admit(self, scope: Scope) -> Reply | None:
        self.admitted += 1
        return None


def _app(state: _State) -> Starlette:
    async def route(request: Request) -> JSONResponse:
        state.applied += 1
        return JSONResponse({"seq": request.scope.get(ENTRY, {}).get("seq")})

    def reply(fault: str, scope: Scope) -> Reply | None:
        return Reply(500, {"error": "boom"}) if fault == "server_error" else None

    rules = GateRules(
        is_api=lambda path: path.startswith("/api"),
        fields=lambda scope: {"path": scope["path"]},
        draw=state.draw,
        reply=reply,
        override=lambda scope: state.override,
        admit=state.admit,
    )
    routes = [Route("/api/x", route), Route("/other", route)]
    return Starlette(routes=routes, middleware=[Middleware(Gate, state=state, rules=rules)])


def _get(state: _State, path: str = "/api/x") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)

    return asyncio.run(go())


def test_a_call_passes_applied_and_logged_with_the_vendors_fields() -> None:
    state = _State([None])
    assert _get(state).json() == {"seq": 1}
    entry = state.requests()[0]
    assert (entry["path"], entry["status_code"], entry["fault"]) == ("/api/x", 200, None)
    assert (state.drawn, state.admitted, state.applied) == (1, 1, 1)


def test_what_is_not_an_api_call_is_neither_logged_nor_drawn() -> None:
    state = _State([])
    assert _get(state, "/other").json() == {"seq": None}  # the route runs, unlogged
    assert state.requests() == [] and state.drawn == 0


def test_an_override_answers_before_any_draw_or_admission() -> None:
    state = _State([], override=Reply(503, {"error": "down"}))
    response = _get(state)
    assert (response.status_code, response.json()) == (503, {"error": "down"})
    assert (state.drawn, state.admitted, state.applied) == (0, 0, 0)
    assert state.requests()[0]["status_code"] == 503


def test_a_fault_the_gate_answers_is_not_admitted_nor_applied() -> None:
    state = _State(["server_error"])
    assert _get(state).status_code == 500
    assert (state.drawn, state.admitted, state.applied) == (1, 0, 0)


def test_drop_before_applies_nothing_and_drop_after_applies() -> None:
    state = _State(["drop_before", "drop_after"])
    with pytest.raises(ConnectionDropped):
        _get(state)
    assert state.applied == 0
    with pytest.raises(ConnectionDropped):
        _get(state)
    assert state.applied == 1
    assert [(r["fault"], r["status_code"]) for r in state.requests()] == [
        ("drop_before", None),
        ("drop_after", None),
    ]

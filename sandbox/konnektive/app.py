"""The Konnektive stand-in as a Starlette app: the three documented calls, control
endpoints under ``/_sandbox``, reproducible faults.

API calls (GET query string or POST form, like Konnektive): ``/order/query/``,
``/fulfillment/query/``, ``/fulfillment/update/``, each with ``loginId`` and ``password``.
Every answer is HTTP 200 ``{"result": "SUCCESS" | "ERROR", "message": …}`` unless a fault
says otherwise. The gate in front logs each call (parameter names only, never the
credentials' values), draws its fault and, for the faults that need it, holds back,
garbles or drops the answer after the call was applied.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from rxfloor.sandbox.kit.control import (
    Control,
    FaultExtra,
    control_mount,
    refusal_answer,
)
from rxfloor.sandbox.kit.gate import ENTRY, Gate, GateRules, Reply
from rxfloor.sandbox.kit.refusal import Refusal as ControlRefusal
from rxfloor.sandbox.kit.refusal import json_body, validation_refusal
from rxfloor.sandbox.konnektive.state import (
    BAD_LOGIN,
    BUSY,
    KonnektiveConfig,
    KonnektiveState,
    Refusal,
)

API_ENDPOINTS = ("order/query", "fulfillment/query", "fulfillment/update")
_SECRET_PARAMS = ("loginId", "password")


def _endpoint(path: str) -> str:
    return path.strip("/")


def _gate(state: KonnektiveState) -> GateRules:
    """The three calls, faults drawn per endpoint; ``error_200`` is the handler's to answer."""

    def reply(fault: str, scope: Scope) -> Reply | None:
        if fault == "server_error":
            return Reply(500, {"result": "ERROR", "message": "Internal error"})
        if fault == "rate_limit":
            retry_after = {"Retry-After": str(state.faults.retry_after_s)}
            return Reply(429, {"result": "ERROR", "message": "Too many requests"}, retry_after)
        return None  # error_200: refused with HTTP 200 by the handler, which reads the call

    return GateRules(
        is_api=lambda path: _endpoint(path) in API_ENDPOINTS,
        fields=lambda scope: {"endpoint": _endpoint(scope["path"]), "params": {}, "login_ok": None},
        draw=lambda scope: state.draw_fault(_endpoint(scope["path"])),
        reply=reply,
    )


# -- the API -----------------------------------------------------------------------------


def _state(request: Request) -> KonnektiveState:
    state: KonnektiveState = request.app.state.konnektive
    return state


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":  # a form body (urlencoded), parsed by hand: no multipart
        raw = (await request.body()).decode("utf-8", "replace")
        params |= dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
    return params


def _error(request: Request, params: dict[str, str], message: str) -> Response:
    if _state(request).faults.echo_secret:  # a careless remote quotes what it was sent
        sent = [params.get(k, "") for k in _SECRET_PARAMS]
        quoted = [urllib.parse.quote(s, safe="") for s in sent]
        message = f"{message} (loginId={sent[0]}, password={sent[1]}; {quoted[0]}, {quoted[1]})"
    return JSONResponse({"result": "ERROR", "message": message})


async def _api(request: Request) -> Response:
    state = _state(request)
    endpoint = _endpoint(request.url.path)
    params = await _params(request)
    entry = request.scope.get(ENTRY) or {}
    entry["params"] = {k: v for k, v in params.items() if k not in _SECRET_PARAMS}
    ok = state.credentials_ok(params.get("loginId"), params.get("password"))
    entry["login_ok"] = ok
    if not ok:
        return _error(request, params, BAD_LOGIN)
    if entry.get("fault") == "error_200":  # nothing applied
        return _error(request, params, BUSY)
    try:
        if endpoint == "fulfillment/update":
            message: Any = state.update(params, entry.get("seq"))
        else:
            message = state.query("order" if endpoint == "order/query" else "fulfillment", params)
    except Refusal as exc:
        return _error(request, params, exc.message)
    return JSONResponse({"result": "SUCCESS", "message": message})


# -- control -----------------------------------------------------------------------------


class _NewOrders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=100_000)
    status: str = "PENDING"


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(min_length=1)
    by: str = Field(default="merchant", pattern="^(merchant|carrier)$")


async def control_new_orders(request: Request) -> Response:
    try:
        body = _NewOrders.model_validate(await json_body(request, optional=True))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    status = body.status.strip().upper().replace(" ", "_")
    return JSONResponse({"created": _state(request).add_orders(body.count, status)}, 201)


async def control_get_order(request: Request) -> Response:
    state = _state(request)
    order_id = request.path_params["order_id"]
    order = state.orders.get(order_id)
    if order is None:
        return JSONResponse({"error": f"order {order_id} not found"}, 404)
    return JSONResponse({**order, "fulfillment": state.fulfillment_of(order_id)})


async def control_change(request: Request) -> Response:
    try:
        body = _Change.model_validate(await json_body(request, optional=True))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    try:
        f = _state(request).merchant(request.path_params["order_id"], body.status, body.by)
    except Refusal as exc:
        return JSONResponse({"error": exc.message}, 409)
    return JSONResponse(f)


def _control(state: KonnektiveState) -> Control:
    def set_validation(on: Any) -> None:
        state.carrier_validation = bool(on)

    return Control(
        state,
        reset_answer=lambda: {"orders": len(state.orders)},
        routes=[
            Route("/orders", control_new_orders, methods=["POST"]),
            Route("/orders/{order_id}", control_get_order, methods=["GET"]),
            Route("/orders/{order_id}/fulfillment", control_change, methods=["POST"]),
        ],
        extras=[FaultExtra("carrier_validation", lambda: state.carrier_validation, set_validation)],
    )


def create_app(config: KonnektiveConfig | None = None) -> Starlette:
    """A fresh stand-in; its state is ``app.state.konnektive`` (a :class:`KonnektiveState`)."""
    state = KonnektiveState(config or KonnektiveConfig())
    api = [Route(f"/{e}/", _api, methods=["GET", "POST"]) for e in API_ENDPOINTS]
    app = Starlette(
        routes=[*api, control_mount(_control(state))],
        exception_handlers={ControlRefusal: refusal_answer},
    )
    app.add_middleware(Gate, state=state, rules=_gate(state))
    app.state.konnektive = state
    return app

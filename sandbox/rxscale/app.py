"""The stand-in as a Starlette app: the documented API, the control endpoints, the faults.

Every request under the API base paths goes through the kit's gate first (rules:
:func:`_gate`), which logs it, draws its fault, applies the rate limit and, for the faults
that need it, holds back, garbles or drops the answer. ``/_sandbox/…`` (control) is never
logged, faulted or limited.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Scope

from rxfloor.sandbox.kit.asgi import header
from rxfloor.sandbox.kit.control import (
    CONTROL_PATH,
    Control,
    FaultExtra,
    Webhooks,
    control_mount,
    log_stats,
)
from rxfloor.sandbox.kit.gate import ENTRY, Gate, GateRules, Reply
from rxfloor.sandbox.kit.refusal import json_body, validation_refusal
from rxfloor.sandbox.kit.signing import hmac_hex
from rxfloor.sandbox.kit.webhooks import (
    Attempt,
    deliverer_lifespan,
    ensure_deliverer,
    pump,
    send_with_retries,
)
from rxfloor.sandbox.rxscale.openapi import openapi_schema
from rxfloor.sandbox.rxscale.state import (
    EVENT_TYPES,
    KeyGrant,
    Refusal,
    RxScaleSandboxConfig,
    RxScaleSandboxState,
    list_view,
)

BASE_PATH = "/v1/external-pharmacy-api-v1"
#: the older documentation's spelling; served too
OLD_BASE_PATH = "/v1/external_pharmacy_api"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: the words of the ``refuse`` fault (the 409 of a transition the pharmacy may not make now)
REFUSED = "transition not allowed from the current status"


# -- the gate: log, faults, rate limit -----------------------------------------------------


def _gate(state: RxScaleSandboxState) -> GateRules:
    """Every call but control's, faults drawn by method; then the rate limit (``admit``)."""

    def fields(scope: Scope) -> dict[str, Any]:
        headers = dict(scope["headers"])
        return {
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "idempotency_key": header(headers, b"idempotency-key")
            or header(headers, b"x-idempotency-key"),
        }

    def reply(fault: str, scope: Scope) -> Reply | None:
        if fault == "server_error":
            return Reply(500, {"error": "internal server error"})
        if fault == "rate_limit":
            return _too_many(state.faults.retry_after_s)
        return None  # refuse: the status routes answer it (_refused)

    def admit(scope: Scope) -> Reply | None:
        wait = state.admit()
        if wait is None:
            return None
        said = state.faults.retry_after_s
        return _too_many(None if said is None else max(said, wait))

    return GateRules(
        is_api=lambda path: not path.startswith(CONTROL_PATH),
        fields=fields,
        draw=lambda scope: state.draw_fault(scope["method"]),
        reply=reply,
        admit=admit,
    )


def _too_many(retry_after: int | None) -> Reply:
    """RxScale's 429: ``{"error": "Rate limit exceeded"}`` and no documented header
    (``Retry-After`` only when the fault settings ask for one)."""
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return Reply(429, {"error": "Rate limit exceeded"}, headers)


# -- webhook deliveries --------------------------------------------------------------------


def _ensure_deliverer(state: RxScaleSandboxState) -> None:
    ensure_deliverer(state, lambda: _deliver_forever(state))


async def _deliver_forever(state: RxScaleSandboxState) -> None:
    def send(client: httpx.AsyncClient, item: tuple[Any, list[dict[str, Any]]]) -> list[Any]:
        event, subs = item
        body = json.dumps(
            {
                "event_type": event.event_type,
                "timestamp": event.timestamp,
                "payload_version": "1",
                "data": event.order,
            },
            separators=(",", ":"),
        ).encode()
        return [deliver(client, state, sub, event.event_type, body) for sub in subs]

    await pump(
        state,
        state.take_events,
        send,
        lambda: httpx.AsyncClient(timeout=state.config.webhook_timeout_s),
    )


def sign(secret: str, body: bytes) -> str:
    """``X-Webhook-Signature``: hex HMAC-SHA256 of the raw body keyed with the secret."""
    return hmac_hex(secret, body)


async def deliver(
    client: httpx.AsyncClient,
    state: RxScaleSandboxState,
    sub: dict[str, Any],
    event_type: str,
    body: bytes,
    *,
    replay_of: int | None = None,
) -> None:
    """POST one signed event, retrying failures with the same bytes (receivers dedupe)."""
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Event": event_type,
        "X-Webhook-Signature": sign(sub["signing_secret"], body),
    }

    def attempt(_n: int) -> Attempt:
        entry = {
            "subscription": sub["uid"],
            "target": sub["target"],
            "event_type": event_type,
            "body": body.decode(),
            "signature": headers["X-Webhook-Signature"],
        }
        return Attempt(sub["target"], body, headers, entry)

    await send_with_retries(
        client,
        attempt,
        attempts=state.config.webhook_attempts,
        replay_of=replay_of,
        clock=state.clock,
        log=state.log_delivery,
    )


# -- helpers for the API handlers ----------------------------------------------------------


def _state(request: Request) -> RxScaleSandboxState:
    state: RxScaleSandboxState = request.app.state.sandbox
    return state


def _key(request: Request) -> KeyGrant:
    """The caller's key, or the documented 401 (raised as Refusal)."""
    raw = request.headers.get("x-api-key")
    if raw is None:
        raise Refusal(
            401,
            {
                "code": "authorization_header_missing",
                "description": "the X-API-Key header is missing",
            },
        )
    key = raw.strip()
    if not key or len(key) > 256 or not key.isprintable() or any(c.isspace() for c in key):
        raise Refusal(
            401, {"code": "invalid_header", "description": "the X-API-Key header is malformed"}
        )
    grant = _state(request).keys.get(key)
    if grant is None:
        raise Refusal(401, {"code": "invalid_api_key", "description": "the API key is not valid"})
    return grant


def _authorise(request: Request, permission: str) -> str:
    """401 / 403 / 400 / 404 as docs/pages/sources/rxscale.md describes (raised as Refusal).

    Returns the pharmacy the call is about: the key's own, or for a group key the
    ``pharmacy_uid`` it must name.
    """
    grant = _key(request)
    if permission not in grant.permissions:
        raise Refusal(
            403,
            {
                "code": "insufficient_permissions",
                "description": f"the API key lacks the {permission} permission",
            },
        )
    state = _state(request)
    own = state.config.pharmacy_uid
    pharmacy = request.query_params.get("pharmacy_uid")
    if grant.group and not pharmacy:
        raise Refusal(400, {"error": "pharmacy_uid is required with a pharmacy group key"})
    visible = state.pharmacies if grant.group else {own: ""}
    if pharmacy and pharmacy not in visible:
        raise Refusal(404, {"error": f"pharmacy {pharmacy} not found"})
    return pharmacy or own


def _query_int(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise Refusal(
            422,
            {
                "error": f"invalid query parameter {name}",
                "details": [{"field": name, "message": f"must be an integer >= {minimum}"}],
            },
        )
    return value


class _StatusBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = Field(min_length=1)
    comment: str | None = None


class _WebhookBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    target: str = Field(min_length=1, max_length=2048)
    notification_type: str


# -- the documented API --------------------------------------------------------------------


async def health(request: Request) -> Response:
    _key(request)  # any valid key; no permission or pharmacy needed
    return JSONResponse({"status": "ok"})


async def list_orders(request: Request) -> Response:
    pharmacy = _authorise(request, "orders_read")
    state = _state(request)
    page = _query_int(request, "page", 0, 0)
    limit = min(_query_int(request, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    status = request.query_params.get("status") or None
    if status is not None and status not in state.dialect.statuses:
        raise Refusal(
            422,
            {
                "error": f"unknown status '{status}'",
                "details": [
                    {"field": "status", "message": f"one of {list(state.dialect.statuses)}"}
                ],
            },
        )
    search = request.query_params.get("search")
    rows, total = state.list_orders(page, limit, status, search, pharmacy)
    return JSONResponse(
        {
            "data": [list_view(o) for o in rows],
            "totalRegistries": total,
            "totalPages": -(-total // limit),
        }
    )


async def get_order(request: Request) -> Response:
    pharmacy = _authorise(request, "orders_read")
    uid = request.path_params["uid"]
    order = _state(request).get(uid, pharmacy)
    if order is None:
        raise Refusal(404, {"error": f"pharmacy order {uid} not found"})
    return JSONResponse(order)


def _refused(request: Request) -> None:
    """The ``refuse`` fault: the 409 of a transition not allowed now, nothing applied."""
    entry = request.scope.get(ENTRY)
    if entry is not None and entry["fault"] == "refuse":
        raise Refusal(409, {"error": REFUSED})


async def patch_status(request: Request) -> Response:
    pharmacy = _authorise(request, "orders_write")
    _refused(request)
    body = await json_body(request)
    try:
        patch = _StatusBody.model_validate(body)
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    order = _state(request).set_status(
        request.path_params["uid"],
        patch.status,
        by="api",
        comment=patch.comment,
        request=request.scope.get(ENTRY),
        pharmacy_uid=pharmacy,
    )
    return JSONResponse(order)


async def complete_order(request: Request) -> Response:
    state = _state(request)
    if state.dialect.name != "v2":
        raise Refusal(404, {"error": "not found"})
    pharmacy = _authorise(request, "orders_write")
    _refused(request)
    order = state.set_status(
        request.path_params["uid"],
        state.dialect.completed,
        by="api",
        request=request.scope.get(ENTRY),
        complete=True,
        pharmacy_uid=pharmacy,
    )
    return JSONResponse(order)


async def list_webhooks(request: Request) -> Response:
    pharmacy = _authorise(request, "webhooks_read")
    subs = [s for s in _state(request).subscriptions() if s["pharmacy_uid"] == pharmacy]
    return JSONResponse({"data": subs})


async def create_webhook(request: Request) -> Response:
    pharmacy = _authorise(request, "webhooks_write")
    try:
        body = _WebhookBody.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    try:
        url = httpx.URL(body.target)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    details = []
    if url.scheme not in ("http", "https") or not url.host:
        details.append({"field": "target", "message": "must be an absolute http(s) URL"})
    if body.notification_type not in EVENT_TYPES:
        details.append({"field": "notification_type", "message": f"one of {list(EVENT_TYPES)}"})
    if details:
        raise Refusal(422, {"error": "validation failed", "details": details})
    state = _state(request)
    sub = state.subscribe(body.target, body.notification_type, pharmacy)
    _ensure_deliverer(state)
    return JSONResponse(sub, 201)


async def delete_webhook(request: Request) -> Response:
    pharmacy = _authorise(request, "webhooks_write")
    uid = request.path_params["uid"]
    state = _state(request)
    mine = any(s["uid"] == uid and s["pharmacy_uid"] == pharmacy for s in state.subscriptions())
    if not mine or not state.unsubscribe(uid):
        raise Refusal(404, {"error": f"webhook {uid} not found"})
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_schema(_state(request).dialect.name))


def _api_routes() -> list[Route]:
    return [
        Route("/health/", health, methods=["GET"]),
        Route("/pharmacy_orders/", list_orders, methods=["GET"]),
        Route("/pharmacy_orders/{uid}", get_order, methods=["GET"]),
        Route("/pharmacy_orders/{uid}/status", patch_status, methods=["PATCH"]),
        Route("/pharmacy_orders/{uid}/complete_order", complete_order, methods=["PATCH"]),
        Route("/webhooks/", list_webhooks, methods=["GET"]),
        Route("/webhooks/", create_webhook, methods=["POST"]),
        Route("/webhooks/{uid}", delete_webhook, methods=["DELETE"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


# -- control endpoints ---------------------------------------------------------------------


class _NewOrders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=100_000)
    status: str | None = None
    pharmacy_uid: str | None = None


class _RemoteChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(min_length=1)
    comment: str | None = None
    force: bool = False


#: words a test may use for the remote side's usual changes, per dialect
_ALIASES = {"cancel": "cancelled", "complete": "completed", "hold": "hold"}


async def control_stats(request: Request) -> Response:
    """Counts for benchmarks: requests by status code, fault and method; transitions by side."""
    state = _state(request)
    requests = state.requests()
    by_method = dict(Counter(r["method"] for r in requests))
    return JSONResponse({**log_stats(requests, state.transitions()), "by_method": by_method})


async def control_new_orders(request: Request) -> Response:
    try:
        body = _NewOrders.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    made = _state(request).add_orders(body.count, body.status, pharmacy_uid=body.pharmacy_uid)
    return JSONResponse({"created": [o["uid"] for o in made]}, 201)


async def control_get_order(request: Request) -> Response:
    uid = request.path_params["uid"]
    order = _state(request).get(uid)
    if order is None:
        raise Refusal(404, {"error": f"pharmacy order {uid} not found"})
    return JSONResponse(order)


async def control_remote_change(request: Request) -> Response:
    state = _state(request)
    try:
        body = _RemoteChange.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    target = _ALIASES.get(body.status, body.status)
    if target == "hold":
        if state.dialect.hold is None:
            raise Refusal(422, {"error": f"dialect {state.dialect.name} has no hold status"})
        target = state.dialect.hold
    order = state.set_status(
        request.path_params["uid"], target, by="sandbox", comment=body.comment, force=body.force
    )
    return JSONResponse(order)


def _set_rate_limit(state: RxScaleSandboxState, limit: Any) -> None:
    if limit is not None and (not isinstance(limit, int | float) or limit <= 0):
        raise Refusal(422, {"error": "rate_limit must be a positive number or null"})
    state.set_rate_limit(limit)


async def _replay(
    state: RxScaleSandboxState, past: dict[str, Any], _options: dict[str, Any]
) -> dict[str, Any]:
    """Send a past delivery again, byte for byte, to its subscription (if it is still there)."""
    sub = next((s for s in state.subscriptions() if s["uid"] == past["subscription"]), None)
    if sub is None:
        raise Refusal(404, {"error": f"delivery {past['seq']}: its subscription is gone"})
    secret = state.signing_secret(sub["uid"])
    async with httpx.AsyncClient(timeout=state.config.webhook_timeout_s) as client:
        await deliver(
            client,
            state,
            {**sub, "signing_secret": secret},
            past["event_type"],
            past["body"].encode(),
            replay_of=past["seq"],
        )
    return state.deliveries()[-1]


def _control(state: RxScaleSandboxState) -> Control:
    return Control(
        state,
        reset_answer=lambda: {"orders": state.list_orders(0, 1)[1]},
        routes=[
            Route("/stats", control_stats, methods=["GET"]),
            Route("/orders", control_new_orders, methods=["POST"]),
            Route("/orders/{uid}", control_get_order, methods=["GET"]),
            Route("/orders/{uid}/status", control_remote_change, methods=["POST"]),
        ],
        extras=[
            FaultExtra(
                "rate_limit", lambda: state.rate_limit, lambda limit: _set_rate_limit(state, limit)
            )
        ],
        webhooks=Webhooks(state, lambda past, options: _replay(state, past, options)),
    )


# -- the app -------------------------------------------------------------------------------


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    body = exc.body
    sent = request.headers.get("x-api-key")
    if sent and _state(request).faults.echo_key:
        field = "error" if "error" in body else "description"
        quoted = urllib.parse.quote(sent, safe="")
        body = {**body, field: f"{body.get(field, 'refused')} (X-API-Key {sent}; {quoted})"}
    return JSONResponse(body, exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON, like every other error of the API."""
    code = getattr(exc, "status_code", 500)
    words = {404: "not found", 405: "method not allowed"}.get(code, "error")
    return JSONResponse({"error": words}, code)


def create_app(config: RxScaleSandboxConfig | None = None) -> Starlette:
    """A fresh stand-in; its state is ``app.state.sandbox`` (a :class:`RxScaleSandboxState`)."""
    from starlette.exceptions import HTTPException

    state = RxScaleSandboxState(config or RxScaleSandboxConfig())

    api = _api_routes()
    app = Starlette(
        routes=[
            Mount(BASE_PATH, routes=api),
            Mount(OLD_BASE_PATH, routes=api),
            control_mount(_control(state)),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        middleware=[Middleware(Gate, state=state, rules=_gate(state))],
        exception_handlers={Refusal: _refusal, HTTPException: _http_error},
        lifespan=deliverer_lifespan(state, lambda: _deliver_forever(state)),
    )
    app.state.sandbox = state
    return app

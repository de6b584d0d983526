"""The Photon stand-in as a Starlette app: the pharmacy's status report, the order read,
the control endpoints, faults and signed CloudEvents deliveries.

API (faulted, logged): ``POST /v1/hooks/pharmacy`` and ``POST /graphql`` (``order(id:)``
only; any other query is answered with a GraphQL error). Control (never faulted or
logged) under ``/_sandbox``: see :mod:`tests.photon_fixtures` for the list.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from rxfloor.sandbox.kit.control import (
    Control,
    Subscriptions,
    Webhooks,
    control_mount,
    refusal_answer,
)
from rxfloor.sandbox.kit.gate import ENTRY, Gate, GateRules, Reply
from rxfloor.sandbox.kit.refusal import json_body
from rxfloor.sandbox.kit.signing import hmac_hex
from rxfloor.sandbox.kit.webhooks import (
    Attempt,
    deliverer_lifespan,
    ensure_deliverer,
    pump,
    send_with_retries,
)
from rxfloor.sandbox.photon.state import (
    REFUSED,
    PhotonSandboxConfig,
    PhotonSandboxState,
    Refusal,
    envelope,
)

HOOK_PATH = "/v1/hooks/pharmacy"
GRAPHQL_PATH = "/graphql"
#: the client-credentials flow (Photon's is ``auth.photon.health/oauth/token``)
TOKEN_PATH = "/oauth/token"
#: Photon's delivery content type: a batch type, one event in the body
CONTENT_TYPE = "application/cloudevents-batch+json"
API_PATHS = (HOOK_PATH, GRAPHQL_PATH)


def sign(secret: str, body: bytes) -> str:
    """``X-Photon-Signature``: hex HMAC-SHA256 of the raw body with the shared secret."""
    return hmac_hex(secret, body)


# -- the gate: log, faults -------------------------------------------------------------------


def _gate(state: PhotonSandboxState) -> GateRules:
    """The two API paths, faults drawn by path; ``error_status`` answers every call first."""

    def error(code: int, scope: Scope, words: str | None = None) -> Reply:
        body: dict[str, Any] = {
            "error": words or ("internal server error" if code >= 500 else "refused")
        }
        if state.faults.echo_token:  # a careless remote quotes what it was sent
            name = state.config.auth_header
            sent = Headers(scope=scope).get(name, "")
            body["error"] += f" (credentials: {sent})"
            body["detail"] = f"header {name}={sent}"
        return Reply(code, body)

    def reply(fault: str, scope: Scope) -> Reply | None:
        if fault == "server_error":
            return error(500, scope)
        if fault == "refuse":
            return error(409, scope, REFUSED)
        if fault == "rate_limit":
            retry_after = {"Retry-After": str(state.faults.retry_after_s)}
            return Reply(429, {"error": "too many requests"}, retry_after)
        return None

    def override(scope: Scope) -> Reply | None:
        code = state.faults.error_status
        return None if code is None else error(code, scope)

    return GateRules(
        is_api=lambda path: path in API_PATHS,
        fields=lambda scope: {
            "path": scope["path"],
            "report": None,
            "idempotency_key": Headers(scope=scope).get("idempotency-key"),
        },
        draw=lambda scope: state.draw_fault(scope["path"]),
        reply=reply,
        override=override,
    )


# -- webhook deliveries --------------------------------------------------------------------


def _ensure_deliverer(state: PhotonSandboxState) -> None:
    ensure_deliverer(state, lambda: deliver_forever(state))


async def deliver_forever(
    state: PhotonSandboxState, client: httpx.AsyncClient | None = None
) -> None:
    """Send every event as it happens to every subscription, until cancelled. ``client``
    (closed here) carries the deliveries: the demo's reaches its receiver in-process."""

    def send(http: httpx.AsyncClient, item: tuple[Any, list[dict[str, Any]], int]) -> list[Any]:
        event, subs, times = item
        body = json.dumps(
            envelope(event, state.config.organization), separators=(",", ":")
        ).encode()
        return [deliver(http, state, sub, event, body) for sub in subs for _ in range(times)]

    # a burst of events waits for a free connection as Photon's own queue would: the time
    # spent waiting is not an attempt that timed out (the receiver never saw it)
    timeout = httpx.Timeout(state.config.webhook_timeout_s, pool=None)
    await pump(state, state.take_events, send, lambda: client or httpx.AsyncClient(timeout=timeout))


async def deliver(
    client: httpx.AsyncClient,
    state: PhotonSandboxState,
    sub: dict[str, Any],
    event: Any,
    body: bytes,
    *,
    replay_of: int | None = None,
    timestamp: str | None = None,
) -> None:
    """POST one signed event; a failed attempt is retried with the same body and a fresh
    ``X-Photon-Timestamp`` (the time of sending, Unix milliseconds) — but only a 5xx, 408,
    429, a timeout or no connection: any other 4xx drops the event for good, as Photon's
    does. A replay sends once, optionally with the original timestamp (``timestamp``: a
    captured request sent again)."""
    signature = sign(sub["secret"], body)

    def attempt(_n: int) -> Attempt:
        sent = timestamp or str(int(state.clock() * 1000))
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Photon-Signature": signature,
            "X-Photon-Timestamp": sent,
        }
        entry = {
            "subscription": sub["uid"],
            "target": sub["target"],
            "event_id": event.event_id,
            "event_type": event.event_type,
            "order_id": event.order_id,
            "body": body.decode(),
            "signature": signature,
            "timestamp": sent,
        }
        return Attempt(sub["target"], body, headers, entry)

    await send_with_retries(
        client,
        attempt,
        attempts=state.config.webhook_attempts,
        replay_of=replay_of,
        clock=state.clock,
        log=state.log_delivery,
        retried=_retried,
    )


def _retried(code: int) -> bool:
    """Photon retries a 5xx, 408 or 429 answer; 2xx is done, any other code dropped."""
    return code >= 500 or code in (408, 429)


# -- API handlers --------------------------------------------------------------------------


def _state(request: Request) -> PhotonSandboxState:
    state: PhotonSandboxState = request.app.state.sandbox
    return state


def _authorised(request: Request) -> bool:
    """The static token, or a machine token the stand-in issued and that has not expired."""
    state = _state(request)
    config = state.config
    token = config.token.get_secret_value()
    expected = f"{config.auth_scheme} {token}" if config.auth_scheme else token
    given = request.headers.get(config.auth_header, "")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return True
    scheme = f"{config.auth_scheme} " if config.auth_scheme else ""
    return given.startswith(scheme) and state.token_valid(given[len(scheme) :])


async def oauth_token(request: Request) -> Response:
    """``POST /oauth/token`` (JSON or form): ``{access_token, token_type, expires_in}``."""
    try:
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            body: Any = dict(await request.form())
        else:
            body = await _json(request)
        return JSONResponse(_state(request).issue_token(body))
    except Refusal as exc:
        return JSONResponse(exc.body, exc.status_code)


def _refused(request: Request, code: int, body: dict[str, Any]) -> JSONResponse:
    """An error answer; with ``echo_token`` it quotes the credentials it was sent."""
    state = _state(request)
    if state.faults.echo_token:
        sent = request.headers.get(state.config.auth_header, "")
        quoted = f" (request had {state.config.auth_header}: {sent})"
        if "errors" in body:
            first = {**body["errors"][0]}
            first["message"] += quoted
            body = {**body, "errors": [first, *body["errors"][1:]]}
        else:
            body = {**body, "error": f"{body.get('error', 'refused')}{quoted}"}
    return JSONResponse(body, code)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise Refusal(400, {"error": "the body is not JSON"}) from None


async def hook(request: Request) -> Response:
    state = _state(request)
    entry = request.scope.get(ENTRY) or {}
    try:
        if not _authorised(request):
            raise Refusal(401, {"error": "unauthorized"})
        body = await _json(request)
        if isinstance(body, dict):
            entry["report"] = {k: body.get(k) for k in ("status", "order_id")}
        answer = state.report(
            body,
            request_seq=entry.get("seq"),
            idempotency_key=request.headers.get("idempotency-key"),
        )
    except Refusal as exc:
        return _refused(request, exc.status_code, exc.body)
    return JSONResponse(answer)


async def graphql(request: Request) -> Response:
    state = _state(request)
    if not _authorised(request):
        denied = {"message": "unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}
        return _refused(request, 401, {"errors": [denied]})
    try:
        body = await _json(request)
    except Refusal as exc:
        return _refused(request, exc.status_code, exc.body)
    query = body.get("query") if isinstance(body, dict) else None
    variables = (body.get("variables") if isinstance(body, dict) else None) or {}
    if not isinstance(query, str) or "order(" not in query.replace(" (", "("):
        return JSONResponse(
            {
                "errors": [
                    {
                        "message": "the stand-in serves order(id:) only",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ]
            }
        )
    uid = variables.get("id") if isinstance(variables, dict) else None
    order = state.get(uid) if isinstance(uid, str) else None
    if order is None:
        return JSONResponse(
            {
                "data": {"order": None},
                "errors": [
                    {
                        "message": "Order not found",
                        "path": ["order"],
                        "extensions": {"code": "NOT_FOUND"},
                    }
                ],
            }
        )
    return JSONResponse({"data": {"order": order}})


# -- control -------------------------------------------------------------------------------


def _bad_request(
    handler: Callable[[Request, PhotonSandboxState, dict[str, Any]], Awaitable[Any]],
) -> Callable[[Request], Awaitable[Response]]:
    """A control route of Photon's own: its JSON body (if any) in, its answer as JSON out;
    a body it cannot use is a 400."""

    async def route(request: Request) -> Response:
        try:
            body = await json_body(request, optional=True)
            return JSONResponse(await handler(request, _state(request), body))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad control request: {exc}"}, 400)

    return route


@_bad_request
async def control_orders(request: Request, state: PhotonSandboxState, body: Any) -> Any:
    if request.method == "GET":
        return state.orders()
    made = state.create(
        int(body.get("count", 1)),
        fulfillment_type=body.get("fulfillment_type", "PICK_UP"),
        pharmacy_id=body.get("pharmacy_id"),
    )
    if body.get("place", True):
        for uid in made:
            state.place(uid)
    return {"created": made}


async def control_order(request: Request) -> Response:
    order = _state(request).get(request.path_params["uid"])
    return JSONResponse(order or {"error": "order not found"}, 200 if order else 404)


@_bad_request
async def control_prescriber(request: Request, state: PhotonSandboxState, body: Any) -> Any:
    """The prescriber's and the carrier's side of one order."""
    uid, action = request.path_params["uid"], request.path_params["action"]
    if action == "place":
        return state.place(uid)
    if action == "reroute":
        return state.reroute(uid, body.get("to"))
    if action == "cancel":
        return state.cancel(uid)
    if action == "error":
        return state.error(uid, body.get("reason") or "something went wrong")
    if action == "deliver":
        return state.deliver(uid)
    raise Refusal(404, {"error": f"no control endpoint POST orders/{uid}/{action}"})


@_bad_request
async def control_delivery(request: Request, state: PhotonSandboxState, body: Any) -> Any:
    """Events held back, sent twice, or released out of order."""
    if "release" in body:
        return {"released": state.release(body["release"], int(body.get("seed", 0)))}
    state.set_delivery(hold=body.get("hold"), duplicate=body.get("duplicate"))
    return {"ok": True}


class _Subscription(BaseModel):
    model_config = ConfigDict(extra="ignore")

    target: str = Field(min_length=1)
    secret: str


async def _replay(
    state: PhotonSandboxState, past: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    """Send a delivery again, byte for byte (with its old timestamp if ``keep_timestamp``)."""
    sub = next((s for s in state.subscriptions() if s["uid"] == past["subscription"]), None)
    event = next((e for e in state.events() if e.event_id == past["event_id"]), None)
    if sub is None or event is None:
        raise Refusal(404, {"error": "its subscription or event is gone"})
    kept = past["timestamp"] if options.get("keep_timestamp") else None
    async with httpx.AsyncClient(timeout=state.config.webhook_timeout_s) as client:
        await deliver(
            client, state, sub, event, past["body"].encode(), replay_of=past["seq"], timestamp=kept
        )
    return state.deliveries()[-1]


def _control(state: PhotonSandboxState) -> Control:
    return Control(
        state,
        reset_answer=lambda: {"ok": True},
        routes=[
            Route("/orders", control_orders, methods=["GET", "POST"]),
            Route("/orders/{uid}", control_order, methods=["GET"]),
            Route("/orders/{uid}/{action}", control_prescriber, methods=["POST"]),
            Route("/webhooks/delivery", control_delivery, methods=["POST"]),
        ],
        webhooks=Webhooks(
            state,
            lambda past, options: _replay(state, past, options),
            Subscriptions(
                "/webhooks",
                _Subscription,
                lambda body: state.subscribe(body.target, body.secret),
                lambda: _ensure_deliverer(state),
            ),
        ),
    )


def create_app(config: PhotonSandboxConfig | None = None) -> Starlette:
    """The stand-in (its state is ``app.state.sandbox``)."""
    state = PhotonSandboxState(config or PhotonSandboxConfig())

    app = Starlette(
        routes=[
            Route(HOOK_PATH, hook, methods=["POST"]),
            Route(GRAPHQL_PATH, graphql, methods=["POST"]),
            Route(TOKEN_PATH, oauth_token, methods=["POST"]),
            control_mount(_control(state)),
        ],
        exception_handlers={Refusal: refusal_answer},
        lifespan=deliverer_lifespan(state, lambda: deliver_forever(state)),
    )
    app.state.sandbox = state
    app.add_middleware(Gate, state=state, rules=_gate(state))
    return app

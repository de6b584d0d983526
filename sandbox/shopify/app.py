"""The Shopify stand-in as a Starlette app: the GraphQL endpoint, control, webhooks.

``POST /admin/api/<version>/graphql.json`` is a raw ASGI app (:class:`_GraphQL`): it logs the
request, draws its fault, checks ``X-Shopify-Access-Token`` (401 otherwise), runs the query
through graphql-core (parse, validate, cost, bucket, execute) in a worker thread and answers
with ``extensions.cost`` on every GraphQL answer. ``/_sandbox/…`` (control) is never logged,
faulted, throttled or authenticated.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import uuid
from collections import Counter
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rxfloor.sandbox.kit.asgi import (
    answer,
    applied_then,
    drop,
)
from rxfloor.sandbox.kit.control import (
    Control,
    Subscriptions,
    Webhooks,
    control_mount,
    log_stats,
    refusal_answer,
)
from rxfloor.sandbox.kit.refusal import json_body, validation_refusal
from rxfloor.sandbox.kit.signing import hmac_base64
from rxfloor.sandbox.kit.webhooks import (
    Attempt,
    deliverer_lifespan,
    ensure_deliverer,
    pump,
    send_with_retries,
)
from rxfloor.sandbox.shopify.cost import Coster, CostRefusal
from rxfloor.sandbox.shopify.schema import Context, executable_schema
from rxfloor.sandbox.shopify.state import (
    MAX_QUERY_COST,
    TOPICS,
    Event,
    Refusal,
    ShopConfig,
    ShopState,
    parse_time,
)

RATE_LIMITS_DOC = "https://shopify.dev/api/usage/rate-limits"
#: Shopify's words for a missing or wrong access token (HTTP 401)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def graphql_path(version: str) -> str:
    return f"/admin/api/{version}/graphql.json"


# -- the GraphQL endpoint ------------------------------------------------------------------


class _GraphQL:
    """ASGI app behind ``/admin/api/{version}/graphql.json``."""

    def __init__(self, state: ShopState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        version = scope["path_params"]["version"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive)
        entry = state.log_request(
            {
                "time": state.clock(),
                "method": scope["method"],
                "path": scope["path"],
                "api_version": version,
                "operation": None,
                "operation_name": None,
                "root_fields": [],
                "status_code": None,
                "fault": None,
                "throttled": False,
                "requested_cost": None,
                "actual_cost": None,
                "currently_available": None,
            }
        )
        reply = {"X-Shopify-API-Version": version, "X-Request-Id": str(uuid.uuid4())}
        if version not in state.config.api_versions:
            await answer(entry, send, 404, {"errors": "Not Found"}, reply)
            return
        if scope["method"] != "POST":
            await answer(entry, send, 405, {"errors": "Method Not Allowed"}, reply)
            return
        request = _parse_request(headers.get("content-type", ""), body)
        if isinstance(request, Refusal):
            fault = state.draw_fault(None)
        else:
            entry["operation"], entry["operation_name"] = request.operation, request.name
            entry["root_fields"] = request.root_fields
            fault = state.draw_fault(request.operation)
        entry["fault"] = fault
        if fault == "drop_before":
            await drop(receive)
            return
        token = headers.get("x-shopify-access-token")
        if fault == "server_error":
            words = "Internal error. Looks like something went wrong on our end."
            code = state.faults.server_error_status
            await answer(entry, send, code, {"errors": self._echo(words, token)}, reply)
            return
        if token is None or not hmac.compare_digest(
            token.encode(), state.config.access_token.get_secret_value().encode()
        ):
            await answer(entry, send, 401, {"errors": self._echo(INVALID_TOKEN, token)}, reply)
            return
        if isinstance(request, Refusal):
            await answer(entry, send, request.status_code, request.body, reply)
            return
        result = await run_in_threadpool(_run, state, request, fault == "throttled", entry)
        # the query IS applied; the fault, if any, spoils the answer (refuse: userErrors)
        ok = JSONResponse(result, 200, headers=reply)
        await applied_then(ok, scope, receive, send, entry, fault, state.faults.slow_s)

    def _echo(self, words: str, token: str | None) -> str:
        if token and self.state.faults.echo_token:
            return f"{words} (X-Shopify-Access-Token: {token})"
        return words


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class _Query:
    """A parsed GraphQL request (the document may still be invalid)."""

    def __init__(self, text: str, variables: dict[str, Any], name: str | None) -> None:
        self.text = text
        self.variables = variables
        self.name = name
        self.document: Any = None
        self.syntax_error: GraphQLError | None = None
        self.operation: str | None = None
        self.root_fields: list[str] = []
        self.document, self.syntax_error = _parsed(text)
        if self.document is None:
            return
        op = get_operation_ast(self.document, name)
        if op is not None:
            self.operation = op.operation.value
            self.root_fields = [
                s.name.value for s in op.selection_set.selections if hasattr(s, "name")
            ]


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> tuple[DocumentNode | None, GraphQLError | None]:
    """The document of a query text (clients send the same few texts again and again)."""
    try:
        return parse(text), None
    except GraphQLSyntaxError as exc:
        return None, exc


@functools.lru_cache(maxsize=512)
def _validation_errors(document: DocumentNode) -> tuple[GraphQLError, ...]:
    """Validation of a parsed document against the schema (cached with it: it is the
    costliest step of a small query)."""
    return tuple(validate(executable_schema(), document))


def _parse_request(content_type: str, body: bytes) -> _Query | Refusal:
    """The request body: JSON ``{query, variables, operationName}`` or a raw query
    (``application/graphql``); a body that is neither is a 400 (never a GraphQL answer)."""
    if content_type.split(";")[0].strip().lower() == "application/graphql":
        try:
            return _Query(body.decode(), {}, None)
        except UnicodeDecodeError:
            return Refusal(400, {"errors": "the request body is not UTF-8"})
    try:
        payload = json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Refusal(400, {"errors": "the request body is not valid JSON"})
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return Refusal(400, {"errors": {"query": "Required parameter missing or invalid"}})
    variables = payload.get("variables") or {}
    name = payload.get("operationName")
    if not isinstance(variables, dict) or not (name is None or isinstance(name, str)):
        return Refusal(400, {"errors": {"variables": "must be a JSON object"}})
    return _Query(payload["query"], variables, name)


def _cost(requested: int, actual: int | None, status: dict[str, float]) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": status,
        }
    }


def _errors_only(state: ShopState, errors: list[GraphQLError]) -> dict[str, Any]:
    _, status = state.spend(0, False)
    return {"errors": [e.formatted for e in errors], "extensions": _cost(0, 0, status)}


def _run(
    state: ShopState, query: _Query, forced_throttle: bool, entry: dict[str, Any]
) -> dict[str, Any]:
    """Validate, cost, charge, execute (a worker thread): the JSON answer."""
    schema = executable_schema()
    if query.syntax_error is not None:
        return _errors_only(state, [query.syntax_error])
    errors = _validation_errors(query.document)
    if errors:
        return _errors_only(state, list(errors))
    op = get_operation_ast(query.document, query.name)
    if not isinstance(op, OperationDefinitionNode):
        words = (
            f"Unknown operation named '{query.name}'."
            if query.name
            else ("An operation name is required when the document has several operations.")
        )
        return _errors_only(state, [GraphQLError(words)])
    coerced = get_variable_values(schema, op.variable_definitions or (), query.variables)
    if isinstance(coerced, list):
        return _errors_only(state, coerced)
    values: dict[str, Any] = coerced.coerced  # the runtime values by variable name
    fragments = {
        d.name.value: d for d in query.document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    coster = Coster(schema, op, fragments, values)
    try:
        requested = coster.requested()
    except CostRefusal as exc:
        return _errors_only(state, exc.errors)
    entry["requested_cost"] = requested
    size = min(state.bucket_size, MAX_QUERY_COST)  # a single query's limit
    if requested > size:
        _, status = state.spend(0, False)
        words = (
            f"Query cost is {requested}, which exceeds the single query max cost limit "
            f"({int(size)})."
        )
        extensions = {
            "code": "MAX_COST_EXCEEDED",
            "cost": requested,
            "maxCost": int(size),
            "documentation": RATE_LIMITS_DOC,
        }
        return {
            "errors": [{"message": words, "extensions": extensions}],
            "extensions": _cost(requested, None, status),
        }
    admitted, status = state.spend(requested, forced_throttle)
    if not admitted:
        entry["throttled"] = True
        entry["currently_available"] = status["currentlyAvailable"]
        throttled = {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOC},
        }
        return {"errors": [throttled], "extensions": _cost(requested, None, status)}
    result = execute_sync(
        schema,
        query.document,
        context_value=Context(state, entry),
        variable_values=query.variables,
        operation_name=query.name,
    )
    actual = coster.actual(result.data)
    status = state.refund(requested - actual)
    entry["actual_cost"] = actual
    entry["currently_available"] = status["currentlyAvailable"]
    answer: dict[str, Any] = {}
    if result.errors:
        answer["errors"] = [e.formatted for e in result.errors]
    answer["data"] = result.data
    answer["extensions"] = _cost(requested, actual, status)
    return answer


# -- webhook deliveries --------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of the HMAC-SHA256 of the raw body."""
    return hmac_base64(secret, body)


def webhook_api_version(config: ShopConfig) -> str:
    dated = sorted(v for v in config.api_versions if v != "unstable")
    return dated[-1] if dated else config.api_versions[0]


def _headers(state: ShopState, event: Event, sub: dict[str, Any], secret: str) -> dict[str, str]:
    # one per delivery (its retries repeat it): the event, its topic and body, the subscription
    # (one merchant action's deliveries share the Event-Id, never the Webhook-Id)
    body = hashlib.sha256(event.body).hexdigest()
    webhook_id = uuid.uuid5(
        uuid.NAMESPACE_URL, f"{event.event_id}/{event.topic}/{body}/{sub['id']}"
    )
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": event.topic,
        "X-Shopify-Hmac-Sha256": sign(secret, event.body),
        "X-Shopify-Shop-Domain": state.config.shop_domain,
        "X-Shopify-API-Version": webhook_api_version(state.config),
        "X-Shopify-Webhook-Id": str(webhook_id),
        "X-Shopify-Event-Id": event.event_id,
        "X-Shopify-Triggered-At": event.triggered_at,
    }


def _ensure_deliverer(state: ShopState) -> None:
    ensure_deliverer(state, lambda: _deliver_forever(state))


async def _deliver_forever(state: ShopState) -> None:
    secret = state.config.app_secret.get_secret_value()

    def send(client: httpx.AsyncClient, item: tuple[Event, list[dict[str, Any]]]) -> list[Any]:
        event, subs = item
        return [
            deliver(
                client, state, sub, event, _headers(state, event, sub, sub.get("secret") or secret)
            )
            for sub in subs
        ]

    # the client is made at the first event (an SSL context is slow)
    await pump(
        state,
        state.take_events,
        send,
        lambda: httpx.AsyncClient(timeout=state.config.webhook_timeout_s),
        eager=False,
    )


async def deliver(
    client: httpx.AsyncClient,
    state: ShopState,
    sub: dict[str, Any],
    event: Event,
    headers: dict[str, str],
    *,
    replay_of: int | None = None,
) -> dict[str, Any]:
    """POST one signed event, retrying failures with the same bytes and headers."""

    def attempt(_n: int) -> Attempt:
        entry = {
            "subscription": sub["id"],
            "url": sub["url"],
            "topic": event.topic,
            "event_id": event.event_id,
            "webhook_id": headers["X-Shopify-Webhook-Id"],
            "triggered_at": event.triggered_at,
            "body": event.body.decode(),
            "headers": dict(headers),
        }
        return Attempt(sub["url"], event.body, headers, entry)

    return await send_with_retries(
        client,
        attempt,
        attempts=state.config.webhook_attempts,
        replay_of=replay_of,
        clock=state.clock,
        backoff=lambda n: min(5.0, state.config.webhook_backoff_s * 2 ** (n - 1)),
        log=state.log_delivery,
    )


# -- control endpoints ---------------------------------------------------------------------


def _state(request: Request) -> ShopState:
    state: ShopState = request.app.state.shop
    return state


class _NewOrders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=100_000)
    submitted: bool = True
    delivery: str | None = None
    fulfill_at: str | None = None
    message: str | None = None


class _Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    topics: list[str] | None = None


class _Send(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    payload: dict[str, Any] = Field(default_factory=dict)
    #: ISO time for X-Shopify-Triggered-At (default: now); an old one makes a stale delivery
    triggered_at: str | None = None
    event_id: str | None = None
    #: sign with this instead of the app secret (a forged delivery)
    secret: str | None = None
    #: send to this URL only (default: every subscription)
    url: str | None = None


_MERCHANT_ARGS = {
    "submit": ("message",),
    "request_cancellation": ("message",),
    "cancel": ("message",),
    "hold": ("reason", "notes"),
    "release": (),
    "schedule": ("fulfill_at",),
    "ready": (),
}


async def control_stats(request: Request) -> Response:
    """Counts for benchmarks: requests by status code and fault, THROTTLED answers, cost
    spent, transitions by side and fulfillment orders by status."""
    state = _state(request)
    requests = state.requests()
    return JSONResponse(
        {
            **log_stats(requests, state.transitions()),
            "by_operation": dict(Counter(str(r["operation"]) for r in requests)),
            "throttled": sum(1 for r in requests if r["throttled"]),
            "requested_cost": sum(r["requested_cost"] or 0 for r in requests),
            "actual_cost": sum(r["actual_cost"] or 0 for r in requests),
            "fulfillment_orders": state.counts(),
            "throttle": state.throttle_settings(),
        }
    )


async def control_new_orders(request: Request) -> Response:
    try:
        body = _NewOrders.model_validate(await json_body(request, optional=True))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    try:
        at = parse_time(body.fulfill_at) if body.fulfill_at else None
    except ValueError as exc:
        raise Refusal(422, {"error": f"fulfill_at: {exc}"}) from None
    made = _state(request).add_orders(
        body.count,
        submitted=body.submitted,
        delivery=body.delivery,
        fulfill_at=at,
        message=body.message,
    )
    return JSONResponse({"created": [fo["id"] for fo in made]}, 201)


async def control_get_order(request: Request) -> Response:
    state = _state(request)
    ref = request.query_params.get("id")
    if not ref:
        return JSONResponse(state.counts())
    fo = state.get(ref)
    if fo is None:
        raise Refusal(404, {"error": f"fulfillment order {ref} not found"})
    return JSONResponse(state.control_view(fo))


async def control_merchant(request: Request) -> Response:
    action = request.path_params["action"]
    allowed = _MERCHANT_ARGS.get(action)
    if allowed is None:
        raise Refusal(
            404, {"error": f"unknown merchant action {action!r} (known: {list(_MERCHANT_ARGS)})"}
        )
    body = await json_body(request)
    ref, refs = body.pop("id", None), body.pop("ids", None)
    if refs is None and isinstance(ref, str) and ref:
        refs = [ref]
    elif ref is not None or not (
        isinstance(refs, list) and refs and all(isinstance(r, str) and r for r in refs)
    ):
        raise Refusal(
            422, {"error": "id (a FulfillmentOrder gid) or ids (one action on several) is required"}
        )
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise Refusal(422, {"error": f"{action} takes {list(allowed)}, not {extra}"})
    state = _state(request)
    done = [state.control_view(fo) for fo in state.merchant_action(action, refs, **body)]
    return JSONResponse(done[0] if ref is not None else done)


async def control_throttle(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        return JSONResponse(state.set_throttle(await json_body(request)))
    return JSONResponse(state.throttle_settings())


async def _replay(
    state: ShopState, past: dict[str, Any], _options: dict[str, Any]
) -> dict[str, Any]:
    """Send a past delivery again: same body, same headers (signature, ids, time)."""
    event = Event(past["topic"], past["event_id"], past["triggered_at"], past["body"].encode())
    sub = {"id": past["subscription"], "url": past["url"]}
    async with httpx.AsyncClient(timeout=state.config.webhook_timeout_s) as client:
        return await deliver(client, state, sub, event, past["headers"], replay_of=past["seq"])


async def control_send(request: Request) -> Response:
    """Deliver a hand-made event now (forged signature, stale time, odd payload)."""
    state = _state(request)
    try:
        body = _Send.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_refusal(exc) from None
    if body.topic not in TOPICS:
        raise Refusal(422, {"error": f"unknown topic {body.topic!r}"})
    from datetime import UTC, datetime

    triggered = body.triggered_at or datetime.fromtimestamp(state.clock(), UTC).isoformat(
        timespec="milliseconds"
    )
    event = Event(
        body.topic,
        body.event_id or str(uuid.uuid4()),
        triggered,
        json.dumps(body.payload, separators=(",", ":")).encode(),
    )
    if body.url:
        subs = [{"id": "gid://shopify/WebhookSubscription/0", "url": body.url, "topics": None}]
    else:
        subs = [
            s for s in state.subscriptions() if s["topics"] is None or body.topic in s["topics"]
        ]
    secret = body.secret or state.config.app_secret.get_secret_value()
    async with httpx.AsyncClient(timeout=state.config.webhook_timeout_s) as client:
        entries = [
            await deliver(
                client, state, sub, event, _headers(state, event, sub, secret), replay_of=0
            )
            for sub in subs
        ]
    return JSONResponse(entries)


def _control(state: ShopState) -> Control:
    subscriptions = Subscriptions(
        "/webhooks/subscriptions",
        _Subscription,
        lambda body: state.subscribe(body.url, body.topics),
        lambda: _ensure_deliverer(state),
        state.unsubscribe,
    )
    return Control(
        state,
        reset_answer=lambda: {"fulfillment_orders": sum(state.counts().values())},
        routes=[
            Route("/stats", control_stats, methods=["GET"]),
            Route("/fulfillment_orders", control_new_orders, methods=["POST"]),
            Route("/fulfillment_orders", control_get_order, methods=["GET"]),
            Route("/merchant/{action}", control_merchant, methods=["POST"]),
            Route("/throttle", control_throttle, methods=["GET", "POST"]),
            Route("/webhooks/send", control_send, methods=["POST"]),
        ],
        webhooks=Webhooks(
            state, lambda past, options: _replay(state, past, options), subscriptions
        ),
    )


# -- the app -------------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    words = {404: "Not Found", 405: "Method Not Allowed"}.get(code, "error")
    return JSONResponse({"errors": words}, code)


def create_app(config: ShopConfig | None = None) -> Starlette:
    """A fresh stand-in; its state is ``app.state.shop`` (a :class:`ShopState`)."""
    from starlette.exceptions import HTTPException

    state = ShopState(config or ShopConfig())
    executable_schema()  # built once, before the first request

    app = Starlette(
        routes=[
            Route("/admin/api/{version}/graphql.json", _GraphQL(state), methods=["GET", "POST"]),
            control_mount(_control(state)),
        ],
        exception_handlers={Refusal: refusal_answer, HTTPException: _http_error},
        lifespan=deliverer_lifespan(state, lambda: _deliver_forever(state)),
    )
    app.state.shop = state
    return app

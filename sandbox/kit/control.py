"""The control routes every stand-in serves under ``/_sandbox`` (never logged, faulted or
authenticated), written once: the request and transition logs, live faults, reset, and for
the stand-ins that send webhooks their subscriptions, deliveries and replay.

A vendor's app mounts :func:`control_mount` with its own control routes (what its remote
side can do: new orders, a merchant's or prescriber's change, stats) and the few answers
that are its own (what a reset reports, how a past delivery is sent again). Every refusal
here is a :class:`~rxfloor.sandbox.kit.refusal.Refusal`; the app answers it with
:func:`refusal_answer` (or its own handler).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from rxfloor.sandbox.kit.refusal import Refusal, json_body, validation_refusal

CONTROL_PATH = "/_sandbox"


class Controlled(Protocol):
    """What every stand-in's state offers its control routes."""

    def requests(self, since: int = 0) -> list[dict[str, Any]]: ...

    def transitions(self, since: int = 0, by: str | None = None) -> list[dict[str, Any]]: ...

    @property
    def faults(self) -> BaseModel: ...

    def set_faults(self, changes: dict[str, Any]) -> BaseModel: ...

    def reset(self, seed: int | None = None) -> None: ...


class Subscribing(Protocol):
    """What a stand-in that sends webhooks offers its subscription and delivery routes."""

    def subscriptions(self) -> list[dict[str, Any]]: ...

    def deliveries(self) -> list[dict[str, Any]]: ...

    def delivery(self, seq: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class FaultExtra:
    """A live setting shown and changed with the faults but kept outside them (RxScale's
    ``rate_limit``, Konnektive's ``carrier_validation``): ``set`` refuses a bad value."""

    name: str
    get: Callable[[], Any]
    set: Callable[[Any], None]


@dataclass(frozen=True)
class Subscriptions:
    """A control route (``path``) listing and taking webhook subscriptions: a validated
    ``model`` body to ``subscribe``, then ``start`` (the deliverer: in-process there is no
    lifespan to start it); DELETE ``?id=`` where the stand-in can ``unsubscribe``."""

    path: str
    model: type[BaseModel]
    subscribe: Callable[[Any], dict[str, Any]]
    start: Callable[[], None]
    unsubscribe: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class Webhooks:
    """A stand-in's deliveries: ``replay`` sends a past one again and returns its log entry
    (``body``: the replay request's own options); ``subscriptions`` when they are made
    through control rather than the vendor's API."""

    state: Subscribing
    replay: Callable[[dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]
    subscriptions: Subscriptions | None = None


@dataclass(frozen=True)
class Control:
    """One stand-in's control surface: its state, its own routes (tried first), what a reset
    answers, the settings kept beside the faults, and its webhooks if it sends any."""

    state: Controlled
    reset_answer: Callable[[], dict[str, Any]]
    routes: Sequence[BaseRoute] = ()
    extras: Sequence[FaultExtra] = ()
    webhooks: Webhooks | None = None


class _Reset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: StrictInt | None = Field(default=None, ge=0, le=1_000_000)


def since(request: Request) -> int:
    """``?since=N``: where a log is read from (0 when absent), else 422."""
    raw = request.query_params.get("since") or "0"
    if not raw.isdigit():
        raise Refusal(422, {"error": "since must be an integer >= 0"})
    return int(raw)


def log_stats(requests: list[dict[str, Any]], transitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts every stand-in's ``/stats`` starts with (benchmarks read them)."""
    return {
        "requests": len(requests),
        "by_status_code": _count(str(r["status_code"]) for r in requests),
        "by_fault": _count(str(r["fault"]) for r in requests if r["fault"]),
        "transitions": len(transitions),
        "transitions_by": _count(t["by"] for t in transitions),
        "first_request_time": requests[0]["time"] if requests else None,
        "last_request_time": requests[-1]["time"] if requests else None,
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values))


async def refusal_answer(request: Request, exc: Exception) -> Response:
    """A :class:`Refusal` as its status and JSON body (an app's exception handler)."""
    assert isinstance(exc, Refusal)
    return JSONResponse(exc.body, exc.status_code)


def control_mount(control: Control) -> Mount:
    """``/_sandbox``: the vendor's own control routes, then the ones every stand-in has."""
    state = control.state

    async def requests(request: Request) -> Response:
        return JSONResponse(state.requests(since(request)))

    async def transitions(request: Request) -> Response:
        by = request.query_params.get("by") or None
        return JSONResponse(state.transitions(since(request), by))

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await json_body(request)
            for extra in control.extras:
                if extra.name in body:
                    extra.set(body.pop(extra.name))
            try:
                state.set_faults(body)
            except ValidationError as exc:
                raise validation_refusal(exc) from None
        shown = {extra.name: extra.get() for extra in control.extras}
        return JSONResponse({**state.faults.model_dump(), **shown})

    async def reset(request: Request) -> Response:
        """A fresh start without a new server (e.g. between hypothesis examples)."""
        try:
            body = _Reset.model_validate(await json_body(request, optional=True))
        except ValidationError as exc:
            raise validation_refusal(exc) from None
        state.reset(body.seed)
        return JSONResponse(control.reset_answer())

    routes: list[BaseRoute] = [
        *control.routes,
        Route("/requests", requests, methods=["GET"]),
        Route("/transitions", transitions, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST"]),
        Route("/reset", reset, methods=["POST"]),
    ]
    if control.webhooks is not None:
        routes += _webhook_routes(control.webhooks)
    return Mount(CONTROL_PATH, routes=routes)


def _webhook_routes(hooks: Webhooks) -> list[BaseRoute]:
    state = hooks.state

    async def deliveries(request: Request) -> Response:
        return JSONResponse(state.deliveries())

    async def replay(request: Request) -> Response:
        """Send a past delivery again, byte for byte (tests of the receiver's dedupe)."""
        seq = int(request.path_params["seq"])
        past = state.delivery(seq)
        if past is None:
            raise Refusal(404, {"error": f"delivery {seq} not found"})
        return JSONResponse(await hooks.replay(past, await json_body(request, optional=True)))

    routes: list[BaseRoute] = [
        Route("/webhooks/deliveries", deliveries, methods=["GET"]),
        Route("/webhooks/deliveries/{seq:int}/replay", replay, methods=["POST"]),
    ]
    if hooks.subscriptions is not None:
        routes.append(_subscription_route(state, hooks.subscriptions))
    return routes


def _subscription_route(state: Subscribing, subs: Subscriptions) -> Route:
    async def subscriptions(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(state.subscriptions())
        if request.method == "DELETE" and subs.unsubscribe is not None:
            sub_id = request.query_params.get("id", "")
            if not subs.unsubscribe(sub_id):
                raise Refusal(404, {"error": f"subscription {sub_id} not found"})
            return Response(status_code=204)
        try:
            body = subs.model.model_validate(await json_body(request))
        except ValidationError as exc:
            raise validation_refusal(exc) from None
        sub = subs.subscribe(body)
        subs.start()
        return JSONResponse(sub, 201)

    methods = ["GET", "POST"] + (["DELETE"] if subs.unsubscribe is not None else [])
    return Route(subs.path, subscriptions, methods=methods)

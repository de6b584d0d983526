"""A local stand-in of Konnektive CRM's API for a fulfillment house (tests, demo, benchmarks).

``create_app(KonnektiveConfig(...))`` gives a Starlette app: ``/order/query/``,
``/fulfillment/query/`` and ``/fulfillment/update/`` at the root (like
``https://api.konnektive.com``), control endpoints under ``/_sandbox/`` (merchant- and
carrier-side changes, faults, the requests and transitions logs). Its state is
``app.state.konnektive`` (a :class:`KonnektiveState`).
"""

from rxfloor.sandbox.kit.asgi import ConnectionDropped
from rxfloor.sandbox.konnektive.app import (
    API_ENDPOINTS,
    CONTROL_PATH,
    create_app,
)
from rxfloor.sandbox.konnektive.state import (
    BAD_LOGIN,
    BUSY,
    FAULT_KINDS,
    NO_FULFILLMENTS,
    NO_ORDERS,
    FaultSettings,
    KonnektiveConfig,
    KonnektiveState,
    drive_activity,
)

__all__ = [
    "API_ENDPOINTS",
    "BAD_LOGIN",
    "BUSY",
    "CONTROL_PATH",
    "FAULT_KINDS",
    "NO_FULFILLMENTS",
    "NO_ORDERS",
    "ConnectionDropped",
    "FaultSettings",
    "KonnektiveConfig",
    "KonnektiveState",
    "create_app",
    "drive_activity",
]

"""A local stand-in of Konnektive CRM's API for a fulfillment house (tests, demo, benchmarks).

``create_app(KonnektiveConfig(...))`` gives a Starlette app: ``/order/query/``,
``/fulfillment/query/`` and ``/fulfillment/update/`` at the root (like
``https://api.konnektive.com``), control endpoints under ``/_sandbox/`` (merchant- and
carrier-side changes, faults, the requests and transitions logs). Its state is
``app.state.konnektive`` (a :class:`KonnektiveState`).


The names below are imported on first use (``rxfloor sandbox``'s parser reads this
stand-in's :mod:`standin` without Starlette or pydantic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rxfloor.sandbox.kit.asgi import ConnectionDropped
    from rxfloor.sandbox.kit.control import CONTROL_PATH
    from rxfloor.sandbox.konnektive.app import API_ENDPOINTS, create_app
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

_HOME = {
    "API_ENDPOINTS": "rxfloor.sandbox.konnektive.app",
    "BAD_LOGIN": "rxfloor.sandbox.konnektive.state",
    "BUSY": "rxfloor.sandbox.konnektive.state",
    "CONTROL_PATH": "rxfloor.sandbox.kit.control",
    "ConnectionDropped": "rxfloor.sandbox.kit.asgi",
    "FAULT_KINDS": "rxfloor.sandbox.konnektive.state",
    "FaultSettings": "rxfloor.sandbox.konnektive.state",
    "KonnektiveConfig": "rxfloor.sandbox.konnektive.state",
    "KonnektiveState": "rxfloor.sandbox.konnektive.state",
    "NO_FULFILLMENTS": "rxfloor.sandbox.konnektive.state",
    "NO_ORDERS": "rxfloor.sandbox.konnektive.state",
    "create_app": "rxfloor.sandbox.konnektive.app",
    "drive_activity": "rxfloor.sandbox.konnektive.state",
}

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


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

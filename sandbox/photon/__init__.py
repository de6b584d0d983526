"""A local stand-in of Photon's pharmacy side for the demo, tests and benchmarks.

``create_app(PhotonSandboxConfig(...))`` gives a Starlette app: the pharmacy's status report
(``POST /v1/hooks/pharmacy``), the ``order(id:)`` read (``POST /graphql``), control
endpoints under ``/_sandbox/`` (prescriber-side actions: create, place, reroute, cancel,
error, deliver; faults; signed CloudEvents deliveries held, duplicated, released out of
order, replayed; the transitions and requests logs). Its state is ``app.state.sandbox``.


The names below are imported on first use (``rxfloor sandbox``'s parser reads this
stand-in's :mod:`standin` without Starlette or pydantic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rxfloor.sandbox.kit.asgi import ConnectionDropped
    from rxfloor.sandbox.photon.app import (
        GRAPHQL_PATH,
        HOOK_PATH,
        create_app,
        deliver_forever,
        sign,
    )
    from rxfloor.sandbox.photon.state import (
        FAULT_KINDS,
        FaultSettings,
        PhotonSandboxConfig,
        PhotonSandboxState,
        drive_activity,
    )

_HOME = {
    "ConnectionDropped": "rxfloor.sandbox.kit.asgi",
    "FAULT_KINDS": "rxfloor.sandbox.photon.state",
    "FaultSettings": "rxfloor.sandbox.photon.state",
    "GRAPHQL_PATH": "rxfloor.sandbox.photon.app",
    "HOOK_PATH": "rxfloor.sandbox.photon.app",
    "PhotonSandboxConfig": "rxfloor.sandbox.photon.state",
    "PhotonSandboxState": "rxfloor.sandbox.photon.state",
    "create_app": "rxfloor.sandbox.photon.app",
    "deliver_forever": "rxfloor.sandbox.photon.app",
    "drive_activity": "rxfloor.sandbox.photon.state",
    "sign": "rxfloor.sandbox.photon.app",
}

__all__ = [
    "FAULT_KINDS",
    "GRAPHQL_PATH",
    "HOOK_PATH",
    "ConnectionDropped",
    "FaultSettings",
    "PhotonSandboxConfig",
    "PhotonSandboxState",
    "create_app",
    "deliver_forever",
    "drive_activity",
    "sign",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

"""A local stand-in of Photon's pharmacy side for the demo, tests and benchmarks.

``create_app(PhotonSandboxConfig(...))`` gives a Starlette app: the pharmacy's status report
(``POST /v1/hooks/pharmacy``), the ``order(id:)`` read (``POST /graphql``), control
endpoints under ``/_sandbox/`` (prescriber-side actions: create, place, reroute, cancel,
error, deliver; faults; signed CloudEvents deliveries held, duplicated, released out of
order, replayed; the transitions and requests logs). Its state is ``app.state.sandbox``.
"""

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

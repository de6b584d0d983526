"""A local stand-in of the remote pharmacy API (REMOTE_API.md) for the demo, tests and benchmarks.

``create_app(SandboxConfig(...))`` gives a Starlette app: the documented API under both base
paths, control endpoints under ``/_sandbox/`` and reproducible faults. Its state is
``app.state.sandbox`` (a :class:`SandboxState`); :func:`drive_activity` gives it remote-side life.
"""

from rxfloor.core.sandbox.app import BASE_PATH, OLD_BASE_PATH, ConnectionDropped, create_app, sign
from rxfloor.core.sandbox.state import (
    FAULT_KINDS,
    FaultSettings,
    KeyGrant,
    SandboxConfig,
    SandboxState,
    drive_activity,
)

__all__ = [
    "BASE_PATH",
    "FAULT_KINDS",
    "OLD_BASE_PATH",
    "ConnectionDropped",
    "FaultSettings",
    "KeyGrant",
    "SandboxConfig",
    "SandboxState",
    "create_app",
    "drive_activity",
    "sign",
]

"""A local stand-in of the remote pharmacy API (docs/pages/sources/rxscale.md) for the demo, tests
and benchmarks.

``create_app(RxScaleSandboxConfig(...))`` gives a Starlette app: the documented API under both
base paths, control endpoints under ``/_sandbox/`` and reproducible faults. Its state is
``app.state.sandbox`` (a :class:`RxScaleSandboxState`); :func:`drive_activity` gives it
remote-side life.

In-process, without a port (the demo)::

    app = create_app(RxScaleSandboxConfig(seed=40))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                            base_url="http://sandbox" + BASE_PATH,
                            headers={"X-API-Key": "sandbox-key"})
    asyncio.create_task(drive_activity(app.state.sandbox, every_s=4))  # same loop as api

There a dropped connection surfaces as :class:`ConnectionDropped` (an
``httpx.RemoteProtocolError``); over a socket (uvicorn) the connection is really closed.
``RxScaleSandboxState.tick(rng)`` is the synchronous, thread-safe step behind ``drive_activity``.


The names below are imported on first use (``rxfloor sandbox``'s parser reads this
stand-in's :mod:`standin` without Starlette or pydantic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rxfloor.sandbox.kit.asgi import ConnectionDropped
    from rxfloor.sandbox.rxscale.app import BASE_PATH, OLD_BASE_PATH, create_app, sign
    from rxfloor.sandbox.rxscale.state import (
        FAULT_KINDS,
        FaultSettings,
        KeyGrant,
        RxScaleSandboxConfig,
        RxScaleSandboxState,
        drive_activity,
    )

_HOME = {
    "BASE_PATH": "rxfloor.sandbox.rxscale.app",
    "ConnectionDropped": "rxfloor.sandbox.kit.asgi",
    "FAULT_KINDS": "rxfloor.sandbox.rxscale.state",
    "FaultSettings": "rxfloor.sandbox.rxscale.state",
    "KeyGrant": "rxfloor.sandbox.rxscale.state",
    "OLD_BASE_PATH": "rxfloor.sandbox.rxscale.app",
    "RxScaleSandboxConfig": "rxfloor.sandbox.rxscale.state",
    "RxScaleSandboxState": "rxfloor.sandbox.rxscale.state",
    "create_app": "rxfloor.sandbox.rxscale.app",
    "drive_activity": "rxfloor.sandbox.rxscale.state",
    "sign": "rxfloor.sandbox.rxscale.app",
}

__all__ = [
    "BASE_PATH",
    "FAULT_KINDS",
    "OLD_BASE_PATH",
    "ConnectionDropped",
    "FaultSettings",
    "KeyGrant",
    "RxScaleSandboxConfig",
    "RxScaleSandboxState",
    "create_app",
    "drive_activity",
    "sign",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

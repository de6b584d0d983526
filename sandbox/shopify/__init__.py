"""A local stand-in of Shopify's GraphQL Admin API as a fulfillment service app sees it,
for the demo, tests and benchmarks.

``create_app(ShopConfig(...))`` gives a Starlette app serving
``POST /admin/api/<version>/graphql.json`` (the SDL in ``schema.graphql``, executed with
graphql-core), control endpoints under ``/_sandbox/`` and reproducible faults. Its state is
``app.state.shop`` (a :class:`ShopState`); :func:`drive_activity` gives it merchant-side life.

In-process, without a port (the demo)::

    app = create_app(ShopConfig(seed=20))
    shop = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://shop.sandbox",
                             headers={"X-Shopify-Access-Token": "shpat_sandbox"})
    await shop.post(graphql_path("2025-10"), json={"query": "{ shop { name } }"})
    asyncio.create_task(drive_activity(app.state.shop, every_s=4))  # same loop

There a dropped connection surfaces as ``ConnectionDropped`` (an ``httpx.RemoteProtocolError``);
over a socket (uvicorn) the connection is really closed. The deliverer of webhooks starts
with the app's lifespan, or in-process at the first subscription made through control.


The names below are imported on first use (``rxfloor sandbox``'s parser reads this
stand-in's :mod:`standin` without Starlette or pydantic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rxfloor.sandbox.shopify.app import INVALID_TOKEN, create_app, graphql_path, sign
    from rxfloor.sandbox.shopify.schema import executable_schema, sdl
    from rxfloor.sandbox.shopify.state import (
        FAULT_KINDS,
        MAX_PAGE,
        TOPICS,
        FaultSettings,
        ShopConfig,
        ShopState,
        drive_activity,
    )

_HOME = {
    "FAULT_KINDS": "rxfloor.sandbox.shopify.state",
    "FaultSettings": "rxfloor.sandbox.shopify.state",
    "INVALID_TOKEN": "rxfloor.sandbox.shopify.app",
    "MAX_PAGE": "rxfloor.sandbox.shopify.state",
    "ShopConfig": "rxfloor.sandbox.shopify.state",
    "ShopState": "rxfloor.sandbox.shopify.state",
    "TOPICS": "rxfloor.sandbox.shopify.state",
    "create_app": "rxfloor.sandbox.shopify.app",
    "drive_activity": "rxfloor.sandbox.shopify.state",
    "executable_schema": "rxfloor.sandbox.shopify.schema",
    "graphql_path": "rxfloor.sandbox.shopify.app",
    "sdl": "rxfloor.sandbox.shopify.schema",
    "sign": "rxfloor.sandbox.shopify.app",
}

__all__ = [
    "FAULT_KINDS",
    "INVALID_TOKEN",
    "MAX_PAGE",
    "TOPICS",
    "FaultSettings",
    "ShopConfig",
    "ShopState",
    "create_app",
    "drive_activity",
    "executable_schema",
    "graphql_path",
    "sdl",
    "sign",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

"""Konnektive's stand-in as ``rxfloor sandbox --source konnektive`` serves it and the demo
runs it (registered under the entry point group ``rxfloor.sandboxes``; nothing heavy at
import)."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
from typing import Any

from rxfloor.core.sources.standin import DemoKit, StandIn

NAME = "konnektive"
LOGIN_ENV = "RXFLOOR_SANDBOX_KONNEKTIVE_LOGIN_ID"
PASSWORD_ENV = "RXFLOOR_SANDBOX_KONNEKTIVE_PASSWORD"


def _serve(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Any]:
    from rxfloor.sandbox.konnektive import KonnektiveConfig, create_app

    konnektive = KonnektiveConfig(
        login_id=os.environ.get(LOGIN_ENV) or "sandbox-api-user",
        password=os.environ.get(PASSWORD_ENV) or "sandbox-password",
        seed=args.seed,
        faults=faults,
    )
    return (
        create_app(konnektive),
        lambda root: (
            f"the Konnektive API at {root} (order/query/, fulfillment/query/, fulfillment/update/)"
        ),
    )


def _demo(kit: DemoKit, orders: int | None) -> Any:
    """A merchant's CRM with holds, returns and carrier confirmations; one fulfillment
    Failed from the first minute, for the exceptions queue."""
    from pydantic import SecretStr

    from rxfloor.core.sources.konnektive.client import KonnektiveClient
    from rxfloor.core.sources.konnektive.source import KonnektiveSource
    from rxfloor.sandbox.konnektive import KonnektiveConfig, create_app, drive_activity
    from rxfloor.sandbox.konnektive.state import Refusal

    login, password = "demo-" + secrets.token_hex(4), secrets.token_urlsafe(16)
    app = create_app(
        KonnektiveConfig(
            login_id=SecretStr(login),
            password=SecretStr(password),
            seed=10 if orders is None else orders,
        )
    )
    state = app.state.konnektive
    kit.submit(drive_activity(state, kit.every_s * 2.1, seed=3, change_chance=kit.cancel_chance))
    client = KonnektiveClient(
        "http://konnektive.sandbox",
        SecretStr(login),
        SecretStr(password),
        rate_limit_per_s=None,
        transport=kit.transport(app),
    )
    kit.sync(KonnektiveSource(client))
    for order_id in sorted(state.orders)[:1]:
        with contextlib.suppress(Refusal):  # refused from where it is: fine
            state.merchant(order_id, "FAILED")
    return state


STANDIN = StandIn(
    name=NAME,
    what="Konnektive CRM's Order Query, Fulfillment Query and Update Fulfillment API",
    serve=_serve,
    demo=_demo,
    environment=(LOGIN_ENV, PASSWORD_ENV),
)

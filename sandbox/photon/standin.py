"""Photon's stand-in as ``rxfloor sandbox --source photon`` serves it and the demo runs it
(registered under the entry point group ``rxfloor.sandboxes``; nothing heavy at import)."""

from __future__ import annotations

import argparse
import os
import secrets
from typing import Any

from rxfloor.core.sources.standin import DemoKit, Option, StandIn

NAME = "photon"
TOKEN_ENV = "RXFLOOR_SANDBOX_PHOTON_TOKEN"
SECRET_ENV = "RXFLOOR_SANDBOX_PHOTON_SECRET"


def _serve(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Any]:
    from rxfloor.sandbox.photon import PhotonSandboxConfig, create_app

    photon = PhotonSandboxConfig(
        token=os.environ.get(TOKEN_ENV) or "photon-sandbox-token",
        seed=args.seed,
        faults=faults,
        webhook_url=args.webhook_url,
        webhook_secret=os.environ.get(SECRET_ENV) or "sandbox-photon-secret",
    )
    return (
        create_app(photon),
        lambda root: (
            f"Photon's pharmacy side at {root} (POST /v1/hooks/pharmacy, POST /graphql; "
            f"pharmacy {photon.pharmacy_id})"
        ),
    )


def _demo(kit: DemoKit, orders: int | None) -> Any:
    """Photon subscribed to the demo's receiver: its seeded orders and every later event are
    signed and posted there, as Photon would; the worker sends the floor's status reports
    back. One order in error from the first minute, for the exceptions queue."""
    from pydantic import SecretStr

    from rxfloor.core.sources.photon.client import PhotonClient
    from rxfloor.core.sources.photon.source import PhotonSource, PhotonWebhooks
    from rxfloor.sandbox.photon import (
        PhotonSandboxConfig,
        PhotonSandboxState,
        create_app,
        deliver_forever,
        drive_activity,
    )

    token, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    config = PhotonSandboxConfig(
        token=SecretStr(token),
        seed=8 if orders is None else orders,
        webhook_secret=SecretStr(secret),
    )
    webhooks = PhotonWebhooks(pharmacy_id=config.pharmacy_id, tolerance_s=300.0)
    url, hooks = kit.receive(NAME, secret.encode(), webhooks)
    app = create_app(config.model_copy(update={"webhook_url": url}))
    state: PhotonSandboxState = app.state.sandbox
    kit.submit(deliver_forever(state, hooks))
    kit.submit(drive_activity(state, kit.every_s * 1.7, seed=2, cancel_chance=kit.cancel_chance))
    client = PhotonClient(
        "http://photon.sandbox",
        SecretStr(token),
        rate_limit_per_s=None,
        transport=kit.transport(app),
    )
    kit.sync(PhotonSource(client, pharmacy_id=config.pharmacy_id, webhooks=webhooks))
    placed = sorted(o["id"] for o in state.orders() if o.get("state") == "PLACED")
    if placed:
        state.error(placed[0], "insurance rejected the claim: prior authorization needed")
    return state


STANDIN = StandIn(
    name=NAME,
    what="Photon Health's pharmacy side (docs/pages/sources/photon.md)",
    serve=_serve,
    demo=_demo,
    options=(
        Option(
            "--webhook-url",
            "deliver every webhook topic / event to URL (signed with the "
            "app secret / the shared secret)",
            {"metavar": "URL"},
        ),
    ),
    environment=(TOKEN_ENV, SECRET_ENV),
)

"""RxScale's stand-in as ``rxfloor sandbox --source rxscale`` serves it and the demo runs it
(registered under the entry point group ``rxfloor.sandboxes``; nothing heavy at import)."""

from __future__ import annotations

import argparse
import os
import secrets
from typing import Any

from rxfloor.core.sources.standin import DemoKit, Option, StandIn

NAME = "rxscale"
KEY_ENV = "RXFLOOR_SANDBOX_API_KEY"


def _serve(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Any]:
    from rxfloor.sandbox.rxscale import BASE_PATH, RxScaleSandboxConfig, create_app

    dialect = args.dialect or "v1"
    config = RxScaleSandboxConfig(
        api_key=args.api_key or os.environ.get(KEY_ENV) or "sandbox-key",
        seed=args.seed,
        dialect=dialect,
        rate_limit=args.rate_limit,
        faults=faults,
    )
    return create_app(config), lambda root: f"the {dialect} API at {root}{BASE_PATH}"


def _demo(kit: DemoKit, orders: int | None) -> Any:
    """The pharmacy API with remote cancels now and then; its worker over the bridge."""
    from pydantic import SecretStr

    from rxfloor.core.sources.rxscale.client import RxScaleClient
    from rxfloor.core.sources.rxscale.plugin import rxscale_settings
    from rxfloor.core.sources.rxscale.source import RxScaleSource
    from rxfloor.sandbox.rxscale import BASE_PATH, RxScaleSandboxConfig, create_app, drive_activity

    key = secrets.token_urlsafe(16)  # lives only in this process
    app = create_app(
        RxScaleSandboxConfig(api_key=SecretStr(key), seed=30 if orders is None else orders)
    )
    kit.submit(
        drive_activity(app.state.sandbox, kit.every_s, seed=0, cancel_chance=kit.cancel_chance)
    )
    section = rxscale_settings(kit.settings)
    client = RxScaleClient(
        "http://sandbox" + BASE_PATH,
        SecretStr(key),
        rate_limit_per_s=section.rate_limit_per_s,
        transport=kit.transport(app, section.http_timeout_s),
    )
    kit.sync(RxScaleSource(client))
    return app.state.sandbox


STANDIN = StandIn(
    name=NAME,
    what="the RxScale pharmacy API (docs/pages/sources/rxscale.md)",
    serve=_serve,
    demo=_demo,
    options=(
        Option(
            "--api-key",
            f"the key clients must send (else ${KEY_ENV}, else 'sandbox-key')",
            {"metavar": "KEY"},
        ),
        Option(
            "--dialect",
            "status lifecycle: v1 open/processing/shipped (default), v2 the newer one",
            {"choices": ["v1", "v2"]},
        ),
        Option("--rate-limit", "answer 429 past R requests/s", {"type": float, "metavar": "R"}),
    ),
    environment=(KEY_ENV,),
)

"""Shopify's stand-in as ``rxfloor sandbox --source shopify`` serves it and the demo runs it
(registered under the entry point group ``rxfloor.sandboxes``; nothing heavy at import)."""

from __future__ import annotations

import argparse
import os
import secrets
from typing import Any

from rxfloor.core.sources.standin import DemoKit, Option, StandIn

NAME = "shopify"
TOKEN_ENV = "RXFLOOR_SANDBOX_SHOPIFY_TOKEN"
SECRET_ENV = "RXFLOOR_SANDBOX_SHOPIFY_SECRET"


def _serve(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Any]:
    from rxfloor.sandbox.shopify import ShopConfig, create_app, graphql_path

    fields: dict[str, Any] = {
        "access_token": args.access_token or os.environ.get(TOKEN_ENV) or "shpat_sandbox",
        "app_secret": os.environ.get(SECRET_ENV) or "sandbox-app-secret",
        "seed": args.seed,
        "webhook_url": args.webhook_url,
        "faults": faults,
    }
    if args.plan is not None:
        fields["plan"] = args.plan
    if args.restore_rate is not None:
        fields["restore_rate"] = args.restore_rate
    if args.bucket_size is not None:
        fields["bucket_size"] = args.bucket_size
    if args.customer_fields:
        fields["customer_fields"] = args.customer_fields
    shop = ShopConfig(**fields)
    path = graphql_path("2025-10")
    return create_app(shop), lambda root: f"the Shopify GraphQL Admin API at {root}{path}"


def _demo(kit: DemoKit, orders: int | None) -> Any:
    """A shop whose merchant holds, releases and asks to cancel; its worker over the bridge."""
    from pydantic import SecretStr

    from rxfloor.core.sources.shopify.client import ShopifyClient
    from rxfloor.core.sources.shopify.source import ShopifySource
    from rxfloor.sandbox.shopify import ShopConfig, create_app, drive_activity

    token = "shpat_" + secrets.token_urlsafe(16)
    # a Shopify Plus shop (1,000 points/s): a pull each second stays well inside it; the
    # pharmacy's own custom app, which may read the patient's name (protected customer data)
    app = create_app(
        ShopConfig(
            access_token=SecretStr(token),
            seed=12 if orders is None else orders,
            plan="plus",
            customer_fields=["name"],
        )
    )
    kit.submit(
        drive_activity(app.state.shop, kit.every_s * 1.5, seed=1, change_chance=kit.cancel_chance)
    )
    client = ShopifyClient("http://shop.sandbox", SecretStr(token), transport=kit.transport(app))
    kit.sync(ShopifySource(client, customer_names=True, barcodes=True))
    return app.state.shop


STANDIN = StandIn(
    name=NAME,
    what="Shopify's GraphQL Admin API for a fulfillment service app (docs/pages/sources/"
    "shopify.md, 'The Shopify stand-in')",
    serve=_serve,
    demo=_demo,
    options=(
        Option(
            "--access-token",
            f"the X-Shopify-Access-Token clients must send (else "
            f"${TOKEN_ENV}, else 'shpat_sandbox')",
            {"metavar": "TOKEN"},
        ),
        Option(
            "--plan",
            "the shop's plan, its documented rate: standard 100, advanced 200, plus 1000, "
            "enterprise 2000 points/s, a bucket of 20 s of it (default standard)",
            {"choices": ["standard", "advanced", "plus", "enterprise"]},
        ),
        Option(
            "--restore-rate",
            "cost points restored per second (default: the plan's)",
            {"type": float, "metavar": "P"},
        ),
        Option(
            "--bucket-size",
            "the cost bucket (default: the plan's); one query costs at most 1000",
            {"type": float, "metavar": "P"},
        ),
        Option(
            "--customer-fields",
            "protected customer fields the app is approved for (name, address, phone, "
            "email; default none: Shopify's answer to an unreviewed public app, the field "
            "null and an error at it)",
            {"nargs": "+", "choices": ["name", "address", "phone", "email"], "metavar": "GROUP"},
        ),
        Option(
            "--webhook-url",
            "deliver every webhook topic / event to URL (signed with the "
            "app secret / the shared secret)",
            {"metavar": "URL"},
        ),
    ),
    environment=(TOKEN_ENV, SECRET_ENV),
)

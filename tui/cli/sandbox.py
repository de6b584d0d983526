"""``rxfloor sandbox``: serve a stand-in of a system of record with uvicorn.

``--source rxscale`` (the default) serves the RxScale pharmacy API: its key comes from
``--api-key`` or ``RXFLOOR_SANDBOX_API_KEY`` (default ``sandbox-key``). ``--source shopify``
serves Shopify's GraphQL Admin API as a fulfillment service app sees it: the access token
comes from ``--access-token`` or ``RXFLOOR_SANDBOX_SHOPIFY_TOKEN`` (default ``shpat_sandbox``),
the app secret that signs its webhooks from ``RXFLOOR_SANDBOX_SHOPIFY_SECRET`` (default
``sandbox-app-secret``). ``--source konnektive`` serves Konnektive CRM's Order Query, Fulfillment
Query and Update Fulfillment API: its API user from ``RXFLOOR_SANDBOX_KONNEKTIVE_LOGIN_ID`` /
``RXFLOOR_SANDBOX_KONNEKTIVE_PASSWORD`` (default ``sandbox-api-user`` / ``sandbox-password``).
``--source photon`` serves Photon Health's pharmacy side (the status
report and the order read): its token comes from ``RXFLOOR_SANDBOX_PHOTON_TOKEN`` (default
``photon-sandbox-token``), the shared secret that signs its events from
``RXFLOOR_SANDBOX_PHOTON_SECRET`` (default ``sandbox-photon-secret``). No secret is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.tui.cli.context import Subcommands

KEY_ENV = "RXFLOOR_SANDBOX_API_KEY"
TOKEN_ENV = "RXFLOOR_SANDBOX_SHOPIFY_TOKEN"
SECRET_ENV = "RXFLOOR_SANDBOX_SHOPIFY_SECRET"
KONNEKTIVE_LOGIN_ENV = "RXFLOOR_SANDBOX_KONNEKTIVE_LOGIN_ID"
KONNEKTIVE_PASSWORD_ENV = "RXFLOOR_SANDBOX_KONNEKTIVE_PASSWORD"
PHOTON_TOKEN_ENV = "RXFLOOR_SANDBOX_PHOTON_TOKEN"
PHOTON_SECRET_ENV = "RXFLOOR_SANDBOX_PHOTON_SECRET"
SOURCES = ("rxscale", "shopify", "konnektive", "photon")


def add_parser(subcommands: Subcommands) -> None:
    """Register ``sandbox``: it needs no database, so it takes none of the global options."""
    p = add_command(
        subcommands,
        "sandbox",
        handle,
        with_globals=False,
        help="serve a local stand-in of the remote pharmacy API (or of Shopify, Photon)",
        description="Serve a stand-in of a system of record with uvicorn: the RxScale "
        "pharmacy API (the README's section 'The RxScale API as rxfloor uses it') or, with "
        "--source shopify, Shopify's GraphQL Admin API for a fulfillment service app (the "
        "README's section 'The Shopify stand-in') or, with --source photon, Photon Health's "
        "pharmacy side (the README's section 'Photon Health as rxfloor uses it'). Control "
        "endpoints (no key) under /_sandbox/: requests, transitions, stats, faults, reset, "
        "webhooks/deliveries, and the orders (RxScale, Photon: orders/ID/ACTION) or "
        "fulfillment_orders and merchant/ACTION (Shopify).",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="rxscale",
        help="which system to stand in for (default rxscale)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"rxscale: the key clients must send (else ${KEY_ENV}, else 'sandbox-key')",
    )
    p.add_argument(
        "--access-token",
        metavar="TOKEN",
        help=f"shopify: the X-Shopify-Access-Token clients must send (else ${TOKEN_ENV}, "
        "else 'shpat_sandbox')",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="start with N open orders (shopify: fulfillment orders with a submitted request; "
        "photon: orders placed at the pharmacy)",
    )
    p.add_argument(
        "--dialect",
        choices=["v1", "v2"],
        help="rxscale: status lifecycle: v1 open/processing/shipped (default), v2 the newer one",
    )
    p.add_argument(
        "--rate-limit", type=float, metavar="R", help="rxscale: answer 429 past R requests/s"
    )
    p.add_argument(
        "--restore-rate",
        type=float,
        metavar="P",
        help="shopify: cost points restored per second (default 50)",
    )
    p.add_argument(
        "--bucket-size",
        type=float,
        metavar="P",
        help="shopify: the cost bucket, also the largest query (default 1000)",
    )
    p.add_argument(
        "--webhook-url",
        metavar="URL",
        help="shopify, photon: deliver every webhook topic / event to URL (signed with the "
        "app secret / the shared secret)",
    )
    p.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="share of API requests that get a fault: 5xx, 429 (shopify: THROTTLED), dropped "
        "connection before or after applying, slow answer, malformed JSON (0..1)",
    )
    p.add_argument("--fault-seed", type=int, default=0, metavar="S", help="same seed, same faults")
    p.add_argument(
        "--slow-s", type=float, default=15.0, metavar="S", help="delay of a slow answer (s)"
    )


#: the options that apply to some sources only (the others refuse them)
_APPLIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("api_key", "--api-key"): ("rxscale",),
    ("dialect", "--dialect"): ("rxscale",),
    ("rate_limit", "--rate-limit"): ("rxscale",),
    ("access_token", "--access-token"): ("shopify",),
    ("restore_rate", "--restore-rate"): ("shopify",),
    ("bucket_size", "--bucket-size"): ("shopify",),
    ("webhook_url", "--webhook-url"): ("shopify", "photon"),
}


def handle(args: argparse.Namespace, ctx: Context) -> int:
    import uvicorn
    from pydantic import ValidationError

    for (attr, flag), fits in _APPLIES.items():
        if getattr(args, attr) is not None and args.source not in fits:
            print(f"rxfloor sandbox: {flag} applies to --source {' or '.join(fits)} only",
                  file=sys.stderr)  # fmt: skip
            return ExitCode.CONFIG
    faults = {"fail_rate": args.fail_rate, "fault_seed": args.fault_seed, "slow_s": args.slow_s}
    try:
        app, banner = _build(args, faults)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        print(f"rxfloor sandbox: invalid {where}: {err['msg']}", file=sys.stderr)
        return ExitCode.CONFIG
    if not 0 <= args.port <= 65535:
        print(f"rxfloor sandbox: invalid port {args.port}", file=sys.stderr)
        return ExitCode.CONFIG
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        sock = socket.create_server((args.host, args.port), family=family)
        # accepted connections inherit it: no 40 ms Nagle/delayed-ACK stall per answer
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        print(f"rxfloor sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return ExitCode.CONFIG
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
        )
    )  # fmt: skip
    root = f"http://{host}:{port}"
    print(
        f"rxfloor sandbox: serving {banner(root)} (control: {root}/_sandbox/); Ctrl+C stops",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl+C it handled
        server.run(sockets=[sock])
    return ExitCode.OK


def _build(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Callable[[str], str]]:
    """The app for ``--source`` and the words that say where its API is."""
    if args.source == "photon":
        from rxfloor.sandbox.photon import PhotonSandboxConfig
        from rxfloor.sandbox.photon import create_app as create_photon

        photon = PhotonSandboxConfig(
            token=os.environ.get(PHOTON_TOKEN_ENV) or "photon-sandbox-token", seed=args.seed,
            faults=faults, webhook_url=args.webhook_url,
            webhook_secret=os.environ.get(PHOTON_SECRET_ENV) or "sandbox-photon-secret",
        )  # fmt: skip
        return (
            create_photon(photon),
            lambda root: (
                f"Photon's pharmacy side at {root} (POST /v1/hooks/pharmacy, POST /graphql; "
                f"pharmacy {photon.pharmacy_id})"
            ),
        )
    if args.source == "shopify":
        from rxfloor.sandbox.shopify import ShopConfig, create_app, graphql_path

        fields: dict[str, Any] = {
            "access_token": args.access_token or os.environ.get(TOKEN_ENV) or "shpat_sandbox",
            "app_secret": os.environ.get(SECRET_ENV) or "sandbox-app-secret",
            "seed": args.seed,
            "webhook_url": args.webhook_url,
            "faults": faults,
        }
        if args.restore_rate is not None:
            fields["restore_rate"] = args.restore_rate
        if args.bucket_size is not None:
            fields["bucket_size"] = args.bucket_size
        shop = ShopConfig(**fields)
        path = graphql_path("2025-10")
        return create_app(shop), lambda root: f"the Shopify GraphQL Admin API at {root}{path}"
    if args.source == "konnektive":
        from rxfloor.sandbox.konnektive import KonnektiveConfig
        from rxfloor.sandbox.konnektive import create_app as create_konnektive

        konnektive = KonnektiveConfig(
            login_id=os.environ.get(KONNEKTIVE_LOGIN_ENV) or "sandbox-api-user",
            password=os.environ.get(KONNEKTIVE_PASSWORD_ENV) or "sandbox-password",
            seed=args.seed,
            faults=faults,
        )
        return (
            create_konnektive(konnektive),
            lambda root: (
                f"the Konnektive API at {root} (order/query/, fulfillment/query/, "
                "fulfillment/update/)"
            ),
        )
    from rxfloor.sandbox.rxscale import BASE_PATH, SandboxConfig
    from rxfloor.sandbox.rxscale import create_app as create_rxscale

    dialect = args.dialect or "v1"
    config = SandboxConfig(
        api_key=args.api_key or os.environ.get(KEY_ENV) or "sandbox-key",
        seed=args.seed,
        dialect=dialect,
        rate_limit=args.rate_limit,
        faults=faults,
    )
    return create_rxscale(config), lambda root: f"the {dialect} API at {root}{BASE_PATH}"

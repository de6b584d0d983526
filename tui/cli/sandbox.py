"""``rxfloor sandbox``: serve the stand-in of the remote pharmacy API with uvicorn.

The API key comes from ``--api-key`` or ``RXFLOOR_SANDBOX_API_KEY`` (default ``sandbox-key``)
and is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.tui.cli.context import Subcommands

KEY_ENV = "RXFLOOR_SANDBOX_API_KEY"


def add_parser(subcommands: Subcommands) -> None:
    """Register ``sandbox``: it needs no database, so it takes none of the global options."""
    p = add_command(
        subcommands,
        "sandbox",
        handle,
        with_globals=False,
        help="serve a local stand-in of the remote pharmacy API",
        description="Serve a stand-in of the remote pharmacy API with uvicorn (the API it "
        "mimics: the README's section 'The RxScale API as rxfloor uses it'). "
        "Control endpoints (no key): /_sandbox/requests, /_sandbox/transitions, "
        "/_sandbox/orders, /_sandbox/orders/{uid}/status, /_sandbox/faults, /_sandbox/stats.",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the key clients must send (else ${KEY_ENV}, else 'sandbox-key')",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="start with N open orders")
    p.add_argument(
        "--dialect",
        choices=["v1", "v2"],
        default="v1",
        help="status lifecycle: v1 open/processing/shipped (default), v2 the newer one",
    )
    p.add_argument("--rate-limit", type=float, metavar="R", help="answer 429 past R requests/s")
    p.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="share of API requests that get a fault: 5xx, 429, dropped connection before or "
        "after applying, slow answer, malformed JSON (0..1)",
    )
    p.add_argument("--fault-seed", type=int, default=0, metavar="S", help="same seed, same faults")
    p.add_argument(
        "--slow-s", type=float, default=15.0, metavar="S", help="delay of a slow answer (s)"
    )


def handle(args: argparse.Namespace, ctx: Context) -> int:
    import uvicorn
    from pydantic import ValidationError

    from rxfloor.core.sources.rxscale.sandbox import BASE_PATH, SandboxConfig, create_app

    try:
        config = SandboxConfig(
            api_key=args.api_key or os.environ.get(KEY_ENV) or "sandbox-key",
            seed=args.seed,
            dialect=args.dialect,
            rate_limit=args.rate_limit,
            faults={
                "fail_rate": args.fail_rate,
                "fault_seed": args.fault_seed,
                "slow_s": args.slow_s,
            },
        )
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
            create_app(config), log_level="warning", access_log=False,
            timeout_graceful_shutdown=2,
        )
    )  # fmt: skip
    print(
        f"rxfloor sandbox: serving the {args.dialect} API at http://{host}:{port}{BASE_PATH} "
        f"(control: http://{host}:{port}/_sandbox/); Ctrl+C stops",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl+C it handled
        server.run(sockets=[sock])
    return ExitCode.OK

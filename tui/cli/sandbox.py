"""``rxfloor sandbox``: serve a stand-in of a system of record with uvicorn.

The stand-ins are not part of the product: each is found through the entry point group
``rxfloor.sandboxes`` (:mod:`rxfloor.core.sources.standin`), and brings its own options
(``--api-key``, ``--access-token``, ...: an option of another stand-in is refused) and the
variables it reads its secrets from. ``--source`` defaults to the source whose ids stay
bare. No secret is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from functools import cache
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.core.sources.standin import StandIn
    from rxfloor.tui.cli.context import Subcommands


@cache
def _options() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each stand-in option's flag: its ``dest`` and the stand-ins that take it."""
    from rxfloor.core.sources.standin import standins

    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for s in standins():
        for option in s.options:
            dest, fits = found.get(option.flag, (option.dest, ()))
            found[option.flag] = (dest, (*fits, s.name))
    return found


def _default() -> str:
    from rxfloor.core import sources
    from rxfloor.core.sources.standin import names

    default = sources.default_source()
    return default if default in names() else names()[0]


def add_parser(subcommands: Subcommands, *, stand_ins: bool = True) -> None:
    """Register ``sandbox``: it needs no database, so it takes none of the global options.

    Its options and description come from every stand-in's module; ``stand_ins=False``
    (another command is running) registers the command without importing them."""
    every: list[StandIn] = []
    if stand_ins:
        from rxfloor.core.sources.standin import standins

        every = standins()
    p = add_command(
        subcommands,
        "sandbox",
        handle,
        with_globals=False,
        help="serve a local stand-in of a system of record",
        description="Serve a stand-in of a system of record with uvicorn: "
        + "; ".join(f"--source {s.name}: {s.what}" for s in every)
        + ". Control endpoints (no key) under /_sandbox/: requests, transitions, stats, "
        "faults, reset, webhooks/deliveries, and the stand-in's own (orders, merchant "
        "actions, ...).",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    p.add_argument(
        "--source",
        choices=[s.name for s in every],
        default=None,
        help="which system to stand in for (default: the source whose ids stay bare)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="start with N open orders (each stand-in's kind of open order)",
    )
    added: set[str] = set()
    for s in every:
        for option in s.options:
            if option.flag in added:
                continue
            added.add(option.flag)
            fits = ", ".join(_options()[option.flag][1])
            p.add_argument(option.flag, help=f"{fits}: {option.help}", **dict(option.kwargs))
    p.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="share of API requests that get a fault: 5xx, 429 (or the stand-in's throttling), "
        "dropped connection before or after applying, slow answer, malformed JSON (0..1)",
    )
    p.add_argument("--fault-seed", type=int, default=0, metavar="S", help="same seed, same faults")
    p.add_argument(
        "--slow-s", type=float, default=15.0, metavar="S", help="delay of a slow answer (s)"
    )


def handle(args: argparse.Namespace, ctx: Context) -> int:
    import uvicorn
    from pydantic import ValidationError

    from rxfloor.core.sources.standin import standin

    name = args.source or _default()
    for flag, (dest, fits) in _options().items():
        if getattr(args, dest) is not None and name not in fits:
            print(
                f"rxfloor sandbox: {flag} applies to --source {' or '.join(fits)} only",
                file=sys.stderr,
            )
            return ExitCode.CONFIG
    faults = {"fail_rate": args.fail_rate, "fault_seed": args.fault_seed, "slow_s": args.slow_s}
    try:
        app, banner = standin(name).serve(args, faults)
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
        print(
            f"rxfloor sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    root = f"http://{host}:{port}"
    print(
        f"rxfloor sandbox: serving {banner(root)} (control: {root}/_sandbox/); Ctrl+C stops",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl+C it handled
        server.run(sockets=[sock])
    return ExitCode.OK

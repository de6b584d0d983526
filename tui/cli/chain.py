"""``rxfloor chain``: several pharmacies' databases at a glance, one line each (read-only).

The pharmacies come from the config file's ``[chain]`` section (``name = "URL"``) and from
``--pharmacy NAME=URL`` (repeatable). On a terminal the lines stay live; with ``--json`` or
without a terminal one snapshot is printed as JSON. Textual is imported only for the screen.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.core.chain import Pharmacy
    from rxfloor.tui.cli.context import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    p = add_command(
        subcommands,
        "chain",
        handle,
        help="several pharmacies at a glance (read-only, one line each)",
        description="Per pharmacy: open and processing orders, late ones, exceptions (parked "
        "pushes and open alerts) and sync health, live. Pharmacies: the config file's [chain] "
        'section (name = "URL") and --pharmacy NAME=URL. Keys: q quits.',
    )
    p.add_argument(
        "--pharmacy",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a pharmacy's database (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one snapshot as JSON and exit")
    p.add_argument(
        "--every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between reads on the screen (default 2)",
    )


def chain_of(args: argparse.Namespace, ctx: Context) -> list[Pharmacy]:
    from rxfloor.core.chain import pharmacies
    from rxfloor.core.config import ConfigError

    configured = ctx.settings.chain if not args.pharmacy or _has_config(ctx) else {}
    try:
        found = pharmacies(configured, args.pharmacy)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not found:
        raise ConfigError(
            'no pharmacies: add a [chain] section (name = "URL") or --pharmacy NAME=URL'
        )
    return found


def _has_config(ctx: Context) -> bool:
    try:
        return bool(ctx.settings.chain)
    except Exception:  # a config without a database to open is fine for a chain
        return False


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.chain import Chain

    chain = Chain(chain_of(args, ctx), app_name=f"rxfloor chain@{_station(ctx)}")
    try:
        if args.json or not (sys.stdin.isatty() and sys.stdout.isatty()):
            print(snapshot_json(chain))
            return ExitCode.OK
        from rxfloor.tui.chain.app import ChainApp

        app = ChainApp(chain, every=args.every)
        app.run()
        return app.return_code or ExitCode.OK
    finally:
        chain.close()


def _station(ctx: Context) -> str:
    try:
        return ctx.settings.station
    except Exception:
        return "chain"


def snapshot_json(chain: object) -> str:
    import json

    from rxfloor.core.chain import Chain
    from rxfloor.core.db.schema import utcnow

    assert isinstance(chain, Chain)
    now = utcnow()
    lines = [line.as_json() for line in chain.snapshot(now)]
    return json.dumps(
        {"at": now, "pharmacies": lines}, default=lambda v: v.isoformat(), ensure_ascii=False
    )

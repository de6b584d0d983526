"""``rxfloor watch``: the read-only wall screen on the shared database (Textual imported late).

No key changes data and no sync worker runs unless ``--sync`` asks for one: the terminals
on the floor sync, the wall reads. Without a terminal (a pipe, a cron job) the wall's
figures are printed once as JSON instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.tui.cli.context import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    p = add_command(
        subcommands,
        "watch",
        handle,
        help="the live queue on a wall screen (read-only)",
        description="Large per-column counts with the late ones, the day's flow per hour and "
        "turnaround, the stat and waiter queue, "
        "the oldest waiting order per column, finished in the last hour and today (ready, "
        "picked up, shipped), the last moves, sync health, open alerts and the ready pickup "
        "orders waiting longer than [floor] will_call_days (back to stock). Keys: q quits, "
        "t cycles the themes.",
    )
    p.add_argument("--theme", help="rxfloor-dark, rxfloor-light or rxfloor-high-contrast")
    p.add_argument("--sync", action="store_true", help="also run the sync worker here")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    if args.theme is not None:  # checked with or without a terminal: never silently ignored
        from rxfloor.core.text import shown
        from rxfloor.tui.themes import load_themes

        names = [t.name for t in load_themes()]
        if args.theme not in names:
            print(
                f"rxfloor: --theme: unknown theme {shown(args.theme)!r}; one of {', '.join(names)}",
                file=sys.stderr,
            )
            return ExitCode.USAGE
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(figures_json(ctx))
        return ExitCode.OK
    return run_app(ctx, theme=args.theme, sync=args.sync)


def figures_json(ctx: Context) -> str:
    """The wall's figures now (the service's clock), as one JSON object (what the screen
    would show)."""
    import dataclasses
    import json

    from rxfloor.core.wall import read_wall

    with ctx.service.store.read() as conn:
        figures = read_wall(conn, ctx.settings, ctx.service.clock())
    data = dataclasses.asdict(figures)
    data["alerts"] = [{"order": a["order_name"], "message": a["message"]} for a in figures.alerts]
    return json.dumps(data, default=lambda v: v.isoformat(), ensure_ascii=False)


def run_app(ctx: Context, *, theme: str | None, sync: bool) -> int:
    """The wall app; also what ``rxfloor serve`` runs for each browser."""
    from rxfloor.core.config import ConfigError
    from rxfloor.tui.themes import load_themes
    from rxfloor.tui.watch.app import Background, WatchApp

    names = [t.name for t in load_themes()]
    if theme is not None and theme not in names:
        raise ConfigError(f"--theme: unknown theme {theme!r}; one of {', '.join(names)}")
    service = ctx.service
    background: Background | None = None
    if sync:
        from rxfloor.core.sync.runner import background_sync

        worker = background_sync(ctx.settings, service)
        if worker is not None:
            background = lambda: worker  # noqa: E731 — entering it starts it, leaving stops it
    app = WatchApp(service.store, ctx.settings, theme=theme, background=background)
    app.run()
    return app.return_code or ExitCode.OK

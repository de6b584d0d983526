"""The ``rxfloor`` command: the board by default, headless subcommands for scripts and scanners.

Every subcommand prints one summary line (or JSON) on success and exits 0; a refusal,
an unknown order or a bad setting is one line on stderr and a non-zero exit
(:class:`~rxfloor.tui.cli.exit_codes.ExitCode`). Each group of subcommands lives in its
own module and registers ``handler(args, ctx) -> int`` handlers; this module builds the
parser, runs the chosen handler and turns the domain's errors into their exit codes.
Nothing here imports SQLAlchemy or Textual before a handler needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rxfloor.tui.cli import (
    board,
    chain,
    exceptions,
    orders,
    people,
    report,
    sandbox,
    serve,
    sync,
    watch,
)
from rxfloor.tui.cli.context import Context, Handler, global_options
from rxfloor.tui.cli.exit_codes import ExitCode

#: commands that have no use for the demo's database, and why
NO_DEMO = {
    "sandbox": "serves stand-ins of its own (the demo runs them in-process)",
    "chain": "reads the databases of its [chain] section or --pharmacy NAME=URL",
}


def build_parser(*, stand_ins: bool = True) -> argparse.ArgumentParser:
    """The command line; ``stand_ins=False`` leaves out ``sandbox``'s options and the
    stand-ins' modules they come from (main() passes it when ``sandbox`` is not asked for)."""
    parser = argparse.ArgumentParser(
        prog="rxfloor",
        description="The pharmacy floor board and its headless tools. The global options "
        "may come before or after the subcommand.",
        parents=[global_options(suppress=False)],
    )
    board.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    orders.add_parsers(sub)
    sandbox.add_parser(sub, stand_ins=stand_ins)
    sync.add_parsers(sub)
    exceptions.add_parser(sub)
    people.add_parser(sub)
    watch.add_parser(sub)
    report.add_parser(sub)
    serve.add_parser(sub)
    chain.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(stand_ins="sandbox" in argv)
    args = parser.parse_args(argv)
    if args.demo and args.database is not None:
        parser.error("--demo and --database name two databases: give one")
    if args.demo and args.command in NO_DEMO:
        parser.error(f"--demo: {args.command} {NO_DEMO[args.command]}")
    handler: Handler = args.handler
    ctx = Context.from_args(args)
    try:
        return int(handler(args, ctx))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `rxfloor orders | head`: the reader left, nothing went wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — silence the flush at exit
        return ExitCode.OK
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        from rxfloor.core.text import shown

        print(f"rxfloor: {shown(exc)}", file=sys.stderr)
        return code
    finally:
        ctx.close()


def _exit_code(exc: Exception) -> ExitCode | None:
    """The exit code of an error the domain raises on purpose; None for a bug (a traceback).

    Imported only once something went wrong, so a clean run pays for none of it.
    """
    from rxfloor.core.config import ConfigError
    from rxfloor.core.db import StoreError
    from rxfloor.core.people import PeopleError
    from rxfloor.core.service import OrderNotFound, Refused

    if isinstance(exc, (ConfigError, StoreError)):
        return ExitCode.CONFIG
    if isinstance(exc, (OrderNotFound, Refused, PeopleError)):
        return ExitCode.REFUSED
    return None


if __name__ == "__main__":
    sys.exit(main())

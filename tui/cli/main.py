"""The ``rxfloor`` command: the board by default, headless subcommands for scripts and scanners.

Every subcommand prints one summary line (or JSON) on success and exits 0; a refusal,
an unknown order or a bad setting is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from rxfloor.core.config import ConfigError, Settings, data_dir, load_settings
from rxfloor.core.db import StoreError
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.text import clip, shown, visible
from rxfloor.tui.cli.sandbox import add_parser as add_sandbox_parser
from rxfloor.tui.cli.sync import add_parsers as add_sync_parsers

EXIT_REFUSED = 1
EXIT_CONFIG = 3

_Reason = TypeAdapter(
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
)
_Ref = TypeAdapter(
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
)
_Count = TypeAdapter(Annotated[int, Field(ge=1, le=1_000_000)])


def _validated(adapter: TypeAdapter[Any], what: str) -> Any:
    def parse(raw: str) -> Any:
        try:
            return adapter.validate_python(raw if adapter is not _Count else int(raw))
        except (ValidationError, ValueError):
            raise argparse.ArgumentTypeError(f"invalid {what}: {clip(raw)}") from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rxfloor", description="The pharmacy floor board and its headless tools."
    )
    parser.add_argument(
        "--database", metavar="URL", help="sqlite:///FILE, a file path, or postgresql://…"
    )
    parser.add_argument("--actor", help="pharmacist initials recorded in the audit trail")
    parser.add_argument("--station", help="station name recorded in the audit trail")
    parser.add_argument(
        "--demo", action="store_true", help="open the board on a fresh demo database"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    seed = sub.add_parser("seed", help="add realistic sample orders (never pushed to a remote)")
    seed.add_argument("--count", type=_validated(_Count, "count"), default=50)
    seed.add_argument("--seed", type=int, default=0, help="same seed, same orders")

    ls = sub.add_parser("orders", help="list orders")
    ls.add_argument("--status", type=str.upper, choices=[s.value for s in Status])
    ls.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    for name, text in (
        ("start", "OPEN -> PROCESSING"),
        ("finish", "PROCESSING -> FINISHED"),
        ("advance", "the next step: start an OPEN order, finish a PROCESSING one"),
        ("release", "take an order off hold"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("id", type=_validated(_Ref, "order id"), help="uid or name (#1001)")
    for name, text in (("cancel", "cancel an OPEN or PROCESSING order"), ("hold", "put on hold")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("id", type=_validated(_Ref, "order id"), help="uid or name (#1001)")
        cmd.add_argument("--reason", required=True, type=_validated(_Reason, "reason"))

    hist = sub.add_parser("history", help="the audit trail of one order")
    hist.add_argument("id", type=_validated(_Ref, "order id"))
    hist.add_argument("--json", action="store_true")
    add_sandbox_parser(sub)
    add_sync_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:  # self-contained subcommands (sandbox)
        return int(args.handler(args))
    try:
        settings = _settings(args)
        return _dispatch(args, settings)
    except (ConfigError, StoreError) as exc:
        print(f"rxfloor: {shown(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `rxfloor orders | head`: the reader left, nothing went wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — silence the flush at exit
        return 0


def _settings(args: argparse.Namespace) -> Settings:
    database = args.database
    if args.demo:
        demo = data_dir() / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            demo.with_name(demo.name + suffix).unlink(missing_ok=True)
        database = str(demo)
    return load_settings(database_url=database, actor=args.actor, station=args.station)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from rxfloor.core.service import OrderNotFound, Refused, open_service

    service = open_service(settings)
    command = args.command
    try:
        if command is None:
            if args.demo:
                _seed_demo(service)
            return _board(service, settings, demo=args.demo)
        if command == "seed":
            return _seed(service, args.count, args.seed)
        if command == "orders":
            return _orders(service, args.status, args.json)
        if command == "history":
            return _history(service, args.id, args.json)
        action = Action(command)
        result = service.act(args.id, action, reason=getattr(args, "reason", None))
        print(shown(result.summary))
        return 0
    except (OrderNotFound, Refused) as exc:
        print(f"rxfloor: {shown(exc)}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        service.store.close()


def _seed(service: Any, count: int, seed: int) -> int:
    from rxfloor.core.sample import sample_orders

    added = service.add_orders(sample_orders(count, seed, service.clock()))
    print(f"added {added} sample orders (seed {seed}); {count - added} already present")
    return 0


def _orders(service: Any, status: str | None, as_json: bool) -> int:
    from rxfloor.core.db import queries
    from rxfloor.core.lifecycle import Priority
    from rxfloor.core.models import OrderView

    rows = service.store.board_rows([status] if status else None)
    with service.store.read() as conn:
        errors = queries.sync_errors_by_order(conn)
    views = [OrderView.from_row(r, sync_error=errors.get(r["id"])) for r in rows]
    views.sort(key=lambda v: (list(Status).index(v.status), Priority(v.priority).rank,
                              v.due_at or v.created_at, v.name))  # fmt: skip
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return 0
    print(f"{'NAME':<12} {'STATUS':<11} {'PRIO':<7} {'HOLD':<5} {'VER':>4}  {'DUE':<16} ITEMS")
    for v in views:
        due = v.due_at.astimezone().strftime("%Y-%m-%d %H:%M") if v.due_at else "-"
        hold = "yes" if v.hold else ""
        print(f"{visible(v.name):<12} {v.status:<11} {v.priority:<7} {hold:<5} {v.version:>4}  "
              f"{due:<16} {visible(v.items_summary[:60])}")  # fmt: skip
    print(f"{len(views)} orders")
    return 0


def _history(service: Any, ref: str, as_json: bool) -> int:
    from rxfloor.core.models import AuditEvent

    order = service.get(ref)
    events = [AuditEvent.from_row(r) for r in service.store.history(order.id)]
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        return 0
    print(f"{visible(order.name)} ({visible(order.id)}) — now {order.status}")
    for e in events:  # every field from data shown with its controls visible: one line each
        move = f"{e.from_status or '-'} -> {e.to_status or '-'}"
        why = f"  «{visible(e.reason)}»" if e.reason else ""
        at = e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{at}  {visible(e.actor):<10} {visible(e.station):<14} {e.action:<8} {move:<26} "
              f"{e.source}{why}")  # fmt: skip
    return 0


def _seed_demo(service: Any) -> None:
    """Sample orders with some already in work and done, so every column has cards."""
    _seed(service, 60, 0)
    from rxfloor.core.models import OrderView

    rows = service.store.board_rows([Status.OPEN.value])
    views = [OrderView.from_row(r, sync_error=None) for r in rows]  # sample orders: never pushed
    startable = [v for v in views if Action.START in service.legal_actions(v)]  # not held/scheduled
    for i, order in enumerate(startable[:9]):
        service.act(order.id, Action.START)
        if i % 3 == 0:
            service.act(order.id, Action.FINISH)


def _board(service: Any, settings: Settings, *, demo: bool = False) -> int:
    """The live board; without a terminal (a pipe, a cron job) the queue as a plain table.

    With ``--demo`` the stand-in of the remote API runs in-process and a sync worker keeps
    the demo database in step with it; otherwise the worker runs when ``api_url`` is set.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _orders(service, None, False)
        print("(no terminal: printed the queue instead of opening the live board)")
        return 0
    from rxfloor.tui.app import Background, BoardApp

    background: Background | None = None
    if demo:
        from rxfloor.core.demo import start_demo_sync

        background = partial(start_demo_sync, settings)
    else:
        from rxfloor.core.sync.worker import background_sync

        worker = background_sync(settings, service)
        if worker is not None:
            background = lambda: worker  # noqa: E731 — entering it starts it, leaving stops it
    app = BoardApp(service, settings, background=background)
    app.run()
    return app.return_code or 0  # EXIT_INTERNAL_ERROR after an internal error (logged)


if __name__ == "__main__":
    sys.exit(main())

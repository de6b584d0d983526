"""``rxfloor`` and ``rxfloor --demo``: the live board (Textual is imported only here, late)."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING

from rxfloor.core.lifecycle import Action, Status
from rxfloor.tui.cli.context import Context, starting
from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.cli.orders import add_samples, print_orders

if TYPE_CHECKING:
    from rxfloor.core.config import Settings
    from rxfloor.core.service import OrderService


def add_options(parser: argparse.ArgumentParser) -> None:
    """The board as what runs without a subcommand (``--demo`` is a global option)."""
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.demo:
        ctx.database = _fresh_demo_database()
        demo_people = demo_floor(ctx.settings)
    service = ctx.service
    if args.demo:
        seed_demo(service)
        if demo_people:
            from rxfloor.core.people import People

            People(service.store, "demo", ctx.settings.station).set_pin("AB", "2468")
    return board(service, ctx.settings, demo=args.demo)


def _fresh_demo_database() -> str:
    """``demo.db`` in the data dir, removed with its WAL files: every ``--demo`` starts afresh."""
    from rxfloor.core.config import data_dir

    demo = data_dir() / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        demo.with_name(demo.name + suffix).unlink(missing_ok=True)
    return str(demo)


#: The demo's floor: the check before finish on, three people (AB's PIN: 2468), the sample
#: insulin in the fridge and gabapentin in the controlled cabinet.
DEMO_PEOPLE = {
    "AB": {"role": "pharmacist", "badge": "badge-AB"},
    "TJ": {"role": "technician", "badge": "badge-TJ"},
    "CD": {"role": "technician", "badge": "badge-CD"},
}


def demo_floor(settings: Settings) -> bool:
    """What ``--demo`` turns on unless the config file says otherwise; returns whether the
    demo's own people were added (AB then gets the PIN 2468)."""
    from rxfloor.core.config import FloorSection, PersonEntry
    from rxfloor.core.lifecycle import CheckRule

    given = settings.floor.model_fields_set
    floor = settings.floor.model_dump()
    if "check" not in given:
        floor["check"] = CheckRule.SECOND_PERSON
    if "will_call_bins" not in given:  # the finish of a pickup order asks for its bin
        floor["will_call_bins"] = True
    floor["fridge"] = floor["fridge"] or ["insulin"]
    floor["controlled"] = floor["controlled"] or ["gabapentin"]
    settings.floor = FloorSection.model_validate(floor)
    if settings.people:
        return False
    settings.people = {n: PersonEntry.model_validate(p) for n, p in DEMO_PEOPLE.items()}
    return True


def seed_demo(service: OrderService) -> None:
    """Sample orders with some already in work and done, so every column has cards; on a
    floor that checks, a few are being filled or await their check."""
    from rxfloor.core.lifecycle import CheckRule
    from rxfloor.core.service import Actor
    from rxfloor.core.service import OrderService as Service

    add_samples(service, 60, 0)
    from rxfloor.core.models import OrderView

    rows = service.store.board_rows([Status.OPEN.value])
    views = [OrderView.from_row(r, sync_error=None) for r in rows]  # sample orders: never pushed
    startable = [v for v in views if Action.START in service.legal_actions(v)]  # not held/scheduled
    check, service.check = service.check, CheckRule.NONE
    try:
        for i, order in enumerate(startable[:9]):
            service.act(order.id, Action.START)
            if i % 3 == 0:
                service.act(order.id, Action.FINISH)
    finally:
        service.check = check
    if check is CheckRule.NONE:
        return
    tj = Service(service.store, Actor("TJ", "bench-2"), service.clock, check=check)
    for i, order in enumerate(startable[9:13]):
        tj.act(order.id, Action.START)
        if i % 2 == 0:
            tj.act(order.id, Action.FILL)


def board(service: OrderService, settings: Settings, *, demo: bool = False) -> int:
    """The live board; without a terminal (a pipe, a cron job) the queue as a plain table.

    With ``--demo`` the stand-in of the remote API runs in-process and a sync worker keeps
    the demo database in step with it; otherwise the worker runs when ``api_url`` is set.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        if settings.keys:  # a bad [keys] table is refused even where no board opens
            from rxfloor.tui.actions import check_keymap

            check_keymap(settings.keys)
        print_orders(service, None, as_json=False)
        print("(no terminal: printed the queue instead of opening the live board)")
        return ExitCode.OK
    from rxfloor.core import sources

    with starting():  # Textual, and the sync engine where a source is configured
        from rxfloor.tui.app import Background, BoardApp

        background: Background | None = None
        if demo:
            from rxfloor.core.demo import start_demo_sync

            background = partial(start_demo_sync, settings)
        elif sources.configured(settings):  # offline: no sync engine to import
            from rxfloor.core.sync.runner import background_sync

            worker = background_sync(settings, service)
            if worker is not None:
                background = lambda: worker  # noqa: E731 — entering it starts it, leaving stops it
    app = BoardApp(service, settings, background=background)
    app.run()
    return app.return_code or ExitCode.OK  # ExitCode.INTERNAL after an internal error (logged)

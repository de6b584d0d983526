"""``rxfloor people``: the floor's list of people (who may sign in, as what).

``rxfloor people add TJ --role technician --badge badge-TJ [--pin]`` (the PIN is asked
twice, never an argument; from a pipe, one line of stdin), ``rxfloor people list [--json]``,
``rxfloor people remove TJ``. Every change is audited (``people_events``); a refusal (a
name or badge taken, nobody by that name) is one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.core.people import People
    from rxfloor.tui.cli.context import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    """Register ``people`` and its actions."""
    p = add_command(subcommands, "people", _list, help="the floor's people: who signs in, as what")
    p.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    sub = p.add_subparsers(dest="people_command", metavar="ACTION")
    add = add_command(sub, "add", _add, help="add a person (audited)")
    add.add_argument("name", help="initials or a short name, as the cards show it")
    add.add_argument("--role", required=True, choices=["pharmacist", "technician"])
    add.add_argument("--badge", help="what their badge scans as (e.g. badge-TJ)")
    add.add_argument("--pin", action="store_true", help="ask a PIN for their sign-in")
    ls = add_command(sub, "list", _list, help="list the floor's people")
    ls.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    rm = add_command(sub, "remove", _remove, help="remove a person (audited)")
    rm.add_argument("name")


def _people(ctx: Context) -> People:
    from rxfloor.core.people import People

    actor = ctx.service.actor
    return People(ctx.service.store, actor.name, actor.station)


def _ask_pin() -> str:
    """The PIN, typed twice at a terminal; from a pipe, its first line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    import getpass

    from rxfloor.core.people import PeopleError

    pin = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != pin:
        raise PeopleError("the two PINs differ: nothing added")
    return pin


def _add(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.people import Role
    from rxfloor.core.text import shown

    pin = _ask_pin() if args.pin else None
    member = _people(ctx).add(args.name, Role(args.role), badge=args.badge, pin=pin)
    badge = f", badge {member.badge}" if member.badge else ""
    print(
        shown(
            f"added {member.name}: {member.role.value}{badge}"
            + (", with a PIN" if member.has_pin else "")
        )
    )
    return ExitCode.OK


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.text import visible
    from rxfloor.tui.cli.orders import json_array

    members = _people(ctx).all()
    if args.json:
        print(
            json_array(
                {
                    "name": m.name,
                    "role": m.role.value,
                    "badge": m.badge,
                    "pin": m.has_pin,
                    "added_at": m.added_at.isoformat(),
                    "added_by": m.added_by,
                }
                for m in members
            )
        )
        return ExitCode.OK
    print(f"{'NAME':<8}  {'ROLE':<11}  {'BADGE':<16}  PIN")
    for m in members:
        print(
            f"{visible(m.name):<8}  {m.role.value:<11}  {visible(m.badge or '-'):<16}  "
            f"{'yes' if m.has_pin else 'no'}"
        )
    print(f"{len(members)} {'person' if len(members) == 1 else 'people'}")
    return ExitCode.OK


def _remove(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.text import shown

    _people(ctx).remove(args.name)
    print(shown(f"removed {args.name}"))
    return ExitCode.OK

"""``rxfloor exceptions``: the exceptions queue, as the board's ``e`` lists it.

``rxfloor exceptions [--json]`` lists every item oldest first (exit 0, also when there is
none); ``rxfloor exceptions resolve ID --note TEXT`` resolves a source status (Photon
error, Konnektive Failed, Shopify INCOMPLETE or a rejected request) with a note. A parked
move is retried or resolved with ``rxfloor sync --retry ID`` / ``--resolve ID --note``, a
cancellation request answered with ``accept-cancel`` / ``reject-cancel``. A refusal (no
such order, not in the queue) is one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.cli.orders import _REASON_MAX, _REF_MAX, _text, json_array

if TYPE_CHECKING:
    from rxfloor.tui.cli.context import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    """Register ``exceptions`` and ``exceptions resolve``."""
    p = add_command(
        subcommands,
        "exceptions",
        _list,
        help="the exceptions queue: what needs a person, oldest first",
    )
    p.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    sub = p.add_subparsers(dest="exceptions_command", metavar="ACTION")
    resolve = add_command(sub, "resolve", _resolve, help="resolve a source status with a note")
    resolve.add_argument(
        "id",
        type=_text("order id", _REF_MAX),
        help="uid or name (#1001); SOURCE:ID where it is ambiguous",
    )
    resolve.add_argument(
        "--note", required=True, type=_text("note", _REASON_MAX), help="what was done (audited)"
    )


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core import exception_queue
    from rxfloor.core.due import Targets
    from rxfloor.core.text import visible

    now = ctx.service.clock()
    with ctx.service.store.read() as conn:
        items = exception_queue.queue(conn, Targets.from_settings(ctx.settings))
    if args.json:
        print(
            json_array(
                i.model_dump(mode="json") | {"key": i.key, "late": i.late(now)} for i in items
            )
        )
        return ExitCode.OK
    print(f"{'SINCE':<16}  {'SOURCE':<10}  {'ORDER':<12}  {'KIND':<14}  {'MOVE':>6}  WORDS")
    for i in items:
        since = i.since.astimezone().strftime("%Y-%m-%d %H:%M")
        kind = f"parked {i.move}" if i.move else i.kind.value
        row = str(i.outbox_id) if i.outbox_id is not None else "-"
        print(
            f"{since:<16}  {visible(i.source_label):<10}  {visible(i.order_name):<12}  "
            f"{kind:<14}  {row:>6}  {visible(i.words)}"
        )
    print(
        f"{len(items)} need{'s' if len(items) == 1 else ''} a person"
        if items
        else "nothing needs a person"
    )
    return ExitCode.OK


def _resolve(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.text import shown

    print(shown(ctx.service.resolve_exception(args.id, args.note)))
    return ExitCode.OK

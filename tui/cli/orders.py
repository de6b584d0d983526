"""The order subcommands: ``seed``, ``orders``, the moves (start … hold) and ``history``.

Each prints one summary line (or JSON) and exits 0; a refusal or an unknown order
propagates to :func:`rxfloor.tui.cli.main.main`, which prints it as one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.text import clip, shown, visible
from rxfloor.tui.cli.context import Context, Handler, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from rxfloor.core.db import Store
    from rxfloor.core.due import Targets
    from rxfloor.core.service import OrderService
    from rxfloor.tui.cli.context import Subcommands

# Limits of the free-text arguments (plain checks: pydantic is not imported for --help).
_REASON_MAX = 500
_REF_MAX = 200  # SOURCE:ID with a source's long id (a Shopify gid)
_COUNT_MAX = 1_000_000
_TRACKING_MAX = 128
_URL_MAX = 2048
_BIN_MAX = 24  # "bin B12" as a label scans
#: ``orders --json`` writes this many orders at a time
_BATCH = 1000

_MOVES = (  # (action, help, needs a reason)
    (Action.START, "OPEN -> PROCESSING", False),
    (Action.FINISH, "PROCESSING -> FINISHED", False),
    (Action.ADVANCE, "the next step: start an OPEN order, finish a PROCESSING one", False),
    (Action.RELEASE, "take an order off hold", False),
    (Action.CANCEL, "cancel an OPEN or PROCESSING order", True),
    (Action.HOLD, "put on hold", True),
    (Action.ACCEPT_CANCEL, "accept the merchant's cancellation request", False),
    (Action.REJECT_CANCEL, "reject the merchant's cancellation request", True),
    (Action.FILL, "[floor] check: the order in PROCESSING is filled (awaits its check)", False),
    (Action.CHECK, "[floor] check: the filled order is checked (by another person)", False),
    (Action.FAIL_CHECK, "[floor] check: the check failed: back to filling", True),
    (Action.HANDOFF, "hand a ready pickup order to the patient at the counter (picked up)", False),
)
#: The moves' command names (``accept-cancel``: words joined as on a command line).
_COMMAND = {action: action.value.replace("_", "-") for action, _, _ in _MOVES}


def _text(what: str, max_length: int) -> Callable[[str], str]:
    """An argparse ``type``: the value stripped, 1..``max_length`` characters; names a bad one."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if not 1 <= len(value) <= max_length:
            raise argparse.ArgumentTypeError(f"invalid {what}: {clip(raw)}")
        return value

    return parse


def _date(raw: str) -> date:
    """An argparse ``type``: an ISO date (1961-04-23); names a bad one, clipped."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date (YYYY-MM-DD): {clip(raw)}") from None


def _count(raw: str) -> int:
    """An argparse ``type``: an integer 1..1,000,000; names a bad value, clipped."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= _COUNT_MAX:
        raise argparse.ArgumentTypeError(f"invalid count: {clip(raw)}")
    return value


def add_parsers(subcommands: Subcommands) -> None:
    """Register ``seed``, ``orders``, the moves and ``history``."""
    seed = add_command(
        subcommands,
        "seed",
        _seed,
        help="add realistic sample orders (never pushed to a remote)",
    )
    seed.add_argument("--count", type=_count, default=50)
    seed.add_argument("--seed", type=int, default=0, help="same seed, same orders")

    ls = add_command(subcommands, "orders", _orders, help="list orders")
    ls.add_argument("--status", type=str.upper, choices=[s.value for s in Status])
    ls.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    for action, text, needs_reason in _MOVES:
        cmd = add_command(subcommands, _COMMAND[action], _mover(action), help=text)
        cmd.add_argument(
            "id",
            type=_text("order id", _REF_MAX),
            help="uid or name (#1001); SOURCE:ID where it is ambiguous",
        )
        if needs_reason:
            cmd.add_argument("--reason", required=True, type=_text("reason", _REASON_MAX))
        if action in (Action.FINISH, Action.ADVANCE):
            cmd.add_argument(
                "--tracking",
                type=_text("tracking number", _TRACKING_MAX),
                metavar="NUMBER",
                help="the parcel's tracking number",
            )
            cmd.add_argument(
                "--carrier",
                type=_text("carrier", _TRACKING_MAX),
                help="the tracking number's company (with --tracking)",
            )
            cmd.add_argument(
                "--tracking-url",
                type=_text("tracking URL", _URL_MAX),
                metavar="URL",
                help="where the parcel is tracked",
            )
            cmd.add_argument(
                "--bin",
                type=_text("bin", _BIN_MAX),
                metavar="BIN",
                help="the will-call bin a pickup order waits in (B12)",
            )
        if action is Action.HANDOFF:
            who = cmd.add_mutually_exclusive_group(required=True)
            who.add_argument(
                "--dob",
                type=_date,
                metavar="YYYY-MM-DD",
                help="the date of birth the patient gave (checked against the source's)",
            )
            who.add_argument(
                "--id-checked",
                action="store_true",
                help="the patient's identity was checked (no date of birth on file)",
            )

    note = add_command(
        subcommands, "note", _note, help="a note on an order for the floor (audited, never sent)"
    )
    note.add_argument(
        "id",
        type=_text("order id", _REF_MAX),
        help="uid or name (#1001); SOURCE:ID where it is ambiguous",
    )
    note.add_argument("text", nargs="+", help="the note (words are joined)")

    product = add_command(
        subcommands, "product", _product, help="a product scanned while filling an order"
    )
    product.add_argument("id", type=_text("order id", _REF_MAX))
    product.add_argument("code", help="what the scanner read: GS1, EAN/UPC/GTIN, NDC, PZN")

    hist = add_command(
        subcommands, "history", _history, help="the audit trail of one order (--batch: a recall)"
    )
    hist.add_argument("id", nargs="?", type=_text("order id", _REF_MAX))
    hist.add_argument(
        "--batch",
        type=_text("batch", 64),
        help="every pack of this batch scanned into an order (a recall)",
    )
    hist.add_argument("--json", action="store_true")


def json_array(items: Iterable[object]) -> str:
    """A JSON array with one element per line.

    ``json.dumps(..., indent=2)`` falls back to the pure-Python encoder (over a second for
    10,000 orders); each element through the C encoder keeps the listing a small share.
    """
    lines = ",\n".join(json.dumps(item) for item in items)
    return f"[\n{lines}\n]" if lines else "[]"


def _mover(action: Action) -> Handler:
    def move(args: argparse.Namespace, ctx: Context) -> int:
        tracking = None
        number = getattr(args, "tracking", None)
        if number is None and (
            getattr(args, "carrier", None) or getattr(args, "tracking_url", None)
        ):
            print("rxfloor: --carrier and --tracking-url go with --tracking", file=sys.stderr)
            return ExitCode.USAGE
        if number is not None:
            from rxfloor.core.models import Tracking

            tracking = Tracking(company=args.carrier, number=number, url=args.tracking_url)
        from rxfloor.core.service import Counter

        counter = Counter(
            bin=getattr(args, "bin", None),
            dob=getattr(args, "dob", None),
            id_checked=getattr(args, "id_checked", False),
        )
        result = ctx.service.act(
            args.id,
            action,
            reason=getattr(args, "reason", None),
            tracking=tracking,
            counter=counter,
        )
        print(shown(result.summary))
        return ExitCode.OK

    return move


def _seed(args: argparse.Namespace, ctx: Context) -> int:
    add_samples(ctx.service, args.count, args.seed)
    return ExitCode.OK


def add_samples(service: OrderService, count: int, seed: int) -> None:
    """Add ``count`` sample orders from ``seed`` and say how many were new."""
    from rxfloor.core.sample import sample_orders

    added = service.add_orders(sample_orders(count, seed, service.clock()))
    print(f"added {added} sample orders (seed {seed}); {count - added} already present")


def _orders(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.due import Targets

    targets = Targets.from_settings(ctx.settings)
    if args.json:  # the store alone: no service, no pydantic models to import
        write_orders_json(ctx.store, args.status, sys.stdout, targets)
    else:
        print_orders(ctx.service, args.status, as_json=False, targets=targets)
    return ExitCode.OK


def write_orders_json(
    store: Store,
    status: str | None,
    out: TextIO,
    targets: Targets | None = None,
    now: datetime | None = None,
) -> None:
    """The queue in board order as :func:`json_array` writes it, streamed: the database
    sorts, each order is written as it is read (a batch of lines at a time), so 100,000
    orders never sit in memory as rows, dicts and one string. Each order also says when
    it is promised (``promised_at``, ``promised_by``: the target's name or null for the
    source's own time) and whether it is ``late`` at ``now``, as the board says it."""
    from rxfloor.core.db import queries
    from rxfloor.core.db.schema import utcnow
    from rxfloor.core.due import Targets

    targets = targets or Targets()
    now = now or utcnow()
    with store.read() as conn:
        errors = queries.sync_errors_by_order(conn)
        lines: list[str] = []
        start = "[\n"
        for row in queries.listing(conn, status, targets):
            found = order_json(row, errors.get(row["id"])) | promise_json(row, targets, now)
            lines.append(json.dumps(found))
            if len(lines) == _BATCH:
                out.write(start + ",\n".join(lines))
                start, lines = ",\n", []
        if lines:
            out.write(start + ",\n".join(lines))
        out.write("[]\n" if start == "[\n" and not lines else "\n]\n")


def order_json(row: Mapping[Any, Any], sync_error: str | None) -> dict[str, object]:
    """``OrderView.from_row(row, sync_error=…).model_dump(mode="json")``, key for key and in
    its field order, without building and validating a model per order: the listing's rows
    come from our own database (``tests/integration/test_orders_json.py`` compares the two)."""
    due, fulfill, held = row["due_at"], row["fulfill_at"], row["hold_since"]
    return {
        "id": row["id"],
        "source": row["source"],
        "remote_id": row["remote_id"],
        "name": row["name"],
        "status": row["status"],
        "remote_status": row["remote_status"],
        "priority": row["priority"],
        "delivery_type": row["delivery_type"],
        "patient_name": row["patient_name"],
        "items_summary": row["items_summary"],
        "due_at": None if due is None else _utc(due),
        "fulfill_at": None if fulfill is None else _utc(fulfill),
        "hold": row["on_hold"],
        "hold_reason": row["hold_reason"],
        "hold_by": row["hold_by"],
        "hold_since": None if held is None else _utc(held),
        "sample": row["sample"],
        "sync_error": sync_error,
        "version": row["version"],
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
        "status_since": _utc(row["status_since"]),
        "request_kind": row["request_kind"],
        "request_message": row["request_message"],
        "tracking": None
        if not row["tracking_number"]
        else {key: _stripped(row[f"tracking_{key}"]) for key in ("company", "number", "url")},
        "fill_step": row["fill_step"],
        "filled_by": row["filled_by"],
        "checked_by": row["checked_by"],
        "check_note": row["check_note"],
        "note_count": row["note_count"],
        "flags": row["flags"],
        "scan_progress": row["scan_progress"],
        "will_call_bin": row["will_call_bin"],
        "patient_dob": row["patient_dob"],
        "picked_up_at": None if row["picked_up_at"] is None else _utc(row["picked_up_at"]),
        "picked_up_by": row["picked_up_by"],
    }


def promise_json(row: Mapping[Any, Any], targets: Targets, now: datetime) -> dict[str, object]:
    """``promised_at``, ``promised_by`` and ``late`` of one order (:mod:`rxfloor.core.due`)."""
    from rxfloor.core.due import is_late, promise_of

    promised = promise_of(row, targets)
    return {
        "promised_at": _utc(promised.at.astimezone(UTC)),
        "promised_by": promised.target,
        "late": is_late(promised.at, str(row["status"]), now),
    }


def _stripped(value: str | None) -> str | None:
    """As :class:`~rxfloor.core.models.Tracking` keeps a text: stripped, empty is none."""
    return value.strip() or None if isinstance(value, str) else value


def _utc(at: datetime) -> str:
    """A UTC time as pydantic writes it: ``2026-11-23T09:30:00Z``."""
    return at.isoformat().replace("+00:00", "Z")


def print_orders(
    service: OrderService, status: str | None, *, as_json: bool, targets: Targets | None = None
) -> None:
    """The queue in board order: a table (data shown with its controls visible) or JSON.
    DUE is the promised time as the board has it (a target's marked ``*``)."""
    from rxfloor.core.db import queries
    from rxfloor.core.due import Targets, promise_of
    from rxfloor.core.models import OrderView

    targets = targets or Targets()
    if as_json:  # 10,000 orders: a dict each, not a validated model each (same JSON)
        write_orders_json(service.store, status, sys.stdout, targets, service.clock())
        return
    with service.store.read() as conn:
        errors = queries.sync_errors_by_order(conn)
        rows = list(queries.listing(conn, status, targets))
    print(f"{'NAME':<12} {'STATUS':<11} {'PRIO':<7} {'HOLD':<5} {'VER':>4}  {'DUE':<17} ITEMS")
    for r in rows:
        v = OrderView.from_row(r, sync_error=errors.get(r["id"]))
        promised = promise_of(r, targets)
        due = promised.at.astimezone().strftime("%Y-%m-%d %H:%M") + ("*" if promised.target else "")
        hold = "yes" if v.hold else ""
        print(
            f"{visible(v.name):<12} {v.status:<11} {v.priority:<7} {hold:<5} {v.version:>4}  "
            f"{due:<17} {visible(v.items_summary[:60])}"
        )
    print(f"{len(rows)} orders")


def _batch(args: argparse.Namespace, ctx: Context) -> int:
    """Every pack of a batch scanned into an order, oldest first (a recall's list)."""
    from rxfloor.core.db import queries

    with ctx.store.read() as conn:
        rows = queries.batch_scans(conn, args.batch)
    if args.json:
        print(
            json_array(
                {
                    "order": r["name"],
                    "order_id": r["order_id"],
                    "status": r["status"],
                    "at": _utc(r["at"]),
                    "by": r["actor"],
                    "gtin": r["gtin"],
                    "batch": r["batch"],
                    "serial": r["serial"],
                    "expiry": r["expiry"],
                    "item": r["drug"],
                }
                for r in rows
            )
        )
        return ExitCode.OK
    for r in rows:
        at = r["at"].astimezone().strftime("%Y-%m-%d %H:%M")
        print(
            f"{at}  {visible(r['name']):<10} {r['status']:<10} {visible(r['actor']):<6} "
            f"{visible(r['drug'] or '-'):<24} GTIN {r['gtin'] or '-'}  "
            f"serial {visible(r['serial'] or '-')}  exp {r['expiry'] or '-'}"
        )
    print(f"{len(rows)} pack{'s' if len(rows) != 1 else ''} of batch {visible(args.batch)}")
    return ExitCode.OK


def _note(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.service.add_note(args.id, " ".join(args.text))
    print(shown(f"{view.name}: note added ({view.note_count} on the order)"))
    return ExitCode.OK


def _product(args: argparse.Namespace, ctx: Context) -> int:
    print(shown(ctx.service.scan_product(args.id, args.code).summary))
    return ExitCode.OK


def _history(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.models import AuditEvent

    if args.batch is not None:
        return _batch(args, ctx)
    if args.id is None:
        print("rxfloor: history needs an order id (or --batch BATCH)", file=sys.stderr)
        return ExitCode.USAGE
    service = ctx.service
    order = service.get(args.id)
    events = [AuditEvent.from_row(r) for r in service.store.history(order.id)]
    if args.json:  # ``source`` of an event is local / remote; the order's is ``order_source``
        whose = {"order_source": order.source, "remote_id": order.remote_id}
        print(json_array(e.model_dump(mode="json") | whose for e in events))
        return ExitCode.OK
    print(f"{visible(order.name)} ({visible(order.id)}) — now {order.status}")
    for e in events:  # every field from data shown with its controls visible: one line each
        move = f"{e.from_status or '-'} -> {e.to_status or '-'}"
        why = f"  «{visible(e.reason)}»" if e.reason else ""
        at = e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{at}  {visible(e.actor):<10} {visible(e.station):<14} {e.action:<8} {move:<26} "
            f"{e.source}{why}"
        )
    return ExitCode.OK

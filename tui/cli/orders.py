"""The order subcommands: ``seed``, ``orders``, the moves (start … hold) and ``history``.

Each prints one summary line (or JSON) and exits 0; a refusal or an unknown order
propagates to :func:`rxfloor.tui.cli.main.main`, which prints it as one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TextIO, cast

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.text import clip, shown, visible
from rxfloor.tui.cli.context import Context, Handler, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import ColumnElement, Dialect, Table

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
#: a string as ``json.dumps`` writes it (ASCII, escaped): the C encoder's own function
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii

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
    source's own time) and whether it is ``late`` at ``now``, as the board says it.

    Each line is ``json.dumps`` of ``OrderView.model_dump(mode="json")`` and the promise,
    byte for byte (``tests/integration/test_orders_json.py``), written from the row's
    values by position without a model, a dict or a datetime per order: 10,000 orders
    were ~30 µs each that way, most of the command's time."""
    from rxfloor.core.db import queries
    from rxfloor.core.db.schema import orders, utcnow
    from rxfloor.core.due import Targets

    targets = targets or Targets()
    now = now or utcnow()
    with store.read() as conn:
        errors = queries.sync_errors_by_order(conn)
        line = _order_line(_Stamps(conn.dialect), errors, targets, now)
        lines: list[str] = []
        start = "[\n"
        for row in queries.listing_values(conn, status, targets, _columns(orders)):
            lines.append(line(row))
            if len(lines) == _BATCH:
                out.write(start + ",\n".join(lines))
                start, lines = ",\n", []
        if lines:
            out.write(start + ",\n".join(lines))
        out.write("[]\n" if start == "[\n" and not lines else "\n]\n")


#: The columns :func:`_order_line` reads, in its order; timestamps as the driver gives them.
_COLUMNS = (
    "id", "source", "remote_id", "name", "status", "remote_status", "priority",
    "delivery_type", "patient_name", "items_summary", "due_at", "fulfill_at", "on_hold",
    "hold_reason", "hold_by", "hold_since", "sample", "version", "created_at", "updated_at",
    "status_since", "request_kind", "request_message", "tracking_company", "tracking_number",
    "tracking_url", "fill_step", "filled_by", "checked_by", "check_note", "note_count",
    "flags", "scan_progress", "will_call_bin", "patient_dob", "picked_up_at", "picked_up_by",
)  # fmt: skip


def _columns(orders: Table) -> list[ColumnElement[Any]]:
    """:data:`_COLUMNS` of ``orders``, a timestamp as its stored text (SQLite) or naive
    datetime (PostgreSQL): :class:`_Stamps` writes it, no aware datetime made first."""
    from sqlalchemy import String, type_coerce

    from rxfloor.core.db.schema import UTCDateTime

    return [
        type_coerce(c, String).label(name) if isinstance(c.type, UTCDateTime) else c
        for name in _COLUMNS
        for c in (orders.c[name],)
    ]


class _Stamps:
    """A stored timestamp as pydantic writes it (``"2026-11-23T09:30:00.250000Z"``, no
    fraction when it is zero) and as the store reads it (aware UTC)."""

    def __init__(self, dialect: Dialect) -> None:
        from rxfloor.core.db.schema import UTCDateTime

        aware = UTCDateTime().result_processor(dialect, None)
        assert aware is not None  # UTCDateTime always processes its values
        #: a stored timestamp (never None here) as the store reads it
        self.aware = cast("Callable[[Any], datetime]", aware)

    def json(self, value: Any) -> str:
        """The JSON string of ``value``; "null" for None."""
        if value is None:
            return "null"
        try:  # SQLite's text as SQLAlchemy stores it, 2026-11-23 09:30:00.250000: re-spelled
            if (
                len(value) == 26
                and value[10] == " "
                and value[19] == "."
                and (datetime.fromisoformat(value).tzinfo is None)
            ):
                if value.endswith(".000000"):
                    return f'"{value[:10]}T{value[11:19]}Z"'
                return f'"{value[:10]}T{value[11:]}Z"'
        except (TypeError, ValueError):  # a datetime (PostgreSQL), or text of another form
            pass
        return f'"{_utc(self.aware(value))}"'


def _order_line(
    stamps: _Stamps, errors: Mapping[str, str], targets: Targets, now: datetime
) -> Callable[[Sequence[Any]], str]:
    """One order's JSON from a row of :data:`_COLUMNS`: its ``OrderView`` and its promise."""
    from rxfloor.core.due import is_late, promise

    q, stamp, aware = _quote, stamps.json, stamps.aware

    def text(value: str | None) -> str:
        return "null" if value is None else q(value)

    def tracked(company: str | None, number: str | None, url: str | None) -> str:
        if not number:
            return "null"
        return (
            f'{{"company": {text(_stripped(company))}, "number": '
            f'{text(_stripped(number))}, "url": {text(_stripped(url))}}}'
        )

    def line(row: Sequence[Any]) -> str:
        (oid, source, remote_id, name, status, remote_status, priority, delivery, patient,
         items, due, fulfill, on_hold, hold_reason, hold_by, hold_since, sample, version,
         created, updated, status_since, request_kind, request_message, t_company, t_number,
         t_url, fill_step, filled_by, checked_by, check_note, note_count, flags, scan_progress,
         will_call_bin, dob, picked_up_at, picked_up_by) = row  # fmt: skip
        due_json = stamp(due)
        promised = promise(
            None if due is None else aware(due),
            aware(created),
            str(priority),
            str(delivery),
            targets,
        )
        promised_json = due_json if promised.target is None else f'"{_utc(promised.at)}"'
        late = "true" if is_late(promised.at, str(status), now) else "false"
        return (
            f'{{"id": {q(oid)}, "source": {q(source)}, "remote_id": {q(remote_id)}, '
            f'"name": {q(name)}, "status": {q(status)}, "remote_status": {text(remote_status)}, '
            f'"priority": {q(priority)}, "delivery_type": {q(delivery)}, '
            f'"patient_name": {q(patient)}, "items_summary": {q(items)}, '
            f'"due_at": {due_json}, "fulfill_at": {stamp(fulfill)}, '
            f'"hold": {"true" if on_hold else "false"}, "hold_reason": {text(hold_reason)}, '
            f'"hold_by": {text(hold_by)}, "hold_since": {stamp(hold_since)}, '
            f'"sample": {"true" if sample else "false"}, '
            f'"sync_error": {text(errors.get(oid))}, "version": {int(version)}, '
            f'"created_at": {stamp(created)}, "updated_at": {stamp(updated)}, '
            f'"status_since": {stamp(status_since)}, "request_kind": {text(request_kind)}, '
            f'"request_message": {text(request_message)}, '
            f'"tracking": {tracked(t_company, t_number, t_url)}, '
            f'"fill_step": {text(fill_step)}, "filled_by": {text(filled_by)}, '
            f'"checked_by": {text(checked_by)}, "check_note": {text(check_note)}, '
            f'"note_count": {int(note_count)}, "flags": {q(flags)}, '
            f'"scan_progress": {text(scan_progress)}, "will_call_bin": {text(will_call_bin)}, '
            f'"patient_dob": {text(dob)}, "picked_up_at": {stamp(picked_up_at)}, '
            f'"picked_up_by": {text(picked_up_by)}, "promised_at": {promised_json}, '
            f'"promised_by": {text(promised.target)}, "late": {late}}}'
        )

    return line


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

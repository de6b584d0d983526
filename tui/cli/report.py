"""``rxfloor report --day [DATE] [--csv|--json]``: the floor's day for the shift hand-over.

The same figures as the wall's flow chart and turnaround (:mod:`rxfloor.core.report`):
received and finished per hour, the turnaround received → FINISHED (p50 / p90 per source and
priority) and each person's moves. DATE is a day of the floor's local time zone (the
machine's, ``TZ``), ``YYYY-MM-DD``; without it, today.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.core.report import DayReport
    from rxfloor.tui.cli.context import Subcommands


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {raw!r}") from None


def add_parser(subcommands: Subcommands) -> None:
    p = add_command(
        subcommands,
        "report",
        handle,
        help="the day's flow, turnaround and each person's moves (shift hand-over)",
        description="Received and finished per hour, the turnaround received → FINISHED "
        "(p50 / p90, per source and priority) and each person's moves, for one day of the "
        "floor's local time zone, from the audit trail.",
    )
    p.add_argument(
        "--day",
        nargs="?",
        type=_day,
        const=None,
        default=None,
        metavar="DATE",
        help="YYYY-MM-DD in local time (default: today)",
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="one CSV table")
    form.add_argument("--json", action="store_true", help="one JSON object")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from rxfloor.core.report import day_report

    day: date = args.day or datetime.now().astimezone().date()
    with ctx.service.store.read() as conn:
        report = day_report(conn, day)
    if args.json:
        print(as_json(report))
    elif args.csv:
        print(as_csv(report), end="")
    else:
        print(as_text(report))
    return ExitCode.OK


def _hour(report: DayReport, i: int) -> str:
    return report.hours[i].start.astimezone().strftime("%H:%M")


def _minutes(value: float) -> str:
    """``45m``, ``2h05``: what a person reads at the hand-over."""
    total = round(value)
    return f"{total}m" if total < 60 else f"{total // 60}h{total % 60:02d}"


def as_json(report: DayReport) -> str:
    import dataclasses
    import json

    return json.dumps(
        {
            "day": report.day.isoformat(),
            "start": report.start.isoformat(),
            "end": report.end.isoformat(),
            "received": report.received,
            "finished": report.finished,
            "hours": [
                {"start": _hour(report, i), "received": h.received, "finished": h.finished}
                for i, h in enumerate(report.hours)
            ],
            "turnaround": [dataclasses.asdict(t) for t in report.turnaround],
            "people": report.people,
        },
        ensure_ascii=False,
    )


def as_csv(report: DayReport) -> str:
    import csv
    import io

    from rxfloor.core.report import PERSON_ACTIONS

    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    blank = [""] * len(PERSON_ACTIONS)
    table.writerow(
        ["section", "key", "received", "finished", "count", "p50_min", "p90_min", *PERSON_ACTIONS]
    )
    table.writerow(
        ["day", report.day.isoformat(), report.received, report.finished, "", "", "", *blank]
    )
    for i, h in enumerate(report.hours):
        table.writerow(["hour", _hour(report, i), h.received, h.finished, "", "", "", *blank])
    for t in report.turnaround:
        table.writerow(
            [
                "turnaround",
                f"{t.source}/{t.priority}",
                "",
                "",
                t.count,
                f"{t.p50_min:g}",
                f"{t.p90_min:g}",
                *blank,
            ]
        )
    for actor, counts in report.people.items():
        table.writerow(
            ["person", actor, "", "", "", "", "", *(counts.get(a, 0) for a in PERSON_ACTIONS)]
        )
    return out.getvalue()


def as_text(report: DayReport) -> str:
    from rxfloor.core.report import PERSON_ACTIONS
    from rxfloor.core.text import visible

    lines = [
        f"{report.day.isoformat()}: received {report.received} · finished {report.finished}",
        "",
        "hour    in  done",
    ]
    most = max((max(h.received, h.finished) for h in report.hours), default=0) or 1
    for i, h in enumerate(report.hours):
        if h.received or h.finished:  # bars: in above done, on one scale
            lines.append(
                f"{_hour(report, i)}  {h.received:>3}  {h.finished:>4}  "
                f"{'▮' * round(30 * h.received / most):<30} "
                f"{'▯' * round(30 * h.finished / most)}"
            )
    lines += ["", "turnaround (received → FINISHED)   n    p50    p90"]
    for t in report.turnaround:
        key = (
            "all"
            if (t.source, t.priority) == ("all", "all")
            else (t.source if t.priority == "all" else t.priority)
        )
        lines.append(
            f"  {visible(key):<32}{t.count:>3}  {_minutes(t.p50_min):>5}  {_minutes(t.p90_min):>5}"
        )
    if not report.turnaround:
        lines.append("  nothing finished")
    lines += ["", "who    " + "  ".join(f"{a:>6}" for a in PERSON_ACTIONS)]
    for actor, counts in report.people.items():
        lines.append(
            f"{visible(actor):<6} " + "  ".join(f"{counts.get(a, 0):>6}" for a in PERSON_ACTIONS)
        )
    if not report.people:
        lines.append("  no moves made on the floor")
    return "\n".join(lines)

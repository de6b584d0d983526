"""The wall's widgets: a number as large as its box, and the figure panels around it.

Every text that came from data (order names, initials, actors, stations, alert messages)
is shown with its control characters visible and never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from rxfloor.core.age import age
from rxfloor.core.db.queries import (
    ColumnFigures,
    FinishedSplit,
    ReturnToStock,
    TickerMove,
    Waiting,
)
from rxfloor.core.report import DayReport
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.model import marked, source_mark
from rxfloor.tui.watch import font

_MARK = {"stat": "!!", "waiter": "W "}
_SHORT = {"PROCESSING": "PROC"}


class BigNumber(Widget):
    """A count drawn as large as the widget's box allows (plain text when even the
    smallest glyphs do not fit). ``digits`` is the width it is sized for, so the glyphs
    keep their size while the count grows from 9 to 10 (or 99 to 100)."""

    value: reactive[int | None] = reactive(None, layout=False)  # None: not read yet

    def __init__(self, *, digits: int = 3, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.digits = digits

    def render(self) -> RenderResult:
        if self.value is None:
            return ""
        text = str(self.value)
        width, height = self.content_size
        scale = font.best_scale("8" * max(self.digits, len(text)), width, height)
        if not scale:  # fits no longer at this digit width: as large as the text itself allows
            scale = font.best_scale(text, width, height)
        if not scale:
            return Text(text, style="bold", no_wrap=True)
        return Text("\n".join(font.big(text, scale)), no_wrap=True)


def waited(item: Waiting, now: datetime) -> str:
    """How long an order has been in its status: ``7m``, ``2h05``, ``3d``."""
    return age(item.since, now)


def is_late(item: Waiting, now: datetime) -> bool:
    """Late as the board says it (:mod:`rxfloor.core.due`, decided with the figures)."""
    return item.late


class ColumnPanel(Vertical):
    """One column of the queue: a large count, the late count under it, the oldest order."""

    def __init__(self, status: str, *, side_label: str, id: str) -> None:
        super().__init__(id=id, classes="panel")
        self.status = status
        self.side_label = side_label
        self.border_title = status

    def compose(self) -> ComposeResult:
        yield BigNumber(digits=3, classes="count")
        with Horizontal(classes="side"):
            yield BigNumber(digits=3, classes="side-number")
            yield Static(self.side_label, classes="side-label", markup=False)
        yield Static("", classes="oldest", markup=False)

    def show(self, count: int, side: int, line: Text, *, side_alarm: bool) -> None:
        self.query_one(".count", BigNumber).value = count
        number = self.query_one(".side-number", BigNumber)
        number.value = side
        number.set_class(side_alarm, "-alarm")
        self.query_one(".side-label", Static).set_class(side_alarm, "-alarm")
        self.query_one(".oldest", Static).update(line)

    def show_column(self, figures: ColumnFigures, now: datetime) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        if figures.oldest is None:
            line.append("nothing waiting", style="italic")
        else:
            oldest = figures.oldest
            line.append("oldest ")
            line.append(waited(oldest, now), style="bold")
            line.append(f" {visible(oldest.name)} {visible(oldest.initials)}")
        if figures.on_hold:
            line.append(f" · {figures.on_hold} on hold")
        self.show(figures.count, figures.late, line, side_alarm=figures.late > 0)


class Banner(Static):
    """Open alerts, one a line, until someone acknowledges them at a terminal."""

    MAX_LINES = 4

    def __init__(self) -> None:
        super().__init__("", id="wall-alerts", markup=False)

    def show(self, alerts: Sequence[Mapping[Any, Any]], *, marks: bool = False) -> None:
        """``marks``: each order's name carries its source's mark (several sources)."""
        self.display = bool(alerts)
        lines = [f"⚠ ALERT {shown(_alert_words(a, marks))}" for a in alerts[: self.MAX_LINES]]
        if len(alerts) > self.MAX_LINES:
            lines.append(f"⚠ … and {len(alerts) - self.MAX_LINES} more open alerts")
        self.update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))


def urgent_text(items: Sequence[Waiting], now: datetime, *, marks: bool = False) -> Text:
    """The stat and waiter queue, most urgent first: name, initials, ``LATE`` or the due
    time, the status and how long it has been in it, then hold and bench flags. Initials
    only. ``marks``: the source's mark before each name, as on the board's cards, when
    several sources share the floor and two of them may both have a #1012."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not items:
        text.append("no stat or waiter orders", style="italic")
        return text
    for i, item in enumerate(items):
        if i:
            text.append("\n")
        late = is_late(item, now)
        text.append(_MARK.get(item.priority, "  "), style="bold")
        if marks:
            text.append(f" {source_mark(item.source)}", style="bold")
        text.append(f" {visible(item.name):<8} {visible(item.initials):<4}", style="bold")
        if late:  # what the floor acts on first, so it is never the part cut off
            text.append(" LATE    ", style="bold reverse")
        elif item.promised is not None:
            text.append(item.promised.astimezone().strftime("due %H:%M"))
        else:
            text.append(" " * 9)
        text.append(f" {_SHORT.get(item.status, item.status):<5}")
        text.append(f"{waited(item, now):>5}")
        if item.on_hold:
            text.append("  HOLD", style="bold")
        if "fridge" in item.flags:
            text.append("  FRIDGE", style="bold")
        if "controlled" in item.flags:
            text.append("  CTRL", style="bold reverse")
    return text


def finished_text(split: FinishedSplit, cancelled: int, width: int) -> Text:
    """The line under the FINISHED digits: today's finished orders by where they went,
    ``ready 4 · picked up 3 · shipped 12 · 1 cancelled`` (ready: pickup orders still
    waiting for their patient; shipped: ship and courier), as much of it as ``width``
    holds: the cancelled count goes first, then the picked-up one (ready and shipped
    always stay: 80 columns hold them)."""
    ready, picked, shipped = (
        f"ready {split.ready}",
        f"picked up {split.picked_up}",
        f"shipped {split.shipped}",
    )
    gone = f"{cancelled} cancelled"
    for parts in ([ready, picked, shipped, gone], [ready, picked, shipped], [ready, shipped]):
        words = " · ".join(parts)
        if len(words) <= width:
            break
    return Text(words, no_wrap=True, overflow="ellipsis")


def stock_title(back: ReturnToStock, room: int) -> str:
    """``BACK TO STOCK 3 · over 7d``: how many ready pickup orders waited too long (as much
    as its ``room`` holds: the days go first, each line says its own, then ``BACK``)."""
    for title in (f"BACK TO STOCK {back.count} · over {back.days}d", f"BACK TO STOCK {back.count}"):
        if len(title) <= room:
            return title
    return f"TO STOCK {back.count}"


def stock_text(back: ReturnToStock, *, marks: bool = False) -> Text:
    """Ready pickup orders waiting longer than ``[floor] will_call_days``, longest first:
    whole days waited (first: never the part cut off), name, initials, will-call bin
    (initials only, as everywhere on the wall); ``… and N more`` when the list was capped."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, item in enumerate(back.orders):
        if i:
            text.append("\n")
        text.append(f"{item.days:>2}d ", style="bold")
        if marks:
            text.append(f"{source_mark(item.source)} ", style="bold")
        text.append(f"{visible(item.name)} {visible(item.initials)}", style="bold")
        text.append(f" {visible(item.bin or '-')}")
    if back.count > len(back.orders):
        text.append(f"\n… and {back.count - len(back.orders)} more", style="italic")
    return text


def urgent_title(counts: Mapping[str, int]) -> str:
    return f"STAT {counts.get('stat', 0)} · WAITER {counts.get('waiter', 0)}"


def _alert_words(alert: Mapping[Any, Any], marks: bool) -> str:
    name, source = str(alert.get("order_name") or ""), str(alert.get("order_source") or "")
    return marked(str(alert["message"]), name, source, marks)


def _move_words(move: TickerMove) -> str:
    """``start``, ``finish``, ``cancel``, ``hold`` …; a remote change names where it went."""
    if move.action in ("remote", "undo") and move.to_status:
        return f"{move.action} → {move.to_status}"
    return move.action


def ticker_text(moves: Sequence[TickerMove], *, marks: bool = False) -> Text:
    """The last moves, newest first: when, which order, what, who (initials @ station, or
    the source that moved it: ``shopify``). ``marks``: the source's mark before the name."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not moves:
        text.append("no moves yet", style="italic")
        return text
    for i, move in enumerate(moves):
        if i:
            text.append("\n")
        who = move.order_source if move.source == "remote" else f"{move.actor}@{move.station}"
        text.append(move.at.astimezone().strftime("%H:%M:%S "))
        if marks:
            text.append(f"{source_mark(move.order_source)} ", style="bold")
        text.append(f"{visible(move.order_name):<8} ", style="bold")
        text.append(f"{_move_words(move):<8} ")
        text.append(visible(who), style="bold")
    return text


#: The flow chart starts at this local hour, or earlier when orders came earlier.
FIRST_HOUR = 7


def chart_hours(report: DayReport, now: datetime) -> range:
    """The hours the flow chart shows: from the first with news (or ``FIRST_HOUR``) to the
    current one."""
    starts = [h.start for h in report.hours]
    current = sum(1 for s in starts if s <= now) - 1
    if current < 0:
        return range(0)
    usual = next((i for i, s in enumerate(starts) if s.astimezone().hour >= FIRST_HOUR), 0)
    busy = next((i for i, h in enumerate(report.hours) if h.received or h.finished), usual)
    return range(min(usual, busy, current), current + 1)


class FlowChart(PlotextPlot):
    """The day's flow: orders received and finished per hour, side by side on one scale
    (what came in against what went out: a gap that grows is a queue that grows)."""

    def show(self, report: DayReport, now: datetime) -> None:
        hours = chart_hours(report, now)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not hours:
            self.refresh()
            return
        received = [report.hours[i].received for i in hours]
        finished = [report.hours[i].finished for i in hours]
        # no legend (it hides bars on a small screen): the border title names the colours
        plt.multiple_bar(
            [f"{report.hours[i].start.astimezone():%H}" for i in hours],
            [received, finished],
            color=list(COLOURS.values()),  # type: ignore[arg-type]  # documented: one per series
        )
        plt.frame(False)  # no box: on a small screen every row goes to the bars
        top = max([*received, *finished, 1])
        plt.yticks(sorted({top // 2, top} - {0}))  # whole orders, never "122.7"
        self.refresh()


#: the chart's series and their plotext colours (the border title says which is which)
COLOURS = {"in": "orange", "done": "green"}


def flow_title() -> Text:
    """``TODAY per hour: in · done``, each word in its bars' colour."""
    title = Text("TODAY per hour: ", style="bold")
    title.append("in", style="bold dark_orange")
    title.append(" · ")
    title.append("done", style="bold green")
    return title


def turnaround_text(report: DayReport) -> Text:
    """Received → FINISHED today: p50 / p90 for all, per source and per priority."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not report.turnaround:
        text.append("nothing finished yet today", style="italic")
        return text
    for i, t in enumerate(report.turnaround):
        key = (
            "all"
            if (t.source, t.priority) == ("all", "all")
            else (t.source if t.priority == "all" else t.priority)
        )
        if i:
            text.append("\n")
        text.append(f"{visible(key):<8}", style="bold" if key == "all" else "")
        text.append(f"{_minutes(t.p50_min):>6}", style="bold")
        text.append(f"{_minutes(t.p90_min):>6}")
        text.append(f"{t.count:>5}", style="dim")
    return text


def _minutes(value: float) -> str:
    total = round(value)
    return f"{total}m" if total < 60 else f"{total // 60}h{total % 60:02d}"

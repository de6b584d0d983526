"""How a card looks: its lines, its badges, the colour of its time in status.

The one room for a card's appearance: a new badge is one line in :func:`badges`. Pure
functions over a :class:`Card` and the styles the column hands in (no widget state).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from rxfloor.tui.board.model import Card

#: How close to its due time an order counts as "due soon".
DUE_SOON = timedelta(minutes=15)
_MARK = {"stat": "!!", "waiter": "W ", "normal": "  "}
_MARK_STYLE = {"stat": "column--stat", "waiter": "column--waiter"}
_DELIVERY = {"pickup": "pickup", "ship": "ship", "courier": "courier"}


def age(since: datetime, now: datetime) -> str:
    """Time in status, short: ``7m``, ``2h05``, ``3d``."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes // (24 * 60)}d"


def urgency(card: Card, now: datetime) -> str:
    """``overdue`` / ``soon`` / ``ontime`` against the due time (``done`` when closed)."""
    if card.status.is_terminal or card.due_at is None:
        return "done" if card.status.is_terminal else "ontime"
    if now >= card.due_at:
        return "overdue"
    return "soon" if card.due_at - now <= DUE_SOON else "ontime"


def badges(card: Card, now: datetime) -> list[tuple[str, str]]:
    """The flags after the name, as ``(text, component class)``."""
    found = []
    if card.on_hold:
        found.append((" HOLD", "column--badge"))
    if card.scheduled(now):
        found.append((" SCHED", "column--badge"))
    if card.sync_failed:
        found.append((" SYNC!", "column--error"))
    if card.pending:  # an optimistic move the database has not confirmed yet
        found.append((" …", "column--dim"))
    return found


def card_lines(
    card: Card,
    now: datetime,
    width: int,
    *,
    selected: bool,
    compact: bool,
    style: Callable[[str], Style],
    rule: Style,
) -> list[Strip]:
    """The card's strips (3 lines compact, 4 otherwise); ``style`` looks up a component
    class of the column, ``rule`` is the separator under an unselected card."""
    base = style("column--cursor" if selected else "column--card")
    dim = base + style("column--dim")
    mark_style = _MARK_STYLE.get(card.priority)
    mark = Segment(_MARK.get(card.priority, "  "), base + style(mark_style) if mark_style
                   else base)  # fmt: skip
    flags = [Segment(text, base + style(component)) for text, component in badges(card, now)]
    late = urgency(card, now)
    time_style = base + style("column--dim" if late == "done" else f"column--{late}")
    when = Segment(f" {age(card.status_since, now)} ", time_style)
    head = [mark, Segment(f" {card.name} ", base + Style(bold=True)),
            Segment(card.initials, base)]  # fmt: skip
    lines = [
        _fit([*head, *flags], [when], width, base),
        _fit([Segment("   " + card.items, dim)], [], width, base),
    ]
    if not compact:
        due = card.due_at.astimezone().strftime("due %H:%M") if card.due_at else ""
        delivery = _DELIVERY.get(card.delivery, card.delivery)
        lines.append(_fit([Segment(f"   {delivery}", dim)], [Segment(f"{due} ", dim)],
                          width, base))  # fmt: skip
    lines.append(Strip([Segment("─" * width, rule)], width)
                 if not selected else Strip.blank(width, base))  # fmt: skip
    return lines


def _fit(left: list[Segment], right: list[Segment], width: int, base: Style) -> Strip:
    """Left part cropped so the right part (time in status) always shows."""
    right_len = sum(len(s.text) for s in right)
    left_strip = Strip(left).crop(0, max(0, width - right_len))
    pad = width - left_strip.cell_length - right_len
    segments = [*left_strip, *([Segment(" " * pad, base)] if pad > 0 else []), *right]
    return Strip(segments).crop(0, width)

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

from rxfloor.core.age import age
from rxfloor.core.lifecycle import DeliveryType, Status
from rxfloor.tui.board.model import Card, mark_width, source_mark, source_traits

#: How close to its due time an order counts as "due soon".
DUE_SOON = timedelta(minutes=15)
_MARK = {"stat": "!!", "waiter": "W ", "normal": "  "}
_MARK_STYLE = {"stat": "column--stat", "waiter": "column--waiter"}
_DELIVERY = {"pickup": "pickup", "ship": "ship", "courier": "courier"}


def urgency(card: Card, now: datetime) -> str:
    """``overdue`` / ``soon`` / ``ontime`` against its due time or target (``done`` when
    closed)."""
    if card.status.is_terminal:
        return "done"
    if card.target is None:
        return "ontime"
    if now >= card.target:
        return "overdue"
    return "soon" if card.target - now <= DUE_SOON else "ontime"


def due_text(card: Card, now: datetime) -> str:
    """``late 42m`` past its due time (or target); ``due 10:15`` today, ``due Tue 05:23``
    on another day; empty when it has none or is closed."""
    if card.target is None or card.status.is_terminal:
        return ""
    if now >= card.target:
        return f"late {age(card.target, now)}"
    return f"due {when(card.target, now)}"


def short_due(text: str, room: int) -> str:
    """``text`` (``due Tue 05:23`` / ``late 3h28``) for a line with ``room`` cells after the
    order's name and initials (which are never cut): shorter forms, each whole, until one
    fits. ``due`` gives way first, then the time (the day never: a time alone would read as
    today's); ``late 3h28`` becomes ``late 3h``, then ``late`` (the word is the alarm)."""
    if text.startswith("late "):
        spent = text.removeprefix("late ")
        hours = spent.split("h")[0] + "h" if "h" in spent else spent
        forms = [text, f"late {hours}", "late"]
    else:
        forms = [text, text.removeprefix("due "), text.removeprefix("due ").split(" ")[0]]
    for form in forms:
        if len(form) + 2 <= room:
            return form
    return forms[-1] if text.startswith("late") else ""


def fit_items(items: str, room: int) -> str:
    """The item summary in ``room`` cells, never cut inside a number or a strength: whole
    items, then ``+2 more`` for those left out (``2x Cetirizine 10 mg tabs +1 more``). When
    not even the first item fits, its name is cut at a word before any number, with ``…``
    (``+2`` for the rest when narrow); when not even that fits, ``3 items`` (or ``…``)."""
    if len(items) <= room:
        return items
    parts = items.split(", ")
    for keep in range(len(parts) - 1, 0, -1):
        text = f"{', '.join(parts[:keep])} +{len(parts) - keep} more"
        if len(text) <= room:
            return text
    rest = len(parts) - 1
    for more in (f" +{rest} more", f" +{rest}") if rest else ("",):
        words = parts[0].split(" ")
        while words:
            text = " ".join(words)
            # a word with a digit at the end would read as another strength or quantity
            if len(text) + 1 + len(more) <= room and not any(c.isdigit() for c in words[-1]):
                return f"{text}…{more}"
            if len(words) == 1 and words[0].isalpha() and room - 1 - len(more) >= 3:
                return f"{words[0][: room - 1 - len(more)]}…{more}"  # a name, never a number
            words.pop()
    count = f"{len(parts)} item{'s' if rest else ''}"  # nothing cut: how many, not which
    return count if len(count) <= room else "…"


def fit_badges(found: list[tuple[str, str]], room: int) -> list[tuple[str, str]]:
    """The badges that fit in ``room`` cells, each whole; a hold's reason is shortened
    (with …) or left out before the ``HOLD`` itself is."""
    kept: list[tuple[str, str]] = []
    for text, component in found:
        if len(text) <= room:
            kept.append((text, component))
            room -= len(text)
            continue
        word, sep, reason = text.partition(": ")
        if sep and word.strip() == word.strip().split(":")[0] and "HOLD" in word:
            space = room - len(word) - len(sep) - 1
            if space >= 4:
                kept.append((f"{word}{sep}{reason[:space].rstrip()}…", component))
                room = 0
                continue
            if len(word) <= room:
                kept.append((word, component))
                room -= len(word)
                continue
        room = 0  # whatever follows a badge left out is left out too: the order stays
    return kept


def when(at: datetime, now: datetime) -> str:
    """A local time of day, with the weekday when it is not today."""
    local, today = at.astimezone(), now.astimezone()
    return local.strftime("%H:%M" if local.date() == today.date() else "%a %H:%M")


#: How much of a hold's reason the card shows (the detail and the release show it whole).
HOLD_REASON_CELLS = 24


def hold_badge(card: Card) -> str:
    """``HOLD: Patient calling back…`` (the reason cut to fit, with ``…``); at a source
    that does not hold orders for the pharmacy, whose hold it is: ``HOLD local`` (the
    pharmacist's, the source still counts on the order) or ``HOLD Shopify`` (the
    merchant's: released there, not here)."""
    known = source_traits(card.source)
    word = " HOLD"
    if known is not None and not known.remote_hold:
        word = f" HOLD {known.label}" if card.remote_hold else " HOLD local"
    reason = " ".join((card.hold_reason or "").split())
    if len(reason) > HOLD_REASON_CELLS:
        reason = reason[: HOLD_REASON_CELLS - 1].rstrip() + "…"
    return f"{word}: {reason}" if reason else word


def hold_line(card: Card, now: datetime) -> str:
    """``held by AB at 09:12: Patient calling back about dose`` (the reason whole)."""
    who = f" by {card.hold_by}" if card.hold_by else ""
    at = f" at {when(card.hold_since, now)}" if card.hold_since else ""
    return f"held{who}{at}: {card.hold_reason or 'no reason given'}"


def no_tracking(card: Card) -> bool:
    """A shipped order of a source that wants tracking, finished without a number."""
    known = source_traits(card.source)
    return (
        known is not None
        and known.tracking_on_finish
        and card.status is Status.FINISHED
        and card.delivery == DeliveryType.SHIP
        and not card.tracking
    )


def step_badge(card: Card) -> list[tuple[str, str]]:
    """Where a PROCESSING order is on a floor that checks: ``filling TJ`` (with why its
    check failed, when it did), ``filled TJ · check``, ``checked AB``."""
    if card.status is not Status.PROCESSING:
        return []
    if not card.fill_step:  # a floor that does not check: the packs scanned, if any
        return [(f" {card.scan_progress} scanned", "column--badge")] if card.scan_progress else []
    who = f" {card.filled_by}" if card.filled_by else ""
    if card.fill_step == "filled":
        return [(f" filled{who} · check", "column--badge")]
    if card.fill_step == "checked":
        return [(" checked", "column--badge")]
    found = [(f" filling{who}", "column--dim")]
    if card.scan_progress:
        found.append((f" {card.scan_progress} scanned", "column--badge"))
    if card.check_note:
        found.append((f" ✗ {card.check_note}", "column--error"))
    return found


def handoff_badge(card: Card, now: datetime) -> list[tuple[str, str]]:
    """A FINISHED pickup order: ``ready · B12 · 2d`` (its bin, how long it has waited) until
    it is handed off, then ``picked up 14:02 by AB``."""
    if card.status is not Status.FINISHED or card.delivery != DeliveryType.PICKUP:
        return []
    if card.picked_up_at is not None:
        by = f" by {card.picked_up_by}" if card.picked_up_by else ""
        return [(f" picked up {when(card.picked_up_at, now)}{by}", "column--dim")]
    parts = ["ready", card.will_call_bin or "", age(card.status_since, now)]
    return [(" " + " · ".join(p for p in parts if p), "column--badge")]


def item_flags(card: Card) -> list[tuple[str, str]]:
    """``FRIDGE`` and ``CTRL`` (a controlled substance): never left on the bench."""
    flags = set(card.flags.split(",")) if card.flags else set()
    found = []
    if "fridge" in flags:
        found.append((" FRIDGE", "column--badge"))
    if "controlled" in flags:
        found.append((" CTRL", "column--error"))
    return found


def badges(card: Card, now: datetime) -> list[tuple[str, str]]:
    """The flags after the name, as ``(text, component class)``."""
    found = [*item_flags(card)]
    if card.note_count:
        found.append((" ✎", "column--badge"))
    found.extend(step_badge(card))
    found.extend(handoff_badge(card, now))
    if card.cancel_requested:  # the merchant waits for an answer: nothing else moves it
        found.append((" CANCEL?", "column--error"))
    if card.on_hold:
        found.append((hold_badge(card), "column--badge"))
    if card.scheduled(now):
        found.append((" SCHED", "column--badge"))
    if card.sync_failed:
        found.append((" SYNC!", "column--error"))
    elif card.sync_retry is not None:  # refused once: sent again then (see the detail)
        found.append((f" refused · retry {when(card.sync_retry, now)}", "column--dim"))
    if no_tracking(card):
        found.append((" no tracking", "column--dim"))
    if card.remote_badge:  # e.g. a Konnektive return of a finished order
        found.append((f" {card.remote_badge}", "column--badge"))
    if card.pending:  # an optimistic move the database has not confirmed yet
        found.append((" …", "column--dim"))
    return found


def tint(card: Card, now: datetime, selected: bool) -> str:
    """The component class of the card's whole background: the cursor, late, stat, plain."""
    if selected:
        return "column--cursor"
    if urgency(card, now) == "overdue":
        return "column--late-card"
    return (
        "column--stat-card"
        if card.priority == "stat" and not card.status.is_terminal
        else "column--card"
    )


def card_lines(
    card: Card,
    now: datetime,
    width: int,
    *,
    selected: bool,
    compact: bool,
    style: Callable[[str], Style],
    rule: Style,
    marks: bool = False,
) -> list[Strip]:
    """The card's strips (3 lines compact, 4 otherwise); ``style`` looks up a component
    class of the column, ``rule`` is the separator under an unselected card; ``marks``
    puts the source mark after the priority (the board has orders of several sources).

    Line 1: priority mark, name, patient initials, badges … due / late. Line 2: items …
    time in status (neutral). Compact cards put the delivery before the items; full ones
    give it a line of its own. One background for the whole card (the cursor bar has no
    gaps): every other style adds its colour only."""
    base = style(tint(card, now, selected))

    def fg(name: str) -> Style:
        if selected:  # the cursor bar's own text colour: readable on it in every theme
            return base + Style(bold=style(name).bold)
        return base + _colour_only(style(name))

    mark_style = _MARK_STYLE.get(card.priority)
    mark = Segment(_MARK.get(card.priority, "  "), fg(mark_style) if mark_style else base)
    late = urgency(card, now)
    due = due_text(card, now)
    since = Segment(f" {age(card.status_since, now)} ", fg("column--dim"))
    head = [
        mark,
        *_source(card, fg("column--source"), marks),
        Segment(f" {card.name} ", base + Style(bold=True)),
        Segment(card.initials, base),
    ]
    # the order's name and the patient's initials are what a person reads first: the due
    # text gives way, never they
    room = width - sum(len(seg.text) for seg in head)
    if short_due(due, room) != due and "." in card.initials:
        # the initials' dots give way before the time does: ``AB`` is still whole
        head[-1] = Segment(card.initials.replace(".", ""), base)
        room = width - sum(len(seg.text) for seg in head)
    # the due text's right margin gives way before the time does (never for the word "due")
    roomy, tight = short_due(due, room), short_due(due, room + 1)
    due = tight if tight != roomy and not tight.startswith("due ") else roomy
    pad = " " if len(due) + 2 <= room else ""
    due_seg = [Segment(f" {due}{pad}", fg(f"column--{late}"))] if due else []
    # badges are whole or gone (a hold's reason shortens first, with …), never cut mid-word
    found = badges(card, now)
    fitted = fit_badges(found, room - sum(len(seg.text) for seg in due_seg))
    if found and not fitted and late != "overdue":  # a badge (HOLD) before a due time
        due_seg, fitted = [], fit_badges(found, room)
    flags = [Segment(text, fg(component)) for text, component in fitted]
    delivery = _DELIVERY.get(card.delivery, card.delivery)
    lead = f"   {delivery} · " if compact else "   "
    # the time in status keeps its own space; the items give way by whole items. Before
    # they are only ``…``, the time's right margin gives way, then the `` · `` after the
    # delivery (``pickup 2 items 3h15``)
    since_tight = Segment(since.text.rstrip(" "), since.style)
    tries = [(lead, since), (lead, since_tight)]
    if compact:
        tries += [(f"   {delivery} ", since), (f"   {delivery} ", since_tight)]
    for lead, since in tries:
        item_text = fit_items(card.items, width - len(lead) - len(since.text))
        if item_text != "…":
            break
    else:  # nothing readable fits: the line as it was, with its ``…``
        (lead, since), item_text = tries[0], "…"
    items = lead + item_text
    lines = [
        _fit([*head, *flags], due_seg, width, base),
        _fit([Segment(items, fg("column--item"))], [since], width, base),
    ]
    if not compact:
        lines.append(_fit([Segment(f"   {delivery}", fg("column--dim"))], [], width, base))
    lines.append(
        Strip([Segment("─" * width, rule)], width) if not selected else Strip.blank(width, base)
    )
    return lines


def _colour_only(style: Style) -> Style:
    """A component's colour and weight without its background (which would cut a hole
    in the card's own)."""
    return Style(color=style.color, bold=style.bold, italic=style.italic, reverse=style.reverse)


def _source(card: Card, style: Style, marks: bool) -> list[Segment]:
    """`` S`` (the source mark, padded to the widest one) when the board shows marks."""
    return [Segment(" " + source_mark(card.source).ljust(mark_width()), style)] if marks else []


def _fit(left: list[Segment], right: list[Segment], width: int, base: Style) -> Strip:
    """Left part cropped so the right part (due / late, time in status) always shows."""
    right_len = sum(len(s.text) for s in right)
    left_strip = Strip(left).crop(0, max(0, width - right_len))
    pad = width - left_strip.cell_length - right_len
    segments = [*left_strip, *([Segment(" " * pad, base)] if pad > 0 else []), *right]
    return Strip(segments).crop(0, width)

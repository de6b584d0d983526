"""One order in full: source, patient, items, hold, the merchant's request, tracking, sync
errors and the timeline of audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from rxfloor.core.age import age
from rxfloor.core.due import Targets, is_late, promise_of
from rxfloor.core.lifecycle import DeliveryType, Status
from rxfloor.core.models import OrderView
from rxfloor.core.sources import status_words
from rxfloor.core.text import shown, visible
from rxfloor.tui.board.model import source_label, source_traits


class DetailScreen(ModalScreen[None]):
    """Everything about one order: items, patient, delivery, hold, sync errors, timeline."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", show=True),
        Binding("enter", "app.pop_screen", "Back", show=False),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, title: str, body: str, goto_keys: str = "g") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        # Enter then g typed fast: Go to replaces the detail (never stacks on it)
        self._bindings.bind(goto_keys, "goto", "Go to", show=True)

    def action_goto(self) -> None:
        self.dismiss()
        self.app.call_later(self.app.run_action, "goto", self.app.screen_stack[0])

    def on_mount(self) -> None:
        self.query_one("#scroll").focus()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll(id="scroll"):
                yield Static(self.body, id="detail-body", markup=False)
        yield Footer()


def local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M")


def source_line(order: OrderView) -> str:
    """``Shopify · IN_PROGRESS · request ACCEPTED   gid://shopify/FulfillmentOrder/7``: the
    source, its own words for where the order stands there, and its id for the order."""
    known = source_traits(order.source)
    words = status_words(order.source, order.remote_status) if known else order.remote_status
    said = f" · {visible(words)}" if words else ""
    return f"{source_label(order.source)}{said}   {visible(order.remote_id)}"


def tracking_line(order: OrderView) -> str:
    """What a finish sent as tracking; ``none`` for a shipped order of a source that wants
    tracking finished without it; empty where tracking means nothing."""
    if order.tracking is not None:
        parts = [order.tracking.company, order.tracking.number, order.tracking.url]
        return "  ".join(visible(p) for p in parts if p)
    known = source_traits(order.source)
    wants = known is not None and known.tracking_on_finish
    if wants and order.status is Status.FINISHED and order.delivery_type is DeliveryType.SHIP:
        return "none (finished without a tracking number)"
    return ""


def check_line(order: OrderView) -> str:
    """Where the order is in the check before finish ([floor] check); empty before it."""
    if not order.fill_step:
        return ""
    who = visible(order.filled_by or "?")
    if order.fill_step == "filled":
        return f"filled by {who} · awaiting check"
    if order.fill_step == "checked":
        return f"filled by {who} · checked by {visible(order.checked_by or '?')}"
    failed = f" · last check failed: {visible(order.check_note)}" if order.check_note else ""
    return f"filling {who}{failed}"


def due_line(order: OrderView, targets: Targets, now: datetime) -> str:
    """``promised 10:30 (target: stat 1h) · late 3h27``: the board's own words for when the
    order is due (:mod:`rxfloor.core.due`), and where the time comes from."""
    promised = promise_of(order.model_dump(), targets)
    state = ""
    if is_late(promised.at, order.status, now):
        state = f" · late {age(promised.at, now)}"
    elif not order.status.is_terminal:
        state = f" · in {age(now, promised.at)}"
    return f"promised {local(promised.at)} {promised.words}{state}"


def status_line(order: OrderView, history: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """``PROCESSING since 2026-11-23 09:12 (AB, 18m)``: the time in status the card shows, and
    who moved it there by the timeline's event; when the event was recorded at another time
    (an order that arrived with its source's own time), both are said, never one silently."""
    since, who, recorded = order.status_since, "", ""
    for ev in reversed(history):
        if ev["to_status"] == order.status and ev["from_status"] != ev["to_status"]:
            who = f"{visible(ev['actor'])}, "
            if abs((ev["at"] - since).total_seconds()) >= 60:
                recorded = f" · recorded here {local(ev['at'])}"
            break
    return f"{order.status} since {local(since)} ({who}{age(since, now)}){recorded}"


def detail_text(
    order: OrderView,
    items: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    errors: Sequence[str],
    *,
    now: datetime,
    targets: Targets,
) -> tuple[str, str]:
    """The detail view's title and body at ``now``. Every value from data has its controls
    made visible, never acted on by the terminal."""
    v = visible
    lines = [
        f"Source      {source_line(order)}",
        f"Patient     {v(order.patient_name)}",
        f"Status      {status_line(order, history, now)}",
        f"            priority {order.priority}   delivery {order.delivery_type}",
        f"Due         {due_line(order, targets, now)}"
        + (f"   scheduled for {local(order.fulfill_at)}" if order.fulfill_at else ""),
    ]
    if order.hold:
        lines.append(f"On hold     {v(order.hold_reason or '')} (by {v(order.hold_by or '')})")
    if order.request_kind:
        said = f": «{v(order.request_message)}»" if order.request_message else ""
        lines.append(f"Request     the merchant asks for a {v(order.request_kind)}{said}")
    check = check_line(order)
    if check:
        lines.append(f"Check       {check}")
    if order.flags:
        lines.append(f"Flags       {v(order.flags.replace(',', ', '))}")
    tracking = tracking_line(order)
    if tracking:
        lines.append(f"Tracking    {tracking}")
    for err in errors:
        lines.append(f"Sync error  {shown(err)}")
    lines += ["", "Items"]
    for it in items:
        lines.append(
            f"  {it['quantity']}x {v(it['drug'])} {v(it['strength'])}   PZN {v(it['pzn'] or '-')}"
        )
    notes = [ev for ev in history if ev["action"] == "note"]
    if notes:
        lines += ["", "Notes"]
        lines += [
            f"  {local(ev['at'])}  {v(ev['actor']):<8} {v(ev['reason'] or '')}" for ev in notes
        ]
    lines += ["", "Timeline"]
    for ev in history:
        move = f"{ev['from_status'] or '-'} → {ev['to_status'] or '-'}"
        why = f"  «{v(ev['reason'])}»" if ev["reason"] else ""
        lines.append(
            f"  {local(ev['at'])}  {v(ev['actor']):<8} {v(ev['station']):<12} "
            f"{ev['action']:<11} {move:<24} {ev['source']}{why}"
        )
    return f"{v(order.name)}  ({v(order.id)})", "\n".join(lines)

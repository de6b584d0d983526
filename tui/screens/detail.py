"""One order in full: patient, items, hold, sync errors and the timeline of audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from rxfloor.core.models import OrderView
from rxfloor.core.text import shown, visible


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


def detail_text(
    order: OrderView,
    items: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    errors: Sequence[str],
) -> tuple[str, str]:
    """The detail view's title and body. Every value from data has its controls made
    visible, never acted on by the terminal."""
    v = visible
    lines = [
        f"Patient     {v(order.patient_name)}",
        f"Status      {order.status}   priority {order.priority}   delivery {order.delivery_type}",
        f"Due         {local(order.due_at) if order.due_at else '-'}"
        + (f"   scheduled for {local(order.fulfill_at)}" if order.fulfill_at else ""),
    ]
    if order.hold:
        lines.append(f"On hold     {v(order.hold_reason or '')} (by {v(order.hold_by or '')})")
    for err in errors:
        lines.append(f"Sync error  {shown(err)}")
    lines += ["", "Items"]
    for it in items:
        lines.append(
            f"  {it['quantity']}x {v(it['drug'])} {v(it['strength'])}   PZN {v(it['pzn'] or '-')}"
        )
    lines += ["", "Timeline"]
    for ev in history:
        move = f"{ev['from_status'] or '-'} → {ev['to_status'] or '-'}"
        why = f"  «{v(ev['reason'])}»" if ev["reason"] else ""
        lines.append(
            f"  {local(ev['at'])}  {v(ev['actor']):<8} {v(ev['station']):<12} "
            f"{ev['action']:<11} {move:<24} {ev['source']}{why}"
        )
    return f"{v(order.name)}  ({v(order.id)})", "\n".join(lines)

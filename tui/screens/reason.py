"""Pick or type a reason (cancel, hold, rejecting a cancellation request). Esc backs out and
writes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, OptionList

from rxfloor.core.text import visible

CANCEL_REASONS = (
    "Patient cancelled",
    "Prescription invalid or expired",
    "Duplicate order",
    "Out of stock, no substitute",
    "Prescriber withdrew the prescription",
)
#: why a check of a filled order failed (it goes back to filling, the reason on the card)
CHECK_REASONS = (
    "Wrong product",
    "Wrong strength",
    "Wrong quantity",
    "Label wrong or unreadable",
    "Damaged or expired stock",
)
REJECT_CANCEL_REASONS = (
    "Already dispensed",
    "Already packed for shipping",
    "Already handed to the carrier",
)
#: what was done about an item of the exceptions queue (the note of a resolve)
RESOLVE_NOTES = (
    "Fixed at the source by hand",
    "Settled with the merchant",
    "Not needed any more",
)
HOLD_REASONS = (
    "Awaiting prescriber callback",
    "Insurance pre-authorisation pending",
    "Out of stock - reorder placed",
    "Interaction check with GP",
)


class _Reasons(OptionList):
    """The reasons: Enter before one is chosen says how to choose (a key never does
    nothing)."""

    def action_select(self) -> None:
        if self.highlighted is None:
            self.screen.query_one("#error", Label).update(
                "Pick a reason with ↓ ↑ first (or Tab and type one)."
            )
            return
        super().action_select()


class ReasonScreen(ModalScreen[str | None]):
    """Pick a reason or type one; returns the reason, or None when Esc aborts."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(
        self, title: str, choices: Sequence[str], *, subject: str = "", note: str = ""
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.subject = subject  # the order it acts on: name, patient initials, items
        self.choices = list(choices)
        self.note = note  # a line under the title, e.g. that the hold stays local

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.subject:
                yield Label(self.subject, id="subject", markup=False)
            if self.note:
                yield Label(self.note, classes="dialog-hint", markup=False)
            yield Label("↓ ↑ pick a reason and Enter, or Tab and type one", classes="dialog-hint")
            yield _Reasons(*self.choices, id="reasons")
            yield Input(placeholder="or type a reason, then Enter", id="reason")
            yield Label("", id="error", classes="dialog-error")
        yield Footer()

    def on_mount(self) -> None:
        reasons = self.query_one(OptionList)
        reasons.focus()
        reasons.highlighted = None  # nothing chosen until the pharmacist chooses

    @on(OptionList.OptionSelected, "#reasons")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])

    @on(Input.Submitted, "#reason")
    def _typed(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.query_one("#error", Label).update("A reason is required (or Esc to go back).")
            return
        if len(reason) > 500:
            self.query_one("#error", Label).update("Keep the reason under 500 characters.")
            return
        self.dismiss(reason)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def reject_cancel_screen(
    name: str, *, subject: str = "", source: str = "", message: str | None = None
) -> ReasonScreen:
    """Why the floor keeps an order the merchant asked to cancel (the board and the
    exceptions queue ask it in the same words), with what the cancel dialog shows: the order
    (name, patient initials, items), and the source and the merchant's own words."""
    title = f"Keep {name}: why reject the merchant's cancellation request?"
    said = f"the merchant says: {visible(message)}" if message else "the merchant gave no message"
    note = f"{source} · {said}" if source else said
    return ReasonScreen(title, REJECT_CANCEL_REASONS, subject=subject, note=note)

"""Modal screens: reason (cancel / hold), go-to, detail and help. Esc always backs out."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static

CANCEL_REASONS = (
    "Patient cancelled",
    "Prescription invalid or expired",
    "Duplicate order",
    "Out of stock, no substitute",
    "Prescriber withdrew the prescription",
)
HOLD_REASONS = (
    "Awaiting prescriber callback",
    "Insurance pre-authorisation pending",
    "Out of stock - reorder placed",
    "Interaction check with GP",
)


class ReasonScreen(ModalScreen[str | None]):
    """Pick a reason or type one; returns the reason, or None when Esc aborts."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, title: str, choices: Sequence[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(*self.choices, id="reasons")
            yield Input(placeholder="or type a reason, then Enter", id="reason")
            yield Label("", id="error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

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


class GotoScreen(ModalScreen[str | None]):
    """A scanner types the id and Enter; a person can type it too."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                "Go to order: scan the barcode or type its id / name", classes="dialog-title"
            )
            yield Input(placeholder="#1001 or po-…", id="ref")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#ref")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DetailScreen(ModalScreen[None]):
    """Everything about one order: items, patient, delivery, hold, sync errors, timeline."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", show=True),
        Binding("enter", "app.pop_screen", "Back", show=False),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def on_mount(self) -> None:
        self.query_one("#scroll").focus()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll(id="scroll"):
                yield Static(self.body, id="detail-body", markup=False)


class HelpScreen(ModalScreen[None]):
    """Every key of the board, as this user has bound them."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", show=True),
        Binding("question_mark", "app.pop_screen", "Back", show=False),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, rows: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def on_mount(self) -> None:
        self.query_one("#scroll").focus()

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in self.rows) if self.rows else 4
        text = "\n".join(f"{k:>{width}}  {d}" for k, d in self.rows)
        with Vertical(classes="dialog"):
            yield Label(
                "Keys (rebind them in the config file, \\[keys] table)", classes="dialog-title"
            )
            with VerticalScroll(id="scroll"):
                yield Static(text, id="help-body", markup=False)

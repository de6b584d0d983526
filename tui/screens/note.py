"""A note on the order: free text for the floor (audited, never sent to a source)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label


class NoteScreen(ModalScreen[str | None]):
    """Type a note and Enter; Esc goes back with nothing written."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, title: str, subject: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.subject:
                yield Label(self.subject, id="subject", markup=False)
            yield Label("for the floor only: never sent to the source", classes="dialog-hint")
            yield Input(placeholder="the note, then Enter", id="note", max_length=500)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#note")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

"""Every key of the board, as this user has bound them (rows from the action table)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static


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
        yield Footer()

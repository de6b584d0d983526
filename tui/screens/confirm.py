"""A yes/no question: ``y`` says yes; ``n`` or Esc says no. Enter answers nothing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a step that is easy to take by a press too many (undo further back)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", show=True),
        Binding("n", "answer(False)", "No", show=True),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, hint: str) -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            yield Label(self.hint, markup=False)
        yield Footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class QuitScreen(ConfirmScreen):
    """Quitting would stop the sync (and the moves it has not sent yet): ``q`` again (the
    quit keys as this user bound them) or ``y`` quits, ``n`` or Esc stays."""

    def __init__(self, question: str, hint: str, quit_keys: str = "q") -> None:
        super().__init__(question, hint)
        self._bindings.bind(quit_keys, "answer(True)", "Quit", show=False)

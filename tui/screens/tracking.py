"""The finish step of a shipped order whose source wants a tracking number (Shopify).

A barcode scanner types the number and Enter; a person can type it too. Enter with
nothing skips (the order is finished without tracking, and its card says so); Esc aborts
the finish and writes nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label

#: The longest tracking number taken (the column holds 128 characters).
MAX_TRACKING = 128


class TrackingScreen(ModalScreen[str | None]):
    """Returns the tracking number, ``""`` to finish without one, or None when Esc aborts."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]
    #: a scanner types the tracking number here: its burst is text, not an order's code
    TYPES_SCANS: ClassVar[bool] = True

    def __init__(self, title: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder="scan or type the tracking number, then Enter",
                        id="tracking", max_length=MAX_TRACKING)  # fmt: skip
            yield Label("Enter with nothing finishes without tracking · Esc goes back",
                        classes="dialog-hint")  # fmt: skip
            yield Label("", id="error", classes="dialog-error")
        yield Footer()  # its own keys, not the board's underneath

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#tracking")
    def _submitted(self, event: Input.Submitted) -> None:
        number = event.value.strip()  # a scanner's trailing CR / tab
        if any(not ch.isprintable() for ch in number):
            self.query_one("#error", Label).update(
                "A tracking number has no control characters: scan it again."
            )
            return
        self.dismiss(number)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

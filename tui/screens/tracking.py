"""The finish step of a shipped order whose source wants a tracking number (Shopify).

A barcode scanner types the number and Enter; a person can type it too. The number is
checked (:mod:`rxfloor.core.tracking`): an order's own code is refused, a carrier's format
checked where known, a number of no known format taken on a second Enter. Enter with
nothing skips (the order is finished without tracking, and its card says so); Esc aborts
the finish and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label

from rxfloor.core.text import visible
from rxfloor.core.tracking import TrackingCheck, Verdict

#: The longest tracking number taken (the column holds 128 characters).
MAX_TRACKING = 128


class TrackingScreen(ModalScreen[str | None]):
    """Returns the tracking number, ``""`` to finish without one, or None when Esc aborts.

    Each number is checked (``check``, the service's, in a thread: it reads the database):
    an order's own code, or a broken carrier format, is refused; a number of no known
    format is taken when Enter confirms it once more."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    class Checked(Message):
        """The check of a submitted number, back from its thread."""

        def __init__(self, number: str, result: TrackingCheck) -> None:
            super().__init__()
            self.number = number
            self.result = result

    def __init__(self, title: str, check: Callable[[str], TrackingCheck]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.check = check
        self._confirming: str | None = None  # an unknown format, shown once: Enter takes it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(
                placeholder="scan or type the tracking number, then Enter",
                id="tracking",
                max_length=MAX_TRACKING,
            )
            yield Label(
                "Enter with nothing finishes without tracking · Esc goes back",
                classes="dialog-hint",
            )
            yield Label("", id="error", classes="dialog-error", markup=False)
        yield Footer()  # its own keys, not the board's underneath

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _say(self, text: str) -> None:
        self.query_one("#error", Label).update(visible(text))

    @on(Input.Submitted, "#tracking")
    def _submitted(self, event: Input.Submitted) -> None:
        number = event.value.strip()  # a scanner's trailing CR / tab
        if any(not ch.isprintable() for ch in number):
            self._say("A tracking number has no control characters: scan it again.")
            return
        if not number:
            self.dismiss("")
            return
        if number == self._confirming:
            self.dismiss(number)
            return
        self._check(number)

    @work(thread=True, exclusive=True, group="tracking")
    def _check(self, number: str) -> None:
        try:
            result = self.check(number)
        except Exception as exc:  # the database away: say so, the person may go back
            result = TrackingCheck(Verdict.REFUSED, None, f"could not check it: {exc}")
        self.post_message(self.Checked(number, result))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        box = self.query_one(Input)
        if box.value.strip() != message.number:
            return  # typed on meanwhile: that one is checked when submitted
        result = message.result
        if result.verdict is Verdict.OK:
            self.dismiss(message.number)
        elif result.verdict is Verdict.UNKNOWN:
            self._confirming = message.number
            self._say(f"{result.message}: Enter again sends it, or scan another")
        else:
            self._confirming = None
            box.value = ""
            self._say(result.message)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

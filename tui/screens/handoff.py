"""The will-call bin of a finished pickup order, and the hand-off at the counter: the person
at the keys confirms the patient of a ready pickup order before it is picked up.

Where the source gave the patient's date of birth the patient says it and it is typed
(``1961-04-23``, or ``23.04.1961`` / ``04/23/1961`` as the floor writes it); where it did
not, ``id`` says their identity was checked. Esc goes back and writes nothing; the service
decides (a date that does not match is refused there, loudly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ID_WORDS = frozenset({"id", "id checked", "identity checked", "ok"})


@dataclass(frozen=True, slots=True)
class Confirmation:
    """How the patient was confirmed: a date of birth, or a tick that identity was checked."""

    dob: date | None = None
    id_checked: bool = False


def read_confirmation(text: str) -> Confirmation | None:
    """What the counter typed, or None when it reads as neither a date nor ``id``."""
    text = text.strip().lower()
    if text in _ID_WORDS:
        return Confirmation(id_checked=True)
    try:
        if m := _DMY.fullmatch(text):
            return Confirmation(date(int(m[3]), int(m[2]), int(m[1])))
        if m := _MDY.fullmatch(text):
            return Confirmation(date(int(m[3]), int(m[1]), int(m[2])))
        return Confirmation(date.fromisoformat(text))
    except ValueError:
        return None


class HandoffScreen(ModalScreen[Confirmation | None]):
    """Returns how the patient was confirmed, or None when Esc goes back."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, title: str, *, dob_on_file: bool) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.dob_on_file = dob_on_file

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.dob_on_file:
                hint = "Ask their date of birth: type it (1961-04-23), Enter"
                placeholder = "date of birth"
            else:
                hint = "No date of birth on file: check their ID, type id, Enter"
                placeholder = "id"
            yield Input(placeholder=placeholder, id="confirm", max_length=24)
            yield Label(f"{hint} · Esc goes back", classes="dialog-hint")
            yield Label("", id="error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#confirm")
    def _submitted(self, event: Input.Submitted) -> None:
        confirmation = read_confirmation(event.value)
        if confirmation is None:
            words = "a date of birth (1961-04-23)" if self.dob_on_file else "id"
            self.query_one("#error", Label).update(f"Type {words}, then Enter.")
            return
        self.dismiss(confirmation)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class BinScreen(ModalScreen[str | None]):
    """The finish of a pickup order on a floor with will-call bins: returns the bin's label
    (scanned, ``bin B12``, or typed, ``B12``), ``""`` to finish without one, None when Esc
    aborts the finish. The service checks the label."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, title: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Input(
                placeholder="scan the bin's label or type it (B12), then Enter",
                id="bin",
                max_length=24,
            )
            yield Label(
                "Enter with nothing finishes without a bin · Esc goes back", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#bin")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

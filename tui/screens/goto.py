"""Go to an order: a scanner types its id and Enter, a person can type it too."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label


class GotoScreen(ModalScreen[str | None]):
    """A scanner types the id and Enter; a person can type it too."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                "Go to order: scan the barcode or type its id / name", classes="dialog-title"
            )
            yield Input(placeholder="#1001 or po-…", id="ref")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#ref")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PharmacistScreen(ModalScreen[str | None]):
    """Who is at the keys: initials typed, or a badge scanned (its prefix is dropped)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, badge_prefix: str) -> None:
        super().__init__()
        self.badge_prefix = badge_prefix

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                "Who is at the keys? Type your initials or scan your badge", classes="dialog-title"
            )
            yield Input(placeholder="initials, e.g. AB", id="who", max_length=64)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#who")
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        prefix = self.badge_prefix
        if prefix and name.lower().startswith(prefix.lower()):
            name = name[len(prefix) :]
        self.dismiss(name.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PinScreen(ModalScreen[str | None]):
    """A person's PIN, after their badge (the digits are never shown)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.person = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"{self.person}: your PIN, then Enter", classes="dialog-title")
            yield Input(placeholder="PIN", id="pin", password=True, max_length=12)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#pin")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

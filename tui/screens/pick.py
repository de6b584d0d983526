"""Pick one of several orders a scan or go-to fits (the same name in two sources).

A scanner cannot type ``SOURCE:ID``: the candidates are listed (source, name, patient
initials, column); ↓ ↑ and Enter go to the one picked, Esc goes back. Their words come from
outside: shown with controls visible, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from rxfloor.core.text import visible

#: (order id, source label, name, patient initials, status)
Choice = tuple[str, str, str, str, str]


class PickOrderScreen(ModalScreen[str | None]):
    """Returns the id of the order picked, or None (Esc)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", show=True)]

    def __init__(self, title: str, choices: Sequence[Choice]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.choices = list(choices)

    def lines(self) -> list[str]:
        """One line per order, columns aligned: ``Shopify  #1001  NS  OPEN``."""
        cells = [[visible(c) for c in choice[1:]] for choice in self.choices]
        widths = [max(len(row[i]) for row in cells) for i in range(4)] if cells else []
        return [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(visible(self.title_text), classes="dialog-title", markup=False)
            yield Label("↓ ↑ pick the order and Enter · Esc goes back", classes="dialog-hint")
            yield OptionList(
                *(Option(Content(line), id=str(i)) for i, line in enumerate(self.lines())),
                id="orders",
            )
        yield Footer()

    def on_mount(self) -> None:
        orders = self.query_one(OptionList)
        orders.focus()
        orders.highlighted = 0

    @on(OptionList.OptionSelected, "#orders")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

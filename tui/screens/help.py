"""Every key of the board, as this user has bound them (rows from the action table), and a
legend of what the cards show (priority, source marks, badges, colours)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static


def help_table(rows: Sequence[tuple[str, str]]) -> Table:
    """Two columns, the key right-aligned: a description that wraps keeps its indent (a
    joined string wrapped to the left edge, under the keys)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", no_wrap=True, style="bold")
    table.add_column(overflow="fold")
    for key, words in rows:
        table.add_row(Text(key), Text(words))  # Text: never markup
    return table


class HelpScreen(ModalScreen[None]):
    """Every key of the board, as this user has bound them, then the legend."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", show=True),
        Binding("question_mark", "app.pop_screen", "Back", show=False),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(
        self, rows: Sequence[tuple[str, str]], legend: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__()
        self.rows = rows
        self.legend = legend

    def on_mount(self) -> None:
        self.query_one("#scroll").focus()

    @property
    def plain(self) -> str:
        """The keys and the legend as plain lines (what a test or a reader searches)."""
        return "\n".join(f"{k}  {d}" for k, d in [*self.rows, *self.legend])

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                "Keys (rebind them in the config file, \\[keys] table)", classes="dialog-title"
            )
            with VerticalScroll(id="scroll"):
                yield Static(help_table(self.rows), id="help-body")
                if self.legend:
                    yield Label("What the cards show", classes="dialog-title")
                    yield Static(help_table(self.legend), id="help-legend")
        yield Footer()

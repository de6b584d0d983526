"""The board's notice line: the last sentence for the pharmacist, on a row of its own.

Toasts float over the cards (at 80x24 one hides three of them, and the pharmacist cannot
see what the sentence is about); this line sits between the columns and the footer and
covers nothing. A sentence stays until the next one; after a few seconds it dims, so a
glance tells a fresh error from an old one.
"""

from __future__ import annotations

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from rxfloor.core.text import shown

#: Seconds a sentence stays bright, by severity.
FRESH_S = {"information": 4.0, "warning": 8.0, "error": 8.0}


class NoticeLine(Static):
    """One line, never markup: its words may quote data or a remote."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""
        self.severity = "information"
        self._dim: Timer | None = None

    def say(self, message: str, severity: str = "information") -> None:
        """Show ``message`` (scrubbed, controls visible) bright, then dim it."""
        self.text = shown(message)
        self.severity = severity if severity in FRESH_S else "information"
        self.update(Content(self.text))
        self.set_class(True, "-fresh")
        for name in FRESH_S:
            self.set_class(name == self.severity, f"-{name}")
        if self._dim is not None:
            self._dim.stop()
        self._dim = self.set_timer(FRESH_S[self.severity], self._fade)

    def _fade(self) -> None:
        self.set_class(False, "-fresh")

"""The board's notice line: the last sentence for the pharmacist, on a row of its own.

Toasts float over the cards (at 80x24 one hides three of them, and the pharmacist cannot
see what the sentence is about); this line sits between the columns and the footer and
covers nothing. A sentence stays until the next one, a minute at most; after a few seconds it
dims, so a glance tells a fresh error from an old one.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from rxfloor.core.text import shown

#: Seconds after which a sentence is cleared, and how often that is looked at.
STALE_S = 60.0
STALE_CHECK_S = 5.0
#: Seconds a sentence stays bright, by severity.
FRESH_S = {"information": 4.0, "warning": 8.0, "error": 8.0}


class NoticeLine(Static):
    """One line, never markup: its words may quote data or a remote."""

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = monotonic) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""
        self.severity = "information"
        self.clock = clock  #: seconds, for the sentence's age (a test sets its own)
        self.said_at = 0.0
        self._dim: Timer | None = None

    def on_mount(self) -> None:
        self.set_interval(STALE_CHECK_S, self.expire)

    def expire(self) -> None:
        """A sentence older than :data:`STALE_S` is cleared: left dimmed for an hour it
        would read as if it were about what is on the screen now."""
        if self.text and self.clock() - self.said_at >= STALE_S:
            self.text = ""
            self.update("", layout=False)

    def clear_error_about(self, name: str) -> None:
        """A move of ``name`` went through: an error still shown about it (``#1042 is on
        hold … release it first``) no longer holds, and would read as the move's answer."""
        if self.text and self.severity == "error" and name in self.text:
            self.text = ""
            self.update("", layout=False)

    def say(self, message: str, severity: str = "information") -> None:
        """Show ``message`` (scrubbed, controls visible) bright, then dim it."""
        self.text = shown(message)
        self.said_at = self.clock()
        self.severity = severity if severity in FRESH_S else "information"
        self.update(Content(self.text), layout=False)
        self.set_class(True, "-fresh")
        for name in FRESH_S:
            self.set_class(name == self.severity, f"-{name}")
        if self._dim is not None:
            self._dim.stop()
        self._dim = self.set_timer(FRESH_S[self.severity], self._fade)

    def _fade(self) -> None:
        self.set_class(False, "-fresh")

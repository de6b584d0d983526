"""The one table of the ``rxfloor`` command's exit codes (docs/pages/cli.md lists them).

Scripts and scanners branch on these numbers, so they never change meaning. This module
imports nothing: the board's crash handler (``tui/app.py``) takes its code from here too.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How a run of ``rxfloor`` ended."""

    OK = 0
    """Done: one summary line (or JSON) on stdout."""
    REFUSED = 1
    """An illegal move, a lost race, an unknown order or outbox row: one line on stderr."""
    USAGE = 2
    """Bad command-line input (argparse's own code)."""
    CONFIG = 3
    """Bad configuration, or the database unreachable or damaged: one line on stderr."""
    REMOTE = 4
    """The remote API refused the key or could not be reached (``sync``)."""
    INTERNAL = 70
    """The board stopped on an internal error (one line naming the crash log); EX_SOFTWARE."""
    INTERRUPTED = 130
    """Ctrl+C (128 + SIGINT), where a command has no quieter way to stop."""

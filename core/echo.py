"""Data echoed in an error message: quoted, and cut to a readable length.

A reason, an order reference or a URL typed by a person (or sent by a remote) can be any
length; an error that repeats it whole buries the one line that says what went wrong.
"""

from __future__ import annotations

#: At most this many characters of a value are repeated in an error.
ECHO_LIMIT = 80


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of ``value`` (a string) cut to ``limit`` characters of content, then ``…``."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit])[:-1] + f"…' ({len(text)} characters)"

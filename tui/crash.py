"""What the board does with an internal error: a log file and one line, never frame locals.

Textual's own crash screen prints a traceback *with the local variables of every frame*, and
on the pharmacy floor those hold patient names and orders. Instead the traceback alone
(scrubbed of secrets) is appended to ``crash_log_file()`` (readable by its owner only) and
the terminal gets one line that says where it is. An error inside one action, handler or
worker is contained (:func:`contained_line`): the board says so and goes on.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rxfloor.core.config import crash_log_file
from rxfloor.core.text import scrub

#: a crash log larger than this is moved to ``crash.log.1`` before the next entry
MAX_LOG_BYTES = 1_000_000


def write_crash_log(error: BaseException, path: Path | None = None) -> tuple[Path, str | None]:
    """Append ``error``'s traceback (no locals) to the crash log; returns the path and, when
    the file could not be written, why."""
    path = path or crash_log_file()
    inner = getattr(error, "error", None)  # textual's WorkerFailed wraps the real one
    shown = inner if isinstance(inner, BaseException) else error
    entry = "".join(traceback.format_exception(shown))  # no locals: they may hold patient data
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    text = f"--- rxfloor internal error at {stamp} (pid {os.getpid()})\n{scrub(entry)}\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError as exc:
        return path, exc.strerror or type(exc).__name__
    return path, None


def crash_line(path: Path, problem: str | None) -> str:
    if problem is None:
        return f"rxfloor stopped on an internal error; details in {path}"
    return f"rxfloor stopped on an internal error (could not write {path}: {problem})"


def contained_line(error: BaseException, doing: str) -> str:
    """Log ``error`` (an internal error in one action, handler or worker) and return the
    sentence for the notice line; the board goes on. Safe from any thread."""
    path, problem = write_crash_log(error)
    where = f"details in {path}" if problem is None else f"could not write {path}: {problem}"
    return f"internal error while {doing} ({type(error).__name__}); the board goes on · {where}"

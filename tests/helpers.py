"""Helpers for tests that run rxfloor in other processes."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def rxfloor_cmd(*args: str) -> list[str]:
    """The installed console script, run by this interpreter (works in any venv)."""
    return [
        sys.executable,
        "-c",
        "import sys; from rxfloor.tui.cli import main; sys.exit(main())",
        *args,
    ]


def run_cli(
    db_url: str, *args: str, env_extra: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RXFLOOR_DATABASE_URL": db_url, **(env_extra or {})}
    return subprocess.run(
        rxfloor_cmd(*args), capture_output=True, text=True, env=env, timeout=120, **kw
    )

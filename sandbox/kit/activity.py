"""The demo's remote-side life: a step every few seconds, until cancelled or stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def every(every_s: float, step: Callable[[], object], stop: asyncio.Event | None) -> None:
    """Call ``step`` every ``every_s`` seconds until cancelled or until ``stop`` is set."""
    while stop is None or not stop.is_set():
        try:
            if stop is None:
                await asyncio.sleep(every_s)
            else:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
                return
        except TimeoutError:
            pass
        step()

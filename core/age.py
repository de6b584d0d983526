"""How long something has waited, in the few characters a card or a queue row has: one rule
for the board's cards, the wall screen and the exceptions queue, so the same wait never
reads differently on two screens."""

from __future__ import annotations

from datetime import datetime


def age(since: datetime, now: datetime) -> str:
    """``7m``, ``2h05``, ``3d`` (whole days from 24 hours; never negative)."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes // (24 * 60)}d"

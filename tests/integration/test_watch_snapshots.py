"""How the wall looks: fixed data, frozen clock, UTC; 80x24 (a small terminal) and 200x60
(a wall screen). Update after an intended change with
``pytest tests/integration/test_watch_snapshots.py --snapshot-update`` and review the SVGs."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.watch_fixtures import make_watch, shown_once, wall_url  # noqa: F401 — the url fixture


async def _settle(pilot: Pilot[None]) -> None:
    await shown_once(pilot)
    await pilot.pause(0.1)


@pytest.mark.parametrize("theme", ["rxfloor-dark", "rxfloor-high-contrast"])
@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_wall(url: str, theme: str, size: tuple[int, int], snap_compare: Any) -> None:
    assert snap_compare(make_watch(url, theme=theme), terminal_size=size, run_before=_settle)

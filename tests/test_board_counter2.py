"""The busy counter II (issue 23): scans land wherever they are typed, every key answers.

Pilot on a real SQLite file with a frozen clock; a scanner is
:func:`tests.board_fixtures.scan` (the whole code and Enter at once).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from tests.board_fixtures import make_app, press, ready, seed_board, until


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


async def test_the_palette_screenshot_goes_to_the_state_dir_and_says_where(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/Downloads need not exist: the screenshot is written under the state dir."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Downloads there
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    app = make_app(url)
    async with app.run_test() as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: any("screenshot" in t for _, t in app.said))
    folder = tmp_path / "state" / "rxfloor" / "screenshots"
    saved = list(folder.glob("*.svg"))
    assert len(saved) == 1, app.said
    assert ("information", f"screenshot saved: {saved[0]}") in app.said


async def test_a_theme_switch_repaints_every_card_at_once(url: str) -> None:
    """No card stays in the old theme's colours until the cursor moves (strip cache)."""
    app = make_app(url)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        column = app.board.column
        before = [column.render_line(y) for y in range(8)]
        app.theme = "rxfloor-light"
        await pilot.pause()
        await pilot.pause()
        after = [column.render_line(y) for y in range(8)]
        column._cache.clear()
        fresh = [column.render_line(y) for y in range(8)]
        assert after == fresh
        assert after != before

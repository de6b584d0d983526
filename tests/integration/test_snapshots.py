"""How the board looks: fixed data, frozen clock, UTC, dark and high-contrast themes.

Update after an intended change with
``pytest -n 0 tests/integration/test_snapshots.py --snapshot-update`` and review the SVGs in
``tests/integration/__snapshots__/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.board_fixtures import make_app, press, ready, seed_board, seed_two_sources, until

THEMES = ["rxfloor-dark", "rxfloor-high-contrast"]


@pytest.fixture
def url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    seed_board(sqlite_url)
    yield sqlite_url
    monkeypatch.undo()
    time.tzset()


async def _settle(pilot: Pilot[None]) -> None:
    await ready(pilot)
    await pilot.pause(0.1)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_board(url: str, theme: str, size: tuple[int, int], snap_compare: Any) -> None:
    assert snap_compare(make_app(url, theme=theme), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("theme", THEMES)
def test_detail_view(url: str, theme: str, snap_compare: Any) -> None:
    async def open_detail(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await press(pilot, "enter")
        await until(pilot, lambda: pilot.app.screen.id != "_default" and
                    type(pilot.app.screen).__name__ == "DetailScreen")  # fmt: skip
        await pilot.pause(0.1)

    app = make_app(url, theme=theme)
    assert snap_compare(app, terminal_size=(160, 48), run_before=open_detail)


@pytest.mark.parametrize("theme", THEMES)
def test_cancel_modal(url: str, theme: str, snap_compare: Any) -> None:
    async def open_cancel(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await press(pilot, "x")
        await pilot.pause(0.1)

    assert snap_compare(make_app(url, theme=theme), terminal_size=(80, 24), run_before=open_cancel)


@pytest.mark.parametrize("theme", THEMES)
def test_help(url: str, theme: str, snap_compare: Any) -> None:
    async def open_help(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await press(pilot, "question_mark")
        await pilot.pause(0.1)

    assert snap_compare(make_app(url, theme=theme), terminal_size=(160, 48), run_before=open_help)


@pytest.mark.parametrize("theme", THEMES)
def test_board_of_two_sources(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, theme: str, snap_compare: Any
) -> None:
    """RxScale and Shopify orders side by side: source marks, a local and a merchant's hold,
    the merchant's cancellation requests (badge and banner), health per source."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        seed_two_sources(sqlite_url)
        app = make_app(sqlite_url, theme=theme)
        assert snap_compare(app, terminal_size=(160, 48), run_before=_settle)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_every_stored_snapshot_belongs_to_a_test() -> None:
    """syrupy fails the session on a snapshot no test uses, but not under pytest-xdist (the
    suite's ``-n 4``): the same check, from a collection of the modules that own snapshots.
    Snapshots live beside their module (``tests/<folder>/__snapshots__/<module>/``), so a
    module moved without its folder (or the reverse) fails here."""
    suite = Path(__file__).resolve().parents[1]
    root = suite.parent
    folders = sorted(suite.rglob("__snapshots__"))
    owners = [folder.parent / f"{d.name}.py" for folder in folders for d in folder.iterdir()
              if d.is_dir()]  # fmt: skip
    assert owners, folders
    orphans = [str(owner.relative_to(suite)) for owner in owners if not owner.exists()]
    assert not orphans, f"snapshot folders with no module beside them: {orphans}"
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "--collect-only", "-q",
         *(str(owner.relative_to(root)) for owner in owners)],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    tests = set()
    for line in listed.stdout.splitlines():
        if "::" in line:
            module, name = line.split("::", 1)
            tests.add(f"{root / module}::{name}")
    stored = {f"{p.parent.parent.parent / p.parent.name}.py::{p.stem}"
              for folder in folders for p in folder.glob("*/*.svg")}  # fmt: skip
    assert stored and stored <= tests, sorted(stored - tests)

"""A command's start runs with the cyclic collector off and freezes what it made; whatever
happens, the command itself (a board, a sync loop running for days) has the collector on."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from rxfloor.tui.cli.context import Context, starting


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    """What a test froze is the collector's again afterwards (the session goes on)."""
    yield
    gc.unfreeze()
    gc.enable()


def test_the_start_is_uncollected_then_frozen() -> None:
    gc.unfreeze()
    with starting():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_nested_start_leaves_it_to_the_outermost() -> None:
    with starting():
        with starting():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failed_start_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), starting():
        raise RuntimeError("the settings could not be read")
    assert gc.isenabled()


def test_a_start_with_the_collector_off_leaves_it_off() -> None:
    gc.disable()
    with starting():
        pass
    assert not gc.isenabled()


def test_the_command_runs_with_the_collector_on(tmp_path: Path) -> None:
    ctx = Context(database=str(tmp_path / "rxfloor.db"))
    try:
        gc.unfreeze()
        assert ctx.store is not None and gc.isenabled()
        assert gc.get_freeze_count() > 0  # the settings' and the store's start, frozen
    finally:
        ctx.close()

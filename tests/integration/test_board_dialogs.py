"""A dialog answered for an order that changed while it was open: every dialog (cancel, hold,
tracking, reject request, the undo confirmation) against a move made by another terminal,
by the CLI and by the remote (a sync applying the source's status). The answer looks the
order up again and refuses in words; nothing is done, the board stays up.

And the board's containment: an internal error in one action or one handler is a sentence
on the notice line and a crash-log entry, never an exit (the demo's sync workers run in
the same process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.confirm import ConfirmScreen
from rxfloor.tui.screens.reason import ReasonScreen
from rxfloor.tui.screens.tracking import TrackingScreen
from tests.board_fixtures import (
    ObservedApp,
    make_app,
    press,
    ready,
    seed_two_sources,
    sid,
    until,
)
from tests.helpers import run_cli

Mover = Callable[[str, str, str], None]  # (url, order ref, what) -> the order has moved


def by_terminal(url: str, ref: str, what: str) -> None:
    other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "counter-9"))
    try:
        if what == "cancel":
            other.act(ref, Action.CANCEL, reason="Patient cancelled")
        elif what == "accept-cancel":
            other.act(ref, Action.ACCEPT_CANCEL)
        else:
            other.act(ref, Action.START if what == "start" else Action.FINISH)
    finally:
        other.store.close()


def by_cli(url: str, ref: str, what: str) -> None:
    args = ["cancel", ref, "--reason", "Patient cancelled"] if what == "cancel" else [what, ref]
    result = run_cli(url, *args)
    assert result.returncode == 0, result.stderr


def by_remote(url: str, ref: str, what: str) -> None:
    """What ``rxfloor sync`` does when the source says so: the remote's status applied."""
    other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "sync"))
    try:
        status = {"cancel": Status.CANCELLED, "accept-cancel": Status.CANCELLED,
                  "start": Status.PROCESSING}.get(what)  # fmt: skip
        order = other.get(ref)
        words = {Status.CANCELLED: "CANCELLED/CLOSED", Status.PROCESSING: "IN_PROGRESS/ACCEPTED"}
        if order.source == "rxscale":
            words = {Status.CANCELLED: "cancelled", Status.PROCESSING: "processing"}
        other.apply_remote(order.id, words[status or Status.FINISHED], status or Status.FINISHED)
    finally:
        other.store.close()


MOVERS = {"terminal": by_terminal, "cli": by_cli, "remote": by_remote}


def status_of(url: str, ref: str) -> str:
    store = Store.open(url, migrate=False)
    try:
        return OrderService(store, Actor("QQ", "q")).get(ref).status
    finally:
        store.close()


def rx_ref(app: ObservedApp, name: str) -> str:
    """The id of the RxScale order called ``name`` (Shopify has a #1001 too)."""
    return next(c.id for c in app.board.model.cards.values()
                if c.name == name and c.source == "rxscale")  # fmt: skip


async def focus(pilot: Pilot[None], app: ObservedApp, ref: str) -> None:
    assert app.board.focus_order(ref), ref
    await pilot.pause(0.3)  # past the repeat guard: the cursor did not "just move"


async def answer_after(
    pilot: Pilot[None],
    app: ObservedApp,
    url: str,
    ref: str,
    mover: Mover,
    what: str,
    *,
    wait_feed: bool,
) -> str:
    """The dialog is open: ``mover`` changes the order, (the feed shows it,) then Enter.
    Returns the refusal said on the notice line."""
    await asyncio.to_thread(mover, url, ref, what)
    moved = status_of(url, ref)
    if wait_feed:
        await until(pilot, lambda: app.board.model.cards[ref].status == moved)
    await press(pilot, "enter")
    await until(pilot, lambda: any(s == "error" for s, _ in app.said))
    assert isinstance(app.screen, BoardScreen)
    assert app.is_running
    await until(pilot, lambda: not any(c.pending for c in app.board.model.cards.values()))
    assert app.board.model.cards[ref].status == moved
    return next(m for s, m in app.said if s == "error")


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_two_sources(sqlite_url)
    return sqlite_url


@pytest.mark.parametrize("wait_feed", [True, False], ids=["feed-shown", "feed-behind"])
@pytest.mark.parametrize("mover", sorted(MOVERS))
async def test_cancel_dialog_for_an_order_started_meanwhile(
    url: str, mover: str, wait_feed: bool
) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        ref = rx_ref(app, "#1020")
        await focus(pilot, app, ref)
        await press(pilot, "x", "down")
        assert isinstance(app.screen, ReasonScreen)
        said = await answer_after(pilot, app, url, ref, MOVERS[mover], "start",
                                  wait_feed=wait_feed)  # fmt: skip
        assert "#1020" in said and "nothing done" in said, said
        assert status_of(url, ref) == "PROCESSING"


@pytest.mark.parametrize("mover", sorted(MOVERS))
async def test_hold_dialog_for_an_order_cancelled_meanwhile(url: str, mover: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        ref = rx_ref(app, "#1022")
        await focus(pilot, app, ref)
        await press(pilot, "p", "down")
        assert isinstance(app.screen, ReasonScreen)
        said = await answer_after(pilot, app, url, ref, MOVERS[mover], "cancel", wait_feed=True)
        assert "#1022" in said and "cancelled" in said.lower() and "nothing done" in said, said
        assert status_of(url, ref) == "CANCELLED"


@pytest.mark.parametrize("mover", sorted(MOVERS))
async def test_tracking_dialog_for_an_order_cancelled_meanwhile(url: str, mover: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        ref = sid(2)  # Shopify #2002, PROCESSING, shipped: finishing asks for tracking
        await focus(pilot, app, ref)
        await press(pilot, "a")
        assert isinstance(app.screen, TrackingScreen)
        await pilot.press(*"1Z999AA10123456784")
        said = await answer_after(pilot, app, url, ref, MOVERS[mover], "cancel", wait_feed=True)
        assert "#2002" in said and "nothing done" in said, said
        assert status_of(url, ref) == "CANCELLED"


@pytest.mark.parametrize("mover", sorted(MOVERS))
async def test_reject_request_dialog_for_an_order_cancelled_meanwhile(url: str, mover: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        ref = sid(7)  # Shopify #2007: the merchant asks to cancel it; another accepts
        await focus(pilot, app, ref)
        await press(pilot, "r", "down")
        assert isinstance(app.screen, ReasonScreen)
        said = await answer_after(pilot, app, url, ref, MOVERS[mover], "accept-cancel",
                                  wait_feed=True)  # fmt: skip
        assert "#2007" in said and "nothing done" in said, said
        assert status_of(url, ref) == "CANCELLED"


async def test_undo_confirmation_for_an_order_moved_meanwhile(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        first, second = rx_ref(app, "#1020"), rx_ref(app, "#1022")
        for ref in (first, second):
            await focus(pilot, app, ref)
            await press(pilot, "a")
            await until(pilot, lambda: not app.board.model.cards[ref].pending)  # noqa: B023
        await press(pilot, "u")  # undoes #1022's start
        await until(pilot, lambda: app.board.model.cards[second].status == Status.OPEN)
        await press(pilot, "u")  # one more: asks first
        assert isinstance(app.screen, ConfirmScreen)
        await asyncio.to_thread(by_cli, url, first, "finish")
        await until(pilot, lambda: app.board.model.cards[first].status == Status.FINISHED)
        await press(pilot, "y")
        await until(pilot, lambda: any(s == "error" for s, _ in app.said))
        assert app.is_running and isinstance(app.screen, BoardScreen)
        assert status_of(url, first) == "FINISHED"


async def test_an_internal_error_in_an_action_is_a_sentence(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A defect in one action (here: the view raises) says so and leaves the board, its
    background sync and every other key working."""
    app = make_app(url)
    app.expect_contained = True
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)

        def broken(*_args: object) -> None:
            raise RuntimeError("a defect in move_card")

        with monkeypatch.context() as patch:
            patch.setattr(type(app.board.view), "move_card", broken)
            ref = rx_ref(app, "#1020")
            await focus(pilot, app, ref)
            await press(pilot, "a")
            await until(pilot, lambda: any(s == "error" for s, _ in app.said))
        said = next(m for s, m in app.said if s == "error")
        assert "internal error" in said and "crash" in said, said
        assert app.is_running and app.return_code is None
        await press(pilot, "j")  # the keys still answer
        ref = rx_ref(app, "#1023")
        await focus(pilot, app, ref)
        await press(pilot, "a")
        await until(pilot, lambda: status_of(url, ref) == "PROCESSING")


async def test_an_internal_error_in_a_worker_is_a_sentence(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)

        def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("a defect in the service")

        ref = rx_ref(app, "#1020")
        await focus(pilot, app, ref)
        with monkeypatch.context() as patch:
            patch.setattr(app.service, "act", broken)
            await press(pilot, "a")
            await until(pilot, lambda: any(s == "error" for s, _ in app.said))
        assert app.is_running and app.return_code is None
        said = next(m for s, m in app.said if s == "error")
        assert "internal error" in said, said

"""A seeded board database with a frozen clock, shared by the Pilot and snapshot tests."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from textual import events
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, DeliveryType, Priority, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.text import shown
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.messages import ChangesArrived
from rxfloor.tui.scan import SCAN_GAP_S

M = TypeVar("M", bound=Message)
FROZEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def frozen() -> datetime:
    return FROZEN


def seed_board(url: str, count: int = 30) -> None:
    """``count`` sample orders (seed 0) and a few moves so every column has cards."""
    store = Store.open(url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
    service.add_orders(sample_orders(count, 0, FROZEN))
    for name in ("#1002", "#1003", "#1006"):
        service.act(name, Action.START)
    service.act("#1006", Action.FINISH)
    service.act("#1007", Action.CANCEL, reason="Duplicate order")
    store.close()


class ObservedApp(BoardApp):
    """The board app as the tests see it: under ``run_test`` every message dispatched
    anywhere in the app is recorded (Textual's message hook), so tests observe Messages
    and every sentence said to the pharmacist, without hooks in the production classes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[Message] = []
        self._said: list[tuple[str, str]] = []
        self.contained: list[BaseException] = []

    #: a test that provokes an internal error on purpose sets this; otherwise a contained
    #: error (a sentence on the board, the app goes on) still fails the test at its end
    expect_contained = False

    def contain(self, error: BaseException, doing: str) -> None:
        self.contained.append(error)
        super().contain(error, doing)

    def say(self, message: str, severity: str = "information") -> None:
        self._said.append((severity, message))
        super().say(message, severity)

    @asynccontextmanager
    async def run_test(
        self,
        *,
        headless: bool = True,
        size: tuple[int, int] | None = (80, 24),
        tooltips: bool = False,
        notifications: bool = False,
        message_hook: Callable[[Message], None] | None = None,
    ) -> AsyncGenerator[Pilot[None], None]:
        def record(message: Message) -> None:
            self.seen.append(message)
            if message_hook is not None:
                message_hook(message)

        async with super().run_test(
            headless=headless, size=size, tooltips=tooltips,
            notifications=notifications, message_hook=record,
        ) as pilot:  # fmt: skip
            yield pilot
        if self.contained and not self.expect_contained:
            raise AssertionError(f"internal error contained: {self.contained[0]!r}") from (
                self.contained[0]
            )

    def messages(self, kind: type[M]) -> list[M]:
        """Each message of ``kind`` once (a bubbling message is dispatched at every level)."""
        found: dict[int, M] = {}
        for message in self.seen:
            if isinstance(message, kind):
                found.setdefault(id(message), message)
        return list(found.values())

    @property
    def said(self) -> list[tuple[str, str]]:
        """Every sentence for the pharmacist (the notice line), as ``(severity, text)`` as
        shown: scrubbed, controls visible."""
        return [(severity, shown(text)) for severity, text in self._said]


def make_app(url: str, **settings: Any) -> ObservedApp:
    store = Store.open(url)
    service = OrderService(store, Actor("AB", "counter-1"), clock=frozen)
    conf = load_settings(
        database_url=url, actor="AB", station="counter-1", pharmacy="Test pharmacy", **settings
    )
    return ObservedApp(service, conf, clock=frozen, remember_theme=False)


def feed_batches(app: ObservedApp) -> int:
    """How many coalesced batches of the change feed reached the board."""
    return len(app.messages(ChangesArrived))


def moves_settled(app: BoardApp) -> bool:
    """No card waits for the database's answer to a move (its "…" badge is gone)."""
    return not any(card.pending for card in app.board.model.cards.values())


async def ready(pilot: Pilot[None]) -> None:
    """Wait for the whole load (done in a worker: the first page, then the rest) and let the
    screen settle."""
    app = pilot.app
    assert isinstance(app, BoardApp)
    # a wait that ran out went on with half a board: the rest merged under the next key
    # moved the cursor, and the repeat guard refused that key (a flake under load)
    await until(pilot, lambda: app.board.is_mounted and app.board.view.complete, timeout=30)
    await pilot.pause()
    await pilot.pause()


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Keys as a person types them: each one apart by more than a scanner's gap (keys
    pressed faster are read as a scan, see :mod:`rxfloor.tui.scan`)."""
    scans = getattr(pilot.app, "scans", None)
    for key in keys:
        await pilot.press(key)
        await pilot.pause(SCAN_GAP_S * 2)
        if scans is not None and scans.holding:
            # a busy machine fires the scan reader's gap timer late: the key has not acted
            # yet. Wait for it to act rather than for a fixed time (the key is still apart
            # from the next one: that one is pressed later still)
            await until(pilot, lambda: not scans.holding)
            await pilot.pause()


async def scan(pilot: Pilot[None], text: str, *, enter: bool = True) -> None:
    """A barcode scanner: the whole text (and Enter) arrives at once, as a terminal delivers
    it (``tmux send-keys 'po-s0-000012' Enter``), however busy the machine is."""
    app = pilot.app
    driver = app._driver
    assert driver is not None
    names = {" ": "space", "#": "number_sign", "-": "minus", "/": "slash", "@": "at"}
    keys = [events.Key(names.get(c, c), c) for c in text]
    if enter:
        keys.append(events.Key("enter", "\r"))
    for key in keys:
        key.set_sender(app)
        driver.send_message(key)
    await pilot.pause(SCAN_GAP_S * 2)


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10) -> float:
    """Poll the app until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    return time.monotonic() - start


async def on_top(pilot: Pilot[None], kind: type[Screen[Any]]) -> None:
    """Until a ``kind`` screen is on top and mounted: a pushed screen is composed on a later
    turn of the event loop, and a test that queried its widgets in between (a loaded CI
    run gave it that turn late) found none (``NoMatches``)."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted)


GID = "gid://shopify/FulfillmentOrder/"


def shopify(n: int, name: str, *, delivery: DeliveryType = DeliveryType.SHIP) -> NewOrder:
    return NewOrder(
        id=sid(n),
        source="shopify",
        remote_id=f"{GID}{n}",
        name=name,
        remote_status="OPEN/SUBMITTED",
        priority=Priority.STAT,  # first in their column
        delivery_type=delivery,
        patient_name="Nora Shopper",
        items=[LineItem(sku=f"sh-{n}", drug="Vitamin D3", strength="1000 IU")],
        due_at=FROZEN + timedelta(hours=3),
        created_at=FROZEN - timedelta(minutes=n),
    )


def sid(n: int) -> str:
    """The local id of Shopify fulfillment order ``n``."""
    return local_id("shopify", f"{GID}{n}")


def seed_two_sources(url: str) -> None:
    """The usual 30 RxScale sample orders, and Shopify orders in every state a test needs:
    #1001 (the same name as an RxScale order), #2002 / #2003 in PROCESSING to be shipped,
    #2004 to hold, #2005 held by the merchant, #2006 / #2007 with a cancellation request."""
    seed_board(url)
    seed_shopify(url)


def seed_shopify(url: str) -> None:
    """The Shopify part of :func:`seed_two_sources`, beside what ``url`` holds."""
    store = Store.open(url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=frozen)
    service.add_orders(
        [shopify(1, "#1001"), shopify(2, "#2002"), shopify(3, "#2003"),
         shopify(4, "#2004", delivery=DeliveryType.PICKUP), shopify(5, "#2005"),
         shopify(6, "#2006"), shopify(7, "#2007")],
        source="remote",
    )  # fmt: skip
    for n in (2, 3, 6):
        service.act(sid(n), Action.START)
        service.apply_remote(sid(n), "IN_PROGRESS/ACCEPTED", Status.PROCESSING)
    service.apply_remote(sid(5), "ON_HOLD/SUBMITTED", Status.OPEN, remote_hold=True,
                         hold_comment="address check by the merchant")  # fmt: skip
    for n in (6, 7):
        service.apply_remote(
            sid(n), "IN_PROGRESS/CANCELLATION_REQUESTED" if n == 6 else
            "OPEN/CANCELLATION_REQUESTED", Status.PROCESSING if n == 6 else Status.OPEN,
            cancel_requested=True, request_message="Customer changed their mind",
        )  # fmt: skip
    store.close()

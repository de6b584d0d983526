"""Pilot tests: the board over orders of two sources (RxScale and Shopify) in a real SQLite file.

The Shopify orders enter through the service (``NewOrder(source="shopify", …)``), as the
Shopify source's pull would put them there; what the merchant does (a hold, a cancellation
request) arrives through the service's ``apply_remote``, as the sync worker applies it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert, select
from textual.widgets import Input

from rxfloor.core.db import Store, alerts, orders, outbox, sync_state
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.service import Actor, OrderService
from rxfloor.tui.app import BoardApp
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.header import health_line
from rxfloor.tui.board.model import parse_needle
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.screens.detail import DetailScreen
from rxfloor.tui.screens.reason import ReasonScreen
from rxfloor.tui.screens.tracking import TrackingScreen
from tests.board_fixtures import (
    FROZEN,
    GID,
    make_app,
    moves_settled,
    on_top,
    press,
    ready,
    seed_board,
    seed_two_sources,
    sid,
    until,
)


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_two_sources(sqlite_url)
    return sqlite_url


def row(url: str, order_id: str) -> dict[str, Any]:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            found = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
            assert found is not None
            return dict(found)
    finally:
        store.close()


def shown(app: BoardApp) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


def card_text(app: BoardApp, order_id: str) -> str:
    """The first line of the order's card as painted."""
    card = app.board.model.cards[order_id]
    col = app.board.view.column_for(card.status)
    return "".join(s.text for s in col._render_card(card, 60, selected=False)[0])


def names(app: BoardApp, status: Status) -> list[str]:
    col = app.board.query_one(f"#col-{status.value.lower()}", ColumnView)
    return [c.name for c in col.cards]


def errors(app: Any) -> list[str]:
    return [m for s, m in app.said if s == "error"]


# ------------------------------------------------------------------- marks, filter
def test_needle_parsing() -> None:
    assert parse_needle("source:shopify #10") == (("shopify",), "#10")
    assert parse_needle("amoxicillin 500") == ((), "amoxicillin 500")
    assert parse_needle("source:") == ((), "source:")


async def test_cards_carry_a_source_mark_only_with_several_sources(
    url: str, sqlite_url: str
) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert all(col.marks for col in app.board.query(ColumnView))
        assert card_text(app, sid(1)).startswith("!! S #1001 NS")
        rx1001 = next(c for c in app.board.model.cards.values()
                      if c.name == "#1001" and c.source == "rxscale")  # fmt: skip
        assert " R #1001 " in card_text(app, rx1001.id)  # same name, two orders


async def test_one_source_shows_no_marks(sqlite_url: str) -> None:
    seed_board(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert not any(col.marks for col in app.board.query(ColumnView))
        assert str(app.board.query_one("#header").render()).endswith("│ sync: off")


async def test_filter_by_source(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await press(pilot, "slash", *"shopify")
        cards = [c for col in app.board.visible_columns for c in col.cards]
        assert cards and {c.source for c in cards} == {"shopify"}
        assert len(cards) == 7
        box = app.board.query_one("#filter", Input)
        box.value = "source:rxscale #1001"  # as if typed: the box says what changed
        await pilot.pause()
        cards = [c for col in app.board.visible_columns for c in col.cards]
        assert [(c.source, c.name) for c in cards] == [("rxscale", "#1001")]
        box.value = "source:shop #1001"
        await pilot.pause()
        cards = [c for col in app.board.visible_columns for c in col.cards]
        assert [c.id for c in cards] == [sid(1)]
        await press(pilot, "escape")
        assert sum(len(col.cards) for col in app.board.visible_columns) == 36


# -------------------------------------------------------------------------- detail
async def test_detail_names_the_source_and_its_own_words(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(2))
        await press(pilot, "enter")
        await on_top(pilot, DetailScreen)
        body = str(app.screen.query_one("#detail-body").render())
        assert f"Shopify · IN_PROGRESS · request ACCEPTED   {GID}2" in body
        await press(pilot, "escape")
        assert app.board.focus_order(sid(6))
        await press(pilot, "enter")
        await on_top(pilot, DetailScreen)
        body = str(app.screen.query_one("#detail-body").render())
        assert "the merchant asks for a cancellation: «Customer changed their mind»" in body


# -------------------------------------------------------------------------- header
def _health(url: str, **states: tuple[bool, int]) -> None:
    store = Store.open(url, migrate=False)
    with store.write() as conn:
        for source, (online, _) in states.items():
            conn.execute(insert(sync_state).values(source=source, online=online,
                         offline_since=None if online else FROZEN, updated_at=FROZEN))  # fmt: skip
    store.close()


async def test_header_shows_health_per_source(url: str) -> None:
    _health(url, rxscale=(True, 0), shopify=(False, 0))
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        line = health_line(app.board.view.health, app.board.view.sources)
        # two Shopify orders were started and not pushed (nothing syncs in the test)
        assert line.plain == "rxscale online · shopify offline since 09:30, 3 queued"
        bad = [line.plain[s.start : s.end] for s in line.spans]
        assert bad == ["offline since 09:30"]
        assert "shopify offline since 09:30" in str(app.board.query_one("#header").render())


# ------------------------------------------------------------------------ tracking
async def test_finish_of_a_shipped_shopify_order_asks_the_tracking_number(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(2))
        await press(pilot, "a")
        assert isinstance(app.screen, TrackingScreen)
        await pilot.press(*"1Z999AA10123456784", "enter")  # a scanner: the digits and Enter
        await until(pilot, lambda: row(url, sid(2))["status"] == "FINISHED")
        assert row(url, sid(2))["tracking_number"] == "1Z999AA10123456784"
        store = Store.open(url, migrate=False)
        with store.read() as conn:
            payload = conn.execute(
                select(outbox.c.payload).where(
                    outbox.c.order_id == sid(2), outbox.c.action == "finish"
                )
            ).scalar_one()
        store.close()
        assert "1Z999AA10123456784" in json.dumps(json.loads(payload))
        await until(pilot, lambda: moves_settled(app))
        assert "no tracking" not in card_text(app, sid(2))


async def test_finish_without_tracking_and_esc_aborts(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(3))
        before = row(url, sid(3))["version"]
        await press(pilot, "a")
        assert isinstance(app.screen, TrackingScreen)
        await press(pilot, *"1Z", "escape")  # aborts the finish: nothing written
        assert isinstance(app.screen, BoardScreen)
        await pilot.pause(0.2)
        assert row(url, sid(3))["version"] == before
        await press(pilot, "a")
        await press(pilot, "enter")  # nothing typed: finished without tracking
        await until(pilot, lambda: row(url, sid(3))["status"] == "FINISHED")
        assert row(url, sid(3))["tracking_number"] is None
        await until(pilot, lambda: moves_settled(app))
        assert "no tracking" in card_text(app, sid(3))


async def test_rxscale_and_pickup_finish_ask_nothing(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        rx = next(c for c in app.board.model.columns[Status.PROCESSING] if c.source == "rxscale")
        assert app.board.focus_order(rx.id)
        await press(pilot, "a")
        assert isinstance(app.screen, BoardScreen)
        await until(pilot, lambda: row(url, rx.id)["status"] == "FINISHED")


# ---------------------------------------------------------------------------- hold
async def test_hold_of_a_shopify_order_is_local_and_says_so(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(4))
        await press(pilot, "p")
        assert isinstance(app.screen, ReasonScreen)
        note = "hold is local: Shopify does not hold orders for the pharmacy"
        assert note in str(app.screen.query_one(".dialog-hint").render())
        await press(pilot, "down", "enter")  # the first reason of the pick list
        await until(pilot, lambda: row(url, sid(4))["on_hold"] is True)
        await until(pilot, lambda: any(note in m for _, m in app.said))
        await until(pilot, lambda: moves_settled(app))
        assert " HOLD local" in card_text(app, sid(4))


async def test_release_of_the_merchants_hold_is_refused_in_words(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(5))
        assert " HOLD Shopify" in card_text(app, sid(5))
        assert "hold" not in shown(app)  # the footer shows what applies; the key says why
        await press(pilot, "p")
        await until(pilot, lambda: bool(errors(app)))
        assert "held by the merchant in Shopify: release it there" in errors(app)[0]
        assert row(url, sid(5))["on_hold"] is True
        await until(pilot, lambda: moves_settled(app))


# -------------------------------------------------------- the merchant asks to cancel
async def test_cancellation_request_blocks_work_until_accepted(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        banner = app.board.query_one("#alerts")
        assert banner.display
        text = str(banner.render())
        assert "#2006" in text and "A goes to it, y accepts, r rejects" in text
        await press(pilot, "A")  # the request stays: the cursor goes to its order
        assert app.board.card is not None and app.board.card.id == sid(6)
        assert " CANCEL?" in card_text(app, sid(6))
        assert {"accept_cancel", "reject_cancel"} <= shown(app)
        assert "cancel_order" not in shown(app) and "advance" not in shown(app)  # what applies
        await press(pilot, "a")  # start / finish: refused with the service's sentence
        await until(pilot, lambda: bool(errors(app)))
        assert "the merchant asked to cancel S #2006" in errors(app)[0]  # two sources: marked
        assert not isinstance(app.screen, TrackingScreen)
        assert row(url, sid(6))["status"] == "PROCESSING"
        await until(pilot, lambda: moves_settled(app))
        await press(pilot, "y")
        await until(pilot, lambda: row(url, sid(6))["status"] == "CANCELLED")
        assert row(url, sid(6))["request_kind"] is None
        await until(pilot, lambda: "#2006" in names(app, Status.CANCELLED))


async def test_cancellation_request_rejected_with_a_reason(url: str) -> None:
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert app.board.focus_order(sid(7))
        await press(pilot, "r")
        assert isinstance(app.screen, ReasonScreen)
        await press(pilot, "escape")  # Esc writes nothing
        await pilot.pause(0.2)
        assert row(url, sid(7))["request_kind"] == "cancellation"
        await press(pilot, "r", "down", "enter")  # the first reason of the pick list
        await until(pilot, lambda: row(url, sid(7))["request_kind"] is None)
        assert row(url, sid(7))["status"] == "OPEN"
        store = Store.open(url, migrate=False)
        answer = [e for e in store.history(sid(7)) if e["action"] == "reject_cancel"]
        assert [e["reason"] for e in answer] == ["Already dispensed"]
        store.close()
        await until(pilot, lambda: moves_settled(app))
        assert " CANCEL?" not in card_text(app, sid(7))
        assert {"advance", "cancel_order"} <= shown(app)
        assert not {"accept_cancel", "reject_cancel"} & shown(app)
        store = Store.open(url, migrate=False)
        with store.read() as conn:
            left = conn.execute(
                select(alerts.c.id).where(
                    alerts.c.order_id == sid(7), alerts.c.acknowledged_at.is_(None)
                )
            ).all()
        store.close()
        assert left == []  # answered: the alert is gone with the request


async def test_a_request_answered_elsewhere_leaves_the_banner(url: str) -> None:
    """Answered by another terminal or the CLI: the banner drops it within a poll, and the
    next request (#2007) is the one shown."""
    app = make_app(url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        banner = app.board.query_one("#alerts")
        assert "#2006" in str(banner.render())
        other = OrderService(Store.open(url, migrate=False), Actor("ZZ", "counter-9"))
        other.act(sid(6), Action.REJECT_CANCEL, reason="Already handed to the carrier")
        other.store.close()
        await until(pilot, lambda: "#2007" in str(banner.render()))
        assert "#2006" not in str(banner.render())
        assert " CANCEL?" not in card_text(app, sid(6))


async def test_a_konnektive_return_shows_on_its_finished_card(sqlite_url: str) -> None:
    """Konnektive's RMA Pending / Returned: the order stays FINISHED, with a return badge."""
    from rxfloor.core.models import LineItem, NewOrder
    from rxfloor.core.sources.konnektive import mapping

    seed_board(sqlite_url)
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=lambda: FROZEN)
    ids = {}
    for n, word in ((1, mapping.SHIPPED), (2, mapping.RMA_PENDING), (3, mapping.RETURNED)):
        order = NewOrder(id=f"konnektive:{n}", source="konnektive", remote_id=str(n),
                         name=f"K-{n}", remote_status=mapping.PENDING, patient_name="Ada Return",
                         items=[LineItem(sku=f"k-{n}", drug="Semaglutide")])  # fmt: skip
        service.add_orders([order], source="remote")
        service.apply_remote(order.id, word, Status.FINISHED)
        ids[word] = order.id
    store.close()
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert "return pending" in card_text(app, ids[mapping.RMA_PENDING])
        assert "returned" in card_text(app, ids[mapping.RETURNED])
        shipped = card_text(app, ids[mapping.SHIPPED])
        assert "return" not in shipped and "K-1" in shipped


async def test_a_bare_card_shows_its_patient_once_read_back(sqlite_url: str) -> None:
    """An order an event only named (no patient, no items) is filled in by the read-back
    without a new version: the board reads the row again all the same."""
    import asyncio

    from rxfloor.core.models import LineItem, NewOrder

    seed_board(sqlite_url)
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("CD", "counter-2"), clock=lambda: FROZEN)
    bare = NewOrder(id="photon:ord_1", source="photon", remote_id="ord_1", name="EXT-1",
                    remote_status="placed")  # fmt: skip
    service.add_orders([bare], source="remote")
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert "?" in card_text(app, bare.id)
        items = [LineItem(sku="a", drug="Atorvastatin", strength="20 mg")]
        assert await asyncio.to_thread(service.fill_details, bare.id, "Grace Hopper", items)
        await until(pilot, lambda: "GH" in card_text(app, bare.id))
        assert app.board.model.cards[bare.id].items.startswith("Atorvastatin")
    store.close()

"""Several sources on one floor: identity (source, the source's id), SOURCE:ID, traits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from rxfloor.core import sources
from rxfloor.core.db import AmbiguousOrder, Store, resolve_order
from rxfloor.core.lifecycle import Action, OrderFacts, Status, TransitionError, apply, legal_actions
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderNotFound, OrderService
from rxfloor.core.sources import local_id

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GID = "gid://shopify/FulfillmentOrder/1001"


def _orders() -> list[NewOrder]:
    return [
        NewOrder(id="1001", name="#1001", patient_name="Ann Lee"),  # RxScale's uid "1001"
        NewOrder(
            id=local_id("shopify", "1001"), source="shopify", name="#1001", patient_name="Bo Kim"
        ),
        NewOrder(id=local_id("shopify", GID), source="shopify", name="#2002"),
        NewOrder(id="po-7", name="#3003"),
    ]


def test_local_id_is_the_one_rule() -> None:
    assert sources.local_id("rxscale", "po-1") == "po-1"
    assert sources.local_id("shopify", GID) == f"shopify:{GID}"
    made = NewOrder.model_validate({"source": "shopify", "remote_id": GID, "name": "#1"})
    assert (made.id, made.remote_id) == (f"shopify:{GID}", GID)
    assert NewOrder(id="po-1", name="#1").remote_id == "po-1"
    assert NewOrder(id=f"shopify:{GID}", source="shopify", name="#1").remote_id == GID
    with pytest.raises(ValidationError, match="not the local id"):
        NewOrder.model_validate({"id": "po-1", "source": "shopify", "remote_id": "po-1",
                                 "name": "#1"})  # fmt: skip
    with pytest.raises(ValidationError, match="lacks shopify:"):
        NewOrder(id="po-1", source="shopify", name="#1")


def test_traits_are_known_without_a_connection() -> None:
    rx, shop = sources.traits("rxscale"), sources.traits("shopify")
    assert (rx.label, rx.mark, rx.remote_hold, rx.tracking_on_finish) == ("RxScale", "R",
                                                                          True, False)  # fmt: skip
    assert (shop.label, shop.mark, shop.remote_hold) == ("Shopify", "S", False)
    assert shop.tracking_on_finish and shop.cancel_requests and not rx.cancel_requests
    assert sources.status_words("shopify", "IN_PROGRESS/ACCEPTED") == (
        "IN_PROGRESS · request ACCEPTED"
    )
    assert sources.status_words("shopify", "CLOSED") == "CLOSED"
    assert sources.status_words("rxscale", "in-progress") == "in-progress"
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        sources.traits("nope")


def test_the_same_number_in_two_sources_is_two_orders(store: Store) -> None:
    service = OrderService(store, Actor("AB", "c1"), clock=lambda: NOW)
    assert service.add_orders(_orders()) == 4
    assert service.add_orders(_orders()) == 0  # by identity: nothing twice
    with store.read() as conn:
        rx = resolve_order(conn, "rxscale:1001")
        shop = resolve_order(conn, "Shopify:#1001")  # the source's name in any case
        assert rx is not None and (rx["source"], rx["remote_id"]) == ("rxscale", "1001")
        assert shop is not None and (shop["id"], shop["remote_id"]) == ("shopify:1001", "1001")
        assert resolve_order(conn, "1001") == rx  # rxscale's uid is the local id: it wins
        assert resolve_order(conn, f"shopify:{GID}")["name"] == "#2002"  # type: ignore[index]
        assert resolve_order(conn, GID)["name"] == "#2002"  # type: ignore[index]
        assert resolve_order(conn, "rxscale:#2002") is None
        assert resolve_order(conn, "shopify:po-7") is None
        assert resolve_order(conn, "rxscale:po-7")["name"] == "#3003"  # type: ignore[index]
        with pytest.raises(AmbiguousOrder) as caught:
            resolve_order(conn, "#1001")
    assert str(caught.value) == (
        "order '#1001' fits several orders: 'rxscale:#1001', 'shopify:#1001'; "
        "type SOURCE:ID (e.g. 'rxscale:#1001')"
    )
    assert caught.value.candidates == ["1001", "shopify:1001"]
    with pytest.raises(OrderNotFound, match="fits several orders"):
        service.act("#1001", Action.START)
    moved = service.act("shopify:#1001", Action.START)
    assert (moved.order.source, moved.order.remote_id, moved.order.status) == (
        "shopify", "1001", Status.PROCESSING)  # fmt: skip
    assert service.get("rxscale:#1001").status is Status.OPEN


def test_a_cancellation_request_stops_work_until_answered() -> None:
    asked = OrderFacts(Status.PROCESSING, cancel_requested=True)
    for action in (Action.START, Action.FINISH, Action.ADVANCE, Action.CANCEL):
        with pytest.raises(TransitionError, match="the merchant asked to cancel #1001") as err:
            apply(asked, action, NOW, reason="r", name="#1001")
        assert err.value.named
    assert str(err.value) == (
        "cannot cancel: the merchant asked to cancel #1001 (accept or reject the request first)"
    )
    accepted = apply(asked, Action.ACCEPT_CANCEL, NOW)
    assert accepted.facts == OrderFacts(Status.CANCELLED)
    with pytest.raises(TransitionError, match="reject_cancel needs a reason"):
        apply(asked, Action.REJECT_CANCEL, NOW)
    rejected = apply(asked, Action.REJECT_CANCEL, NOW, reason="already packed")
    assert rejected.facts == OrderFacts(Status.PROCESSING)
    assert legal_actions(asked, NOW) == {Action.ACCEPT_CANCEL, Action.REJECT_CANCEL,
                                         Action.HOLD}  # fmt: skip
    for action in (Action.ACCEPT_CANCEL, Action.REJECT_CANCEL):
        with pytest.raises(TransitionError, match="nobody asked to cancel"):
            apply(OrderFacts(Status.OPEN), action, NOW, reason="r")
    assert Action.ACCEPT_CANCEL not in legal_actions(OrderFacts(Status.OPEN), NOW)


def test_a_hold_the_merchant_placed_is_released_there() -> None:
    held = OrderFacts(Status.OPEN, on_hold=True, remote_hold=True)
    with pytest.raises(TransitionError) as err:
        apply(held, Action.RELEASE, NOW, held_at="Shopify")
    assert str(err.value) == "cannot release: held by the merchant in Shopify: release it there"
    assert apply(OrderFacts(Status.OPEN, on_hold=True), Action.RELEASE, NOW).facts.on_hold is False

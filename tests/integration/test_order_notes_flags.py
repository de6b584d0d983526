"""On the order (issue 24 §4): the floor's notes (audited, never sent, a mark on the card)
and the fridge / controlled-substance flags from the items (badges on the card and wall)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.db.queries import Waiting
from rxfloor.core.due import Targets
from rxfloor.core.flags import FlagRules, item_flags
from rxfloor.core.lifecycle import Action
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.service import Actor, OrderService, Refused
from rxfloor.tui.board.card import badges
from rxfloor.tui.board.model import Card
from rxfloor.tui.screens.detail import detail_text
from rxfloor.tui.screens.note import NoteScreen
from rxfloor.tui.watch.widgets import urgent_text
from tests.board_fixtures import make_app, on_top, press, ready, seed_board, until

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
INSULIN = LineItem(sku="ins-1", drug="Insulin glargine", strength="100 U/ml pen", pzn="01234567")
GABA = LineItem(sku="gab-3", drug="Gabapentin", strength="300 mg caps")
AMOX = LineItem(sku="amx-5", drug="Amoxicillin", strength="500 mg caps")
RULES = FlagRules.of(fridge=["insulin", "99999999"], controlled=["GAB-3"])


def test_flags_from_names_and_codes() -> None:
    assert item_flags([INSULIN], RULES) == "fridge"
    assert item_flags([AMOX, GABA], RULES) == "controlled"  # by its SKU, any case
    assert item_flags([INSULIN, GABA], RULES) == "fridge,controlled"
    assert item_flags([AMOX], RULES) == ""
    assert item_flags([INSULIN], FlagRules()) == ""
    word = LineItem(sku="x", drug="Insulinase", strength="")  # a word, not a part of one
    assert item_flags([word], RULES) == ""
    by_pzn = LineItem(sku="y", drug="Something", pzn="99999999")
    assert item_flags([by_pzn], RULES) == "fridge"


def _svc(store: Store) -> OrderService:
    return OrderService(store, Actor("AB", "bench-1"), clock=lambda: NOW, flags=RULES)


def test_orders_carry_their_flags_and_notes(store: Store) -> None:
    svc = _svc(store)
    svc.add_orders([NewOrder(id="po-1", name="#1001", patient_name="Anna Müller",
                             items=[INSULIN, GABA])])  # fmt: skip
    view = svc.get("#1001")
    assert view.flags == "fridge,controlled"
    noted = svc.add_note("#1001", "  patient asks for   a cool bag ")
    assert (noted.note_count, noted.version) == (1, 2)
    with pytest.raises(Refused, match="a note is 1 to 500"):
        svc.add_note("#1001", "   ")
    events = store.history("po-1")
    assert (events[-1]["action"], events[-1]["reason"], events[-1]["actor"]) == (
        "note", "patient asks for a cool bag", "AB")  # fmt: skip
    with store.read() as conn:
        assert conn.execute(select(outbox)).first() is None  # never sent
    _title, body = detail_text(view, [], [dict(e) for e in events], [], now=NOW, targets=Targets())
    assert "Notes" in body and "patient asks for a cool bag" in body
    assert "Flags       fridge, controlled" in body
    # a move after the note, by a person who saw the card before it: told, nothing done
    with pytest.raises(Refused, match="had a note added"):
        svc.act("#1001", Action.START, expected_version=1)


def test_card_and_wall_badges() -> None:
    row = {"id": "po-1", "name": "#1001", "status": "OPEN", "patient_name": "Anna Müller",
           "items_summary": "Insulin", "due_at": None, "fulfill_at": None, "version": 1,
           "status_since": NOW, "source": "rxscale", "request_kind": None, "hold_by": None,
           "note_count": 2, "flags": "fridge,controlled"}  # fmt: skip
    card = Card._make(row, "normal", "pickup", False, False, None)
    texts = [t for t, _ in badges(card, NOW)]
    assert texts[:3] == [" FRIDGE", " CTRL", " ✎"]
    wall = urgent_text([Waiting("#1001", "AM", "OPEN", "stat", NOW, None, False,
                                flags="fridge,controlled")], NOW)  # fmt: skip
    assert "FRIDGE" in wall.plain and "CTRL" in wall.plain


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_n_writes_a_note_and_the_card_shows_it(
    sqlite_url: str, size: tuple[int, int]
) -> None:
    seed_board(sqlite_url)
    app = make_app(sqlite_url)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        card = app.board.card
        assert card is not None and card.note_count == 0
        await press(pilot, "n")
        await on_top(pilot, NoteScreen)
        await pilot.press(*"call GP", "enter")
        await until(pilot, lambda: app.board.model.cards[card.id].note_count == 1)
        col = app.board.view.column_for(card.status)
        shown = app.board.model.cards[card.id]
        line = "".join(s.text for s in col._render_card(shown, 70, selected=False)[0])
        assert "✎" in line

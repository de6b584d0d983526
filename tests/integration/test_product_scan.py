"""Scan the product while filling (issue 24 §2): a pack of the order ticks its item (batch
and serial kept for a recall), a wrong, expired or surplus pack is refused loudly and
audited; ``require_product_scan`` fills only a fully scanned order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox, product_scans
from rxfloor.core.lifecycle import Action, CheckRule
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.products import GS
from rxfloor.core.service import Actor, OrderService, Refused
from tests.board_fixtures import make_app, ready, scan, until
from tests.helpers import run_cli
from tests.unit.test_products import with_check

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AMOX = LineItem(sku="amx-500", drug="Amoxicillin", strength="500 mg", quantity=2,
                pzn="12345678")  # fmt: skip
IBU = LineItem(sku=with_check("0400000000001"), drug="Ibuprofen", strength="400 mg")
#: a GS1 DataMatrix as a scanner types it: symbology id, GS between variable fields
AMOX_PACK = f"]d2010415012345678217271231108AB{GS}21SER-1"
AMOX_PACK_2 = f"]d2010415012345678217271231108AB{GS}21SER-2"
OTHER = with_check("400000000009")  # an EAN-13 of no item here
EXPIRED_IBU = f"01{with_check('0400000000001').zfill(14)}17261130"


def _filling(store: Store, *, require_product_scan: bool = False) -> OrderService:
    svc = OrderService(store, Actor("TJ", "bench-1"), clock=lambda: NOW,
                       check=CheckRule.SECOND_PERSON)  # fmt: skip
    svc.require_product_scan = require_product_scan
    svc.add_orders([NewOrder(id="po-12", name="#1012", patient_name="Anna Müller",
                             items=[AMOX, IBU])])  # fmt: skip
    svc.act("#1012", Action.START)
    return svc


def test_a_pack_ticks_its_item_and_keeps_batch_and_serial(store: Store) -> None:
    svc = _filling(store)
    done = svc.scan_product("#1012", AMOX_PACK)
    assert done.summary == "#1012: Amoxicillin 500 mg ticked, 1/3 scanned"
    assert done.order.scan_progress == "1/3"
    with store.read() as conn:
        row = conn.execute(select(product_scans)).mappings().one()
        assert conn.execute(select(outbox.c.action)).scalars().all() == ["start"]  # never sent
    assert (row["position"], row["gtin"], row["batch"], row["serial"], row["expiry"]) == (
        0, "04150123456782", "8AB", "SER-1", "2027-12-31")  # fmt: skip
    last = store.history("po-12")[-1]
    assert (last["action"], last["reason"]) == (
        "product_scan", "Amoxicillin 500 mg · batch 8AB · serial SER-1 (1/3 scanned)")  # fmt: skip


def test_wrong_expired_and_surplus_packs_are_refused_and_audited(store: Store) -> None:
    svc = _filling(store)
    with pytest.raises(Refused, match=r"GTIN 0\d+ is not on #1012 \(it holds Amoxicillin 500 mg, "):
        svc.scan_product("#1012", OTHER)
    with pytest.raises(Refused, match="Ibuprofen 400 mg expired 2026-11-30: not for #1012"):
        svc.scan_product("#1012", EXPIRED_IBU)
    svc.scan_product("#1012", AMOX_PACK)
    svc.scan_product("#1012", AMOX_PACK_2)
    with pytest.raises(Refused, match="every pack of Amoxicillin 500 mg on #1012 is already"):
        svc.scan_product("#1012", AMOX_PACK)
    with pytest.raises(Refused, match="is not a product code"):
        svc.scan_product("#1012", "po-s0-000012")
    refused = [e["reason"] for e in store.history("po-12") if e["action"] == "scan_refused"]
    assert len(refused) == 3 and "is not on #1012" in refused[0]
    with store.read() as conn:
        assert len(conn.execute(select(product_scans)).all()) == 2


def test_only_an_order_being_filled_takes_scans(store: Store) -> None:
    svc = _filling(store)
    svc.act("#1012", Action.FILL)
    with pytest.raises(Refused, match="#1012 is not being filled"):
        svc.scan_product("#1012", AMOX_PACK)


def test_require_product_scan_fills_only_when_every_pack_is_scanned(store: Store) -> None:
    svc = _filling(store, require_product_scan=True)
    with pytest.raises(Refused, match="cannot fill: 3 packs are not scanned yet on #1012"):
        svc.act("#1012", Action.ADVANCE)
    svc.scan_product("#1012", AMOX_PACK)
    svc.scan_product("#1012", AMOX_PACK_2)
    with pytest.raises(Refused, match="1 pack is not scanned yet"):
        svc.act("#1012", Action.FILL)
    svc.scan_product("#1012", with_check("0400000000001"))
    assert svc.act("#1012", Action.FILL).order.fill_step == "filled"


def test_history_batch_lists_every_pack_of_a_recalled_batch(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    svc = _filling(store)
    svc.scan_product("#1012", AMOX_PACK)
    svc.scan_product("#1012", AMOX_PACK_2)
    store.close()
    out = run_cli(sqlite_url, "history", "--batch", "8AB")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "2 packs of batch 8AB"
    assert "#1012" in out.stdout and "SER-2" in out.stdout
    packs = json.loads(run_cli(sqlite_url, "history", "--batch", "8AB", "--json").stdout)
    assert [(p["order"], p["serial"], p["item"]) for p in packs] == [
        ("#1012", "SER-1", "Amoxicillin"), ("#1012", "SER-2", "Amoxicillin")]  # fmt: skip
    wrong = run_cli(sqlite_url, "product", "#1012", OTHER)
    assert wrong.returncode == 1 and "is not on #1012" in wrong.stderr


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_a_scanner_on_the_board_ticks_or_refuses_loudly(
    sqlite_url: str, size: tuple[int, int]
) -> None:
    store = Store.open(sqlite_url)
    _filling(store)
    store.close()
    app = make_app(sqlite_url, floor={"check": "second_person"}, repeat_guard_s=0)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        assert app.board.focus_order("po-12")
        await pilot.pause()
        card = app.board.card
        assert card is not None and card.name == "#1012"
        await scan(pilot, AMOX_PACK)  # with its group separator, as a scanner types it
        await until(pilot, lambda: app.board.model.cards["po-12"].scan_progress == "1/3")
        col = app.board.view.column_for(card.status)
        line = "".join(s.text for s in col._render_card(app.board.model.cards["po-12"], 70,
                                                        selected=False)[0])  # fmt: skip
        assert "1/3 scanned" in line
        await scan(pilot, OTHER)
        await until(pilot, lambda: any(s == "error" and "is not on #1012" in m
                                       for s, m in app.said))  # fmt: skip


def test_the_scan_reader_keeps_a_group_separator_inside_a_burst() -> None:
    from rxfloor.tui.scan import ScanBuffer, Verdict

    reader: ScanBuffer[str] = ScanBuffer()
    at = 0.0
    for ch in AMOX_PACK:
        at += 0.005
        assert reader.key(ch, ch, ch, at).verdict is Verdict.HOLD
    done = reader.key("enter", "enter", "\r", at + 0.005)
    assert (done.verdict, done.text) == (Verdict.SCAN, AMOX_PACK)

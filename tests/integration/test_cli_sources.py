"""The CLI with several sources: SOURCE:ID, ``--json`` carrying the source, the answers to a
cancellation request, a finish with its tracking, ``sync --source`` and per-source webhooks."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from rxfloor.core import sources
from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Status
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.tui.cli.main import main

GID = "gid://shopify/FulfillmentOrder/42"


@pytest.fixture
def url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "c1"))
    service.add_orders(
        [
            NewOrder(id="po-1", name="#1001", remote_status="open"),
            NewOrder(
                id=local_id("shopify", GID),
                source="shopify",
                name="#1001",
                remote_status="OPEN/SUBMITTED",
            ),
        ]
    )
    service.apply_remote(local_id("shopify", GID), "OPEN/CANCELLATION_REQUESTED", Status.OPEN,
                         cancel_requested=True, request_message="ordered twice")  # fmt: skip
    store.close()
    monkeypatch.setenv("RXFLOOR_DATABASE_URL", sqlite_url)
    return sqlite_url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_ids_take_their_source_where_a_name_is_ambiguous(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "start", "#1001")
    assert code == 1 and err == (
        "rxfloor: order '#1001' fits several orders: 'rxscale:#1001', 'shopify:#1001'; "
        "type SOURCE:ID (e.g. 'rxscale:#1001')\n"
    )
    code, out, err = _run(capsys, "start", "RxScale:#1001")
    assert (code, out) == (0, "#1001 OPEN -> PROCESSING\n"), err
    code, out, err = _run(capsys, "start", "shopify:1001")
    assert code == 1 and "the merchant asked to cancel #1001" in err
    code, out, err = _run(capsys, "orders", "--json")
    listed = {
        (o["source"], o["remote_id"], o["status"], o["request_kind"]) for o in json.loads(out)
    }
    assert listed == {("rxscale", "po-1", "PROCESSING", None),
                      ("shopify", GID, "OPEN", "cancellation")}  # fmt: skip
    code, out, err = _run(capsys, "history", f"shopify:{GID}", "--json")
    events = json.loads(out)
    assert [e["action"] for e in events] == ["created", "cancel_request"]
    assert {(e["order_source"], e["remote_id"]) for e in events} == {("shopify", GID)}
    assert events[-1]["source"] == "remote"  # an event's own source: local / remote


def test_a_cancellation_request_is_answered_from_the_cli(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["reject-cancel", "shopify:#1001"])
    assert usage.value.code == 2 and "--reason" in capsys.readouterr().err
    code, out, err = _run(capsys, "reject-cancel", "shopify:#1001", "--reason", "packed")
    assert (code, out) == (0, "#1001 cancellation request rejected (OPEN)\n"), err
    code, out, err = _run(capsys, "accept-cancel", "shopify:#1001")
    assert code == 1 and "nobody asked to cancel" in err
    code, out, err = _run(capsys, "start", "shopify:#1001")
    assert code == 0, err
    code, out, err = _run(capsys, "finish", "shopify:#1001", "--carrier", "DHL")
    assert code == 2 and "go with --tracking" in err
    code, out, err = _run(capsys, "finish", "shopify:#1001", "--tracking", " 00340434 ",
                          "--carrier", "DHL")  # fmt: skip
    assert (code, out) == (0, "#1001 PROCESSING -> FINISHED\n"), err
    store = Store.open(url)
    with store.read() as conn:
        rows = conn.execute(select(outbox.c.action, outbox.c.payload)).all()
    store.close()
    assert [a for a, _ in rows] == ["reject_cancel", "start", "finish"]
    assert json.loads(rows[-1][1]) == {"tracking": {"company": "DHL", "number": "00340434",
                                                    "url": None}}  # fmt: skip


def test_sync_and_webhooks_name_their_sources(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "sync", "--once", "--source", "nope")
    known = ", ".join(sources.names())  # rxscale, shopify and whichever sources landed since
    assert code == 2 and f"--source: unknown source 'nope' (known: {known})" in err
    code, _, err = _run(capsys, "sync", "--once")
    assert code == 3 and "no source is configured" in err and "RXFLOOR_API_URL" in err
    code, _, err = _run(capsys, "webhooks", "serve", "--port", "0")
    assert code == 3 and "no webhook secret is set: set RXFLOOR_WEBHOOK_SECRET" in err

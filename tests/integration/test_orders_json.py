"""``rxfloor orders --json`` writes each order from its row's values, without a model, a
dict or a datetime per order: byte for byte ``json.dumps`` of the pydantic ``OrderView``'s
JSON and the order's promise, on SQLite (stored text) and PostgreSQL (datetimes)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import insert, select, update

from rxfloor.core.db import Store, audit_events, orders, outbox
from rxfloor.core.db import queries as bq
from rxfloor.core.due import Targets, is_late, promise_of
from rxfloor.core.models import OrderView
from rxfloor.core.states import OutboxState
from rxfloor.tui.cli.orders import write_orders_json
from tests.board_fixtures import FROZEN, seed_board

_INSTANT = TypeAdapter(datetime)


def view_json(
    row: Mapping[Any, Any], sync_error: str | None, targets: Targets, now: datetime
) -> dict[str, object]:
    """One order of the listing as the pydantic models write it: the order's view, then
    when it is promised, by which target (null: the source's own time), and ``late``."""
    promised = promise_of(row, targets)
    return OrderView.from_row(row, sync_error=sync_error).model_dump(mode="json") | {
        "promised_at": _INSTANT.dump_python(promised.at.astimezone(UTC), mode="json"),
        "promised_by": promised.target,
        "late": is_late(promised.at, str(row["status"]), now),
    }


def test_each_line_is_the_order_views_json(db_url: str) -> None:
    seed_board(db_url, 60)  # held, scheduled, started, finished, cancelled orders
    store = Store.open(db_url, migrate=False)
    hostile = 'Zoë "Ü" \\ Łukasz\t😀\x01 </script>'
    try:
        with store.write() as conn:
            conn.execute(  # a finish's tracking (padded) and a cancellation request
                update(orders)
                .where(orders.c.name == "#1006")
                .values(tracking_number=" 1Z999 ", tracking_company="UPS",
                        request_kind="cancellation", request_message=hostile)
            )  # fmt: skip
            conn.execute(  # text beyond ASCII and JSON's escapes; a time with no fraction
                update(orders)
                .where(orders.c.name == "#1004")
                .values(patient_name=hostile, hold_reason=hostile, due_at=None,
                        created_at=FROZEN.replace(microsecond=0),
                        status_since=FROZEN - timedelta(microseconds=1))
            )  # fmt: skip
            conn.execute(  # a stamp with a fraction of whole milliseconds; an empty tracking
                update(orders)
                .where(orders.c.name == "#1005")
                .values(updated_at=FROZEN.replace(microsecond=250_000), tracking_number="")
            )  # fmt: skip
            started = conn.execute(  # a push of #1002's start parked, with the remote's words
                select(audit_events.c.id, audit_events.c.order_id)
                .join(orders, orders.c.id == audit_events.c.order_id)
                .where(orders.c.name == "#1002", audit_events.c.action == "start")
            ).one()
            conn.execute(insert(outbox).values(
                order_id=started.order_id, audit_event_id=started.id, action="start",
                idempotency_key="parked", state=OutboxState.FAILED, created_at=FROZEN,
                last_error="refused: «nope» \u2028",
            ))  # fmt: skip
        rows = {r["id"]: r for r in store.board_rows()}
        with store.read() as conn:
            errors = bq.sync_errors_by_order(conn)
        out = io.StringIO()
        write_orders_json(store, None, out, Targets(), FROZEN)
    finally:
        store.close()
    assert list(errors.values()) == ["refused: «nope» \u2028"]
    lines = out.getvalue().removeprefix("[\n").removesuffix("\n]\n").split(",\n")
    assert len(lines) == len(rows) == 60
    listed = [json.loads(line)["id"] for line in lines]
    assert sorted(listed) == sorted(rows)
    for oid, line in zip(listed, lines, strict=True):
        expected = view_json(rows[oid], errors.get(oid), Targets(), FROZEN)
        assert line == json.dumps(expected), rows[oid]["name"]
    assert any('"tracking": {"company": "UPS", "number": "1Z999", "url": null}' in ln
               for ln in lines)  # fmt: skip
    assert any("\\ud83d\\ude00" in ln for ln in lines)  # as json.dumps: ASCII, escaped

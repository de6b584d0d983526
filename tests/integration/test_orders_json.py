"""``rxfloor orders --json`` writes each order as a plain dict: the same JSON, key for key
and in the same order, as the pydantic ``OrderView`` it no longer builds per row."""

from __future__ import annotations

from sqlalchemy import update

from rxfloor.core.db import Store, orders
from rxfloor.core.models import OrderView
from rxfloor.tui.cli.orders import order_json
from tests.board_fixtures import seed_board


def test_order_json_is_the_order_views_json(sqlite_url: str) -> None:
    seed_board(sqlite_url, 60)  # held, scheduled, started, finished, cancelled orders
    store = Store.open(sqlite_url, migrate=False)
    try:
        with store.write() as conn:  # a finish's tracking (padded) and a cancellation request
            conn.execute(
                update(orders)
                .where(orders.c.name == "#1006")
                .values(tracking_number=" 1Z999 ", tracking_company="UPS",
                        request_kind="cancellation", request_message="wrong address")
            )  # fmt: skip
        rows = store.board_rows()
    finally:
        store.close()
    assert any(r["on_hold"] for r in rows) and any(r["fulfill_at"] for r in rows)
    for row in rows:
        for error in (None, "refused by the remote"):
            view = OrderView.from_row(row, sync_error=error).model_dump(mode="json")
            mine = order_json(row, error)
            assert list(mine.items()) == list(view.items()), row["name"]

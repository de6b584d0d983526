"""``rxfloor sync`` against Shopify killed with SIGKILL mid-push (several points), restarted:
each mutation applied exactly once (a pickup order's preparation for pickup at its finish and
its fulfillment at its hand-off too).

Shopify has no idempotency key: a row left ``sending`` by a kill right after Shopify ran
its mutation must be read back and found done, never sent again (a second accept would be
refused; a second ``fulfillmentCreate`` of a half-fulfilled order would ship twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from rxfloor.core.db import Store, outbox
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.service import Counter as Desk
from tests.helpers import rxfloor_cmd
from tests.shopify_fixtures import serve_shopify

ORDERS = 15
ACCEPT, FULFIL = "fulfillmentOrderAcceptFulfillmentRequest", "fulfillmentCreate"
PREPARE = "fulfillmentOrderLineItemsPreparedForPickup"


def mutation(action: str, pickup: bool) -> str:
    """What each move is in Shopify: a pickup order's finish prepares it, its hand-off is
    the fulfillment; a ship order's finish is the fulfillment."""
    if action == "start":
        return ACCEPT
    return PREPARE if action == "finish" and pickup else FULFIL


@pytest.mark.slow
def test_sigkill_mid_push_then_restart_applies_each_mutation_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serve_shopify(seed=ORDERS, restore_rate=1000.0) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[sources.shopify]\nshop_url = "{server.base_url}"\n')
        store = Store.open(sqlite_url)
        service = OrderService(store, Actor("AB", "counter-1"))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RXFLOOR_")},
            "RXFLOOR_CONFIG": str(config),
            "RXFLOOR_DATABASE_URL": sqlite_url,
            "RXFLOOR_SHOPIFY_ACCESS_TOKEN": server.access_token,
        }
        first = subprocess.run(rxfloor_cmd("sync", "--once"), env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert first.returncode == 0, first.stderr + first.stdout
        rows = store.board_rows()
        assert len(rows) == ORDERS
        pickup = {r["remote_id"]: server.fulfillment_order(r["remote_id"])["deliveryMethod"]
                  ["methodType"] == "PICK_UP" for r in rows}  # fmt: skip
        assert any(pickup.values()) and not all(pickup.values())  # both kinds of order
        for row in rows:
            service.act(row["id"], Action.START)
            service.act(row["id"], Action.FINISH)
            if pickup[row["remote_id"]]:  # the patient collects it at once
                service.act(row["id"], Action.HANDOFF, counter=Desk(id_checked=True))
        moves = 2 * ORDERS + sum(pickup.values())  # start, finish; a pickup's hand-off
        # a small bucket restored at 120 points/s: ~12 mutations/s, so the kills land mid-push
        server.set_throttle(maximumAvailable=40.0, currentlyAvailable=40.0, restoreRate=120.0)
        server.set_faults(next=["drop_after", "malformed"], operations=["mutation"])
        kills = 0
        for kill_at in (4, 12, 21):
            proc = subprocess.Popen(
                rxfloor_cmd("sync", "--interval", "0.05"), env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 60
                while len([t for t in server.transitions() if t["by"] == "api"]) < kill_at:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the worker made no progress"
                    time.sleep(0.005)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
        with store.read() as conn:
            in_flight = Counter(conn.execute(select(outbox.c.state)).scalars())
        assert in_flight["sending"] > 0  # a kill did land between a mutation and bookkeeping
        for _ in range(5):
            done = subprocess.run(rxfloor_cmd("sync", "--once"), env=env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0, done.stderr
            if '"pending": 0' in done.stdout:
                break
        with store.read() as conn:
            rows = list(conn.execute(select(outbox)).mappings())
        store.close()
        assert kills == 3
        assert Counter(r["state"] for r in rows) == {"sent": moves}, [
            (r["order_id"], r["action"], r["state"], r["last_error"], r["attempts"])
            for r in rows if r["state"] != "sent"
        ]  # fmt: skip
        applied = Counter((t["id"], t["action"]) for t in server.transitions() if t["by"] == "api")
        assert len(applied) == moves and set(applied.values()) == {1}
        remote = {r["order_id"]: r["order_id"].removeprefix("shopify:") for r in rows}
        assert set(applied) == {
            (remote[r["order_id"]], mutation(r["action"], pickup[remote[r["order_id"]]]))
            for r in rows
        }
        assert {gid for gid, ready in pickup.items() if ready} == {
            gid for gid in pickup if server.state.prepared(gid)}  # fmt: skip

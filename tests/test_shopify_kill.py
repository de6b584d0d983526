"""``rxfloor sync`` against Shopify killed with SIGKILL mid-push (several points), restarted:
each mutation applied exactly once.

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
from tests.helpers import rxfloor_cmd
from tests.shopify_fixtures import serve_shopify

MOVES = 30
MUTATION = {"start": "fulfillmentOrderAcceptFulfillmentRequest", "finish": "fulfillmentCreate"}


@pytest.mark.slow
def test_sigkill_mid_push_then_restart_applies_each_mutation_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    with serve_shopify(seed=MOVES // 2, restore_rate=1000.0) as server:
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
        assert len(rows) == MOVES // 2
        for row in rows:
            service.act(row["id"], Action.START)
            service.act(row["id"], Action.FINISH)
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
        assert Counter(r["state"] for r in rows) == {"sent": MOVES}, [
            (r["order_id"], r["action"], r["state"], r["last_error"], r["attempts"])
            for r in rows if r["state"] != "sent"
        ]  # fmt: skip
        applied = Counter((t["id"], t["action"]) for t in server.transitions() if t["by"] == "api")
        assert len(applied) == MOVES and set(applied.values()) == {1}
        assert set(applied) == {
            (r["order_id"].removeprefix("shopify:"), MUTATION[r["action"]]) for r in rows
        }

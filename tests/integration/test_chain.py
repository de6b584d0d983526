"""A chain on one server: one database per pharmacy (issue 26 §5).

The schema knows no pharmacy: the push lease, the feed's channel and the webhook inbox are
each database's own, so two pharmacies on one PostgreSQL server share nothing but the
server. ``rxfloor chain`` reads several pharmacies' databases, one line each, read-only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from rxfloor.core.chain import Chain, Pharmacy, parse_pharmacy, pharmacies
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.rxscale.source import WEBHOOKS
from rxfloor.core.sync.lease import PushLease
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.sandbox.rxscale import sign
from tests.board_fixtures import FROZEN, frozen
from tests.conftest import PG_ENV
from tests.helpers import inbox_settled, migrated_sqlite, rxfloor_cmd, scratch_postgres, wait_for
from tests.remote_fixtures import serve_asgi

SECRET = "whsec_chain"
SAME_ORDERS = [
    NewOrder(id=f"po-{i}", name=f"#{1000 + i}", remote_status="open",
             due_at=FROZEN + timedelta(minutes=10 * i - 25))
    for i in range(4)
]  # fmt: skip


def floor(url: str) -> OrderService:
    """A pharmacy: the same four order ids as the other one (ids are per database)."""
    service = OrderService(Store.open(url), Actor("AB", "chain-1"), clock=frozen)
    service.add_orders(SAME_ORDERS, source="rxscale")
    return service


@pytest.fixture
def second_pg(_pg_head: str) -> Iterator[str]:
    """A second database at the schema head, as pg_url's (a copy of this worker's head)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip("RXFLOOR_TEST_POSTGRES_URL is not set")
    with scratch_postgres(base, "rxfloor_test_b", template=_pg_head) as url:
        yield url


@pytest.mark.postgres
def test_two_pharmacies_on_one_server_share_no_lease_feed_or_webhook(
    pg_url: str, second_pg: str
) -> None:
    a, b = floor(pg_url), floor(second_pg)
    try:
        # leases: each pharmacy has its pusher; a second one in the same pharmacy waits
        lease_a, lease_b = (PushLease(s.store, source="rxscale") for s in (a, b))
        other_a = PushLease(a.store, source="rxscale")
        assert lease_a.acquire() and lease_b.acquire()
        assert not other_a.acquire()
        for lease in (lease_a, lease_b, other_a):
            lease.release()
        # feeds: a move in A wakes A's followers, never B's
        cursor_a, cursor_b = a.store.change_cursor(), b.store.change_cursor()
        waiter_b = b.store.change_waiter()
        waiter_b.open()
        a.act("#1001", Action.START)
        assert not waiter_b.wait(0.5)
        waiter_b.close()
        assert b.store.changes_since(cursor_b)[1] == set()
        assert a.store.changes_since(cursor_a)[1] == {"po-1"}
        # webhooks: A's inbox applies to A's po-2 only, though B has an order po-2 too
        receiver = WebhookReceiver(a, SECRET.encode(), webhooks=WEBHOOKS, source="rxscale")
        stamp = time.time()
        body = json.dumps({"event_type": "pharmacy_order_updated", "timestamp": stamp,
                           "payload_version": "1", "data": {"uid": "po-2", "status":
                           "cancelled", "updated_at": stamp}}).encode()  # fmt: skip
        headers = {"X-Webhook-Signature": sign(SECRET, body), "Content-Type": "application/json"}
        receiver.start()
        try:
            with serve_asgi(receiver.asgi_app()) as root, httpx.Client(timeout=10) as client:
                assert client.post(root, content=body, headers=headers).status_code == 202
                wait_for(lambda: inbox_settled(a.store))
        finally:
            receiver.stop()
        assert a.get("po-2").status is Status.CANCELLED
        assert b.get("po-2").status is Status.OPEN and b.get("po-1").status is Status.OPEN
        # the chain reads both, each its own
        chain = Chain([Pharmacy("north", pg_url), Pharmacy("south", second_pg)])
        north, south = chain.snapshot(FROZEN)
        chain.close()
        assert (north.open, north.processing, south.open, south.processing) == (2, 1, 4, 0)
    finally:
        a.store.close()
        b.store.close()


def sqlite_floor(path: Path, moves: int) -> str:
    url = migrated_sqlite(path)
    service = floor(url)
    for i in range(moves):
        service.act(f"#{1000 + i}", Action.START)
    service.store.close()
    return url


def test_chain_json_is_one_line_per_pharmacy_and_names_an_unreachable_one(
    tmp_path: Path,
) -> None:
    import subprocess

    north = sqlite_floor(tmp_path / "north.db", 1)
    south = sqlite_floor(tmp_path / "south.db", 3)
    down = "postgresql://rx:secret@127.0.0.1:1/east"
    config = tmp_path / "config.toml"
    config.write_text(f'[chain]\nnorth = "{north}"\nsouth = "{south}"\n')
    env = {**os.environ, "RXFLOOR_CONFIG": str(config)}
    env.pop("RXFLOOR_DATABASE_URL", None)
    done = subprocess.run(rxfloor_cmd("chain", "--json", "--pharmacy", f"east={down}"),
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = {p["name"]: p for p in json.loads(done.stdout)["pharmacies"]}
    assert list(lines) == ["north", "south", "east"]
    assert (lines["north"]["open"], lines["north"]["processing"]) == (3, 1)
    assert (lines["south"]["open"], lines["south"]["processing"]) == (1, 3)
    assert lines["south"]["queued"] == 3 and lines["south"]["error"] is None
    assert lines["north"]["late"] >= 2  # #1000 and #1001 were due before now
    east = lines["east"]["error"]
    assert "postgresql://rx:***@127.0.0.1:1/east" in east
    assert "secret" not in done.stdout and "+psycopg" not in done.stdout


def test_pharmacies_come_from_the_config_and_the_command_line() -> None:
    assert parse_pharmacy(" north = sqlite:///a.db ") == Pharmacy("north", "sqlite:///a.db")
    with pytest.raises(ValueError, match="NAME=URL"):
        parse_pharmacy("north")
    got = pharmacies({"north": "sqlite:///a.db", "south": "sqlite:///b.db"},
                     ["south=sqlite:///c.db", "east=sqlite:///d.db"])  # fmt: skip
    assert [(p.name, p.url) for p in got] == [
        ("north", "sqlite:///a.db"), ("south", "sqlite:///c.db"), ("east", "sqlite:///d.db")
    ]  # fmt: skip


async def test_the_chain_screen_shows_every_pharmacy_live(tmp_path: Path) -> None:
    from rxfloor.tui.chain.app import ChainApp

    north = sqlite_floor(tmp_path / "north.db", 0)
    chain = Chain([Pharmacy("north", north), Pharmacy("gone", str(tmp_path / "no" / "x.db"))])
    app = ChainApp(chain, every=0.1, clock=frozen)
    async with app.run_test(size=(140, 20)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.lines:
                break
        assert [line.name for line in app.lines] == ["north", "gone"]
        assert app.lines[0].open == 4 and app.lines[1].error is not None
        service = OrderService(Store.open(north), Actor("AB", "c"), clock=frozen)
        service.act("#1001", Action.START)
        service.store.close()
        for _ in range(100):
            await pilot.pause(0.05)
            if app.lines and app.lines[0].processing == 1:
                break
        assert app.lines[0].processing == 1
        await pilot.press("q")
    chain.close()


def test_chain_help_and_json_import_nothing_of_the_screen(tmp_path: Path) -> None:
    """Start-up budget: ``chain --help`` needs argparse; ``chain --json`` no Textual or Rich."""
    from tests.e2e.test_quality import _heavy_imports

    assert not _heavy_imports("chain", "--help") & {"sqlalchemy", "pydantic", "textual"}
    url = sqlite_floor(tmp_path / "north.db", 0)
    heavy = _heavy_imports("chain", "--json", "--pharmacy", f"north={url}")
    assert "sqlalchemy" in heavy and not heavy & {"textual", "rich", "starlette", "httpx"}

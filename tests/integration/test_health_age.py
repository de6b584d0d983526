"""Issue 21 §5: health has an age. When no sync worker has reported for a few intervals, the
board's header and the wall say ``rxscale: no sync since 10:02`` in the warning colour, not
the last word a worker wrote ("online", "1 queued") for ever. Clocks are the tests' own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store, sync_state
from rxfloor.core.db.queries import SyncHealth
from rxfloor.tui.board.header import health_line, health_text, stale_after_s
from tests.board_fixtures import FROZEN, make_app, ready, seed_board, until
from tests.watch_fixtures import make_watch, shown_once

STALE = 30.0


def hhmm(when: datetime) -> str:
    return when.astimezone().strftime("%H:%M")


def reported(at: datetime, queued: int = 0) -> SyncHealth:
    return SyncHealth(True, None, at, None, queued, 0, reported_at=at)


def test_a_recent_report_is_believed_an_old_one_is_not() -> None:
    fresh = health_line({"rxscale": reported(FROZEN, 1)}, ["rxscale"],
                        now=FROZEN + timedelta(seconds=29), stale_after=STALE)  # fmt: skip
    assert fresh.plain == "rxscale 1 queued" and not fresh.spans
    old = health_line({"rxscale": reported(FROZEN, 1)}, ["rxscale"],
                      now=FROZEN + timedelta(seconds=31), stale_after=STALE)  # fmt: skip
    assert old.plain == f"rxscale: no sync since {hhmm(FROZEN)}, 1 queued"
    assert any("warning" in str(span.style) for span in old.spans)
    quiet = health_line({"rxscale": reported(FROZEN)}, ["rxscale"],
                        now=FROZEN + timedelta(hours=2), stale_after=STALE)  # fmt: skip
    assert quiet.plain == f"rxscale: no sync since {hhmm(FROZEN)}"  # never "online"


def test_the_wall_text_says_it_too() -> None:
    health = {"rxscale": reported(FROZEN, 1)}
    later = FROZEN + timedelta(minutes=5)
    assert health_text(health, now=later, stale_after=STALE) == (
        f"rxscale: no sync since {hhmm(FROZEN)} · 1 queued · 0 failed"
    )
    assert (
        health_text(health, now=FROZEN, stale_after=STALE) == "sync: online · 1 queued · 0 failed"
    )


def test_a_few_intervals_but_never_less_than_half_a_minute() -> None:
    assert stale_after_s(load_settings(sync_interval_s=5)) == 30
    assert stale_after_s(load_settings(sync_interval_s=60)) == 180


def write_health(url: str, at: datetime) -> None:
    """What a worker's cycle writes, at a time the test chooses."""
    store = Store.open(url)
    with store.write() as conn:
        conn.execute(insert(sync_state).values(source="rxscale", online=True, last_ok_at=at,
                                               updated_at=at))  # fmt: skip
    assert store.sync_health(["rxscale"])["rxscale"].reported_at == at
    store.close()


@pytest.mark.parametrize("age_s", [5, 180])
async def test_the_board_header_ages_the_health(sqlite_url: str, age_s: int) -> None:
    seed_board(sqlite_url)
    at = FROZEN - timedelta(seconds=age_s)
    write_health(sqlite_url, at)
    app = make_app(sqlite_url)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)

        def header() -> str:
            return str(app.board.query_one("#header").render())

        if age_s < 30:
            await until(pilot, lambda: header().endswith("rxscale online"))
        else:
            await until(pilot, lambda: header().endswith(f"rxscale: no sync since {hhmm(at)}"))


@pytest.mark.parametrize("age_s", [5, 180])
async def test_the_wall_ages_the_health(sqlite_url: str, age_s: int) -> None:
    seed_board(sqlite_url)
    at = FROZEN - timedelta(seconds=age_s)
    write_health(sqlite_url, at)
    app = make_watch(sqlite_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown_once(pilot)
        health = app.wall.query_one("#wall-health")
        words = str(health.render())
        if age_s < 30:
            assert words == "sync: online · 0 queued · 0 failed"
            assert not health.has_class("-stale")
        else:
            assert words == f"rxscale: no sync since {hhmm(at)} · 0 queued · 0 failed"
            assert health.has_class("-stale")


def test_a_source_that_answers_but_whose_sync_fails_is_not_simply_online() -> None:
    """The demo's Shopify answered every pull with a refusal (a query over Shopify's cost
    ceiling) and the header said ``shopify online`` while no order arrived: a source whose
    last sync had errors says so, in the warning colour."""
    failing = SyncHealth(True, None, FROZEN, "Shopify refused the query: cost", 0, 0,
                         reported_at=FROZEN)  # fmt: skip
    line = health_line({"shopify": failing}, ["shopify"], now=FROZEN, stale_after=60.0)
    assert line.plain == "shopify sync error"
    clean = SyncHealth(True, None, FROZEN, None, 0, 0, reported_at=FROZEN)
    assert health_line({"shopify": clean}, ["shopify"], now=FROZEN).plain == "shopify online"

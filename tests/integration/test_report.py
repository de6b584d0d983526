"""The floor's day from the audit trail (core/report.py), with fixed instants; and
``rxfloor report --day DATE`` on a real SQLite file (the day always given: never today)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from rxfloor.core.db import Store, audit_events, orders
from rxfloor.core.report import DayEvent, day_bounds, day_report, percentile, summarise
from tests.helpers import run_cli

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 3, 10)
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=BERLIN)  # 07:00 UTC


def ev(order: str, minutes: float, action: str, to: str | None, *, actor: str = "AB",
       source: str = "local", src: str = "rxscale", prio: str = "normal") -> DayEvent:  # fmt: skip
    return DayEvent(order, T0 + timedelta(minutes=minutes), action, to, actor, source, src, prio)


def test_percentile_is_a_value_that_occurred() -> None:
    assert percentile([], 50) == 0
    assert percentile([10.0], 90) == 10
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2
    assert percentile([float(v) for v in range(1, 11)], 90) == 9
    assert percentile([float(v) for v in range(1, 11)], 50) == 5


def test_flow_per_hour_and_turnaround_per_source_and_priority() -> None:
    start, end = day_bounds(DAY, BERLIN)
    events = [
        ev("a", 0, "created", "OPEN"),
        ev("a", 10, "start", "PROCESSING"),
        ev("a", 30, "finish", "FINISHED"),  # 30 min
        ev("b", 20, "created", "OPEN", source="remote", src="shopify", prio="stat"),
        ev("b", 25, "start", "PROCESSING", actor="CD", src="shopify", prio="stat"),
        ev("b", 110, "finish", "FINISHED", actor="CD", src="shopify", prio="stat"),  # 90 min
        ev("c", 65, "created", "OPEN"),
        ev("c", 70, "cancel", "CANCELLED"),
        # received yesterday, finished today: in the turnaround, not in today's received
        ev("d", -24 * 60, "created", "OPEN"),
        ev("d", 5, "remote", "FINISHED", actor="rxscale", source="remote"),  # 24h05
    ]
    report = summarise(events, start, end)
    assert report.day == DAY and len(report.hours) == 24
    eight = report.hours[8]
    assert eight.start == datetime(2026, 3, 10, 7, tzinfo=UTC)
    assert (eight.received, eight.finished) == (2, 2)
    assert (report.hours[9].received, report.hours[9].finished) == (1, 1)
    assert (report.received, report.finished) == (3, 3)
    by = {(t.source, t.priority): t for t in report.turnaround}
    assert report.turnaround[0].source == report.turnaround[0].priority == "all"
    assert by["all", "all"].count == 3
    assert (by["all", "all"].p50_min, by["all", "all"].p90_min) == (90, 24 * 60 + 5)
    assert (by["shopify", "all"].count, by["shopify", "all"].p50_min) == (1, 90)
    assert (by["all", "stat"].p50_min, by["all", "normal"].p50_min) == (90, 30)
    assert report.people == {"AB": {"start": 1, "finish": 1, "cancel": 1},
                             "CD": {"start": 1, "finish": 1}}  # fmt: skip


def test_an_order_finished_twice_counts_once_and_one_without_arrival_has_no_turnaround() -> None:
    start, end = day_bounds(DAY, BERLIN)
    report = summarise(
        [ev("a", 0, "created", "OPEN"), ev("a", 30, "finish", "FINISHED"),
         ev("a", 31, "remote", "FINISHED", source="remote"), ev("x", 40, "finish", "FINISHED")],
        start, end,
    )  # fmt: skip
    assert report.finished == 2
    assert next((t.source, t.count) for t in report.turnaround if t.priority == "all") == ("all", 1)


def test_a_day_with_a_clock_change_has_its_own_number_of_hours() -> None:
    start, end = day_bounds(date(2026, 3, 29), BERLIN)  # CET -> CEST: 23 hours
    report = summarise([], start, end)
    assert len(report.hours) == 23
    assert [h.start.astimezone(BERLIN).hour for h in report.hours[:4]] == [0, 1, 3, 4]


# ----------------------------------------------------------------- on a database
def _seed(url: str) -> None:
    """Three orders on 2026-03-10 (UTC), one the day before, one the day after."""
    store = Store.open(url)
    at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    rows, events = [], []
    plan = [  # id, source, priority, received (min from 09:00), finished (min) or None, who
        ("o1", "rxscale", "stat", 0, 20, "AB"),
        ("o2", "shopify", "normal", 10, 70, "CD"),
        ("o3", "rxscale", "normal", 30, None, "AB"),
        ("o4", "rxscale", "normal", -24 * 60, 5, "CD"),
        ("o5", "rxscale", "normal", 24 * 60, 24 * 60 + 5, "AB"),
    ]
    for oid, src, prio, got, done, who in plan:
        received = at + timedelta(minutes=got)
        rows.append({
            "id": oid, "source": src, "remote_id": oid, "name": f"#{oid}", "status": "OPEN",
            "priority": prio, "created_at": received, "updated_at": received,
            "status_since": received,
        })  # fmt: skip
        events.append({"order_id": oid, "at": received, "actor": "rxscale", "station": "sync",
                       "action": "created", "to_status": "OPEN", "source": "remote",
                       "version": 1})  # fmt: skip
        if done is not None:
            for step, (action, to) in enumerate([("start", "PROCESSING"),
                                                 ("finish", "FINISHED")]):  # fmt: skip
                when = at + timedelta(minutes=done - 1 + step)
                events.append({"order_id": oid, "actor": who, "station": "bench-1", "at": when,
                               "action": action, "to_status": to, "source": "local",
                               "version": 2 + step})  # fmt: skip
    with store.write() as conn:
        conn.execute(insert(orders), rows)
        conn.execute(insert(audit_events), events)
    store.close()


def test_day_report_reads_the_local_day(sqlite_url: str) -> None:
    _seed(sqlite_url)
    store = Store.open(sqlite_url, migrate=False)
    with store.read() as conn:
        report = day_report(conn, DAY, UTC)
    store.close()
    assert (report.received, report.finished) == (3, 3)
    assert report.people == {"AB": {"start": 1, "finish": 1}, "CD": {"start": 2, "finish": 2}}


@pytest.fixture(name="utc")
def _utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")


@pytest.mark.usefixtures("utc")
def test_report_json_csv_and_text(sqlite_url: str) -> None:
    _seed(sqlite_url)
    done = run_cli(sqlite_url, "report", "--day", "2026-03-10", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["day"] == "2026-03-10" and data["received"] == 3 and data["finished"] == 3
    assert len(data["hours"]) == 24 and data["hours"][9] == {
        "start": "09:00", "received": 3, "finished": 2}  # fmt: skip
    overall = data["turnaround"][0]
    assert overall == {"source": "all", "priority": "all", "count": 3, "p50_min": 60.0,
                       "p90_min": 24 * 60 + 5.0}  # fmt: skip
    assert data["people"]["CD"] == {"start": 2, "finish": 2}

    done = run_cli(sqlite_url, "report", "--day", "2026-03-10", "--csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO(done.stdout)))
    assert table[0][:7] == ["section", "key", "received", "finished", "count", "p50_min", "p90_min"]
    assert table[0][7:] == ["start", "fill", "check", "finish", "cancel", "hold"]
    assert ["turnaround", "shopify/all", "", "", "1", "60", "60", *[""] * 6] in table
    assert ["person", "CD", "", "", "", "", "", "2", "0", "0", "2", "0", "0"] in table

    done = run_cli(sqlite_url, "report", "--day", "2026-03-10")
    assert done.returncode == 0, done.stderr
    assert "received 3 · finished 3" in done.stdout
    assert "CD" in done.stdout and "p50" in done.stdout


@pytest.mark.usefixtures("utc")
def test_a_bad_day_is_refused_in_one_line(sqlite_url: str) -> None:
    done = run_cli(sqlite_url, "report", "--day", "10.03.2026")
    assert done.returncode == 2
    assert "YYYY-MM-DD" in done.stderr and "Traceback" not in done.stderr

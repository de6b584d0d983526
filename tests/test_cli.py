"""The headless CLI as scripts and scanners use it (real processes, real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli


@pytest.fixture
def seeded(sqlite_url: str) -> str:
    result = run_cli(sqlite_url, "seed", "--count", "40", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "added 40 sample orders (seed 7); 0 already present"
    return sqlite_url


def test_seed_is_reproducible_and_realistic(seeded: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    run_cli(other, "seed", "--count", "40", "--seed", "7")
    a = json.loads(run_cli(seeded, "orders", "--json").stdout)
    b = json.loads(run_cli(other, "orders", "--json").stdout)
    keys = ("id", "name", "priority", "patient_name", "items_summary", "hold", "delivery_type")
    assert [{k: o[k] for k in keys} for o in a] == [{k: o[k] for k in keys} for o in b]
    assert all(o["status"] == "OPEN" and o["sample"] for o in a)
    assert {o["priority"] for o in a} >= {"normal", "waiter"}
    assert any(o["hold"] for o in a) and any(o["fulfill_at"] for o in a)
    assert all(
        " mg" in o["items_summary"] or "µg" in o["items_summary"] or "U/ml" in o["items_summary"]
        for o in a
    )
    again = run_cli(seeded, "seed", "--count", "40", "--seed", "7")
    assert "added 0 sample orders" in again.stdout


def test_orders_json_has_the_documented_fields(seeded: str) -> None:
    (first, *_) = json.loads(run_cli(seeded, "orders", "--json", "--status", "open").stdout)
    assert {"id", "name", "status", "priority", "hold", "version", "updated_at"} <= first.keys()


def test_orders_table(seeded: str) -> None:
    out = run_cli(seeded, "orders").stdout.splitlines()
    assert out[0].split()[:4] == ["NAME", "STATUS", "PRIO", "HOLD"]
    assert out[-1] == "40 orders"


def test_moves_and_history(seeded: str) -> None:
    orders = json.loads(run_cli(seeded, "orders", "--json").stdout)
    ready = next(o for o in orders if not o["hold"] and not o["fulfill_at"])
    name, uid = ready["name"], ready["id"]
    assert run_cli(seeded, "start", name).stdout.strip() == f"{name} OPEN -> PROCESSING"
    assert run_cli(seeded, "advance", uid).stdout.strip() == f"{name} PROCESSING -> FINISHED"
    refused = run_cli(seeded, "cancel", name, "--reason", "changed mind")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith(f"rxfloor: {name} is already FINISHED (by ")
    events = json.loads(run_cli(seeded, "history", name, "--json").stdout)
    assert [e["action"] for e in events] == ["created", "start", "finish"]
    for e in events:
        assert {
            "at",
            "actor",
            "station",
            "action",
            "from_status",
            "to_status",
            "reason",
            "source",
        } <= e.keys()
    text = run_cli(seeded, "history", name).stdout
    assert f"{name} ({uid}) — now FINISHED" in text


def test_hold_release_cancel(seeded: str) -> None:
    orders = json.loads(run_cli(seeded, "orders", "--json").stdout)
    name = next(o["name"] for o in orders if not o["hold"] and not o["fulfill_at"])
    assert (
        run_cli(seeded, "hold", name, "--reason", "Insurance check").stdout.strip()
        == f"{name} on hold (OPEN)"
    )
    blocked = run_cli(seeded, "start", name)
    assert blocked.returncode == 1 and "on hold" in blocked.stderr
    assert run_cli(seeded, "release", name).returncode == 0
    assert run_cli(seeded, "cancel", name, "--reason", "duplicate order").returncode == 0
    assert (
        json.loads(run_cli(seeded, "orders", "--json", "--status", "CANCELLED").stdout)[0]["name"]
        == name
    )


def test_unknown_order_and_missing_reason(seeded: str) -> None:
    missing = run_cli(seeded, "start", "#424242")
    assert missing.returncode == 1
    assert missing.stderr == "rxfloor: order '#424242' does not exist\n"
    no_reason = run_cli(seeded, "cancel", "#7-1001")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr


def test_bad_configuration_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    bad = run_cli("mysql://nope/x", "orders")
    assert bad.returncode == 3
    assert bad.stderr.count("\n") == 1 and "unsupported database 'mysql'" in bad.stderr
    config = tmp_path / "config.toml"
    config.write_text('sqlite_busy_timeout_ms = "soon"\n')
    result = run_cli(sqlite_url, "orders", env_extra={"RXFLOOR_CONFIG": str(config)})
    assert result.returncode == 3
    assert "sqlite_busy_timeout_ms" in result.stderr and result.stderr.count("\n") == 1
    config.write_text("this is = not toml [\n")
    broken = run_cli(sqlite_url, "orders", env_extra={"RXFLOOR_CONFIG": str(config)})
    assert broken.returncode == 3 and "cannot read configuration" in broken.stderr


def test_unreachable_postgres_is_one_line() -> None:
    result = run_cli("postgresql://postgres:hunter2@127.0.0.1:1/x", "orders")
    assert result.returncode == 3
    assert result.stderr.startswith(
        "rxfloor: cannot open database postgresql+psycopg://postgres:***@"
    )
    assert "hunter2" not in result.stderr and result.stderr.count("\n") == 1


def test_demo_without_a_terminal_does_not_crash() -> None:
    result = run_cli("sqlite:///unused.db", "--demo", input="")
    assert result.returncode == 0, result.stderr

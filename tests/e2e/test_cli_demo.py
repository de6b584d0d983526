"""``--demo`` with a command: the demo's database as it is, never reseeded (real processes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rxfloor.tui.cli.exit_codes import ExitCode
from tests.helpers import run_cli

#: run_cli's database: --demo must never touch it
ELSEWHERE = "sqlite:///{}"


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def demo_db(data_home: Path, tmp_path: Path) -> Path:
    """A demo database as ``rxfloor --demo`` leaves it (seeded: a few orders)."""
    demo = data_home / "rxfloor" / "demo.db"
    demo.parent.mkdir(parents=True)
    done = run_cli(f"sqlite:///{demo}", "seed", "--count", "12", "--seed", "3")
    assert done.returncode == 0, done.stderr
    return demo


def _env(data_home: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(data_home)}


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from orders").fetchone()[0])


def test_the_cli_reads_the_demo_database_without_reseeding_it(
    demo_db: Path, data_home: Path, tmp_path: Path
) -> None:
    other = ELSEWHERE.format(tmp_path / "other.db")
    done = run_cli(other, "orders", "--json", "--demo", env_extra=_env(data_home))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 12 == _count(demo_db)
    assert not (tmp_path / "other.db").exists()
    first = json.loads(done.stdout)[0]["name"]
    moved = run_cli(other, "--demo", "start", first, env_extra=_env(data_home))
    assert moved.returncode == 0, moved.stderr
    assert _count(demo_db) == 12  # the same orders, one of them moved


def test_watch_reads_the_demo_database(demo_db: Path, data_home: Path, tmp_path: Path) -> None:
    """Without a terminal the wall prints its figures: the demo's orders."""
    other = ELSEWHERE.format(tmp_path / "other.db")
    done = run_cli(other, "watch", "--demo", env_extra=_env(data_home), input="")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert sum(c["count"] for c in figures["columns"].values()) == 12, figures


def test_serve_prints_its_url_with_the_demo(demo_db: Path, data_home: Path, tmp_path: Path) -> None:
    other = ELSEWHERE.format(tmp_path / "other.db")
    env = {**_env(data_home), "RXFLOOR_SERVE_TOKEN": "t" * 32}
    done = run_cli(other, "serve", "--demo", "--print-url", env_extra=env)
    assert done.returncode == 0, done.stderr
    assert "token=" in done.stdout


def test_without_a_demo_database_the_command_says_how_to_make_one(
    data_home: Path, tmp_path: Path
) -> None:
    other = ELSEWHERE.format(tmp_path / "other.db")
    done = run_cli(other, "watch", "--demo", env_extra=_env(data_home), input="")
    assert done.returncode == ExitCode.CONFIG
    assert "no demo database at" in done.stderr and "rxfloor --demo" in done.stderr
    assert not (data_home / "rxfloor" / "demo.db").exists()

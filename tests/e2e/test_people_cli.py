"""``rxfloor people`` and ``[people]`` of the config (issue 24 §1): the floor's list, every
change audited; the check steps from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from rxfloor.core.config import load_settings
from rxfloor.core.db import Store, people_events
from rxfloor.core.people import People, PeopleError, Role, pin_matches
from rxfloor.core.service import open_service
from tests.helpers import run_cli


def _events(url: str) -> list[tuple[str, str, str]]:
    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(people_events.c.action, people_events.c.person, people_events.c.actor)
                .order_by(people_events.c.id)
            )  # fmt: skip
            return [(r.action, r.person, r.actor) for r in rows]
    finally:
        store.close()


def test_add_list_remove_audited(db_url: str) -> None:
    added = run_cli(db_url, "people", "add", "TJ", "--role", "technician", "--badge",
                    "badge-TJ", "--actor", "AB")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added TJ: technician, badge badge-TJ"
    pin = run_cli(db_url, "people", "add", "AB", "--role", "pharmacist", "--pin",
                  "--actor", "AB", input="2468\n")  # fmt: skip
    assert pin.returncode == 0 and "with a PIN" in pin.stdout
    listed = json.loads(run_cli(db_url, "people", "list", "--json").stdout)
    assert [(p["name"], p["role"], p["badge"], p["pin"]) for p in listed] == [
        ("AB", "pharmacist", None, True), ("TJ", "technician", "badge-TJ", False)]  # fmt: skip
    assert "2468" not in json.dumps(listed)
    taken = run_cli(db_url, "people", "add", "XY", "--role", "technician", "--badge", "badge-TJ")
    assert taken.returncode == 1 and "badge badge-TJ is already TJ's" in taken.stderr
    removed = run_cli(db_url, "people", "remove", "TJ", "--actor", "AB")
    assert removed.returncode == 0
    gone = run_cli(db_url, "people", "remove", "TJ")
    assert gone.returncode == 1 and "TJ is not on the floor's list" in gone.stderr
    assert _events(db_url) == [("add", "TJ", "AB"), ("add", "AB", "AB"), ("remove", "TJ", "AB")]


def test_pins_are_hashed_and_checked(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    people = People(store, "AB", "office")
    with pytest.raises(PeopleError, match="4 to 12 digits"):
        people.add("TJ", Role.TECHNICIAN, pin="12")
    people.add("TJ", Role.TECHNICIAN, pin="1234")
    assert people.pin_ok("TJ", "1234") and not people.pin_ok("TJ", "4321")
    assert not pin_matches(None, "1234")
    store.close()


def test_config_people_are_added_once(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(str(tmp_path / "config.toml"))
    config.write_text('[people]\nTJ = { role = "technician", badge = "badge-TJ" }\n'
                      'AB = { role = "pharmacist" }\n')  # fmt: skip
    monkeypatch.setenv("RXFLOOR_CONFIG", str(config))
    for _ in range(2):
        service = open_service(load_settings(database_url=sqlite_url))
        service.store.close()
    assert _events(sqlite_url) == [("add", "TJ", "config"), ("add", "AB", "config")]


def test_steps_from_the_command_line(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[floor]\ncheck = "second_person"\n')
    env = {"RXFLOOR_CONFIG": str(config)}
    run_cli(sqlite_url, "seed", "--count", "5", env_extra=env)
    assert run_cli(sqlite_url, "start", "#1001", "--actor", "TJ", env_extra=env).returncode == 0
    filled = run_cli(sqlite_url, "advance", "#1001", "--actor", "TJ", env_extra=env)
    assert filled.stdout.strip() == "#1001 filled by TJ: awaiting check"
    own = run_cli(sqlite_url, "check", "#1001", "--actor", "TJ", env_extra=env)
    assert own.returncode == 1
    assert "#1001 was filled by TJ: another person checks it" in own.stderr
    failed = run_cli(sqlite_url, "fail-check", "#1001", "--reason", "wrong strength",
                     "--actor", "AB", env_extra=env)  # fmt: skip
    assert failed.returncode == 0 and "back to filling (wrong strength)" in failed.stdout
    early = run_cli(sqlite_url, "finish", "#1001", "--actor", "AB", env_extra=env)
    assert early.returncode == 1 and "only a checked order is finished" in early.stderr

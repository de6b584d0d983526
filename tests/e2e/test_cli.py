"""The headless CLI as scripts and scanners use it (real processes, real SQLite file)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.cli.main import main
from tests import remote_fixtures
from tests.helpers import migrated_sqlite, run_cli, rxfloor_cmd
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: the documentation site's pages (issue 22 §6: the README's sections moved there)
PAGES = ROOT / "docs" / "pages"


@pytest.fixture
def seeded(sqlite_url: str) -> str:
    result = run_cli(sqlite_url, "seed", "--count", "40", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "added 40 sample orders (seed 7); 0 already present"
    return sqlite_url


def test_seed_is_reproducible_and_realistic(seeded: str, tmp_path: Path) -> None:
    other = migrated_sqlite(tmp_path / "other.db")
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
        "rxfloor: cannot open database postgresql://postgres:***@127.0.0.1:1/x: "
    )
    assert "hunter2" not in result.stderr and result.stderr.count("\n") == 1


def test_demo_without_a_terminal_does_not_crash() -> None:
    result = run_cli("sqlite:///unused.db", "--demo", input="")
    assert result.returncode == 0, result.stderr


# -- global options before or after the subcommand (in-process: a subprocess costs seconds) ----


def _placed(where: str, options: list[str], command: list[str]) -> list[str]:
    return [*options, *command] if where == "before" else [*command, *options]


@pytest.fixture
def wrong_env_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment names a database that cannot open: only ``--database`` can work."""
    monkeypatch.setenv("RXFLOOR_DATABASE_URL", "mysql://nope/x")


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.usefixtures("wrong_env_database")
def test_database_before_or_after_the_subcommand(
    where: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database", sqlite_url]
    assert main(_placed(where, db, ["seed", "--count", "5"])) == 0
    assert main(_placed(where, db, ["orders"])) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "5 orders"
    assert main(_placed(where, db, ["history", "#1001", "--json"])) == 0
    assert json.loads(capsys.readouterr().out)[0]["action"] == "created"


@pytest.mark.parametrize("where", ["before", "after"])
def test_actor_and_station_before_or_after_the_subcommand(
    where: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database", sqlite_url, "seed", "--count", "5"]) == 0
    orders = [o for o in _orders_json(sqlite_url, capsys) if not o["hold"] and not o["fulfill_at"]]
    name = orders[0]["name"]
    who = ["--actor", "QZ", "--station", "bench-9"]
    assert main(_placed(where, who, ["start", name, "--database", sqlite_url])) == 0
    assert capsys.readouterr().out.strip() == f"{name} OPEN -> PROCESSING"
    assert main(["history", name, "--json", "--database", sqlite_url]) == 0
    start = json.loads(capsys.readouterr().out)[-1]
    assert (start["action"], start["actor"], start["station"]) == ("start", "QZ", "bench-9")


def test_a_global_option_before_the_subcommand_is_not_reset_after_it(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each subcommand has the options too; their defaults must not clobber earlier values."""
    assert main(["--actor", "AA", "--database", sqlite_url, "seed", "--count", "5",
                 "--station", "front"]) == 0  # fmt: skip
    name = next(o["name"] for o in _orders_json(sqlite_url, capsys) if not o["hold"])
    assert main(["--actor", "AA", "--database", sqlite_url, "cancel", name, "--reason", "dup",
                 "--station", "front"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--database", sqlite_url, "history", name, "--json"]) == 0
    cancel = json.loads(capsys.readouterr().out)[-1]
    assert (cancel["actor"], cancel["station"]) == ("AA", "front")


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.usefixtures("wrong_env_database")
@pytest.mark.network
def test_sync_once_takes_the_global_options_on_either_side(
    where: str,
    sqlite_url: str,
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RXFLOOR_API_URL", sandbox_server.base_url)
    monkeypatch.setenv("RXFLOOR_API_KEY", sandbox_server.api_key)
    options = ["--database", sqlite_url, "--actor", "QZ", "--station", "bench-9"]
    code = main(_placed(where, options, ["sync", "--once"]))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["pulled"] == 20


def test_demo_and_database_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--demo", "orders", "--database", "sqlite:///x.db"])
    assert done.value.code == ExitCode.USAGE
    assert "--demo and --database name two databases" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["chain"], ["sandbox", "--port", "0"]])
def test_demo_is_refused_where_it_means_nothing(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--demo", *command])
    assert done.value.code == ExitCode.USAGE
    assert f"--demo: {command[0]} " in capsys.readouterr().err


def test_the_sandbox_takes_no_database_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["sandbox", "--port", "0", "--database", "sqlite:///x.db"])
    assert done.value.code == ExitCode.USAGE


def _orders_json(url: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["--database", url, "orders", "--json"]) == 0
    orders: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return orders


def test_the_readme_lists_every_exit_code() -> None:
    """The command line page of the docs (its own page since issue 22 §6)."""
    section = (PAGES / "cli.md").read_text().split("# Command line\n", 1)[1].split("\n# ", 1)[0]
    listed = {int(n) for n in re.findall(r"^\| `(\d+)` \|", section, re.MULTILINE)}
    assert listed == {int(code) for code in ExitCode}


def _one_config_line(result: Any) -> str:
    """The single stderr line of a configuration refusal (exit 3, nothing on stdout)."""
    assert result.returncode == ExitCode.CONFIG, (result.returncode, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return str(result.stderr)


@pytest.mark.parametrize(
    ("args", "env", "culprit"),
    [
        (("--database", "foo://bar", "orders"), {}, "--database: "),
        (("orders",), {"RXFLOOR_SYNC_INTERVAL_S": "abc"}, "RXFLOOR_SYNC_INTERVAL_S: "),
    ],
)
def test_a_bad_value_names_its_real_source(
    sqlite_url: str, args: tuple[str, ...], env: dict[str, str], culprit: str
) -> None:
    line = _one_config_line(run_cli(sqlite_url, *args, env_extra=env))
    assert culprit in line and "config.toml" not in line, line


def test_rxfloor_config_naming_a_missing_file_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    line = _one_config_line(
        run_cli(sqlite_url, "orders", env_extra={"RXFLOOR_CONFIG": str(missing)})
    )
    assert "RXFLOOR_CONFIG" in line and str(missing) in line and "does not exist" in line


def test_an_api_key_in_the_config_file_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('api_key = "s3cr3t-key"\n')
    line = _one_config_line(
        run_cli(sqlite_url, "orders", env_extra={"RXFLOOR_CONFIG": str(config)})
    )
    assert "api_key" in line and "RXFLOOR_API_KEY" in line and "keyring" in line
    assert "s3cr3t-key" not in line


def test_a_bad_database_url_in_the_file_is_caught_under_database(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("database_url = 42\n")
    env = {"RXFLOOR_CONFIG": str(config)}
    for result in (
        run_cli(sqlite_url, "orders", env_extra=env),
        run_cli(sqlite_url, "--database", sqlite_url, "orders", env_extra=env),
    ):
        line = _one_config_line(result)
        assert f"({config}): database_url:" in line, line


@pytest.mark.parametrize("under", ["x.db", "a/b/x.db"])
def test_a_database_under_a_file_is_one_line(tmp_path: Path, under: str) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory\n")
    path = blocker / under
    line = _one_config_line(run_cli(str(path), "orders"))
    assert line == f"rxfloor: cannot open database {path}: {blocker} is not a directory\n"


def test_a_database_that_cannot_be_written_is_one_line() -> None:
    # /proc refuses new files even to root (a 0o500 directory would not: tests run as root)
    line = _one_config_line(run_cli("sqlite:////proc/rxfloor-test.db", "orders"))
    assert line.startswith("rxfloor: cannot open database /proc/rxfloor-test.db: "), line


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    typo = tmp_path / "pharmcy" / "rxfloor.db"
    line = _one_config_line(run_cli("orders-db-unused", "--database", str(typo), "orders"))
    assert line == f"rxfloor: cannot open database {typo}: directory {typo.parent} does not exist\n"
    assert not typo.parent.exists()


def test_the_default_data_dir_is_created() -> None:
    from rxfloor.core.config import data_dir

    assert not data_dir().exists()
    env = {k: v for k, v in os.environ.items() if k != "RXFLOOR_DATABASE_URL"}
    result = subprocess.run(
        rxfloor_cmd("orders"), capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (data_dir() / "rxfloor.db").is_file()


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ('advance = "x"', "both advance ([keys]) and cancel (its default)"),
        ('advance = "v"\ndetail = "enter,v"', "both advance ([keys]) and detail ([keys])"),
    ],
)
def test_a_key_bound_to_two_actions_is_refused(
    sqlite_url: str, tmp_path: Path, keys: str, named: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[keys]\n{keys}\n")
    line = _one_config_line(run_cli(sqlite_url, env_extra={"RXFLOOR_CONFIG": str(config)}))
    assert named in line, line
    config.write_text('[keys]\nadvance = "x"\ncancel = "X"\n')  # moved out of the way: fine
    assert run_cli(sqlite_url, env_extra={"RXFLOOR_CONFIG": str(config)}).returncode == 0


def test_the_remote_api_is_documented_in_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    """No pointer to a document the repository does not hold: the docs describe the API (the
    RxScale page of the site, the README's section before issue 22 §6)."""
    root = README.parent
    text = (PAGES / "sources" / "rxscale.md").read_text()
    assert text.startswith("# The RxScale API as rxfloor uses it\n")
    for word in ("X-API-Key", "pharmacy_orders", "lifecycle-v2", "X-Webhook-Signature"):
        assert word in text
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    assert "REMOTE_API" not in capsys.readouterr().out
    sources = [root / "README.md", *PAGES.rglob("*.md"), *root.glob("core/**/*.py"),
               *root.glob("tui/**/*.py")]  # fmt: skip
    pointing = [str(p) for p in sources if "REMOTE_API.md" in p.read_text()]
    assert not (root / "REMOTE_API.md").exists() and pointing == []


def test_the_command_caches_its_own_bytecode_whatever_the_environment_says(
    sqlite_url: str, tmp_path: Path
) -> None:
    """rxfloor's own modules are not compiled by uv in an editable install; with
    PYTHONDONTWRITEBYTECODE=1 every start would compile them again (~110 ms of CPU)."""
    prefix = tmp_path / "pyc"  # where Python caches, so the checkout is left alone
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(prefix)}
    done = run_cli(sqlite_url, "orders", "--json", env_extra=env)
    assert done.returncode == 0, done.stderr
    ours = {p.name.split(".")[0] for p in prefix.rglob("*.pyc") if {"core", "tui"} & set(p.parts)}
    assert {"queries", "schema", "states", "config"} <= ours, sorted(ours)
    # the listing reads the store alone: no service, no pydantic models (issue 25)
    assert not {"service", "models"} & ours, sorted(ours)


def test_uv_run_does_not_compile_the_environment_on_every_run() -> None:
    """``compile-bytecode`` in ``[tool.uv]`` makes every ``uv run`` recompile site-packages
    and print "Bytecode compiled N files" (astral-sh/uv#12202): CI compiles once instead."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "compile-bytecode" not in project.get("tool", {}).get("uv", {})
    assert "uv sync --locked --compile-bytecode" in (root / ".ci" / "run").read_text()

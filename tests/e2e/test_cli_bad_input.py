"""Issue 21 §6: bad input is one line naming the culprit and the documented exit code
(``tui/cli/exit_codes.py``, the table in docs/pages/cli.md), never a traceback nor a silent success.
Each case runs the real command in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxfloor.tui.cli.exit_codes import ExitCode
from tests.helpers import run_cli


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("interval", ["nan", "-1", "0", "inf", "1e9"])
def test_sync_interval_must_be_a_positive_finite_number(sqlite_url: str, interval: str) -> None:
    """``nan`` / ``-1`` were a traceback (exit 1); ``inf`` killed the sync thread silently
    while the process stayed up."""
    done = run_cli(sqlite_url, "sync", "--interval", interval,
                   env_extra={"RXFLOOR_API_URL": "http://127.0.0.1:9/v1",
                              "RXFLOOR_API_KEY": "k" * 24})  # fmt: skip
    assert done.returncode == ExitCode.USAGE, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("rxfloor: --interval:") and "between 0 and 3600" in line, line


def test_a_config_file_that_is_not_utf8_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "rxfloor.toml"
    config.write_bytes(b'pharmacy = "Caf\xe9 pharmacy"\n')
    done = run_cli(sqlite_url, "orders", env_extra={"RXFLOOR_CONFIG": str(config)})
    assert done.returncode == ExitCode.CONFIG, done.stderr
    line = one_line(done.stderr)
    assert str(config) in line and "UTF-8" in line, line


@pytest.mark.parametrize(
    ("where", "url"),
    [("env", "ftp://rx.example/v1"), ("env", "rx.example/v1"), ("file", "ftp://rx.example"),
     ("photon", "photon.example"), ("konnektive", "ftp://k.example")],
)  # fmt: skip
def test_an_api_url_must_be_http(sqlite_url: str, tmp_path: Path, where: str, url: str) -> None:
    """``ftp://…`` or no scheme was accepted; every cycle then failed and ``sync --once``
    exited 0."""
    config = tmp_path / "rxfloor.toml"
    env = {"RXFLOOR_CONFIG": str(config), "RXFLOOR_API_KEY": "k" * 24}
    if where == "env":
        config.write_text("")
        env["RXFLOOR_API_URL"] = url
        culprit = "RXFLOOR_API_URL"
    elif where == "file":
        config.write_text(f'api_url = "{url}"\n')
        culprit = "api_url"
    else:
        config.write_text(f'[sources.{where}]\napi_url = "{url}"\n')
        culprit = f"sources.{where}.api_url"
    done = run_cli(sqlite_url, "sync", "--once", env_extra=env)
    assert done.returncode == ExitCode.CONFIG, (done.stdout, done.stderr)
    line = one_line(done.stderr)
    assert culprit in line and "http" in line, line


def test_watch_with_an_unknown_theme_and_no_terminal(sqlite_url: str) -> None:
    """It printed the figures and exited 0, the option silently ignored."""
    done = run_cli(sqlite_url, "watch", "--theme", "nope")
    assert done.returncode == ExitCode.USAGE, done.stdout
    line = one_line(done.stderr)
    assert line.startswith("rxfloor: --theme: unknown theme 'nope'"), line
    assert done.stdout == ""

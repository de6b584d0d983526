"""Photon from the command line: ``rxfloor sandbox --source photon`` as a real process, and
``rxfloor sync --once --source photon`` against a stand-in that answers errors quoting the
token it was sent: the token is in no byte the program wrote (stdout, stderr, the database,
any file under its data, state and log dirs)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from rxfloor.core.db import Store
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sync.applier import RemoteApplier
from tests import photon_fixtures
from tests.helpers import run_cli, rxfloor_cmd
from tests.test_photon_secrets import TOKEN, assert_clean, files_bytes

photon_factory = photon_fixtures.photon_factory


def test_the_photon_stand_in_serves_and_never_prints_its_secrets() -> None:
    token, secret = "photon-cli-token-123", "photon-cli-secret-456"
    env = {**os.environ, "RXFLOOR_SANDBOX_PHOTON_TOKEN": token,
           "RXFLOOR_SANDBOX_PHOTON_SECRET": secret}  # fmt: skip
    proc = subprocess.Popen(
        rxfloor_cmd("sandbox", "--source", "photon", "--port", "0", "--seed", "2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", line)
        assert match, line
        root = match.group(1)
        orders = httpx.get(root + "/_sandbox/orders").json()
        assert [o["state"] for o in orders] == ["PLACED", "PLACED"]
        auth = {"Authorization": f"Bearer {token}"}
        report = {"status": "in_progress", "order_id": orders[0]["id"]}
        assert httpx.post(root + "/v1/hooks/pharmacy", json=report, headers=auth).status_code == 200
        assert httpx.post(root + "/v1/hooks/pharmacy", json=report).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    for word in (token, secret):
        assert word not in line + out + err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--api-key", "k"], "--api-key applies to --source rxscale only"),
        (["--access-token", "t"], "--access-token applies to --source shopify only"),
    ],
)
def test_options_of_other_sources_are_refused(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rxfloor.tui.cli.main import main

    assert main(["sandbox", "--source", "photon", "--port", "0", *args]) == 3
    assert words in capsys.readouterr().err


@pytest.mark.slow
def test_sync_once_against_an_echoing_photon_leaves_the_token_nowhere(
    photon_factory, sqlite_url: str, tmp_path: Path
) -> None:
    server = photon_factory(token=TOKEN)
    uids = server.create(2)
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    source = server.source()
    orders = [source.get_order(u) for u in uids]
    source.close()
    RemoteApplier(service, "photon").apply(orders)
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sources.photon]\napi_url = "{server.base_url}"\npharmacy_id = "{server.pharmacy_id}"\n'
        "http_timeout_s = 2\n"
    )
    env = {"RXFLOOR_CONFIG": str(config), "RXFLOOR_PHOTON_API_TOKEN": TOKEN}
    for ref in (o.name or o.uid for o in orders):
        done = run_cli(sqlite_url, "start", ref, env_extra=env)
        assert done.returncode == 0, done.stderr
    server.set_faults(error_status=500, echo_token=True)
    runs = [run_cli(sqlite_url, "sync", "--once", "--source", "photon", env_extra=env)]
    server.set_faults(error_status=422, echo_token=True)  # refused: parked with its words
    runs.append(run_cli(sqlite_url, "sync", "--once", "--source", "photon", env_extra=env))
    runs.append(run_cli(sqlite_url, "orders", "--json", env_extra=env))
    runs.append(run_cli(sqlite_url, "history", f"photon:{uids[0]}", "--json", env_extra=env))
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert_clean(run.stdout + run.stderr, TOKEN)
    assert "<redacted>" in runs[0].stdout and "<redacted>" in runs[1].stdout
    assert "<redacted>" in runs[2].stdout  # the parked move's sync error, scrubbed
    home = Path(os.environ["XDG_DATA_HOME"]).parent  # the user dirs: data, state, logs
    assert_clean(files_bytes(tmp_path, home), TOKEN)  # the database, its WAL, logs, state

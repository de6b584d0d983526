"""Photon from the command line: ``rxfloor sandbox --source photon`` as a real process, and
``rxfloor sync --once --source photon`` against a stand-in that answers errors quoting the
token it was sent, and ``rxfloor webhooks serve`` taking its signed deliveries: neither the
token nor the webhook secret is in any byte the program wrote (stdout, stderr, the database
and its WAL, any file under its data, state and log dirs)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from rxfloor.core.db import Store
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sync.applier import RemoteApplier
from tests import photon_fixtures
from tests.helpers import run_cli, rxfloor_cmd, wait_for
from tests.sources.photon.test_photon_secrets import TOKEN, assert_clean, files_bytes

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
@pytest.mark.network
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


HOOK_SECRET = "phot0n-H00k/Secret+sig=99"  # characters URL-encoding changes


@pytest.mark.slow
@pytest.mark.network
def test_the_receiver_and_sync_keep_the_webhook_secret_and_the_token_nowhere(
    photon_factory, sqlite_url: str, tmp_path: Path
) -> None:
    """``rxfloor webhooks serve`` takes Photon's signed deliveries (and refuses forged ones),
    ``rxfloor sync --once`` meets a Photon quoting the token it was sent: neither the
    webhook secret nor the token is in any output, the database, its WAL or any file."""
    server = photon_factory(token=TOKEN)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sources.photon]\napi_url = "{server.base_url}"\npharmacy_id = "{server.pharmacy_id}"\n'
        "http_timeout_s = 2\n"
    )
    env = {"RXFLOOR_CONFIG": str(config), "RXFLOOR_PHOTON_API_TOKEN": TOKEN,
           "RXFLOOR_PHOTON_WEBHOOK_SECRET": HOOK_SECRET}  # fmt: skip
    Store.open(sqlite_url).close()  # migrated before the receiver starts
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = subprocess.Popen(
        rxfloor_cmd("webhooks", "serve", "--port", str(port)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RXFLOOR_DATABASE_URL": sqlite_url, **env},
    )  # fmt: skip
    runs = []
    try:
        assert receiver.stdout is not None
        banner = receiver.stdout.readline()
        assert "/webhooks/photon" in banner, banner
        hook = f"http://127.0.0.1:{port}/webhooks/photon"
        wait_for(lambda: _answers(hook), timeout=20)  # the banner comes before the socket
        server.subscribe(hook, HOOK_SECRET)
        server.subscribe(hook, HOOK_SECRET[:-1] + "8")  # a forger's near miss
        uids = server.create(2)
        store = Store.open(sqlite_url)
        wait_for(lambda: store.count_orders() == 2, timeout=20)
        store.close()
        forged = [d for d in server.wait_deliveries(8, ok=False) if d["subscription"] != "whk_0001"]
        assert forged and {d["status_code"] for d in forged} == {401}
        for uid in uids:
            done = run_cli(sqlite_url, "start", f"photon:{uid}", env_extra=env)
            assert done.returncode == 0, done.stderr
        server.set_faults(error_status=500, echo_token=True)
        runs.append(run_cli(sqlite_url, "sync", "--once", "--source", "photon", env_extra=env))
        server.set_faults(error_status=422, echo_token=True)  # refused: parked with its words
        runs.append(run_cli(sqlite_url, "sync", "--once", "--source", "photon", env_extra=env))
    finally:
        receiver.send_signal(signal.SIGINT)
        out, err = receiver.communicate(timeout=15)
    assert "Traceback" not in err, err
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert "<redacted>" in runs[0].stdout and "<redacted>" in runs[1].stdout
    texts = [banner + out + err] + [run.stdout + run.stderr for run in runs]
    for text in texts:
        assert_clean(text, TOKEN, HOOK_SECRET)
    home = Path(os.environ["XDG_DATA_HOME"]).parent  # the user dirs: data, state, logs
    blob = files_bytes(tmp_path, home)
    assert b"photon:order:placed" in blob  # the deliveries' bodies are stored in the inbox
    assert_clean(blob, TOKEN, HOOK_SECRET)  # the database, its WAL, logs, state


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True

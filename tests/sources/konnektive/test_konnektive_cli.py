"""Konnektive configured like a user would (``[sources.konnektive]`` in the config file, the
API user in the environment) and synced by the real command line; the secret scan greps
every file the program wrote for the password and the login id."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from rxfloor.core import sources
from rxfloor.core.config import ConfigError, load_settings
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources import local_id
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from rxfloor.core.sources.konnektive.wire import NAME
from tests import konnektive_fixtures
from tests.helpers import run_cli, rxfloor_cmd
from tests.konnektive_fixtures import KonnektiveServer

konnektive_factory = konnektive_fixtures.konnektive_factory

LOGIN = "floor-api-user-31"
PASSWORD = "Kx9/pa ss+w0rd=&7"  # a space, and characters form-encoding changes


def write_config(text: str) -> None:
    Path(os.environ["RXFLOOR_CONFIG"]).write_text(text)


@pytest.mark.network
def test_the_section_configures_the_source(
    konnektive_server: KonnektiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        f'[sources.konnektive]\napi_url = "{konnektive_server.base_url}/"\nlookback_days = 7\n'
    )
    settings = load_settings()
    assert NAME in sources.configured(settings)
    traits = sources.traits(NAME)
    assert (traits.label, traits.mark, traits.tracking_on_finish, traits.remote_hold) == (
        "Konnektive", "K", True, False)  # fmt: skip
    assert sources.status_words(NAME, "PENDING_SHIPMENT") == "Pending Shipment"
    with pytest.raises(ValueError, match="no Konnektive login id: set RXFLOOR_KONNEKTIVE"):
        sources.open_source(NAME, settings)
    monkeypatch.setenv("RXFLOOR_KONNEKTIVE_LOGIN_ID", konnektive_server.login_id)
    monkeypatch.setenv("RXFLOOR_KONNEKTIVE_PASSWORD", konnektive_server.password)
    source = sources.open_source(NAME, load_settings())
    assert isinstance(source, KonnektiveSource) and source.lookback_days == 7
    assert len(list(source.iter_orders(200, active=False))) == 20
    source.close()


konnektive_server = konnektive_fixtures.konnektive_server


@pytest.mark.parametrize(
    "text",
    [
        'konnektive_password = "x"\n',
        '[sources.konnektive]\napi_url = "https://api.konnektive.com"\npassword = "x"\n',
        '[sources.konnektive]\nlogin_id = "someone"\n',
    ],
)
def test_the_credentials_are_refused_in_the_file(text: str) -> None:
    write_config(text)
    with pytest.raises(ConfigError, match="do not belong in the config file"):
        load_settings()


def forms(secret: str) -> list[str]:
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]


def assert_clean(blob: bytes, where: str) -> None:
    for secret in (LOGIN, PASSWORD):
        for form in forms(secret):
            assert form.encode() not in blob, f"{form!r} leaked into {where}"


@pytest.mark.slow
@pytest.mark.network
def test_sync_once_writes_no_secret_anywhere(
    konnektive_factory: Any, sqlite_url: str, tmp_path: Path
) -> None:
    """Pull, pushes Konnektive refuses while quoting the credentials it was sent, then a bad
    password: stdout, stderr, the database and every file under the user's dirs stay clean."""
    server: KonnektiveServer = konnektive_factory(seed=5, login_id=LOGIN, password=PASSWORD)
    server.set_faults(echo_secret=True)
    write_config(f'[sources.konnektive]\napi_url = "{server.base_url}"\n')
    env = {"RXFLOOR_KONNEKTIVE_LOGIN_ID": LOGIN, "RXFLOOR_KONNEKTIVE_PASSWORD": PASSWORD}
    outputs: list[str] = []

    def sync(**extra: str) -> int:  # a refused push is retried once at once, then parked
        done = run_cli(sqlite_url, "sync", "--once", "--source", NAME,
                       env_extra={**env, "RXFLOOR_RETRY_REFUSED_S": "0", **extra})  # fmt: skip
        outputs.append(done.stdout + done.stderr)
        return done.returncode

    assert sync() == 0, outputs[-1]
    report = json.loads(outputs[-1].splitlines()[0])
    assert report["pulled"] == 5
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    for i in range(3):
        ref = local_id(NAME, f"K{100000 + i:06d}")
        service.act(ref, Action.START)
        service.act(ref, Action.CANCEL, reason="patient called")
    store.close()
    server.set_faults(endpoints=["fulfillment/update"], fail_rate=1.0, kinds=["error_200"])
    assert sync() == 0, outputs[-1]  # refused each time: parked, not a crash
    assert "<redacted>" in outputs[-1] and '"failed": 3' in outputs[-1]
    assert sync(RXFLOOR_KONNEKTIVE_PASSWORD=PASSWORD + "!") == 4, outputs[-1]
    assert "refused the API user" in outputs[-1]
    for n, text in enumerate(outputs):
        assert_clean(text.encode(), f"the output of run {n}")
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert_clean(b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")), "the db")
    written = [Path(os.environ[v]) for v in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
                                             "XDG_CONFIG_HOME")]  # fmt: skip
    for root in [*written, tmp_path]:
        for file in root.rglob("*") if root.exists() else []:
            if file.is_file():
                assert_clean(file.read_bytes(), str(file))


def test_the_sandbox_command_serves_konnektive_and_never_prints_the_user() -> None:
    env = {**os.environ, "RXFLOOR_SANDBOX_KONNEKTIVE_LOGIN_ID": LOGIN,
           "RXFLOOR_SANDBOX_KONNEKTIVE_PASSWORD": PASSWORD}  # fmt: skip
    proc = subprocess.Popen(
        rxfloor_cmd("sandbox", "--source", "konnektive", "--port", "0", "--seed", "3"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"the Konnektive API at (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        root = match.group(1)
        login = {"loginId": LOGIN, "password": PASSWORD}
        page = httpx.post(f"{root}/order/query/", data={**login, "orderId": "K100002"}).json()
        assert page["result"] == "SUCCESS" and page["message"]["totalResults"] == 1
        wrong = httpx.post(f"{root}/order/query/", data={**login, "password": "nope-nope"})
        assert wrong.json() == {"result": "ERROR", "message": "Invalid login credentials"}
        assert len(httpx.get(f"{root}/_sandbox/requests").json()) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert_clean((line + out + err).encode(), "the sandbox's output")
    refused = subprocess.run(
        rxfloor_cmd("sandbox", "--source", "konnektive", "--port", "0", "--dialect", "v2"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 3
    assert refused.stderr.strip() == "rxfloor sandbox: --dialect applies to --source rxscale only"

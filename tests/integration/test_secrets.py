"""Issue 9 item 7: the API key never leaks, whatever the remote echoes; a bad key is named.

The stand-in's ``echo_key`` fault makes every error answer quote the X-API-Key it was sent
(as sent and URL-encoded): a careless remote. Neither the key nor its encoded form may reach
stdout, stderr, a log record or any byte of the database file.
"""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.config import ConfigError, load_settings
from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.rxscale.client import RxScaleClient
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from rxfloor.core.text import api_key_problem, register_secret, scrub
from tests import remote_fixtures
from tests.helpers import run_cli

sandbox_factory = remote_fixtures.sandbox_factory

#: a key with characters that URL-encoding changes, so both forms are distinct
KEY = "rx-Sup3r/Secret+key=42"
WRONG = "rx-Wr0ng/Secret+key=17"


def forms(key: str) -> list[str]:
    return [key, urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key)]


def assert_clean(text: str | bytes, *keys: str) -> None:
    for key in keys:
        for form in forms(key):
            if isinstance(text, bytes):
                assert form.encode() not in text, f"secret form {form!r} leaked"
            else:
                assert form not in text, f"secret form {form!r} leaked"


def db_bytes(sqlite_url: str) -> bytes:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    return b"".join(
        p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file()
    )  # the file, its -wal and -shm


def test_scrub_every_form_and_a_cut_off_tail() -> None:
    register_secret(KEY)
    quoted = urllib.parse.quote(KEY, safe="")
    text = f"bad key {KEY} / {quoted} / {urllib.parse.quote_plus(KEY)} / ends {KEY[:12]}"
    clean = scrub(text)
    assert_clean(clean, KEY)
    assert KEY[:12] not in clean  # a message cut off in the middle of the key
    assert clean.startswith("bad key <redacted> / <redacted> / <redacted> / ends <redacted>")
    assert scrub("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("abcdef123\n", "ends with a newline"),
        (" abcdef123", "starts with a space"),
        ("abcdef123 ", "ends with a space"),
        ("abc\tdef123", "a control character (U+0009) at position 4"),
        ("abcdef123\u00a0", "a non-ASCII character (U+00A0) at position 10"),
        ("abc def123", "a space at position 4"),
        ("", "is empty"),
    ],
)
def test_bad_key_is_named_without_printing_it(key: str, words: str) -> None:
    problem = api_key_problem(key)
    assert problem is not None and words in problem
    assert "abcdef" not in problem and "def123" not in problem
    settings = load_settings(api_key=key, api_url="http://127.0.0.1:9")
    if key:
        with pytest.raises(ConfigError) as err:
            settings.resolved_api_key()
        assert str(err.value).startswith("the API key (from RXFLOOR_API_KEY) ")
        assert words in str(err.value) and "def123" not in str(err.value)
    with pytest.raises(ValueError, match="API key"):
        RxScaleClient("http://127.0.0.1:9", SecretStr(key))
    assert api_key_problem(KEY) is None


def test_cli_names_a_key_with_a_trailing_newline(sqlite_url: str) -> None:
    done = run_cli(
        sqlite_url, "sync", "--once",
        env_extra={"RXFLOOR_API_URL": "http://127.0.0.1:9", "RXFLOOR_API_KEY": KEY + "\n"},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == (
        "rxfloor: the API key (from RXFLOOR_API_KEY) ends with a newline; remove it"
    )
    assert_clean(done.stdout + done.stderr, KEY)


@pytest.mark.slow
@pytest.mark.network
def test_sync_once_subprocess_keeps_an_echoed_key_out_of_every_sink(
    sandbox_factory, sqlite_url: str
) -> None:
    sandbox = sandbox_factory(seed=3, api_key=KEY, faults={"echo_key": True})
    # the remote quotes the wrong key it was sent in its 401 body
    assert WRONG in httpx.get(sandbox.base_url + "/health/", headers={"X-API-Key": WRONG}).text
    done = run_cli(
        sqlite_url, "sync", "--once",
        env_extra={"RXFLOOR_API_URL": sandbox.base_url, "RXFLOOR_API_KEY": WRONG},
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "refused the API key (401)" in done.stderr and "<redacted>" in done.stderr
    assert_clean(done.stdout + done.stderr, WRONG)
    store = Store.open(sqlite_url, migrate=False)
    assert "<redacted>" in (store.sync_health(["rxscale"])["rxscale"].last_error or "")
    store.close()
    assert_clean(db_bytes(sqlite_url), WRONG)


def test_worker_in_process_keeps_an_echoed_key_out_of_every_sink(
    sandbox_factory, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = sandbox_factory(seed=3, api_key=KEY, faults={"echo_key": True})
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    # an order the remote has never heard of: its push is refused with 404, key quoted
    service.add_orders([NewOrder(id="po-local-only", name="#9001", remote_status="open")])
    service.act("#9001", Action.START)
    with RxScaleClient(sandbox.base_url, SecretStr(KEY), rate_limit_per_s=None,
                       transport=sandbox.transport) as client:  # fmt: skip
        worker = SyncWorker(service, RxScaleSource(client), policy=RetryPolicy(refused_s=0.0))
        report = worker.cycle()
        worker.close()
    assert report.failed == 1 and report.errors, report
    assert "not found" in report.errors[0] and "<redacted>" in report.errors[0]
    assert_clean(" ".join(report.errors), KEY)
    with RxScaleClient(sandbox.base_url, SecretStr(WRONG), rate_limit_per_s=None,
                       transport=sandbox.transport) as client:  # fmt: skip
        worker = SyncWorker(service, RxScaleSource(client))
        with pytest.raises(AuthError) as err:
            worker.cycle()
        worker.close()
    assert_clean(str(err.value), WRONG)
    assert "<redacted>" in (store.sync_health(["rxscale"])["rxscale"].last_error or "")
    store.close()
    assert_clean(db_bytes(sqlite_url), KEY, WRONG)
    assert caplog.records, "expected the client's own log lines"
    for record in caplog.records:
        assert_clean(record.getMessage(), KEY, WRONG)

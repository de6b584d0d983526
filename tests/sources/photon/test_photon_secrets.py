"""The Photon API token and webhook secret appear in no file, log line or error the program
writes: sync runs against a stand-in that answers errors quoting the credentials it was
sent, and every sink is grepped for every form of each secret."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path

import pytest
from pydantic import SecretStr

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.photon.client import PhotonClient
from rxfloor.core.sources.photon.source import PhotonSource
from rxfloor.core.sync.applier import RemoteApplier
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import SyncWorker
from tests import photon_fixtures

photon_factory = photon_fixtures.photon_factory

TOKEN = "phot0n-Sup3r/Secret+token=42"
WRONG = "phot0n-Wr0ng/Secret+token=17"
NO_WAIT = RetryPolicy(base_s=0.0, cap_s=0.0)


def forms(secret: str) -> list[str]:
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]


def assert_clean(text: str | bytes, *secrets: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            found = form.encode() in text if isinstance(text, bytes) else form in text
            assert not found, f"secret form {form!r} leaked"


def files_bytes(*roots: Path) -> bytes:
    """Every byte of every file under ``roots`` (the database, its -wal, logs, state)."""
    return b"".join(p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file())


def test_push_against_an_echoing_photon_keeps_the_token_out_of_every_sink(
    photon_factory, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = photon_factory(token=TOKEN)
    uids = server.create(3)
    store = Store.open(sqlite_url)
    service = OrderService(store, Actor("AB", "counter-1"))
    with server.client() as reader:
        source = PhotonSource(reader, pharmacy_id=server.pharmacy_id)
        orders = [source.get_order(uid) for uid in uids]
        RemoteApplier(service, "photon").apply(orders)
    names = [o.name or o.uid for o in orders]
    for name in names[:2]:
        service.act(name, Action.START)
    server.set_faults(error_status=500, echo_token=True)
    errors: list[str] = []
    with server.client(timeout_s=2.0) as client:
        worker = SyncWorker(service, PhotonSource(client, pharmacy_id=server.pharmacy_id),
                            policy=NO_WAIT)  # fmt: skip
        for _ in range(3):
            errors += worker.cycle().errors
        server.set_faults(error_status=422)  # a refusal: parked with Photon's (echoing) words
        errors += worker.cycle().errors
        worker.close()
    assert errors and all("<redacted>" in e for e in errors), errors
    server.set_faults(error_status=None)
    with PhotonClient(
        server.base_url, SecretStr(WRONG), rate_limit_per_s=None, transport=server.transport
    ) as client:
        server.set_faults(echo_token=True)
        worker = SyncWorker(service, PhotonSource(client), policy=NO_WAIT)
        service.act(names[2], Action.CANCEL, reason="patient asked")
        with pytest.raises(AuthError) as err:
            worker.cycle()
        worker.close()
    assert "<redacted>" in str(err.value)
    assert_clean(" ".join(errors) + str(err.value), TOKEN, WRONG)
    views = [service.get(n) for n in names]
    assert any(v.sync_error for v in views)
    assert_clean(repr(views) + repr(store.sync_health()), TOKEN, WRONG)
    store.close()
    assert_clean(files_bytes(tmp_path), TOKEN, WRONG)
    for record in caplog.records:
        assert_clean(record.getMessage(), TOKEN, WRONG)

"""Konnektive's API user travels in the URL, as every public client sends it, and no URL
is ever logged, stored or shown unscrubbed.

Sources (facts taken, not text):

* ``CLIENTS`` — public clients of Konnektive's API (GitHub: a Ruby ``KonnektiveApi``, Node
  services, CheckoutChamp's same API): ``<api>/order/query/?loginId=…&password=…&…`` as a GET,
  or a POST with the parameters in the query string and no body. No public page or client
  sends them as a form body, so it is not known that the API reads one.
* ``SOURCES.md`` (Konnektive): an API user's ``loginId`` and ``password`` as request
  parameters; an IP allow-list on Konnektive's side.
"""

from __future__ import annotations

import logging
import urllib.parse

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.sources.base import AuthError, TransientError, UnreachableError
from rxfloor.core.sources.konnektive.client import KonnektiveClient
from rxfloor.core.sources.konnektive.source import KonnektiveSource
from tests import konnektive_fixtures
from tests.konnektive_fixtures import KonnektiveServer

konnektive_server = konnektive_fixtures.konnektive_server
LOGIN = "api-user-7f3a"
PASSWORD = "Pa ss&word=9/x+y"  # every character a URL must encode


def _forms(secret: str) -> list[str]:
    """The secret as sent and as any URL may spell it (httpx's own encoding included)."""
    httpx_form = str(httpx.QueryParams({"p": secret})).removeprefix("p=")
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
            httpx_form]  # fmt: skip


def test_the_credentials_go_in_the_query_string_with_no_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": "ERROR", "message": "No orders matching"})

    client = KonnektiveClient("https://api.konnektive.example", SecretStr(LOGIN),
                              SecretStr(PASSWORD), rate_limit_per_s=None,
                              transport=httpx.MockTransport(handler))  # fmt: skip
    with client:
        assert list(client.orders({"orderId": "ABC123"})) == []
    (request,) = seen
    assert request.url.path == "/order/query/"
    assert request.url.params["loginId"] == LOGIN
    assert request.url.params["password"] == PASSWORD
    assert request.url.params["orderId"] == "ABC123"
    assert request.content == b""


def test_no_log_record_error_or_stored_request_carries_a_credential(
    konnektive_server: KonnektiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request's URL at INFO
    server = konnektive_server
    server.add_orders(2)
    good = server.source(rate_limit_per_s=None)
    rows = list(good.iter_orders(200, active=False))
    assert rows
    server.set_faults(echo_secret=True)
    wrong = KonnektiveClient(server.base_url, SecretStr(server.login_id), SecretStr(PASSWORD),
                             rate_limit_per_s=None, transport=server.transport)  # fmt: skip
    with wrong, pytest.raises(AuthError) as refused:
        list(KonnektiveSource(wrong).iter_orders(200, active=False))
    dead = KonnektiveClient("http://127.0.0.1:9", SecretStr(LOGIN), SecretStr(PASSWORD),
                            rate_limit_per_s=None)  # fmt: skip
    with dead, pytest.raises((UnreachableError, TransientError)) as unreachable:
        list(dead.orders({"orderId": "X"}))
    good.close()
    shown = [str(refused.value), str(unreachable.value)]
    shown += [r.getMessage() for r in caplog.records]
    shown += [repr(r) for r in server.requests()]
    assert any("order/query" in line for line in caplog.messages)  # httpx did log the calls
    for secret in (PASSWORD, server.password):
        for form in _forms(secret):
            for line in shown:
                assert form not in line, line

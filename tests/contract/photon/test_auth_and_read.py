"""Photon's tokens and its order read as Photon documents them, against the client.

Pages (facts taken, not text):

* ``AUTH`` — github.com/Photon-Health/docs ``authentication.mdx``: machine tokens from
  ``POST https://auth.photon.health/oauth/token`` with JSON ``{client_id, client_secret,
  audience, grant_type: "client_credentials"}``; the answer ``{access_token, scope,
  expires_in: 86400, token_type: "Bearer"}``; "cache it and request a new one shortly before
  it expires"; a missing, invalid or expired token fails the whole request with top-level
  ``errors`` and no ``data``.
* ``ENVS`` — github.com/Photon-Health/docs ``environments.mdx``: audience
  ``https://api.photon.health`` (``https://api.neutron.health`` in the sandbox).
* ``EXPIRED`` — the older API's answer to an expired token, as captured (issue 20): a
  GraphQL error ``"Request failed with status code 401"`` with ``extensions.code
  INTERNAL_SERVER_ERROR``.
* ``SCHEMA`` — github.com/Photon-Health/client ``packages/sdk/src/types.ts`` (the generated
  schema of the older API, ``api.photon.health/graphql``): ``Query.order(id: ID!)``, types
  ``Order``, ``OrderFulfillment``, ``Pharmacy``, ``Patient``, ``Name``, ``Fill``,
  ``Treatment``, ``Prescription``; ``Treatment.codes: TreatmentCodes {HCPCS, SKU,
  packageNDC, productNDC, rxcui}`` (the pack's NDC, what a product scan matches).
* ``NETWORK`` — github.com/Photon-Health/docs ``network/order.mdx``: the newer API reads an
  order through ``order(order: {id}, metadata)``; its fields have no ``externalId``,
  ``fulfillment`` or ``fills`` (not supported by rxfloor).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.sources.base import AuthError
from rxfloor.core.sources.photon.auth import AUDIENCE, TOKEN_URL, ClientCredentials
from rxfloor.core.sources.photon.client import ORDER_QUERY, PhotonClient

API = "https://api.photon.health"

#: SCHEMA: each type's fields (only the types the read reaches)
SCHEMA: dict[str, dict[str, str | None]] = {
    "Query": {"order": "Order"},
    "Order": {"address": "Address", "createdAt": None, "externalId": None, "fills": "Fill",
              "fulfillment": "OrderFulfillment", "id": None, "patient": "Patient",
              "pharmacy": "Pharmacy", "state": None},
    "OrderFulfillment": {"carrier": None, "state": None, "trackingNumber": None, "type": None,
                         "minutesUntilReady": None, "pharmacyEstimatedReadyAt": None},
    "Pharmacy": {"NPI": None, "address": "Address", "fax": None, "fulfillmentTypes": None,
                 "id": None, "name": None, "phone": None},
    "Patient": {"id": None, "externalId": None, "name": "Name", "dateOfBirth": None,
                "email": None, "phone": None, "address": "Address"},
    "Name": {"first": None, "full": None, "last": None, "middle": None, "title": None},
    "Fill": {"filledAt": None, "id": None, "order": "Order", "prescription": "Prescription",
             "requestedAt": None, "state": None, "treatment": "Treatment"},
    "Treatment": {"codes": "TreatmentCodes", "description": None, "id": None, "name": None},
    "TreatmentCodes": {"HCPCS": None, "SKU": None, "packageNDC": None, "productNDC": None,
                       "rxcui": None},
    "Prescription": {"id": None, "externalId": None, "daysSupply": None},
}  # fmt: skip
#: NETWORK: what the newer API's order has (``OrderFields`` there)
NETWORK_ORDER = {"id", "state", "patient", "prescriptions", "pharmacy", "exceptions"}


def _selection(query: str) -> dict[str, Any]:
    """The selection tree of a one-operation query: {field: subtree or None}."""
    body = query[query.index("{") :]
    tokens = re.findall(r"[{}]|[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?", body)
    stack: list[dict[str, Any]] = [{}]
    last: str | None = None
    for tok in tokens[1:-1]:
        if tok == "{":
            assert last is not None
            stack[-1][last] = {}
            stack.append(stack[-1][last])
        elif tok == "}":
            stack.pop()
        else:
            last = tok.split("(")[0]
            stack[-1][last] = None
    return stack[0]


def _check(tree: dict[str, Any], type_name: str, where: str = "") -> list[str]:
    missing = []
    fields = SCHEMA[type_name]
    for name, sub in tree.items():
        if name not in fields:
            missing.append(f"{where}{type_name}.{name}")
        elif sub is not None:
            child = fields[name]
            assert child is not None, f"{type_name}.{name} has no subfields"
            missing += _check(sub, child, f"{where}{name}.")
    return missing


def test_the_order_read_asks_only_for_fields_of_the_older_schema() -> None:
    tree = _selection(ORDER_QUERY)
    assert "order(id: $id)" in ORDER_QUERY.replace("\n", " ")  # SCHEMA: QueryOrderArgs {id}
    assert _check(tree, "Query") == []
    # NETWORK: the newer API's order lacks what the read needs (so it is not supported)
    assert {"externalId", "fulfillment", "fills"} - NETWORK_ORDER == {
        "externalId", "fulfillment", "fills"
    } and {"externalId", "fulfillment", "fills"} <= set(tree["order"])  # fmt: skip


class FakePhoton:
    """Photon's sign-in and the older GraphQL API, as AUTH and EXPIRED describe them."""

    def __init__(self, lifetime: int = 86_400) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.token_requests: list[dict[str, Any]] = []
        self.valid: set[str] = set()
        self.reads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            body = json.loads(request.content)
            self.token_requests.append(body)
            if body.get("client_secret") != "backend-secret":
                return httpx.Response(401, json={"error": "access_denied",
                                                 "error_description": "Unauthorized"})  # fmt: skip
            token = f"machine-token-{len(self.issued) + 1:04d}-abcdefgh"
            self.issued.append(token)
            self.valid = {token}
            return httpx.Response(200, json={"access_token": token, "expires_in": self.lifetime,
                                             "scope": "read:order write:order",
                                             "token_type": "Bearer"})  # fmt: skip
        self.reads += 1
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent not in self.valid:  # EXPIRED: HTTP 200, the upstream's 401 wrapped
            return httpx.Response(200, json={"data": {"order": None}, "errors": [
                {"message": "Request failed with status code 401", "path": ["order"],
                 "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})  # fmt: skip
        return httpx.Response(200, json={"data": {"order": {
            "id": "ord_1", "state": "PLACED", "externalId": "1234",
            "fulfillment": {"type": "PICK_UP", "state": "RECEIVED"}}}})  # fmt: skip


def _client(fake: FakePhoton, clock: list[float], secret: str = "backend-secret") -> PhotonClient:
    transport = httpx.MockTransport(fake.handler)
    auth = ClientCredentials("client-id-1", SecretStr(secret), transport=transport,
                             clock=lambda: clock[0])  # fmt: skip
    return PhotonClient(API, auth=auth, rate_limit_per_s=None, transport=transport)


def test_client_credentials_are_cached_and_renewed_shortly_before_expiry() -> None:
    fake, clock = FakePhoton(), [1_000_000.0]
    with _client(fake, clock) as client:
        client.read_order("ord_1")
        client.read_order("ord_1")
        assert len(fake.issued) == 1  # AUTH: "Don't request one for every call"
        request = fake.token_requests[0]
        assert request == {"client_id": "client-id-1", "client_secret": "backend-secret",
                           "audience": AUDIENCE, "grant_type": "client_credentials"}  # fmt: skip
        assert AUDIENCE == "https://api.photon.health"  # ENVS
        clock[0] += 86_400 - 600  # ten minutes before expiry: still the same token
        client.read_order("ord_1")
        assert len(fake.issued) == 1
        clock[0] += 400  # "shortly before it expires"
        client.read_order("ord_1")
        assert len(fake.issued) == 2


def test_an_expired_token_is_recognised_renewed_once_and_the_read_repeated() -> None:
    fake, clock = FakePhoton(), [1_000_000.0]
    with _client(fake, clock) as client:
        client.read_order("ord_1")
        fake.valid = set()  # revoked early (or the clocks disagree)
        order = client.read_order("ord_1")
        assert order.id == "ord_1" and len(fake.issued) == 2


def test_a_token_rejected_again_is_an_auth_error_in_the_health() -> None:
    """Never a transient error retried for ever: the worker's health shows the words."""
    fake, clock = FakePhoton(), [1_000_000.0]

    def never(request: httpx.Request) -> httpx.Response:
        answer = fake.handler(request)
        fake.valid = set()  # every token is rejected by the API
        return answer

    transport = httpx.MockTransport(never)
    auth = ClientCredentials("client-id-1", SecretStr("backend-secret"), transport=transport,
                             clock=lambda: clock[0])  # fmt: skip
    client = PhotonClient(API, auth=auth, rate_limit_per_s=None, transport=transport)
    with client, pytest.raises(AuthError, match="photon: token rejected"):
        client.read_order("ord_1")
    assert len(fake.issued) == 2 and fake.reads == 2  # one renewal, not a loop


def test_a_static_token_rejected_is_final() -> None:
    fake = FakePhoton()
    transport = httpx.MockTransport(fake.handler)
    client = PhotonClient(API, SecretStr("static-token-abcdefgh"), rate_limit_per_s=None,
                          transport=transport)  # fmt: skip
    with client, pytest.raises(AuthError, match="photon: token rejected") as caught:
        client.read_order("ord_1")
    assert "static-token-abcdefgh" not in str(caught.value) and fake.reads == 1


def test_refused_client_credentials_say_so_without_the_secret() -> None:
    fake, clock = FakePhoton(), [0.0]
    client = _client(fake, clock, secret="wrong-secret-123")
    with client, pytest.raises(AuthError, match="client credentials refused") as caught:
        client.read_order("ord_1")
    assert "wrong-secret-123" not in str(caught.value)

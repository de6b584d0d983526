"""The client of Photon's pharmacy side: one pooled httpx client, one request per call.

Two calls: the pharmacy's status report (``POST <api_url>/v1/hooks/pharmacy``, documented)
and the order read (Photon's GraphQL ``order(id:)`` query, documented for organisations;
used only to settle a report whose answer was lost). How the report is authenticated is
not documented publicly: the token goes in a configurable header (default
``Authorization: Bearer <token>``), and nowhere else — no message built here contains it,
and whatever the remote echoes of it is scrubbed. The token is a machine token of the
client-credentials flow, renewed before it expires, or a static one (:mod:`.auth`).

The supported GraphQL endpoint is the older API, ``https://api.photon.health/graphql``
(``api.neutron.health`` in the sandbox): its ``Query.order(id: ID!): Order`` has every field
:data:`ORDER_QUERY` selects (Photon-Health/client ``packages/sdk/src/types.ts``, the
generated schema; ``tests/contract/photon`` checks the query against it). The newer
``network.photon.health/graphql`` is not supported: its order is read through
``order(order: {id}, metadata)`` and has no ``externalId``, ``fulfillment`` or ``fills``
(Photon-Health/docs ``network/order.mdx``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from rxfloor.core.sources import http
from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
)
from rxfloor.core.sources.photon.auth import StaticToken, TokenSource
from rxfloor.core.sources.photon.wire import OrderRead
from rxfloor.core.sync.retry import RateLimiter
from rxfloor.core.text import scrub

HOOK_PATH = "v1/hooks/pharmacy"
T = TypeVar("T")

#: the fields the read asks for (everything :class:`OrderRead` reads)
ORDER_QUERY = """query order($id: ID!) {
  order(id: $id) {
    id externalId state createdAt
    pharmacy { id name }
    fulfillment { type state carrier trackingNumber }
    patient { id externalId name { full } }
    fills { id treatment { name codes { packageNDC SKU } } prescription { id } }
  }
}"""


class PhotonClient:
    """Calls of Photon's pharmacy side (no hidden retries: the sync worker decides)."""

    def __init__(
        self,
        api_url: str,
        token: SecretStr | None = None,
        *,
        auth: TokenSource | None = None,
        graphql_url: str | None = None,
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        timeout_s: float = 10.0,
        rate_limit_per_s: float | None = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_url:
            raise ValueError("no Photon API URL: set [sources.photon] api_url")
        if auth is None:
            if token is None or not token.get_secret_value():
                raise ValueError(
                    "no Photon API token: set [sources.photon] client_id and "
                    "RXFLOOR_PHOTON_CLIENT_SECRET (or RXFLOOR_PHOTON_API_TOKEN), or store "
                    "them in the OS keyring"
                )
            auth = StaticToken(token)
        self.auth = auth
        self.base_url = api_url.rstrip("/")
        self.graphql_url = (graphql_url or self.base_url + "/graphql").rstrip("/")
        self._auth_header, self._auth_scheme = auth_header, auth_scheme
        self.limiter = RateLimiter(rate_limit_per_s)
        # no Authorization here: each request carries the token provider's current one
        self._http = http.client(timeout_s, transport, {"Accept": "application/json"})

    def close(self) -> None:
        self._http.close()
        closing = getattr(self.auth, "close", None)
        if callable(closing):
            closing()

    def __enter__(self) -> PhotonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls
    def report(
        self,
        order_id: str,
        status: str,
        *,
        carrier: str | None = None,
        tracking_number: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The pharmacy's status report; returns the answer's JSON (None when it has none)."""
        body: dict[str, Any] = {"status": status, "order_id": order_id}
        if carrier:
            body["carrier"] = carrier
        if tracking_number:
            body["tracking_number"] = tracking_number
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        url = f"{self.base_url}/{HOOK_PATH}"
        return self._with_token(
            lambda token: self._call("POST", url, json=body, headers=headers | token, sends=True)
        )

    def read_order(self, order_id: str) -> OrderRead:
        """The order as Photon has it now (``order(id:)``)."""
        return self._with_token(lambda token: self._read_order(order_id, token))

    def _with_token(self, call: Callable[[dict[str, str]], T]) -> T:
        """``call`` with the token's header; a token Photon rejects (401, or the GraphQL
        error an expired one gets) is renewed once and the call repeated (a rejected call
        changed nothing); rejected again, or not renewable: "photon: token rejected"."""
        try:
            return call(self._token_header())
        except AuthError as exc:
            if exc.status_code != 401:
                raise
            first = exc
        if not self.auth.refresh():
            raise AuthError(f"photon: token rejected ({first})", 401) from None
        try:
            return call(self._token_header())
        except AuthError as exc:
            if exc.status_code != 401:
                raise
            raise AuthError(f"photon: token rejected after a new one ({exc})", 401) from None

    def _token_header(self) -> dict[str, str]:
        token = self.auth.token()
        value = f"{self._auth_scheme} {token}" if self._auth_scheme else token
        return {self._auth_header: value}

    def _read_order(self, order_id: str, token: dict[str, str]) -> OrderRead:
        answer = self._call(
            "POST",
            self.graphql_url,
            json={"query": ORDER_QUERY, "variables": {"id": order_id}},
            headers=token,
            sends=False,
        )
        if not isinstance(answer, dict):
            raise TransientError("malformed answer from Photon's order read")
        errors = answer.get("errors") or []
        data = answer.get("data") or {}
        order = data.get("order") if isinstance(data, dict) else None
        if order is None:
            words = _graphql_message(errors) or "no such order"
            if any(token_expired(e) for e in errors):
                raise AuthError(f"Photon refused the API token: {words}", 401)
            if any(_code(e) in ("UNAUTHENTICATED", "FORBIDDEN") for e in errors):
                raise AuthError(f"Photon refused the API token: {words}")
            if errors and not any(_code(e) == "NOT_FOUND" for e in errors):
                raise TransientError(f"Photon's order read failed: {words}", maybe_applied=False)
            raise PermanentError(f"Photon has no order {order_id!r}: {words}", 404, conflict=False)
        try:
            return OrderRead.model_validate(order)
        except ValidationError as exc:
            raise TransientError(f"malformed order from Photon: {http.short(exc)}") from None

    # -- plumbing
    def _call(self, method: str, url: str, *, sends: bool, **kw: Any) -> Any:
        slot = self.limiter.acquire()
        what = "the status report" if sends else "the order read"
        response = http.send(
            lambda: self._http.request(method, url, **kw),
            _WORDING,
            sends=sends,
            base=self.base_url,
            what=what,
        )
        code = response.status_code
        http.judge(
            response,
            _WORDING,
            sends=sends,
            what=what,
            words=self._message,
            limiter=self.limiter,
            slot=slot,
        )
        if code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if sends:  # the report was accepted (2xx): its answer is not needed
                return None
            raise TransientError(
                f"malformed JSON from Photon ({code})", code, maybe_applied=False
            ) from None

    def _message(self, response: httpx.Response) -> str:
        """The server's own words, scrubbed of the token before they are cut to length."""
        try:
            body = response.json()
        except ValueError:
            body = None
        token = self.auth.token() if isinstance(self.auth, StaticToken) else ""
        if isinstance(body, dict):
            for key in ("error", "message", "description", "detail"):
                value = body.get(key)
                if isinstance(value, str) and value.strip():
                    return scrub(value.strip(), [token]).splitlines()[0][:300]
            words = _graphql_message(body.get("errors") or [])
            if words:
                return scrub(words, [token])
        return scrub(response.reason_phrase, [token]) or "no message"


#: what a missing, invalid or expired token gets from the older API: the upstream's 401
#: wrapped as ``INTERNAL_SERVER_ERROR`` (seen in captured answers), or the newer API's codes
#: (Photon-Health/docs ``authentication.mdx``: ``EMPTY_AUTHORIZATION_HEADER``)
_TOKEN_CODES = frozenset({"UNAUTHENTICATED", "EMPTY_AUTHORIZATION_HEADER", "INVALID_TOKEN"})


def token_expired(error: Any) -> bool:
    """A top-level GraphQL error that says the token was rejected (not a transient fault)."""
    if not isinstance(error, dict):
        return False
    message = str(error.get("message") or "").lower()
    if "status code 401" in message:
        return True
    return _code(error) in _TOKEN_CODES


def _code(error: Any) -> str | None:
    if isinstance(error, dict):
        ext = error.get("extensions")
        if isinstance(ext, dict) and isinstance(ext.get("code"), str):
            return str(ext["code"]).upper()
    return None


def _graphql_message(errors: Any) -> str:
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and isinstance(e.get("message"), str) and e["message"].strip():
                return scrub(str(e["message"]).strip()).splitlines()[0][:300]
    return ""


_WORDING = http.Wording(
    unreachable="cannot reach Photon at {base}",
    timeout="Photon did not answer {what} in time",
    dropped="connection to Photon failed during {what}: {error}",
    busy="Photon answered {code} to {what}: {words}",
    auth="Photon refused the API token ({code}): {words}",
    refused="Photon refused {what} ({code}): {words}",
)

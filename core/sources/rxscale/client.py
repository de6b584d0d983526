"""The client of the RxScale API (docs/pages/sources/rxscale.md): one pooled httpx client, one
request per call.

It owns explicit timeouts, the client-side rate limit, and the mapping of failures to the
error kinds of :mod:`rxfloor.core.sources.base` that a caller acts on. The API key is only
ever put in the ``X-API-Key`` header; no message built here contains it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from rxfloor.core.sources import http
from rxfloor.core.sources.base import TransientError
from rxfloor.core.sources.rxscale.wire import OrderPage, RxScaleOrder
from rxfloor.core.sync.retry import RateLimiter
from rxfloor.core.text import api_key_problem, register_secret, scrub


class RxScaleClient:
    """Calls of the documented API. Each call is one HTTP request (no hidden retries here:
    the sync worker decides, because only it knows whether a lost answer matters)."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        *,
        timeout_s: float = 10.0,
        rate_limit_per_s: float | None = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("no API URL: set RXFLOOR_API_URL")
        if api_key is None or not api_key.get_secret_value():
            raise ValueError("no API key: set RXFLOOR_API_KEY or store it in the OS keyring")
        key = api_key.get_secret_value()
        register_secret(key)  # whatever the remote echoes of it is scrubbed from then on
        problem = api_key_problem(key)
        if problem is not None:
            raise ValueError(f"the API key {problem}")
        self.base_url = base_url.rstrip("/")
        self.limiter = RateLimiter(rate_limit_per_s)
        self._http = http.client(
            timeout_s,
            transport,
            {"X-API-Key": key, "Accept": "application/json"},
            self.base_url + "/",
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RxScaleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls
    def health(self) -> None:
        self._call("GET", "health/")

    def list_page(self, page: int, limit: int = 200, status: str | None = None) -> OrderPage:
        params: dict[str, Any] = {"page": page, "limit": limit}
        if status:
            params["status"] = status
        body = self._call("GET", "pharmacy_orders/", params=params)
        try:
            return OrderPage.model_validate(body)
        except ValidationError as exc:
            raise TransientError(
                f"malformed order list from the remote: {http.short(exc)}"
            ) from None

    def iter_orders(
        self, limit: int = 200, status: str | None = None
    ) -> Iterator[RxScaleOrder | str]:
        """Every remote order (of ``status``), page by page; a malformed entry is yielded as
        its error line."""
        page = 0
        while True:
            result = self.list_page(page, limit, status)
            for raw in result.data:
                try:
                    yield RxScaleOrder.model_validate(raw)
                except ValidationError as exc:
                    yield f"malformed order {raw.get('uid', '?')!r}: {http.short(exc)}"
            page += 1
            if page >= result.total_pages or not result.data:
                return

    def get_order(self, uid: str) -> RxScaleOrder:
        return self._order(self._call("GET", f"pharmacy_orders/{uid}"))

    def set_status(
        self, uid: str, status: str, *, comment: str | None = None, idempotency_key: str
    ) -> RxScaleOrder:
        body: dict[str, Any] = {"status": status}
        if comment:
            body["comment"] = comment
        answer = self._call(
            "PATCH",
            f"pharmacy_orders/{uid}/status",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return self._order(answer)

    def complete_order(self, uid: str, *, idempotency_key: str) -> RxScaleOrder:
        """``PATCH …/pharmacy_orders/{uid}/complete_order`` (v2): ``completed``, with the stock
        reduction and the shipment events only this call triggers."""
        answer = self._call(
            "PATCH",
            f"pharmacy_orders/{uid}/complete_order",
            headers={"Idempotency-Key": idempotency_key},
        )
        return self._order(answer)

    # -- plumbing
    def _order(self, body: Any) -> RxScaleOrder:
        try:
            return RxScaleOrder.model_validate(body)
        except ValidationError as exc:
            raise TransientError(f"malformed order from the remote: {http.short(exc)}") from None

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        slot = self.limiter.acquire()
        sends = method != "GET"
        response = http.send(
            lambda: self._http.request(method, path, **kw),
            _WORDING,
            sends=sends,
            base=self.base_url,
            what=method,
        )
        code = response.status_code
        http.judge(
            response,
            _WORDING,
            sends=sends,
            what=method,
            words=_message,
            limiter=self.limiter,
            slot=slot,
        )
        if code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"malformed JSON from the remote ({method} {code})", code, maybe_applied=sends
            ) from None


_WORDING = http.Wording(
    unreachable="cannot reach the remote at {base}",
    timeout="the remote did not answer {what} in time",
    dropped="connection to the remote failed during {what}: {error}",
    busy="remote answered {code}: {words}",
    auth="the remote refused the API key ({code}): {words}",
    refused="remote refused ({code}): {words}",
)


def _message(response: httpx.Response) -> str:
    """The server's own words: ``error``, or ``description``/``code``; else the reason.

    Scrubbed of the key the request carried (a careless remote may quote it) before it is
    cut to length, so a cut can never leave part of the key behind.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    try:
        sent = response.request.headers.get("X-API-Key")
    except RuntimeError:  # a response built by hand (tests) has no request
        sent = None
    if isinstance(body, dict):
        for key in ("error", "description", "message", "detail", "code"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return scrub(value.strip(), [sent]).splitlines()[0][:300]
    return scrub(response.reason_phrase, [sent]) or "no message"

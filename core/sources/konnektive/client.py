"""The client of Konnektive CRM's API for a fulfillment house: one pooled httpx client, one
request per call.

Every call is a POST to ``<api_url>/<endpoint>/`` with no body: the API user's ``loginId``
and ``password`` and the call's parameters in the query string, as every public client of
the API sends them (none sends a form body; that the API reads one is not known). So the
URL carries the credentials, and no URL is ever shown as it is: httpx's request log (and
httpcore's) goes through :class:`UrlFilter`, which blanks the ``loginId`` / ``password``
values of any URL, and every error message here names the API URL only. Both are
registered secrets, so whatever Konnektive echoes of them is scrubbed from every message
built here (and everywhere else).

Konnektive answers HTTP 200 for refusals too: ``{"result": "ERROR", "message": "<words>"}``.
An ERROR that says nothing matched is an empty page; one about the login, the password,
permissions or the caller's IP is an :class:`AuthError`; any other is a
:class:`PermanentError` (for an update a ``conflict``: the worker reads the order back
before it believes the refusal, since the refused step may be our own lost one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from rxfloor.core.sources import http
from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
)
from rxfloor.core.sources.konnektive.wire import Fulfillment, OrderDetail, rows
from rxfloor.core.sync.retry import RateLimiter
from rxfloor.core.text import api_key_problem, register_secret, scrub

#: a credential's value in a URL's query string, however it is encoded
_URL_SECRET = re.compile(r"(?i)\b(loginId|password)=[^&\s\"'<>]*")


def scrub_url(text: str) -> str:
    """``text`` with every ``loginId=`` / ``password=`` value blanked, then scrubbed."""
    return scrub(_URL_SECRET.sub(r"\1=<redacted>", text))


class UrlFilter(logging.Filter):
    """For httpx's and httpcore's loggers: a URL's credentials never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub_url(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = scrub_url(record.exc_text)
        return True


def _guard_http_logs() -> None:
    """Install :class:`UrlFilter` on the loggers that print request URLs (once)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, UrlFilter) for f in logger.filters):
            logger.addFilter(UrlFilter())


#: Konnektive's cap on ``resultsPerPage``
MAX_PAGE_SIZE = 200

#: "No orders matching those parameters could be found", "No fulfillments found", …:
#: an empty result, not a failure (only a message that opens with "No")
_EMPTY = re.compile(r"no\b.*\b(found|matching)\b", re.IGNORECASE | re.DOTALL)
_AUTH = re.compile(
    r"(invalid|incorrect|wrong|bad)\s+(login|password|user|api|credential)|"
    r"login\s+(failed|invalid|incorrect)|credentials|unauthori[sz]ed|not authori[sz]ed|"
    r"authenticat|permission|access denied|not allowed|ip address|whitelist",
    re.IGNORECASE,
)
#: (the bare words "login" or "password" are not enough: a careless remote that quotes the
#: parameters it was sent would make every refusal look like a bad login)


class KonnektiveClient:
    """Calls of the documented API; thread-safe (httpx pools, the limiter locks)."""

    def __init__(
        self,
        api_url: str,
        login_id: SecretStr | None,
        password: SecretStr | None,
        *,
        timeout_s: float = 15.0,
        rate_limit_per_s: float | None = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_url:
            raise ValueError("no Konnektive API URL: set [sources.konnektive] api_url")
        login = login_id.get_secret_value() if login_id else ""
        secret = password.get_secret_value() if password else ""
        register_secret(login)  # before any check: no message below may carry them
        register_secret(secret)
        if not login:
            raise ValueError(
                "no Konnektive login id: set RXFLOOR_KONNEKTIVE_LOGIN_ID or store it in the "
                "OS keyring"
            )
        if not secret:
            raise ValueError(
                "no Konnektive password: set RXFLOOR_KONNEKTIVE_PASSWORD or store it in the "
                "OS keyring"
            )
        for what, problem in (
            ("login id", api_key_problem(login)),
            ("password", _password_problem(secret)),
        ):
            if problem is not None:
                raise ValueError(f"the Konnektive {what} {problem}")
        self.api_url = api_url.rstrip("/")
        self._auth = {"loginId": login, "password": secret}
        _guard_http_logs()
        self.limiter = RateLimiter(rate_limit_per_s)
        self._http = http.client(
            timeout_s, transport, {"Accept": "application/json"}, self.api_url + "/"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KonnektiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls
    def query_page(
        self, endpoint: str, params: dict[str, str], page: int, per_page: int
    ) -> tuple[list[Any], int]:
        """One page (1-based) of ``order/query`` or ``fulfillment/query``: its rows and the
        total. "No … matching" is an empty page."""
        per_page = max(1, min(per_page, MAX_PAGE_SIZE))
        message = self._call(
            endpoint, {**params, "page": str(page), "resultsPerPage": str(per_page)}, sends=False
        )
        if message is None:
            return [], 0
        if not isinstance(message, dict):
            raise TransientError(f"malformed answer from Konnektive {endpoint}: no result page")
        try:
            total = int(message.get("totalResults") or 0)
        except (TypeError, ValueError):
            total = 0
        return rows(message.get("data")), total

    def iter_rows(
        self, endpoint: str, params: dict[str, str], per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[Any]:
        """Every row of a query, page by page, until a page comes back short or empty."""
        per_page = max(1, min(per_page, MAX_PAGE_SIZE))
        page = 1
        while True:
            data, total = self.query_page(endpoint, params, page, per_page)
            yield from data
            if len(data) < per_page or page * per_page >= total:
                return
            page += 1

    def orders(self, params: dict[str, str], per_page: int = MAX_PAGE_SIZE) -> Iterator[Any]:
        return self.iter_rows("order/query", params, per_page)

    def fulfillments(self, params: dict[str, str], per_page: int = MAX_PAGE_SIZE) -> Iterator[Any]:
        return self.iter_rows("fulfillment/query", params, per_page)

    def order(self, order_id: str) -> tuple[OrderDetail | None, list[Fulfillment]]:
        """One order and its fulfillments (None when Konnektive has no such order), from the
        Order Query API; from the Fulfillment Query API only when that answer carries no
        ``fulfillments`` (or there is no such order: a fulfillment may outlive its listing)."""
        found = [r for r in self.orders({"orderId": order_id}) if _id_of(r) == order_id]
        detail = _detail(found[0]) if found else None
        if detail is not None and detail.fulfillments is not None:
            return detail, detail.fulfillments
        return detail, self.fulfillments_of(order_id)

    def fulfillments_of(self, order_id: str) -> list[Fulfillment]:
        out = []
        for raw in self.fulfillments({"orderId": order_id}):
            try:
                f = Fulfillment.model_validate(raw)
            except ValidationError as exc:
                raise TransientError(
                    f"malformed fulfillment of order {order_id} from Konnektive: {http.short(exc)}"
                ) from None
            if f.order_id == order_id:
                out.append(f)
        return out

    def update_fulfillment(
        self,
        order_id: str,
        status: str,
        *,
        tracking_number: str | None = None,
        date_shipped: str | None = None,
    ) -> None:
        """The Update Fulfillment API; returns on SUCCESS, raises otherwise."""
        params = {"orderId": order_id, "fulfillmentStatus": status}
        if tracking_number:
            params["trackingNumber"] = tracking_number
        if date_shipped:
            params["dateShipped"] = date_shipped
        self._call("fulfillment/update", params, sends=True)

    # -- plumbing
    def _call(self, endpoint: str, params: dict[str, str], *, sends: bool) -> Any:
        """POST one call; the answer's ``message`` on SUCCESS, None for an empty result."""
        slot = self.limiter.acquire()
        what = f"Konnektive {endpoint}"
        response = http.send(
            lambda: self._http.post(endpoint + "/", params={**self._auth, **params}),
            _WORDING,
            sends=sends,
            base=self.api_url,
            what=what,
        )
        code = response.status_code
        http.judge(
            response,
            _WORDING,
            sends=sends,
            what=what,
            words=self._words,
            limiter=self.limiter,
            slot=slot,
        )
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"malformed JSON from {what} ({code})", code, maybe_applied=sends
            ) from None
        result = body.get("result") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        if result == "SUCCESS":
            return message
        if result != "ERROR":
            raise TransientError(f"malformed answer from {what}: no result", maybe_applied=sends)
        words = self._clean(message if isinstance(message, str) else "no message")
        if not sends and _EMPTY.match(words.strip()):
            return None
        if _AUTH.search(words):
            raise AuthError(f"Konnektive refused the API user: {words}")
        raise PermanentError(f"Konnektive refused {endpoint}: {words}", code, conflict=sends)

    def _clean(self, text: str) -> str:
        """Konnektive's words, scrubbed of what we sent before they are cut to one line."""
        clean = scrub(text.strip(), self._auth.values())
        return (clean.splitlines() or [""])[0][:300] or "no message"

    def _words(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return self._clean(body["message"])
        return self._clean(response.reason_phrase or "no message")


def _password_problem(value: str) -> str | None:
    """A password goes in a form body (spaces are fine there); a stray newline or control
    character from a copy/paste is named, never stripped silently."""
    if value.endswith(("\n", "\r")):
        return "ends with a newline; remove it"
    for position, char in enumerate(value, start=1):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"contains a control character (U+{ord(char):04X}) at position {position}"
    return None


def _id_of(raw: Any) -> str | None:
    value = raw.get("orderId") if isinstance(raw, dict) else None
    return None if value is None else str(value)


def _detail(raw: Any) -> OrderDetail:
    try:
        return OrderDetail.model_validate(raw)
    except ValidationError as exc:
        raise TransientError(f"malformed order from Konnektive: {http.short(exc)}") from None


_WORDING = http.Wording(
    unreachable="cannot reach Konnektive at {base}",
    timeout="{what} did not answer in time",
    dropped="connection to {what} failed: {error}",
    busy="{what} answered {code}: {words}",
    auth="Konnektive refused the API user ({code}): {words}",
    refused="{what} refused ({code}): {words}",
    auth_code=False,
    pause_on_busy=False,
)

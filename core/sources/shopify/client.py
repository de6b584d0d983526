"""The client of Shopify's GraphQL Admin API: one pooled httpx client, one POST per call,
paced by the cost bucket Shopify reports on every answer.

``POST <shop>/admin/api/<version>/graphql.json`` with the access token in
``X-Shopify-Access-Token`` (the only place it is ever put; no message built here contains
it). GraphQL reports most failures with HTTP 200, so an answer is judged by its body:

* ``errors`` with code ``THROTTLED`` -> :class:`TransientError` (certainly not applied), its
  ``retry_after`` computed from ``extensions.cost.throttleStatus``;
* ``errors`` with ``ACCESS_DENIED`` -> :class:`AuthError`; ``INTERNAL_SERVER_ERROR`` ->
  :class:`TransientError`; any other (a malformed query, an unknown id) ->
  :class:`PermanentError` with Shopify's words;
* ``errors`` that only say the app is not approved for protected customer fields ("This app
  is not approved to use the firstName field …", with or without ``ACCESS_DENIED``) beside
  ``data``: the answer is used, the fields are null (shopify.dev
  ``docs/apps/launch/protected-customer-data``: unapproved fields are redacted, HTTP 200,
  the reason in ``errors``); :attr:`ShopifyClient.withheld` names them. Where the redaction
  took a whole root field away, the app lacks the approval the floor needs: :class:`AuthError`;
* a mutation's non-empty ``userErrors`` -> :class:`Refused` (a :class:`PermanentError`)
  with Shopify's words and the errors' ``code`` where given (:meth:`ShopifyClient.mutate`),
  a ``conflict`` when the words only say the fulfillment order is not in the state the
  mutation needs (the worker then reads it back).

Pacing (:class:`CostBucket`) never guesses: it knows the bucket only from Shopify's own
``throttleStatus`` and a query's cost only from Shopify's ``requestedQueryCost`` for it.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from rxfloor.core.sources import http
from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
)
from rxfloor.core.sources.shopify.wire import Cost
from rxfloor.core.text import api_key_problem, register_secret, scrub

_log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2025-10"
TOKEN_HEADER = "X-Shopify-Access-Token"


@dataclass(frozen=True, slots=True)
class BucketStats:
    """What the bucket has seen (benchmarks and ``rxfloor sync`` report it)."""

    answers: int  # answers that carried a cost
    throttled: int  # THROTTLED answers
    spent: float  # the sum of Shopify's actualQueryCost
    waited_s: float  # time callers spent waiting for the bucket
    maximum: float | None
    restore_rate: float | None


class CostBucket:
    """This client's picture of Shopify's leaky bucket for one app on one shop (thread-safe).

    The picture is Shopify's last ``throttleStatus`` (``currentlyAvailable`` at the moment the
    answer arrived, restored at ``restoreRate`` since, never above ``maximumAvailable``) minus
    the requested cost of every call still on the wire. A caller waits until that can pay the
    call's cost, then reserves it (:meth:`acquire`); the answer gives it back and updates
    the picture (:meth:`settle`). An answer that overtook a later one on the way back may
    only lower the picture, never raise it (its snapshot is older). Errs on the side of
    waiting a little: a call already deducted by Shopify but not yet answered counts twice.

    A query's cost is what Shopify said it requested the last time the same document was
    sent (with the same ``first``); until then the dearest cost seen is expected, and
    until Shopify has answered at all nothing is known and nothing waits.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.maximum: float | None = None
        self.rate: float | None = None
        self._available = 0.0
        self._at = 0.0
        self._reserved = 0.0
        self._seq = itertools.count(1)
        self._reported_seq = 0  # the send number of the call whose report the picture holds
        #: per call on the wire, the calls that were on the wire when it was sent (Shopify may
        #: have taken them after it: its report need not count them) and what each reserved
        self._before: dict[int, set[int]] = {}
        self._on_wire: dict[int, float] = {}
        self._settled_since: dict[int, float] = {}
        self._costs: dict[Any, float] = {}
        self._answers = 0
        self._throttled = 0
        self._spent = 0.0
        self._waited = 0.0

    def expected(self, key: Any) -> float | None:
        with self._lock:
            return self._expected(key)

    def _expected(self, key: Any) -> float | None:
        if key in self._costs:
            return self._costs[key]
        return max(self._costs.values(), default=None)

    def available(self) -> float | None:
        """Points the bucket can pay now, as far as Shopify told (None: not told yet)."""
        with self._lock:
            return None if self.rate is None else self._now_available(self._clock())

    def _now_available(self, now: float) -> float:
        assert self.rate is not None and self.maximum is not None
        restored = min(self.maximum, self._available + self.rate * max(0.0, now - self._at))
        return restored - self._reserved

    def acquire(self, key: Any) -> tuple[int, float]:
        """Wait until the bucket can pay what ``key`` costs; returns (send number, reserved).

        The cost is looked up again after every wait: a first answer to the same query
        (which taught its real cost) releases the callers waiting with the dearest guess."""
        started = self._clock()
        while True:
            with self._lock:
                cost = self._expected(key)
                now = self._clock()
                if self.rate is None or self.maximum is None or cost is None:
                    need = cost or 0.0
                else:
                    need = min(cost, self.maximum)  # more than the whole bucket: never payable
                    short = need - self._now_available(now)
                    if short > 1e-6:  # (float dust must not make a caller spin)
                        wait = max(short / self.rate, 0.001)
                        need = -1.0
                if need >= 0:
                    self._reserved += need
                    self._waited += now - started
                    seq = next(self._seq)
                    self._before[seq] = set(self._on_wire)
                    self._on_wire[seq] = need
                    return seq, need
            self._sleep(wait)

    def settle(
        self, seq: int, reserved: float, cost: Cost | None, key: Any, *, throttled: bool = False
    ) -> None:
        """The answer to send number ``seq`` arrived (with its ``extensions.cost``, if any)."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - reserved)
            self._on_wire.pop(seq, None)
            earlier = self._before.pop(seq, set())
            # calls sent before this one but answered first may have reached Shopify after it
            # (threads): their points are no longer reserved, and this report may not count
            # them, so they are taken off it (waiting a little more when it did count them)
            unseen = sum(self._settled_since.get(s, 0.0) for s in earlier)
            if any(seq in waiting for waiting in self._before.values()):
                self._settled_since[seq] = reserved
            self._settled_since = {
                s: c
                for s, c in self._settled_since.items()
                if any(s in b for b in self._before.values())
            }
            if throttled:
                self._throttled += 1
            if cost is None:
                return
            self._answers += 1
            if cost.requested_query_cost is not None:
                self._costs[key] = cost.requested_query_cost
            if cost.actual_query_cost is not None:
                self._spent += cost.actual_query_cost
            status = cost.throttle_status
            if status is None:
                return
            now = self._clock()
            self.maximum, self.rate = status.maximum_available, status.restore_rate
            reported = min(status.currently_available, status.maximum_available) - unseen
            if seq > self._reported_seq or self._reported_seq == 0:
                self._available, self._at, self._reported_seq = reported, now, seq
            else:  # an older snapshot overtaken on the way: it may only say there is less
                current = self._now_available(now) + self._reserved
                if reported < current:
                    self._available, self._at = reported, now

    def retry_after(self, cost: Cost | None) -> float | None:
        """Seconds until a throttled call's requested cost is restored (Shopify's numbers)."""
        if cost is None or cost.throttle_status is None:
            return None
        status = cost.throttle_status
        need = cost.requested_query_cost or 0.0
        return max(
            0.0,
            (min(need, status.maximum_available) - status.currently_available)
            / status.restore_rate,
        )

    def stats(self) -> BucketStats:
        with self._lock:
            return BucketStats(
                self._answers, self._throttled, self._spent, self._waited, self.maximum, self.rate
            )


class Refused(PermanentError):
    """A mutation's ``userErrors``: Shopify's words, and the ``code`` of each error where
    its mutation's errors carry one (``FulfillmentOrderLineItemsPreparedForPickupUserError``)."""

    def __init__(
        self, message: str, *, conflict: bool, codes: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(message, conflict=conflict)
        self.codes = codes


#: userErrors that only say the fulfillment order is not where the mutation needs it
_STATE_WORDS = re.compile(
    r"\b(status|state|already|cannot be|can't be|not (?:open|in progress|submitted|accepted)"
    r"|no (?:pending|open)|has been|is closed|is not)\b",
    re.IGNORECASE,
)


_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)", re.MULTILINE)


def _conflict(messages: list[str]) -> bool:
    """Every refusal is about the order's state ("Cannot accept …: … has status …")."""
    return bool(messages) and all(
        m.lower().startswith(("cannot ", "can't ")) or _STATE_WORDS.search(m) for m in messages
    )


def _api_url(shop_url: str, api_version: str) -> str:
    shop = shop_url.strip().rstrip("/")
    if not shop:
        raise ValueError("no Shopify shop URL: set [sources.shopify] shop_url")
    if "://" not in shop:
        shop = "https://" + shop
    if not shop.startswith(("https://", "http://")):
        raise ValueError(f"the Shopify shop URL must start with https:// (got {shop[:60]!r})")
    if not re.fullmatch(r"\d{4}-\d{2}|unstable", api_version):
        raise ValueError(f"the Shopify API version must look like 2025-10 (got {api_version!r})")
    return f"{shop}/admin/api/{api_version}/graphql.json"


class ShopifyClient:
    """GraphQL calls to one shop. Each call is one HTTP request (no hidden retries: the
    sync worker decides, because only it knows whether a lost answer matters)."""

    def __init__(
        self,
        shop_url: str,
        access_token: SecretStr | None,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        bucket: CostBucket | None = None,
    ) -> None:
        self.url = _api_url(shop_url, api_version)
        if access_token is None or not access_token.get_secret_value():
            raise ValueError(
                "no Shopify access token: set RXFLOOR_SHOPIFY_ACCESS_TOKEN or store it in "
                "the OS keyring (service rxfloor, user shopify_access_token)"
            )
        token = access_token.get_secret_value()
        register_secret(token)  # whatever Shopify echoes of it is scrubbed from then on
        problem = api_key_problem(token)
        if problem is not None:
            raise ValueError(f"the Shopify access token {problem}")
        self.shop_url = self.url.split("/admin/api/")[0]
        self.bucket = bucket or CostBucket()
        #: protected customer fields Shopify has withheld from this app (names of fields)
        self.withheld: set[str] = set()
        self._http = http.client(
            timeout_s, transport, {TOKEN_HEADER: token, "Accept": "application/json"}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls
    def query(
        self, document: str, variables: Mapping[str, Any] | None = None, *, mutation: bool = False
    ) -> dict[str, Any]:
        """``data`` of one GraphQL request; raises the error kinds of the module docstring.

        ``mutation`` marks a request that may change the shop (a lost answer may have been
        applied: ``maybe_applied``)."""
        variables = dict(variables or {})
        key = (document, variables.get("first"))
        seq, reserved = self.bucket.acquire(key)
        cost: Cost | None = None
        throttled = False
        try:
            response, body = self._post(document, variables, mutation)
            cost, throttled = _cost(body), _throttled(body)
            return self._judge(response, body, cost, mutation)
        finally:
            self.bucket.settle(seq, reserved, cost, key, throttled=throttled)

    def mutate(self, document: str, variables: Mapping[str, Any], field: str) -> dict[str, Any]:
        """The payload of mutation ``field``; its ``userErrors`` raise :class:`PermanentError`."""
        data = self.query(document, variables, mutation=True)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise TransientError(
                f"malformed answer from Shopify: no {field} payload", maybe_applied=True
            )
        errors = payload.get("userErrors") or []
        if errors:
            messages = [_words(e.get("message")) for e in errors if isinstance(e, dict)]
            messages = [m for m in messages if m] or ["no message"]
            fields = {
                ".".join(map(str, e.get("field") or []))
                for e in errors
                if isinstance(e, dict) and e.get("field")
            }
            where = f" ({', '.join(sorted(fields))})" if fields else ""
            codes = frozenset(
                str(e["code"]).upper() for e in errors if isinstance(e, dict) and e.get("code")
            )
            raise Refused(
                f"Shopify refused {field}{where}: " + "; ".join(messages),
                conflict=_conflict(messages),
                codes=codes,
            )
        return payload

    # -- plumbing
    def _post(
        self, document: str, variables: dict[str, Any], mutation: bool
    ) -> tuple[httpx.Response, Any]:
        sent: dict[str, Any] = {"query": document, "variables": variables}
        named = _OPERATION.search(document)
        if named:
            sent["operationName"] = named.group(1)
        response = http.send(
            lambda: self._http.post(self.url, json=sent),
            _WORDING,
            sends=mutation,
            base=self.shop_url,
            what="",
        )
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        return response, body

    def _judge(
        self, response: httpx.Response, body: Any, cost: Cost | None, mutation: bool
    ) -> dict[str, Any]:
        code = response.status_code
        if code == 429 or (code == 200 and _throttled(body)):
            retry_after = self.bucket.retry_after(cost)
            header = http.retry_after(response.headers.get("Retry-After"))
            raise TransientError(
                "Shopify throttled the call (THROTTLED: the cost bucket is empty)",
                code,
                retry_after=header if header is not None else retry_after,
                maybe_applied=False,
            )
        if code in (401, 403):
            words = _message(body, response)
            raise AuthError(f"Shopify refused the access token ({code}): {words}", code)
        if code >= 500:
            raise TransientError(
                f"Shopify answered {code}: {_message(body, response)}",
                code,
                retry_after=http.retry_after(response.headers.get("Retry-After")),
                maybe_applied=mutation,
            )
        if code >= 400:
            raise PermanentError(
                f"Shopify refused ({code}): {_message(body, response)}", code, conflict=False
            )
        if not isinstance(body, dict):
            raise TransientError(
                f"malformed JSON from Shopify ({code})", code, maybe_applied=mutation
            )
        errors = body.get("errors")
        if errors:
            if isinstance(errors, str):
                errors = [{"message": errors}]
            data = body.get("data")
            protected = [e for e in errors if isinstance(e, dict) and _protected(e)]
            if protected and len(protected) == len(errors):
                if isinstance(data, dict) and all(_below_a_value(e, data) for e in protected):
                    self._withheld(protected)
                    return data  # redacted fields are null; the rest of the answer stands
                words = "; ".join(_words(e.get("message")) for e in protected) or "no message"
                raise AuthError(
                    "Shopify has not approved this app for the protected customer "
                    f"data rxfloor reads: {words}"
                )
            codes = {_code(e) for e in errors if isinstance(e, dict)}
            text = "; ".join(_words(e.get("message")) for e in errors if isinstance(e, dict))
            text = text or "no message"
            if "THROTTLED" in codes:
                raise TransientError(
                    "Shopify throttled the call (THROTTLED)",
                    retry_after=self.bucket.retry_after(cost),
                    maybe_applied=False,
                )
            if "ACCESS_DENIED" in codes:
                raise AuthError(f"Shopify denied access: {text}")
            if codes & {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}:
                raise TransientError(f"Shopify failed: {text}", maybe_applied=mutation)
            if body.get("data") is None or not mutation:
                raise PermanentError(f"Shopify refused the query: {text}", conflict=False)
            # errors beside data (a partial answer): the mutation may have run
            raise PermanentError(f"Shopify answered with errors: {text}", conflict=True)
        data = body.get("data")
        if not isinstance(data, dict):
            raise TransientError("malformed answer from Shopify: no data", maybe_applied=mutation)
        return data

    def _withheld(self, errors: list[dict[str, Any]]) -> None:
        fields = {
            str(e["path"][-1])
            for e in errors
            if isinstance(e.get("path"), list) and e["path"] and isinstance(e["path"][-1], str)
        }
        new = fields - self.withheld
        if new:
            self.withheld |= new
            _log.warning(
                "Shopify withheld protected customer fields (%s): this app is not approved for "
                "them, so the cards show no initials; get the app approved or set "
                "[sources.shopify] customer_names = false",
                ", ".join(sorted(new)),
            )


#: "This app is not approved to access the Customer object" / "… to use the email field" /
#: "… REST endpoints with protected customer data" (shopify.dev protected customer data)
_NOT_APPROVED = re.compile(
    r"not approved to (access|use|subscribe)\b|protected customer data", re.IGNORECASE
)


def _protected(error: dict[str, Any]) -> bool:
    """An error that says the app is not approved for protected customer data."""
    return bool(_NOT_APPROVED.search(str(error.get("message") or "")))


def _below_a_value(error: dict[str, Any], data: dict[str, Any]) -> bool:
    """The error's path points below a root field that was answered (a redacted field of an
    object that is there), not at a root field taken away as a whole."""
    path = error.get("path")
    if not isinstance(path, list) or len(path) < 2:
        return False
    return data.get(str(path[0])) is not None


def _cost(body: Any) -> Cost | None:
    if not isinstance(body, dict):
        return None
    raw = (
        (body.get("extensions") or {}).get("cost")
        if isinstance(body.get("extensions"), dict)
        else None
    )
    if not isinstance(raw, dict):
        return None
    try:
        return Cost.model_validate(raw)
    except ValidationError:
        return None


def _code(error: dict[str, Any]) -> str:
    ext = error.get("extensions")
    code = ext.get("code") if isinstance(ext, dict) else None
    return str(code).upper() if code else ""


def _throttled(body: Any) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return False
    return any(isinstance(e, dict) and _code(e) == "THROTTLED" for e in body["errors"])


def _words(value: Any) -> str:
    """Shopify's own words, one line, scrubbed before they are cut (never part of a secret)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return scrub(value.strip()).splitlines()[0][:300]


def _message(body: Any, response: httpx.Response) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, str) and errors.strip():
            return _words(errors)
        if isinstance(errors, list):
            text = "; ".join(_words(e.get("message")) for e in errors if isinstance(e, dict))
            if text:
                return text
        for key in ("error", "message"):
            if _words(body.get(key)):
                return _words(body.get(key))
    return scrub(response.reason_phrase) or "no message"


_WORDING = http.Wording(
    unreachable="cannot reach Shopify at {base}",
    timeout="Shopify did not answer in time",
    dropped="connection to Shopify failed: {error}",
)

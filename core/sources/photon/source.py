"""Photon as an :class:`~rxfloor.core.sources.base.OrderSource`: its webhook format, its
status reports and its order read behind the protocol the sync engine knows.

Photon pushes, it does not list: orders reach the floor only through the webhook inbox
(``/webhooks/photon``). :meth:`PhotonSource.iter_orders` yields nothing and no status is
"active" (the poller has nothing to list and nothing to read back on its own); the one read,
:meth:`PhotonSource.get_order`, is the worker's read-back before it believes or repeats a
report (a lost answer, a refusal), which is what makes each report travel exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.base import IgnoredEvent, PushPlan, WebhookEvent
from rxfloor.core.sources.photon import mapping
from rxfloor.core.sources.photon.auth import ClientCredentials, TokenSource
from rxfloor.core.sources.photon.client import PhotonClient
from rxfloor.core.sources.photon.wire import (
    SOURCE_NAME,
    CloudEvent,
    PhotonOrder,
    order_of_event,
    order_of_read,
    parse_time,
)
from rxfloor.core.text import clip

NAME = SOURCE_NAME
SIGNATURE_HEADER = "X-Photon-Signature"
TIMESTAMP_HEADER = "X-Photon-Timestamp"
#: a delivery sent longer ago than this (``X-Photon-Timestamp``) is not taken (a replay)
TOLERANCE_S = 300.0
#: a stamp at least this large is Unix milliseconds (Photon-Health/docs
#: ``network/webhooks.mdx``; 13 digits in captured requests), below it seconds (an older
#: page): 1e11 seconds is the year 5138, 1e11 milliseconds 1973
MILLISECONDS_FROM = 1e11


def signature_ok(secret: bytes, body: bytes, given: str | None) -> bool:
    """``X-Photon-Signature``: hex HMAC-SHA256 of the raw body with the shared secret,
    compared in constant time (the raw bytes: Photon's sample re-serialises a parsed body,
    which only matches where the bytes are the serialiser's own)."""
    if not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict from a caller that did not fold the case
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


class PhotonWebhooks:
    """Photon's deliveries: signed CloudEvents 1.0 envelopes, one order event each.

    :meth:`verify` checks the signature alone (constant time): only a forged delivery is
    answered 4xx, because Photon drops an event refused with any 4xx but 408 / 429 for good
    (``drops_on_4xx``). :meth:`delivery_problem` then checks that the delivery was sent
    within ``tolerance_s`` of now (``X-Photon-Timestamp``, Unix milliseconds or, by
    magnitude, seconds): a stale or unreadable stamp is named as such and answered 503, so
    Photon's own retry (a fresh stamp) gets through while our clock is off, and a captured
    request sent again does not. The event's own ``time`` orders events of one order (an
    older one never moves it back); its ``id`` is the dedupe key. Events the floor does not
    follow (prescription events) and orders placed at another pharmacy are acknowledged and
    not stored (:class:`~rxfloor.core.sources.base.IgnoredEvent`).

    ``pharmacy_id`` (this pharmacy's Photon id) tells a reroute to this pharmacy from one
    away from it. Left unset, both it and ``tolerance_s`` come from ``[sources.photon]`` at
    first use (the receiver is built without the settings: :data:`WEBHOOKS`).
    """

    signature_header = SIGNATURE_HEADER
    drops_on_4xx = True

    def __init__(
        self,
        *,
        pharmacy_id: str | None = None,
        tolerance_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pharmacy_id = pharmacy_id
        self._tolerance_s = tolerance_s
        self._configured = pharmacy_id is not None and tolerance_s is not None
        self._lock = threading.Lock()
        self.clock = clock

    def _configure(self) -> None:
        with self._lock:
            if self._configured:
                return
            from rxfloor.core.config import ConfigError, load_settings

            try:
                section = load_settings().sources.photon
            except ConfigError:  # the command that built the receiver has said so already
                section = None
            if self._pharmacy_id is None and section is not None:
                self._pharmacy_id = section.pharmacy_id
            if self._tolerance_s is None:
                self._tolerance_s = section.webhook_tolerance_s if section else TOLERANCE_S
            self._configured = True

    @property
    def pharmacy_id(self) -> str | None:
        self._configure()
        return self._pharmacy_id

    @property
    def tolerance_s(self) -> float:
        self._configure()
        assert self._tolerance_s is not None
        return self._tolerance_s

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotonWebhooks:
        section = settings.sources.photon
        return cls(pharmacy_id=section.pharmacy_id or "", tolerance_s=section.webhook_tolerance_s)

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return signature_ok(secret, body, _header(headers, SIGNATURE_HEADER))

    def delivery_problem(self, headers: Mapping[str, str]) -> str | None:
        """Why a signed delivery is not taken now (its ``X-Photon-Timestamp``), or None."""
        raw = _header(headers, TIMESTAMP_HEADER)
        sent = sent_at(headers)
        if sent is None:
            shown = "missing" if raw is None else repr(raw.strip()[:20])
            return f"bad timestamp: X-Photon-Timestamp {shown} is not a Unix time"
        off = self.clock() - sent
        if abs(off) <= self.tolerance_s:
            return None
        when = f"{off:.0f} s ago" if off > 0 else f"{-off:.0f} s in the future"
        return f"stale: X-Photon-Timestamp was {when} (tolerance {self.tolerance_s:.0f} s)"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The event in a verified body; :class:`ValueError` when it is malformed,
        :class:`IgnoredEvent` when the floor has no use for it."""
        raw = json.loads(body)
        if isinstance(raw, list) and len(raw) == 1:  # a batch of one (the content type's)
            raw = raw[0]
        if isinstance(raw, dict) and not str(raw.get("type", "")).startswith("photon:order:"):
            kind = clip(str(raw.get("type", "")), 60) or "no type"
            raise IgnoredEvent(f"not an order event: {kind}")
        try:
            event = CloudEvent.model_validate(raw)
            order = order_of_event(event, self.pharmacy_id or None)
        except ValidationError as exc:
            raise ValueError(f"malformed Photon event: {exc.error_count()} errors") from None
        stamp = parse_time(event.time)
        if stamp is None and event.time:
            raise ValueError("its time is not an ISO 8601 time")
        if stamp is None:
            stamp = sent_at(headers)
        if stamp is None:
            raise ValueError("a Photon event without a time")
        return WebhookEvent(event.type, stamp, order, raw, event_id=event.id)


def sent_at(headers: Mapping[str, str]) -> float | None:
    """``X-Photon-Timestamp`` as epoch seconds (None: missing or not a finite number):
    Unix milliseconds, or seconds when it is too small to be milliseconds of this era."""
    raw = _header(headers, TIMESTAMP_HEADER)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value / 1000.0 if value >= MILLISECONDS_FROM else value


#: the receiver's format (``core.sources.webhook_format("photon")``): configured at first use
WEBHOOKS = PhotonWebhooks()


class PhotonSource:
    """Photon through one :class:`PhotonClient` (thread-safe: the client pools connections)."""

    name = NAME

    def __init__(
        self,
        client: PhotonClient,
        *,
        pharmacy_id: str | None = None,
        webhooks: PhotonWebhooks | None = None,
    ) -> None:
        self.client = client
        self.pharmacy_id = pharmacy_id
        self.webhooks = webhooks or PhotonWebhooks(
            pharmacy_id=pharmacy_id or "", tolerance_s=TOLERANCE_S
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> PhotonSource:
        """The source ``[sources.photon]`` describes (token from env or keyring).

        Raises :class:`ValueError` (no URL, no token) or ``ConfigError`` (a malformed token).
        """
        from rxfloor.core.sources.photon.plugin import api_token, api_url, client_secret

        section = settings.sources.photon
        timeout = section.http_timeout_s or settings.http_timeout_s
        auth: TokenSource | None = None
        if section.client_id:
            secret = client_secret(settings)
            if secret is None:
                raise ValueError(
                    "no Photon client secret: set RXFLOOR_PHOTON_CLIENT_SECRET "
                    "or store it in the OS keyring"
                )
            auth = ClientCredentials(
                section.client_id,
                secret,
                token_url=section.token_url,
                audience=section.audience,
                timeout_s=timeout,
                transport=transport,
            )
        client = PhotonClient(
            api_url(settings) or "",
            None if auth else api_token(settings),
            auth=auth,
            graphql_url=section.graphql_url,
            auth_header=section.auth_header,
            auth_scheme=section.auth_scheme,
            timeout_s=timeout,
            rate_limit_per_s=section.rate_limit_per_s or settings.rate_limit_per_s,
            transport=transport,
        )
        return cls(
            client, pharmacy_id=section.pharmacy_id, webhooks=PhotonWebhooks.from_settings(settings)
        )

    @property
    def rate_limit_per_s(self) -> float | None:
        return self.client.limiter.rate

    def active_statuses(self) -> tuple[str, ...] | None:
        return ()  # nothing to list: every change arrives as an event

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[PhotonOrder | str]:
        return iter(())

    def get_order(self, uid: str) -> PhotonOrder:
        return order_of_read(self.client.read_order(uid), self.pharmacy_id)

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return mapping.plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None = None,
    ) -> PhotonOrder:
        carrier = number = None
        status = step
        if step == mapping.FINISH:
            carrier, number = _tracking(payload)
            status = "shipped"  # with the parcel's number; without, a mail order's too
            if not number:
                read = order_of_read(self.client.read_order(uid), self.pharmacy_id)
                if (read.fulfillment_type or "").upper() != "MAIL_ORDER":
                    return read  # ready for pickup: nothing to report until the hand-off
        self.client.report(
            uid, status, carrier=carrier, tracking_number=number, idempotency_key=idempotency_key
        )
        return PhotonOrder(uid=uid, status=mapping.REPORT_WORD[status])

    def close(self) -> None:
        self.client.close()


def _tracking(payload: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(carrier, tracking number) of a finish's payload (``{"tracking": {...}}``)."""
    tracking = (payload or {}).get("tracking")
    if not isinstance(tracking, dict):
        return None, None
    company, number = tracking.get("company"), tracking.get("number")
    return (
        company if isinstance(company, str) and company else None,
        number if isinstance(number, str) and number else None,
    )

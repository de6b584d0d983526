"""The systems of record rxfloor syncs with: the one place that names the concrete sources.

Everything else (the sync engine, the board, the CLI) asks here and then speaks only
:class:`~rxfloor.core.sources.base.OrderSource`. A new source is a package beside
``rxscale/``, one entry in ``_REGISTRY`` and its ``[sources.<name>]`` section in
``core/config.py``. The packages are imported only when used (httpx is not free at start);
what the board and the CLI need to know of a source without talking to it (its label, its
mark on the card, what its orders can do) is its :class:`SourceTraits`, here.

An order's identity is (source, the source's own id): :func:`local_id` is the one rule that
turns it into the local key ``orders.id``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from rxfloor.core.config import Settings
    from rxfloor.core.sources.base import OrderSource, WebhookFormat

#: the source the commands use where none is named (and every order from before sources)
DEFAULT_SOURCE = "rxscale"


def local_id(source: str, remote_id: str) -> str:
    """The local key of the order ``remote_id`` of ``source``: RxScale keeps its own id
    (databases from before several sources stay as they are), every other source's id is
    prefixed with the source's name (``shopify:gid://shopify/FulfillmentOrder/1``), so the
    same number in two sources is two orders. Anything that talks to a source sends the
    ``remote_id``, never this."""
    return remote_id if source == DEFAULT_SOURCE else f"{source}:{remote_id}"


@dataclass(frozen=True, slots=True)
class SourceTraits:
    """What the board and the CLI know of a source without a connection (or httpx)."""

    label: str  # how a person names it: "RxScale", "Shopify"
    mark: str  # one or two characters on the card
    #: the finish of a shipped order asks for a tracking number (sent with the fulfilment)
    tracking_on_finish: bool = False
    #: a pharmacist's hold is the source's too; False: it stays local (the source cannot
    #: hold orders for the pharmacy), and a hold the source placed cannot be released here
    remote_hold: bool = True
    #: the merchant may ask to cancel an order; the floor accepts or rejects the request
    cancel_requests: bool = False
    #: a pharmacist's start is sent to the source; False: it stays local (the source has no
    #: "in progress"), and nothing is queued for it
    remote_start: bool = True
    #: the merchant schedules orders (and reschedules them): the source's ``scheduled_at``
    #: is the card's ``fulfill_at``, followed as it changes
    schedules: bool = False
    #: how the source's compact ``remote_status`` reads for a person (detail view)
    status_words: Callable[[str], str] = str
    #: the ``remote_status`` words that need a person (the exceptions queue), each with
    #: what it means: a finite table (built on first use from the source's wire module), so
    #: the queue asks the database for exactly these words
    exceptions: Callable[[], Mapping[str, str]] = dict
    #: the badge a card shows for where the source has the order, from its ``remote_status``
    #: (Konnektive: ``return pending`` / ``returned`` on a FINISHED card), or None
    card_badge: Callable[[str], str | None] = lambda _status: None

    def exception(self, remote_status: str | None) -> str | None:
        """Why an order at ``remote_status`` belongs in the exceptions queue, or None."""
        return self.exceptions().get(remote_status or "")


def _shopify_words(remote_status: str) -> str:
    """``IN_PROGRESS/ACCEPTED`` -> ``IN_PROGRESS · request ACCEPTED``."""
    status, _, request = remote_status.partition("/")
    return f"{status} · request {request}" if request else status


def _konnektive_badge(remote_status: str) -> str | None:
    """``RMA_PENDING`` -> ``return pending``, ``RETURNED`` -> ``returned``."""
    from rxfloor.core.sources.konnektive.wire import return_badge

    return return_badge(remote_status)


def _konnektive_words(remote_status: str) -> str:
    """``PENDING_SHIPMENT`` -> ``Pending Shipment`` (imported when asked: no cycle)."""
    from rxfloor.core.sources.konnektive.wire import status_words

    return status_words(remote_status)


@cache
def _shopify_exceptions() -> dict[str, str]:
    """Every compact status a person must look at: closed INCOMPLETE (back to the merchant)
    or a fulfillment request we rejected (imported when asked: no cycle)."""
    from rxfloor.core.sources.shopify import wire

    table: dict[str, str] = {}
    for status in wire.STATUSES:
        for request in wire.REQUEST_STATUSES:
            if status == wire.INCOMPLETE:
                table[wire.compact(status, request)] = (
                    "INCOMPLETE in Shopify: closed unfulfilled, back with the merchant"
                )
            elif request == wire.REJECTED:
                table[wire.compact(status, request)] = (
                    "request REJECTED in Shopify: the merchant must reassign or cancel it"
                )
    return table


@cache
def _konnektive_exceptions() -> dict[str, str]:
    """Konnektive's own table (``wire.EXCEPTIONS``: Failed)."""
    from rxfloor.core.sources.konnektive import wire

    return dict(wire.EXCEPTIONS)


@cache
def _photon_exceptions() -> dict[str, str]:
    """Photon's ``error`` (its reason is the order's hold comment)."""
    from rxfloor.core.sources.photon import mapping

    return {mapping.ERROR: "Photon reports an error on the order"}


@dataclass(frozen=True, slots=True)
class _Entry:
    traits: SourceTraits
    configured: Callable[[Settings], bool]  # enough configuration to sync (an API URL)
    module: str  # its ``source`` module: ``<Source>.from_settings`` and ``WEBHOOKS``
    cls: str


_REGISTRY: dict[str, _Entry] = {
    "rxscale": _Entry(
        SourceTraits("RxScale", "R"),
        lambda s: bool(s.rxscale().api_url),
        "rxfloor.core.sources.rxscale.source",
        "RxScaleSource",
    ),
    "shopify": _Entry(
        SourceTraits(
            "Shopify",
            "S",
            tracking_on_finish=True,
            remote_hold=False,
            cancel_requests=True,
            schedules=True,
            status_words=_shopify_words,
            exceptions=_shopify_exceptions,
        ),
        lambda s: bool(s.shopify_url()),
        "rxfloor.core.sources.shopify.source",
        "ShopifySource",
    ),
    "konnektive": _Entry(
        SourceTraits(
            "Konnektive",
            "K",
            tracking_on_finish=True,
            remote_hold=False,
            remote_start=False,
            status_words=_konnektive_words,
            exceptions=_konnektive_exceptions,
            card_badge=_konnektive_badge,
        ),
        lambda s: bool(s.konnektive_url()),
        "rxfloor.core.sources.konnektive.source",
        "KonnektiveSource",
    ),
    "photon": _Entry(
        SourceTraits(
            "Photon", "P", tracking_on_finish=True, remote_hold=False, exceptions=_photon_exceptions
        ),
        lambda s: bool(s.photon_url()),
        "rxfloor.core.sources.photon.source",
        "PhotonSource",
    ),
}


def names() -> list[str]:
    """Every source rxfloor knows (a ``SOURCE:`` prefix of an order reference is one)."""
    return list(_REGISTRY)


def traits(name: str) -> SourceTraits:
    """Source ``name``'s static traits; raises :class:`ValueError` when it is unknown."""
    return _entry(name).traits


def status_words(name: str, remote_status: str | None) -> str:
    """The source's own words for where an order is (``IN_PROGRESS · request ACCEPTED``)."""
    if not remote_status:
        return ""
    return traits(name).status_words(remote_status)


def exception(name: str, remote_status: str | None, resolved: str | None = None) -> str | None:
    """Why an order of source ``name`` at ``remote_status`` is in the exceptions queue, or
    None: its word needs no person, or a person resolved this very word (``resolved``: the
    order's ``exception_resolved``; it is back once the source says something else)."""
    if name not in _REGISTRY or (resolved is not None and resolved == remote_status):
        return None
    return traits(name).exception(remote_status)


def configured(settings: Settings) -> list[str]:
    """The names of the sources the configuration sets up (none: the board runs offline)."""
    return [name for name, entry in _REGISTRY.items() if entry.configured(settings)]


def _entry(name: str) -> _Entry:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(_REGISTRY)})")
    return entry


def open_source(name: str, settings: Settings) -> OrderSource:
    """Source ``name`` as configured. Raises :class:`ValueError` when it is unknown or its
    configuration is incomplete (no URL, no key), ``ConfigError`` for a malformed key."""
    entry = _entry(name)
    cls = getattr(importlib.import_module(entry.module), entry.cls)
    return cast("OrderSource", cls.from_settings(settings))


def webhook_format(name: str = DEFAULT_SOURCE) -> WebhookFormat:
    """How source ``name`` signs and shapes its webhook deliveries."""
    module = importlib.import_module(_entry(name).module)
    return cast("WebhookFormat", module.WEBHOOKS)

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
from collections.abc import Callable
from dataclasses import dataclass
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
    #: how the source's compact ``remote_status`` reads for a person (detail view)
    status_words: Callable[[str], str] = str


def _shopify_words(remote_status: str) -> str:
    """``IN_PROGRESS/ACCEPTED`` -> ``IN_PROGRESS · request ACCEPTED``."""
    status, _, request = remote_status.partition("/")
    return f"{status} · request {request}" if request else status


def _konnektive_words(remote_status: str) -> str:
    """``PENDING_SHIPMENT`` -> ``Pending Shipment`` (imported when asked: no cycle)."""
    from rxfloor.core.sources.konnektive.wire import status_words

    return status_words(remote_status)


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
            status_words=_shopify_words,
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
        ),
        lambda s: bool(s.konnektive_url()),
        "rxfloor.core.sources.konnektive.source",
        "KonnektiveSource",
    ),
    "photon": _Entry(
        SourceTraits("Photon", "P", tracking_on_finish=True, remote_hold=False),
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

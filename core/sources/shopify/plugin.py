"""Shopify's plugin: its traits, its ``[sources.shopify]`` section, its access token (never
in the file) and its factories."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rxfloor.core.sources import Secret, SourcePlugin, SourceTraits, loader, opener
from rxfloor.core.urls import HttpUrl

if TYPE_CHECKING:
    from rxfloor.core.config import Settings

NAME = "shopify"
ACCESS_TOKEN = Secret(
    env="RXFLOOR_SHOPIFY_ACCESS_TOKEN",
    keyring_user="shopify_access_token",
    what="the Shopify access token",
    file_names=frozenset({"access_token", "shopify_access_token"}),
)


class ShopifySection(BaseModel):
    """``[sources.shopify]``: one shop whose fulfilment orders the pharmacy is assigned.

    The access token is never here: ``RXFLOOR_SHOPIFY_ACCESS_TOKEN`` or the OS keyring
    (service ``rxfloor``, user ``shopify_access_token``)."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://my-shop.myshopify.com``; set: the source is configured
    shop_url: HttpUrl = None
    api_version: str = Field(default="2025-10", pattern=r"^\d{4}-\d{2}$|^unstable$")
    #: the fulfilment service's location (gid or number); unset: every assigned location
    location_id: str | None = None
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)
    #: Shopify approved this app for the protected customer fields of a name (a custom app
    #: always is; a public one after Shopify's review): the pull asks for the destination's
    #: first and last name (the card's initials, the detail's name). Off: it asks for no
    #: customer field and the cards show no initials ("?") rather than guessed ones
    customer_names: bool = False
    #: the app has the ``read_products`` access scope: the pull asks each line item's
    #: variant ``barcode`` (the pack's GTIN / EAN / UPC, which a product scan matches). Off:
    #: items carry the merchant's SKU only (``ProductVariant`` needs that scope)
    barcodes: bool = False


def shop_url(settings: Settings) -> str | None:
    """``[sources.shopify] shop_url`` without a trailing slash (None: not configured)."""
    url = settings.sources.shopify.shop_url
    return url.strip().rstrip("/") or None if url else None


def access_token(settings: Settings) -> SecretStr | None:
    """The access token from ``RXFLOOR_SHOPIFY_ACCESS_TOKEN``, else from the OS keyring
    (service ``rxfloor``, user ``shopify_access_token``); registered as a secret. Raises
    ``ConfigError`` naming what is wrong with a malformed one (never it)."""
    from rxfloor.core.config import resolve_secret

    return resolve_secret(ACCESS_TOKEN)


def _words(remote_status: str) -> str:
    """``IN_PROGRESS/ACCEPTED`` -> ``IN_PROGRESS · request ACCEPTED``."""
    status, _, request = remote_status.partition("/")
    return f"{status} · request {request}" if request else status


@cache
def _exceptions() -> dict[str, str]:
    """Every compact status a person must look at: closed INCOMPLETE (back to the merchant)
    or a fulfillment request we rejected (imported when asked: no cycle)."""
    from rxfloor.core.sources.shopify import mapping

    table: dict[str, str] = {}
    for status in mapping.STATUSES:
        for request in mapping.REQUEST_STATUSES:
            if status == mapping.INCOMPLETE:
                table[mapping.compact(status, request)] = (
                    "INCOMPLETE in Shopify: closed unfulfilled, back with the merchant"
                )
            elif request == mapping.REJECTED:
                table[mapping.compact(status, request)] = (
                    "request REJECTED in Shopify: the merchant must reassign or cancel it"
                )
    return table


PLUGIN = SourcePlugin(
    name=NAME,
    rank=10,
    traits=SourceTraits(
        "Shopify",
        "S",
        tracking_on_finish=True,
        remote_hold=False,
        cancel_requests=True,
        schedules=True,
        # a pickup order's finish marks it prepared for pickup, its hand-off is the
        # fulfillment; Shopify's fulfillment order stays IN_PROGRESS while it is ready (no
        # field shows the preparation): a ready order read in progress is no lost finish
        remote_handoff=True,
        tells_ready=False,
        status_words=_words,
        exceptions=_exceptions,
    ),
    section=ShopifySection,
    configured=lambda s: bool(shop_url(s)),
    open=opener("rxfloor.core.sources.shopify.source:ShopifySource"),
    webhooks=loader("rxfloor.core.sources.shopify.source:WEBHOOKS"),
    webhook_secret_env="RXFLOOR_SHOPIFY_WEBHOOK_SECRET",
    secrets=(ACCESS_TOKEN,),
    secret_hint=(
        "the Shopify access token does not belong in the config file; set "
        "RXFLOOR_SHOPIFY_ACCESS_TOKEN or store it in the OS keyring (service rxfloor, "
        "user shopify_access_token)"
    ),
)

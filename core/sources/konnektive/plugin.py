"""Konnektive's plugin: its traits, its ``[sources.konnektive]`` section, its API user's
login id and password (never in the file) and its factories."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rxfloor.core.sources import Secret, SourcePlugin, SourceTraits, loader, opener
from rxfloor.core.urls import HttpUrl

if TYPE_CHECKING:
    from rxfloor.core.config import Settings

NAME = "konnektive"
_IN_SECTION = frozenset(
    {"login_id", "loginId", "password", "konnektive_login_id", "konnektive_password"}
)
LOGIN_ID = Secret(
    env="RXFLOOR_KONNEKTIVE_LOGIN_ID",
    keyring_user="konnektive_login_id",
    what="the Konnektive login id",
    file_names=_IN_SECTION,
    checked=False,
)
PASSWORD = Secret(
    env="RXFLOOR_KONNEKTIVE_PASSWORD",
    keyring_user="konnektive_password",
    what="the Konnektive password",
    file_names=_IN_SECTION,
    checked=False,
)


class KonnektiveSection(BaseModel):
    """``[sources.konnektive]``: the merchant's Konnektive CRM, the pharmacy as its
    fulfillment house.

    The API user's login id and password are never here: ``RXFLOOR_KONNEKTIVE_LOGIN_ID`` /
    ``RXFLOOR_KONNEKTIVE_PASSWORD`` or the OS keyring (service ``rxfloor``, users
    ``konnektive_login_id`` / ``konnektive_password``)."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://api.konnektive.com``; set: the source is configured
    api_url: HttpUrl = None
    #: how many days back the pull lists orders (older active ones are read back by id)
    lookback_days: int = Field(default=30, ge=1, le=365)
    #: Konnektive documents no rate limit: a conservative default
    rate_limit_per_s: float | None = Field(default=5.0, gt=0, le=1000)
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)


def api_url(settings: Settings) -> str | None:
    """``[sources.konnektive] api_url`` without a trailing slash (None: not configured)."""
    url = settings.sources.konnektive.api_url
    return url.strip().rstrip("/") or None if url else None


def credentials(settings: Settings) -> tuple[SecretStr | None, SecretStr | None]:
    """The API user's login id and password, each from ``RXFLOOR_KONNEKTIVE_LOGIN_ID`` /
    ``RXFLOOR_KONNEKTIVE_PASSWORD``, else from the OS keyring (service ``rxfloor``, users
    ``konnektive_login_id`` / ``konnektive_password``); both registered as secrets before
    anything can print them."""
    from rxfloor.core.config import resolve_secret

    return resolve_secret(LOGIN_ID), resolve_secret(PASSWORD)


def _badge(remote_status: str) -> str | None:
    """``RMA_PENDING`` -> ``return pending``, ``RETURNED`` -> ``returned``."""
    from rxfloor.core.sources.konnektive.mapping import return_badge

    return return_badge(remote_status)


def _words(remote_status: str) -> str:
    """``PENDING_SHIPMENT`` -> ``Pending Shipment`` (imported when asked: no cycle)."""
    from rxfloor.core.sources.konnektive.mapping import status_words

    return status_words(remote_status)


@cache
def _exceptions() -> dict[str, str]:
    """Konnektive's own table (``mapping.EXCEPTIONS``: Failed)."""
    from rxfloor.core.sources.konnektive import mapping

    return dict(mapping.EXCEPTIONS)


PLUGIN = SourcePlugin(
    name=NAME,
    rank=20,
    traits=SourceTraits(
        "Konnektive",
        "K",
        tracking_on_finish=True,
        remote_hold=False,
        remote_start=False,
        remote_handoff=False,  # a fulfillment house ships: nothing is picked up there
        status_words=_words,
        exceptions=_exceptions,
        card_badge=_badge,
    ),
    section=KonnektiveSection,
    configured=lambda s: bool(api_url(s)),
    open=opener("rxfloor.core.sources.konnektive.source:KonnektiveSource"),
    webhooks=loader("rxfloor.core.sources.konnektive.source:WEBHOOKS"),
    secrets=(LOGIN_ID, PASSWORD),
    secret_hint=(
        "the Konnektive login id and password do not belong in the config file; "
        "set RXFLOOR_KONNEKTIVE_LOGIN_ID and RXFLOOR_KONNEKTIVE_PASSWORD or store them in "
        "the OS keyring (service rxfloor, users konnektive_login_id, konnektive_password)"
    ),
)

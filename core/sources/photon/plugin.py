"""Photon's plugin: its traits, its ``[sources.photon]`` section, its API token (never in
the file) and its factories."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rxfloor.core.sources import Secret, SourcePlugin, SourceTraits, loader, opener
from rxfloor.core.urls import HttpUrl

if TYPE_CHECKING:
    from rxfloor.core.config import Settings

NAME = "photon"
API_TOKEN = Secret(
    env="RXFLOOR_PHOTON_API_TOKEN",
    keyring_user="photon_api_token",
    what="the Photon API token",
    file_names=frozenset({"api_token", "photon_api_token", "token"}),
)
CLIENT_SECRET = Secret(
    env="RXFLOOR_PHOTON_CLIENT_SECRET",
    keyring_user="photon_client_secret",
    what="the Photon client secret",
    file_names=frozenset({"client_secret", "photon_client_secret"}),
)


class PhotonSection(BaseModel):
    """``[sources.photon]``: Photon Health routing e-prescriptions to this pharmacy.

    The API token and the client secret are never here: ``RXFLOOR_PHOTON_API_TOKEN`` /
    ``RXFLOOR_PHOTON_CLIENT_SECRET`` or the OS keyring (service ``rxfloor``, users
    ``photon_api_token`` / ``photon_client_secret``); the webhook secret is
    ``RXFLOOR_PHOTON_WEBHOOK_SECRET``."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://api.photon.health`` (the status report is ``<api_url>/v1/hooks/pharmacy``);
    #: set: the source is configured
    api_url: HttpUrl = None
    #: the order read (``order(id:)``); unset: ``<api_url>/graphql``
    graphql_url: HttpUrl = None
    #: this pharmacy's Photon id (``phr_…``): tells a reroute to it from one away from it
    pharmacy_id: str | None = Field(default=None, max_length=128)
    #: how the token is sent (Photon does not document it publicly): ``<header>: <scheme> <token>``
    auth_header: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]{1,64}$")
    auth_scheme: str = Field(default="Bearer", pattern=r"^[A-Za-z0-9._-]{0,32}$")
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=10_000)
    #: a delivery whose ``X-Photon-Timestamp`` is further than this from now is not taken
    #: (answered 503 "stale": Photon's own retry carries a fresh stamp)
    webhook_tolerance_s: float = Field(default=300.0, gt=0, le=86_400)
    #: the Backend credential's client id (set: machine tokens of the client-credentials
    #: flow, the secret from ``RXFLOOR_PHOTON_CLIENT_SECRET`` or the keyring; unset: the
    #: static ``RXFLOOR_PHOTON_API_TOKEN``)
    client_id: str | None = Field(default=None, max_length=256)
    #: where machine tokens come from, and for which API (``auth.neutron.health`` and
    #: ``https://api.neutron.health`` in Photon's sandbox)
    token_url: str = "https://auth.photon.health/oauth/token"
    audience: str = "https://api.photon.health"


def api_url(settings: Settings) -> str | None:
    """``[sources.photon] api_url`` without a trailing slash (None: not configured)."""
    url = settings.sources.photon.api_url
    return url.strip().rstrip("/") or None if url else None


def api_token(settings: Settings) -> SecretStr | None:
    """The API token from ``RXFLOOR_PHOTON_API_TOKEN``, else from the OS keyring (service
    ``rxfloor``, user ``photon_api_token``); registered as a secret. Raises ``ConfigError``
    naming what is wrong with a malformed one (never it)."""
    from rxfloor.core.config import resolve_secret

    return resolve_secret(API_TOKEN)


def client_secret(settings: Settings) -> SecretStr | None:
    """The Backend credential's secret from ``RXFLOOR_PHOTON_CLIENT_SECRET``, else from the
    OS keyring (service ``rxfloor``, user ``photon_client_secret``); registered as a secret.
    Raises ``ConfigError`` naming what is wrong with a malformed one (never it)."""
    from rxfloor.core.config import resolve_secret

    return resolve_secret(CLIENT_SECRET)


@cache
def _exceptions() -> dict[str, str]:
    """Photon's ``error`` (its reason is the order's hold comment)."""
    from rxfloor.core.sources.photon import mapping

    return {mapping.ERROR: "Photon reports an error on the order"}


PLUGIN = SourcePlugin(
    name=NAME,
    rank=30,
    traits=SourceTraits(
        "Photon",
        "P",
        tracking_on_finish=True,
        remote_hold=False,
        exceptions=_exceptions,
        # a pickup order is reported ``completed`` at its hand-off (mapping.HAND_OFF); its
        # finish reports nothing (no documented ``ready``)
        remote_handoff=True,
        tells_ready=False,
    ),
    section=PhotonSection,
    configured=lambda s: bool(api_url(s)),
    open=opener("rxfloor.core.sources.photon.source:PhotonSource"),
    webhooks=loader("rxfloor.core.sources.photon.source:WEBHOOKS"),
    webhook_secret_env="RXFLOOR_PHOTON_WEBHOOK_SECRET",
    secrets=(API_TOKEN, CLIENT_SECRET),
    secret_hint=(
        "the Photon API token and client secret do not belong in the config file; set "
        "RXFLOOR_PHOTON_API_TOKEN / RXFLOOR_PHOTON_CLIENT_SECRET or store them in the OS "
        "keyring (service rxfloor, users photon_api_token, photon_client_secret)"
    ),
)

"""Settings: defaults < config file < environment (RXFLOOR_*) < command-line flags.

The config file is TOML at ``$RXFLOOR_CONFIG`` or ``<user config dir>/rxfloor/config.toml``.
Secrets (the API key) are only ever read from the environment or the OS keyring.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "rxfloor"


class ConfigError(Exception):
    """A configuration value that cannot be used; the message is one line for a person."""


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    env = os.environ.get("RXFLOOR_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def state_file() -> Path:
    """Small UI state that the app writes itself (e.g. the chosen theme)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / "state.json"


def crash_log_file() -> Path:
    """Where the board logs an internal error (the traceback, never frame locals)."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / "crash.log"


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'rxfloor.db'}"


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on some containers
        return "unknown"


class RxScaleSection(BaseModel):
    """``[sources.rxscale]``: the RxScale API. Unset values fall back to the top-level ones."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=10_000)
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)
    #: the remote's status dialect; unset: learnt from the first statuses it sends
    dialect: Literal["v1", "v2"] | None = None


class ShopifySection(BaseModel):
    """``[sources.shopify]``: one shop whose fulfilment orders the pharmacy is assigned.

    The access token is never here: ``RXFLOOR_SHOPIFY_ACCESS_TOKEN`` or the OS keyring
    (service ``rxfloor``, user ``shopify_access_token``)."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://my-shop.myshopify.com``; set: the source is configured
    shop_url: str | None = None
    api_version: str = Field(default="2025-10", pattern=r"^\d{4}-\d{2}$|^unstable$")
    #: the fulfilment service's location (gid or number); unset: every assigned location
    location_id: str | None = None
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)


class KonnektiveSection(BaseModel):
    """``[sources.konnektive]``: the merchant's Konnektive CRM, the pharmacy as its
    fulfillment house.

    The API user's login id and password are never here: ``RXFLOOR_KONNEKTIVE_LOGIN_ID`` /
    ``RXFLOOR_KONNEKTIVE_PASSWORD`` or the OS keyring (service ``rxfloor``, users
    ``konnektive_login_id`` / ``konnektive_password``)."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://api.konnektive.com``; set: the source is configured
    api_url: str | None = None
    #: how many days back the pull lists orders (older active ones are read back by id)
    lookback_days: int = Field(default=30, ge=1, le=365)
    #: Konnektive documents no rate limit: a conservative default
    rate_limit_per_s: float | None = Field(default=5.0, gt=0, le=1000)
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)


class PhotonSection(BaseModel):
    """``[sources.photon]``: Photon Health routing e-prescriptions to this pharmacy.

    The API token is never here: ``RXFLOOR_PHOTON_API_TOKEN`` or the OS keyring (service
    ``rxfloor``, user ``photon_api_token``); the webhook secret is
    ``RXFLOOR_PHOTON_WEBHOOK_SECRET``."""

    model_config = ConfigDict(extra="forbid")

    #: e.g. ``https://api.photon.health`` (the status report is ``<api_url>/v1/hooks/pharmacy``);
    #: set: the source is configured
    api_url: str | None = None
    #: the order read (``order(id:)``); unset: ``<api_url>/graphql``
    graphql_url: str | None = None
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


class SourcesSection(BaseModel):
    """``[sources.<name>]``: one table per system of record."""

    model_config = ConfigDict(extra="forbid")

    rxscale: RxScaleSection = Field(default_factory=RxScaleSection)
    shopify: ShopifySection = Field(default_factory=ShopifySection)
    konnektive: KonnektiveSection = Field(default_factory=KonnektiveSection)
    photon: PhotonSection = Field(default_factory=PhotonSection)


@dataclass(frozen=True, slots=True)
class RxScaleSettings:
    """The RxScale source's settings once the section and the top-level ones are merged."""

    api_url: str | None
    rate_limit_per_s: float
    http_timeout_s: float
    dialect: Literal["v1", "v2"] | None


class Settings(BaseSettings):
    """Everything rxfloor can be told. Env vars are ``RXFLOOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RXFLOOR_", extra="forbid")

    database_url: str = Field(default_factory=default_database_url)
    actor: str = Field(default_factory=_default_actor, min_length=1, max_length=32)
    station: str = Field(default_factory=socket.gethostname, min_length=1, max_length=64)
    pharmacy: str = Field(default="rxfloor pharmacy", min_length=1, max_length=80)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    api_url: str | None = None
    api_key: SecretStr | None = None
    #: the Shopify app's Admin API access token (environment or keyring only)
    shopify_access_token: SecretStr | None = None
    #: the Konnektive API user's login id and password (environment or keyring only)
    konnektive_login_id: SecretStr | None = None
    konnektive_password: SecretStr | None = None
    #: the token of Photon's pharmacy API (environment or keyring only)
    photon_api_token: SecretStr | None = None
    #: the secret of Photon's Backend credential (environment or keyring only)
    photon_client_secret: SecretStr | None = None
    sync_interval_s: float = Field(default=5.0, gt=0, le=3600)
    rate_limit_per_s: float = Field(default=10.0, gt=0, le=10_000)
    http_timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: a failed push waits ~retry_base_s, doubling per attempt up to retry_cap_s (jittered)
    retry_base_s: float = Field(default=0.5, ge=0, le=3600)
    retry_cap_s: float = Field(default=60.0, ge=0, le=86_400)
    #: a push the remote refuses is sent once more this long after its first refusal
    retry_refused_s: float = Field(default=60.0, ge=0, le=86_400)
    #: webhooks: a larger body is refused with 413 before it is read in full
    webhook_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    #: webhooks: an event stamped further in the past (or ahead) is recorded, never applied
    webhook_max_age_s: float = Field(default=86_400.0, gt=0)
    webhook_max_ahead_s: float = Field(default=300.0, ge=0)
    theme: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)
    #: the board: a stat / waiter order with no due time is late this long after it arrived
    stat_target_min: int = Field(default=30, ge=1, le=24 * 60)
    waiter_target_min: int = Field(default=15, ge=1, le=24 * 60)
    #: the board rings the terminal bell once for a new stat order, alert or going offline
    bell: bool = True
    #: a scanned badge: this prefix and the pharmacist's initials (``badge-AB``)
    badge_prefix: str = Field(default="badge-", max_length=32)
    #: a move key this soon after the card under the cursor changed does nothing
    repeat_guard_s: float = Field(default=1.0, ge=0, le=10)
    sources: SourcesSection = Field(default_factory=SourcesSection)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        from rxfloor.core.db import normalise_url

        return normalise_url(value)

    @field_validator("retry_cap_s")
    @classmethod
    def _cap_above_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("retry_base_s")
        if base is not None and value < base:
            raise ValueError(f"must be at least retry_base_s ({base})")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )

    def rxscale(self) -> RxScaleSettings:
        """``[sources.rxscale]`` merged with the top-level spellings (``api_url`` /
        ``RXFLOOR_API_URL``, ``rate_limit_per_s``, ``http_timeout_s``): a top-level value
        that is given (environment or file) wins, so the environment still beats the file;
        the section wins over a top-level default."""
        section, given = self.sources.rxscale, self.model_fields_set

        def pick(name: str, own: float | None) -> float:
            top: float = getattr(self, name)
            return top if name in given or own is None else own

        return RxScaleSettings(
            api_url=self.api_url or section.api_url or None,
            rate_limit_per_s=pick("rate_limit_per_s", section.rate_limit_per_s),
            http_timeout_s=pick("http_timeout_s", section.http_timeout_s),
            dialect=section.dialect,
        )

    def resolved_api_key(self) -> SecretStr | None:
        """The API key from the environment, else from the OS keyring (service ``rxfloor``).

        Raises :class:`ConfigError` naming what is wrong with a malformed key (a trailing
        newline, a non-ASCII character, ...) without ever printing the key.
        """
        return _checked_secret(self.api_key, "RXFLOOR_API_KEY", "api_key", "the API key")

    def shopify_url(self) -> str | None:
        """``[sources.shopify] shop_url`` without a trailing slash (None: not configured)."""
        url = self.sources.shopify.shop_url
        return url.strip().rstrip("/") or None if url else None

    def resolved_shopify_token(self) -> SecretStr | None:
        """The Shopify access token from ``RXFLOOR_SHOPIFY_ACCESS_TOKEN``, else from the OS
        keyring (service ``rxfloor``, user ``shopify_access_token``); registered as a secret.
        Raises :class:`ConfigError` naming what is wrong with a malformed one (never it)."""
        return _checked_secret(
            self.shopify_access_token,
            "RXFLOOR_SHOPIFY_ACCESS_TOKEN",
            "shopify_access_token",
            "the Shopify access token",
        )

    def konnektive_url(self) -> str | None:
        """``[sources.konnektive] api_url`` without a trailing slash (None: not configured)."""
        url = self.sources.konnektive.api_url
        return url.strip().rstrip("/") or None if url else None

    def resolved_konnektive_credentials(self) -> tuple[SecretStr | None, SecretStr | None]:
        """The Konnektive API user's login id and password, each from
        ``RXFLOOR_KONNEKTIVE_LOGIN_ID`` / ``RXFLOOR_KONNEKTIVE_PASSWORD``, else from the OS
        keyring (service ``rxfloor``, users ``konnektive_login_id`` / ``konnektive_password``);
        both registered as secrets before anything can print them."""
        from rxfloor.core.text import register_secret

        found: list[SecretStr | None] = []
        for given, user in ((self.konnektive_login_id, "konnektive_login_id"),
                            (self.konnektive_password, "konnektive_password")):  # fmt: skip
            if given is None:
                try:
                    import keyring

                    value = keyring.get_password(APP_NAME, user)
                except Exception:  # no keyring backend on this machine
                    value = None
                given = SecretStr(value) if value else None
            if given is not None:
                register_secret(given.get_secret_value())
            found.append(given)
        return found[0], found[1]

    def photon_url(self) -> str | None:
        """``[sources.photon] api_url`` without a trailing slash (None: not configured)."""
        url = self.sources.photon.api_url
        return url.strip().rstrip("/") or None if url else None

    def resolved_photon_token(self) -> SecretStr | None:
        """The Photon API token from ``RXFLOOR_PHOTON_API_TOKEN``, else from the OS keyring
        (service ``rxfloor``, user ``photon_api_token``); registered as a secret. Raises
        :class:`ConfigError` naming what is wrong with a malformed one (never it)."""
        return _checked_secret(
            self.photon_api_token,
            "RXFLOOR_PHOTON_API_TOKEN",
            "photon_api_token",
            "the Photon API token",
        )

    def resolved_photon_client_secret(self) -> SecretStr | None:
        """The secret of Photon's Backend credential from ``RXFLOOR_PHOTON_CLIENT_SECRET``,
        else from the OS keyring (user ``photon_client_secret``); registered as a secret."""
        return _checked_secret(
            self.photon_client_secret,
            "RXFLOOR_PHOTON_CLIENT_SECRET",
            "photon_client_secret",
            "the Photon client secret",
        )


def _checked_secret(
    given: SecretStr | None, env_var: str, keyring_user: str, what: str
) -> SecretStr | None:
    """A secret from ``env_var`` (``given``), else from the OS keyring (service ``rxfloor``,
    user ``keyring_user``); registered before anything can print it. Raises
    :class:`ConfigError` naming what is wrong with a malformed one (never the secret)."""
    from rxfloor.core.text import api_key_problem, register_secret

    if given is not None:
        secret, source = given, env_var
    else:
        try:
            import keyring

            value = keyring.get_password(APP_NAME, keyring_user)
        except Exception:  # no keyring backend on this machine
            return None
        if not value:
            return None
        secret, source = SecretStr(value), "the OS keyring"
    raw = secret.get_secret_value()
    register_secret(raw.strip())
    register_secret(raw)
    problem = api_key_problem(raw)
    if problem is not None and raw:
        raise ConfigError(f"{what} (from {source}) {problem}")
    return secret


class _FileOnly(Settings):
    """The settings validated from the config file's table alone (no environment)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


#: the command-line option that sets a setting (``Context.settings`` passes them by these names)
_OPTIONS = {"database_url": "--database", "actor": "--actor", "station": "--station"}


def _read_config_file() -> tuple[Path, dict[str, Any]]:
    """The config file's path and table; {} when the default file is absent.

    A ``$RXFLOOR_CONFIG`` that names a missing file is refused: it was set on purpose.
    """
    import tomllib

    path = config_file()
    if not path.exists():
        if os.environ.get("RXFLOOR_CONFIG"):
            raise ConfigError(f"RXFLOOR_CONFIG names {path}, which does not exist")
        return path, {}
    try:
        with path.open("rb") as fh:
            return path, tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(setting, message) per error; the setting is the dotted path into the config."""
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        out.append((field, err["msg"]))
    return out


def _env_var(name: str) -> str | None:
    """The ``RXFLOOR_*`` variable that sets the top-level setting ``name``, if one is set."""
    wanted = f"RXFLOOR_{name}".upper()
    return next((var for var in os.environ if var.upper() == wanted), None)


def _shopify_token_in(table: dict[str, Any]) -> bool:
    """The config file names the Shopify access token (top level or in its section)."""
    if "shopify_access_token" in table:
        return True
    section = table.get("sources")
    shop = section.get("shopify") if isinstance(section, dict) else None
    return isinstance(shop, dict) and bool({"access_token", "shopify_access_token"} & set(shop))


def _konnektive_secret_in(table: dict[str, Any]) -> bool:
    """The config file names the Konnektive login id or password (top level or section)."""
    if {"konnektive_login_id", "konnektive_password"} & set(table):
        return True
    section = table.get("sources")
    konn = section.get("konnektive") if isinstance(section, dict) else None
    names = {"login_id", "loginId", "password", "konnektive_login_id", "konnektive_password"}
    return isinstance(konn, dict) and bool(names & set(konn))


def _photon_token_in(table: dict[str, Any]) -> bool:
    """The config file names the Photon API token (top level or in its section)."""
    if {"photon_api_token", "photon_client_secret"} & set(table):
        return True
    section = table.get("sources")
    photon = section.get("photon") if isinstance(section, dict) else None
    names = {"api_token", "photon_api_token", "token", "client_secret", "photon_client_secret"}
    return isinstance(photon, dict) and bool(names & set(photon))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise :class:`ConfigError` naming the bad value in one line.

    The message blames where the value came from: the command-line option, the
    ``RXFLOOR_*`` variable, or the config file. The file is checked on its own first, so a
    bad value in it is refused even when the environment or an option overrides it.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    path, table = _read_config_file()
    if "api_key" in table:
        raise ConfigError(
            f"{path}: api_key does not belong in the config file; set RXFLOOR_API_KEY "
            "or store it in the OS keyring (service rxfloor, user api_key)"
        )
    if _shopify_token_in(table):
        raise ConfigError(
            f"{path}: the Shopify access token does not belong in the config file; set "
            "RXFLOOR_SHOPIFY_ACCESS_TOKEN or store it in the OS keyring (service rxfloor, "
            "user shopify_access_token)"
        )
    if _konnektive_secret_in(table):
        raise ConfigError(
            f"{path}: the Konnektive login id and password do not belong in the config file; "
            "set RXFLOOR_KONNEKTIVE_LOGIN_ID and RXFLOOR_KONNEKTIVE_PASSWORD or store them in "
            "the OS keyring (service rxfloor, users konnektive_login_id, konnektive_password)"
        )
    if _photon_token_in(table):
        raise ConfigError(
            f"{path}: the Photon API token and client secret do not belong in the config "
            "file; set RXFLOOR_PHOTON_API_TOKEN / RXFLOOR_PHOTON_CLIENT_SECRET or store them "
            "in the OS keyring (service rxfloor, users photon_api_token, photon_client_secret)"
        )
    try:
        _FileOnly(**table)
    except ValidationError as exc:
        parts = [f"{field}: {msg}" for field, msg in _problems(exc)]
        raise ConfigError(f"bad configuration ({path}): " + "; ".join(parts)) from None
    try:
        return Settings(**clean)
    except ValidationError as exc:
        parts = []
        for field, msg in _problems(exc):
            top = field.split(".")[0]
            if top in clean:
                parts.append(f"{_OPTIONS.get(top, top)}: {msg}")
            elif (var := _env_var(top)) is not None:
                parts.append(f"{var}: {msg}")
            else:
                parts.append(f"{field} ({path}): {msg}")
        raise ConfigError("bad configuration: " + "; ".join(parts)) from None
    except Exception as exc:  # the file changed under us, or a source failed oddly
        raise ConfigError(f"cannot read configuration {path}: {exc}") from None

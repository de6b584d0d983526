"""Settings: defaults < config file < environment (RXFLOOR_*) < command-line flags.

The config file is TOML at ``$RXFLOOR_CONFIG`` or ``<user config dir>/rxfloor/config.toml``.
Secrets (the API key) are only ever read from the environment or the OS keyring.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
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
    sync_interval_s: float = Field(default=5.0, gt=0, le=3600)
    rate_limit_per_s: float = Field(default=10.0, gt=0, le=10_000)
    http_timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: webhooks: a larger body is refused with 413 before it is read in full
    webhook_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    #: webhooks: an event stamped further in the past (or ahead) is recorded, never applied
    webhook_max_age_s: float = Field(default=86_400.0, gt=0)
    webhook_max_ahead_s: float = Field(default=300.0, ge=0)
    theme: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        from rxfloor.core.db import normalise_url

        return normalise_url(value)

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

    def resolved_api_key(self) -> SecretStr | None:
        """The API key from the environment, else from the OS keyring (service ``rxfloor``).

        Raises :class:`ConfigError` naming what is wrong with a malformed key (a trailing
        newline, a non-ASCII character, ...) without ever printing the key.
        """
        from rxfloor.core.text import api_key_problem, register_secret

        if self.api_key is not None:
            key, source = self.api_key, "RXFLOOR_API_KEY"
        else:
            try:
                import keyring

                value = keyring.get_password(APP_NAME, "api_key")
            except Exception:  # no keyring backend on this machine
                return None
            if not value:
                return None
            key, source = SecretStr(value), "the OS keyring"
        raw = key.get_secret_value()
        register_secret(raw.strip())
        register_secret(raw)
        problem = api_key_problem(raw)
        if problem is not None and raw:
            raise ConfigError(f"the API key (from {source}) {problem}")
        return key


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise :class:`ConfigError` naming the bad value in one line."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{field}: {err['msg']}")
        raise ConfigError(f"bad configuration ({config_file()}): " + "; ".join(parts)) from None
    except Exception as exc:  # e.g. a config file that is not valid TOML
        raise ConfigError(f"cannot read configuration {config_file()}: {exc}") from None

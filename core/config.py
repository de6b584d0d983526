"""Settings: defaults < config file < environment (RXFLOOR_*) < command-line flags.

The config file is TOML at ``$RXFLOOR_CONFIG`` or ``<user config dir>/rxfloor/config.toml``.
Secrets (the API key) are only ever read from the environment or the OS keyring.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rxfloor.core import sources
from rxfloor.core.lifecycle import CheckRule
from rxfloor.core.urls import HttpUrl

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


def _sources_section() -> type[BaseModel]:
    """``[sources.<name>]``: one table per installed source plugin, its own model."""
    fields: dict[str, Any] = {
        p.name: (p.section, Field(default_factory=p.section)) for p in sources.plugins()
    }
    model: type[BaseModel] = create_model(
        "SourcesSection",
        __config__=ConfigDict(extra="forbid"),
        __doc__="``[sources.<name>]``: one table per system of record.",
        **fields,
    )
    return model


if TYPE_CHECKING:

    class SourcesSection(BaseModel):
        """``[sources.<name>]``: one table per source plugin (built from the plugins)."""

        def __getattr__(self, name: str) -> Any: ...

else:
    SourcesSection = _sources_section()


class TargetsSection(BaseModel):
    """``[floor.targets]``: minutes after it arrived that an order whose source gives no
    promised time is due (see ``core/due.py``): a stat or waiter order by its priority,
    whatever its delivery; a normal one by its delivery type."""

    model_config = ConfigDict(extra="forbid")

    stat: int = Field(default=30, ge=1, le=7 * 24 * 60)
    waiter: int = Field(default=15, ge=1, le=7 * 24 * 60)
    pickup: int = Field(default=120, ge=1, le=7 * 24 * 60)
    courier: int = Field(default=240, ge=1, le=7 * 24 * 60)
    ship: int = Field(default=24 * 60, ge=1, le=7 * 24 * 60)


class FloorSection(BaseModel):
    """``[floor]``: how this pharmacy works its orders."""

    model_config = ConfigDict(extra="forbid")

    #: who must check a filled order before it can be finished: nobody (``none``, one step
    #: from PROCESSING to FINISHED), anyone but its filler (``second_person``), a pharmacist
    check: CheckRule = CheckRule.NONE
    #: an order is filled only when a pack of each of its items was scanned (and matched)
    require_product_scan: bool = False
    #: a station nobody used this long signs its person out (0: never)
    idle_sign_out_min: float = Field(default=0, ge=0, le=24 * 60)
    #: product codes (GTIN, NDC, PZN, SKU) or words of an item's name that need the fridge
    fridge: list[str] = Field(default_factory=list)
    #: the same for controlled substances
    controlled: list[str] = Field(default_factory=list)
    #: when an order with no promised time of its source is due, after it arrived
    targets: TargetsSection = Field(default_factory=TargetsSection)
    #: the finish of a pickup order asks for its will-call bin (scanned or typed; optional)
    will_call_bins: bool = False
    #: a ready pickup order waiting longer than this goes back to stock (``rxfloor watch``
    #: lists them)
    will_call_days: int = Field(default=7, ge=1, le=365)


class PersonEntry(BaseModel):
    """One person of ``[people]``: ``TJ = { role = "technician", badge = "badge-TJ" }``."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["pharmacist", "technician"]
    badge: str | None = Field(default=None, min_length=1, max_length=64)


class Settings(BaseSettings):
    """Everything rxfloor can be told. Env vars are ``RXFLOOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RXFLOOR_", extra="forbid")

    database_url: str = Field(default_factory=default_database_url)
    actor: str = Field(default_factory=_default_actor, min_length=1, max_length=32)
    station: str = Field(default_factory=socket.gethostname, min_length=1, max_length=64)
    pharmacy: str = Field(default="rxfloor pharmacy", min_length=1, max_length=80)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    api_url: HttpUrl = None
    api_key: SecretStr | None = None
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
    #: the board rings the terminal bell once for a new stat order, alert or going offline
    bell: bool = True
    #: a scanned badge: this prefix and the pharmacist's initials (``badge-AB``)
    badge_prefix: str = Field(default="badge-", max_length=32)
    #: a move key this soon after the card under the cursor changed does nothing
    repeat_guard_s: float = Field(default=1.0, ge=0, le=10)
    sources: SourcesSection = Field(default_factory=SourcesSection)
    floor: FloorSection = Field(default_factory=FloorSection)
    #: the floor's people (added to the database's list when missing; the CLI edits it too)
    people: dict[str, PersonEntry] = Field(default_factory=dict)
    # -- PostgreSQL connections (issue 26 §3; the budget: docs/pages/operations/postgresql.md) -
    #: connections a process keeps to PostgreSQL for its reads and writes (the board's
    #: LISTEN and the sync's advisory lock add one each); every connection is named
    #: ``rxfloor <command>@<station>`` in pg_stat_activity
    db_pool_size: int = Field(default=1, ge=1, le=50)
    #: the database is reached through a transaction pooler (pgbouncer pool_mode=transaction):
    #: no server-side prepared statements, the push lease is a row with an expiry (a session
    #: lock would stay on a pooled server connection), and the board polls instead of LISTEN
    db_pgbouncer: bool = False
    #: ``rxfloor chain``: the pharmacies a regional manager reads, ``name = "URL"`` each
    #: (the ``[chain]`` section; one database per pharmacy, see docs/pages/operations/chain.md)
    chain: dict[str, str] = Field(default_factory=dict)

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

    def resolved_api_key(self) -> SecretStr | None:
        """The API key from the environment, else from the OS keyring (service ``rxfloor``).

        Raises :class:`ConfigError` naming what is wrong with a malformed key (a trailing
        newline, a non-ASCII character, ...) without ever printing the key.
        """
        return _checked_secret(self.api_key, "RXFLOOR_API_KEY", "api_key", "the API key")


def resolve_secret(secret: sources.Secret) -> SecretStr | None:
    """A source's secret from its variable (``secret.env``, any case, as pydantic-settings
    reads the others), else from the OS keyring; registered before anything can print it.
    Raises :class:`ConfigError` naming what is wrong with a malformed one (never it)."""
    var = _env_var_named(secret.env)
    given = SecretStr(os.environ[var]) if var is not None else None
    if secret.checked:
        return _checked_secret(given, secret.env, secret.keyring_user, secret.what)
    from rxfloor.core.text import register_secret

    if given is None:
        try:
            import keyring

            value = keyring.get_password(APP_NAME, secret.keyring_user)
        except Exception:  # no keyring backend on this machine
            value = None
        given = SecretStr(value) if value else None
    if given is not None:
        register_secret(given.get_secret_value())
    return given


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
    except UnicodeDecodeError as exc:  # TOML is UTF-8; this was a 26-line traceback
        raise ConfigError(
            f"cannot read configuration {path}: not UTF-8 (byte "
            f"0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
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
    return _env_var_named(wanted)


def _env_var_named(wanted: str) -> str | None:
    """The variable ``wanted`` as set in the environment, in whatever case, if it is set."""
    return next((var for var in os.environ if var.upper() == wanted.upper()), None)


def _secret_in(plugin: sources.SourcePlugin, table: dict[str, Any]) -> bool:
    """The config file names one of ``plugin``'s secrets (top level or in its section)."""
    if {s.keyring_user for s in plugin.secrets} & set(table):
        return True
    section = table.get("sources")
    own = section.get(plugin.name) if isinstance(section, dict) else None
    inside: set[str] = set().union(*(s.file_names for s in plugin.secrets))
    return isinstance(own, dict) and bool(inside & set(own))


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
    for plugin in sources.plugins():
        if plugin.secrets and _secret_in(plugin, table):
            hint = (
                plugin.secret_hint or f"{plugin.secrets[0].what} does not belong in the config file"
            )
            raise ConfigError(f"{path}: {hint}")
    try:
        if table:  # no file (or an empty one): nothing of it to refuse
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

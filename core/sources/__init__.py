"""The systems of record rxfloor syncs with, found as plugins: nothing here names one.

Each source is a package (``core/sources/<name>/``) that exports one :class:`SourcePlugin`
through the entry point group ``rxfloor.sources`` (as Harlequin finds its adapters): its
traits, its ``[sources.<name>]`` settings section and secrets, a factory for the
:class:`~rxfloor.core.sources.base.OrderSource`, its webhook format. A new source is one
package and one entry-point line in ``pyproject.toml``; the config, the CLI, the demo and
the sync engine iterate over :func:`plugins`.

Discovery is cheap: :func:`names` reads the installed metadata only; a plugin's module is
imported on first use and imports neither httpx nor its client (its factories do). What the
board and the CLI need to know of a source without talking to it (its label, its mark on
the card, what its orders can do) is its :class:`SourceTraits`.

An order's identity is (source, the source's own id): :func:`local_id` is the one rule that
turns it into the local key ``orders.id``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pydantic import BaseModel

    from rxfloor.core.config import Settings
    from rxfloor.core.sources.base import OrderSource, WebhookFormat

#: the entry point group a source package registers its plugin under
GROUP = "rxfloor.sources"


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
    #: the source learns the hand-off of a pickup order at the counter (its own word for
    #: "picked up"); False: it stays local (a source that only ships), nothing is queued
    remote_handoff: bool = True
    #: the source has a word for "ready for pickup" (the finish of a pickup order reaches it);
    #: False (Photon): the order stays "in progress" there until its hand-off, so a ready
    #: order read there as in progress is where it should be, not a finish the source lost
    tells_ready: bool = True
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


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret of a source: never in the config file, from the environment (``env``) or
    the OS keyring (service ``rxfloor``, user ``keyring_user``), a ``SecretStr`` once read."""

    env: str  # RXFLOOR_<SOURCE>_<NAME>
    keyring_user: str
    what: str  # how an error message names it: "the Shopify access token"
    #: the spellings refused in the config file: in the source's section, and at the top
    #: level (``keyring_user``, the old flattened name, is always refused there)
    file_names: frozenset[str] = frozenset()
    #: False: taken as given (a login id), no check for a malformed key
    checked: bool = True


@dataclass(frozen=True, slots=True)
class SourcePlugin:
    """Everything rxfloor knows of one source, exported by its package (``plugin.PLUGIN``).

    The factories import what they need (httpx, the client) when called, never before."""

    name: str  # the entry point's name, the ``orders.source`` word and ``[sources.<name>]``
    traits: SourceTraits
    #: the ``[sources.<name>]`` table (a pydantic model, every field defaulted)
    section: type[BaseModel]
    #: enough configuration to sync (an API URL)
    configured: Callable[[Settings], bool]
    #: the source as configured; raises ValueError (no URL or key) or ConfigError
    open: Callable[[Settings], OrderSource]
    #: how it signs and shapes its webhook deliveries
    webhooks: Callable[[], WebhookFormat]
    #: the variable holding its webhook signing secret (None: it sends no webhooks)
    webhook_secret_env: str | None = None
    secrets: tuple[Secret, ...] = ()
    #: its ids are the local keys as they are (the source of databases from before several
    #: sources); every other source's orders are ``<name>:<id>``. One plugin at most.
    bare_ids: bool = False
    #: how a refusal of a secret in the config file reads (None: each secret's own words)
    secret_hint: str | None = None
    #: where it stands where sources are listed (the header, the wall, sync's reports):
    #: lowest first, then by name
    rank: int = 100

    def section_of(self, settings: Settings) -> Any:
        """Its ``[sources.<name>]`` section of ``settings``."""
        return getattr(settings.sources, self.name)


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """Every source rxfloor knows (a ``SOURCE:`` prefix of an order reference is one), in
    the order the packages registered them; loads no plugin."""
    return list(_entry_points())


@cache
def plugin(name: str) -> SourcePlugin:
    """Source ``name``'s plugin; raises :class:`ValueError` when it is unknown."""
    ep = _entry_points().get(name)
    if ep is None:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(names())})")
    found = ep.load()
    if not isinstance(found, SourcePlugin) or found.name != name:
        raise ValueError(f"the entry point {name!r} of {GROUP} is not its SourcePlugin")
    return found


def plugins() -> list[SourcePlugin]:
    """Every installed source's plugin, by rank (then name)."""
    return sorted((plugin(name) for name in names()), key=lambda p: (p.rank, p.name))


@cache
def default_source() -> str:
    """The source whose ids stay bare (every order from before sources is its), else the
    first one: where a command or a row names no source."""
    found = [p.name for p in plugins() if p.bare_ids]
    return found[0] if found else names()[0]


@cache
def bare_ids(name: str) -> bool:
    """Source ``name``'s ids are the local keys as they are (its plugin says so)."""
    return name in _entry_points() and plugin(name).bare_ids


def local_id(source: str, remote_id: str) -> str:
    """The local key of the order ``remote_id`` of ``source``: the bare-ids source keeps
    its own id (databases from before several sources stay as they are), every other
    source's id is prefixed with the source's name (``<name>:<its id>``), so the same
    number in two sources is two orders. Anything that talks to a source sends the
    ``remote_id``, never this."""
    return remote_id if bare_ids(source) else f"{source}:{remote_id}"


def remote_id(source: str, local: str) -> str:
    """The source's own id of the order whose local key is ``local`` (:func:`local_id`
    undone)."""
    return local if bare_ids(source) else local.removeprefix(f"{source}:")


def __getattr__(name: str) -> str:
    if name == "DEFAULT_SOURCE":  # read on first use: the plugins are not loaded before
        return default_source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def traits(name: str) -> SourceTraits:
    """Source ``name``'s static traits; raises :class:`ValueError` when it is unknown."""
    return plugin(name).traits


def status_words(name: str, remote_status: str | None) -> str:
    """The source's own words for where an order is (its ``status_words`` trait)."""
    if not remote_status:
        return ""
    return traits(name).status_words(remote_status)


def exception(name: str, remote_status: str | None, resolved: str | None = None) -> str | None:
    """Why an order of source ``name`` at ``remote_status`` is in the exceptions queue, or
    None: its word needs no person, or a person resolved this very word (``resolved``: the
    order's ``exception_resolved``; it is back once the source says something else)."""
    if name not in _entry_points() or (resolved is not None and resolved == remote_status):
        return None
    return traits(name).exception(remote_status)


def configured(settings: Settings) -> list[str]:
    """The names of the sources the configuration sets up (none: the board runs offline)."""
    return [p.name for p in plugins() if p.configured(settings)]


def open_source(name: str, settings: Settings) -> OrderSource:
    """Source ``name`` as configured. Raises :class:`ValueError` when it is unknown or its
    configuration is incomplete (no URL, no key), ``ConfigError`` for a malformed key."""
    return plugin(name).open(settings)


def webhook_format(name: str | None = None) -> WebhookFormat:
    """How source ``name`` (default: :func:`default_source`) signs and shapes its webhooks."""
    return plugin(name or default_source()).webhooks()


def lazy(ref: str) -> Any:
    """The object ``module:attribute`` names, imported now (a plugin's factories use it to
    keep their module's imports out of start-up)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def opener(ref: str) -> Callable[[Settings], OrderSource]:
    """A plugin's ``open``: the class ``ref`` names, its ``from_settings``, imported when
    a source is opened (its client and httpx with it)."""
    return lambda settings: cast("OrderSource", lazy(ref).from_settings(settings))


def loader(ref: str) -> Callable[[], Any]:
    """A plugin's factory of the object ``ref`` names (its webhook format), imported when
    asked."""
    return lambda: lazy(ref)

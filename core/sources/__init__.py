"""The systems of record rxfloor syncs with: the one place that names the concrete sources.

Everything else (the sync engine, the board, the CLI) asks here and then speaks only
:class:`~rxfloor.core.sources.base.OrderSource`. A new source is a package beside
``rxscale/``, one entry in ``_REGISTRY`` and its ``[sources.<name>]`` section in
``core/config.py``. The packages are imported only when used (httpx is not free at start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rxfloor.core.config import Settings
    from rxfloor.core.sources.base import OrderSource, WebhookFormat


@dataclass(frozen=True, slots=True)
class _Entry:
    configured: Callable[[Settings], bool]  # enough configuration to sync (an API URL)
    open: Callable[[Settings], OrderSource]
    webhooks: Callable[[], WebhookFormat]


def _rxscale_open(settings: Settings) -> OrderSource:
    from rxfloor.core.sources.rxscale.source import RxScaleSource

    return RxScaleSource.from_settings(settings)


def _rxscale_webhooks() -> WebhookFormat:
    from rxfloor.core.sources.rxscale.source import WEBHOOKS

    return WEBHOOKS


_REGISTRY: dict[str, _Entry] = {
    "rxscale": _Entry(lambda s: bool(s.rxscale().api_url), _rxscale_open, _rxscale_webhooks),
}

#: the source the commands use where none is named (the only one so far)
DEFAULT_SOURCE = "rxscale"


def configured(settings: Settings) -> list[str]:
    """The names of the sources the configuration sets up (none: the board runs offline)."""
    return [name for name, entry in _REGISTRY.items() if entry.configured(settings)]


def open_source(name: str, settings: Settings) -> OrderSource:
    """Source ``name`` as configured. Raises :class:`ValueError` when it is unknown or its
    configuration is incomplete (no URL, no key), ``ConfigError`` for a malformed key."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(_REGISTRY)})")
    return entry.open(settings)


def webhook_format(name: str = DEFAULT_SOURCE) -> WebhookFormat:
    """How source ``name`` signs and shapes its webhook deliveries."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(_REGISTRY)})")
    return entry.webhooks()

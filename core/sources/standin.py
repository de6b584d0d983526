"""The contract between rxfloor and the stand-ins of its sources (``rxfloor.sandbox``).

The stand-ins are not part of the product: core/ and tui/ never import them. A stand-in
registers one :class:`StandIn` under the entry point group ``rxfloor.sandboxes`` (its
source's name); ``rxfloor sandbox`` serves it and ``rxfloor --demo`` runs it in-process.
Its module is imported when the parser is built: it imports neither Starlette nor pydantic
before :attr:`StandIn.serve` or :attr:`StandIn.demo` is called.
"""

from __future__ import annotations

import argparse
import concurrent.futures
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rxfloor.core.config import Settings
    from rxfloor.core.sources.base import OrderSource, WebhookFormat

#: the entry point group a stand-in registers under (its name: its source's)
GROUP = "rxfloor.sandboxes"


@dataclass(frozen=True, slots=True)
class Option:
    """A ``rxfloor sandbox`` option of this stand-in (several may share one flag)."""

    flag: str  # "--api-key"
    help: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # metavar, type, choices

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


class DemoKit(Protocol):
    """What ``rxfloor --demo`` gives a stand-in to run in-process beside the board."""

    settings: Settings
    #: the demo's pace (seconds between remote-side events) and chance of a remote change
    every_s: float
    cancel_chance: float

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the demo's event loop (the stand-ins' own loop)."""

    def transport(self, app: Any, timeout_s: float | None = None) -> Any:
        """A synchronous httpx transport serving requests from the ASGI ``app``."""

    def sync(self, source: OrderSource) -> None:
        """Sync ``source`` with the demo's floor (its own worker)."""

    def receive(self, name: str, secret: bytes, webhooks: WebhookFormat) -> tuple[str, Any]:
        """The URL where source ``name``'s webhooks reach the demo's receiver, and an
        ``httpx.AsyncClient`` that posts there in-process (no port)."""


@dataclass(frozen=True, slots=True)
class StandIn:
    """One source's stand-in, as its package registers it."""

    name: str
    #: how ``rxfloor sandbox``'s description names what it serves
    what: str
    #: build the ASGI app from the parsed options and the faults (fail_rate, fault_seed,
    #: slow_s); returns it and the words that say where its API is under a root URL
    serve: Callable[[argparse.Namespace, dict[str, Any]], tuple[Any, Callable[[str], str]]]
    #: start it in the demo with ``orders`` seeded (None: its own default); its state
    demo: Callable[[DemoKit, int | None], Any] | None = None
    options: tuple[Option, ...] = ()
    #: the variables its ``rxfloor sandbox`` reads (secrets are never flags)
    environment: tuple[str, ...] = ()


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """The sources with an installed stand-in (none without ``rxfloor.sandbox``)."""
    return list(_entry_points())


@cache
def standin(name: str) -> StandIn:
    """Source ``name``'s stand-in; :class:`ValueError` when none is installed."""
    ep = _entry_points().get(name)
    if ep is None:
        raise ValueError(f"no stand-in for {name!r} (installed: {', '.join(names())})")
    found = ep.load()
    if not isinstance(found, StandIn) or found.name != name:
        raise ValueError(f"the entry point {name!r} of {GROUP} is not its StandIn")
    return found


def standins() -> list[StandIn]:
    return [standin(name) for name in names()]

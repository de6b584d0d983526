"""What every subcommand handler receives: the global options and a lazily opened service.

One handler style: ``handler(args, ctx) -> int``, registered with :func:`add_command`. The
settings and the service are opened only when a handler first asks for them (the sandbox
never does), and SQLAlchemy is imported only then, so ``rxfloor --help`` stays quick.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rxfloor.core.config import Settings
    from rxfloor.core.db import Store
    from rxfloor.core.service import OrderService

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


class Handler(Protocol):
    """A subcommand: reads its options from ``args``, returns an exit code (:class:`ExitCode`)."""

    def __call__(self, args: argparse.Namespace, ctx: Context, /) -> int: ...


@dataclass
class Context:
    """The global options, and the settings / service built from them on first use."""

    database: str | None = None
    #: ``--demo`` with a command: the demo's database as it is (never reseeded), its floor
    demo: bool = False
    actor: str | None = None
    station: str | None = None
    #: the command (``board`` without one): PostgreSQL connections are named after it
    role: str = "cli"
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _service: OrderService | None = field(default=None, init=False, repr=False)
    _store: Store | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        role = getattr(args, "command", None) or "board"
        demo = bool(getattr(args, "demo", False)) and role != "board"
        return cls(
            database=args.database, demo=demo, actor=args.actor, station=args.station, role=role
        )

    @property
    def settings(self) -> Settings:
        """The settings with the global options on top; raises ``ConfigError``."""
        if self._settings is None:
            with starting():
                self._settings = self._load_settings()
        return self._settings

    def _load_settings(self) -> Settings:
        from rxfloor.core.config import load_settings

        if self.demo:
            self.database = demo_database()
        settings = load_settings(database_url=self.database, actor=self.actor, station=self.station)
        if self.demo:
            from rxfloor.tui.cli.board import demo_floor

            demo_floor(settings)  # the demo's floor: its check rule, its flags
        return settings

    @property
    def service(self) -> OrderService:
        """The configured store, opened (and migrated) on first use; closed by :meth:`close`."""
        if self._service is None:
            settings = self.settings
            with starting():
                from rxfloor.core.service import open_service

                self._service = open_service(settings, self.role)
        return self._service

    @property
    def store(self) -> Store:
        """The configured store alone, opened as :meth:`service` opens it: a read-only
        command that needs no service imports no pydantic models."""
        if self._service is not None:
            return self._service.store
        if self._store is None:
            settings = self.settings
            with starting():
                from rxfloor.core.db import Store

                self._store = Store.open(
                    settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
                )
        return self._store

    def close(self) -> None:
        if self._service is not None:
            self._service.store.close()
            self._service = None
        if self._store is not None:
            self._store.close()
            self._store = None


@contextmanager
def starting() -> Iterator[None]:
    """Imports and opening with the cyclic collector off, and what they made frozen after.

    A command's start allocates a million objects that live as long as the process
    (SQLAlchemy's, pydantic's, Textual's classes and modules): the collector's passes
    meanwhile walked them again and again, and the one at exit walked them all once more.
    Frozen (``gc.freeze``), no pass looks at them again; ``rxfloor orders --json`` went from
    481 to 383 ms of CPU. Nested uses leave it to the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def demo_database() -> str:
    """The demo's database (``demo.db`` in the data dir) for a command: used as it is, never
    created or reseeded (``rxfloor --demo`` does that); raises ``ConfigError`` when missing."""
    from rxfloor.core.config import ConfigError, data_dir

    demo = data_dir() / "demo.db"
    if not demo.is_file():
        raise ConfigError(f"--demo: no demo database at {demo} yet: start `rxfloor --demo` once")
    return str(demo)


def global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """``--database``, ``--demo``, ``--actor``, ``--station``: accepted before and after the
    subcommand.

    The top-level parser gives them a ``None`` default; on each subcommand they are
    ``SUPPRESS``-ed, so a value given before the subcommand is not overwritten by the
    subcommand's default (a value given after it wins).
    """
    default = argparse.SUPPRESS if suppress else None
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--database",
        metavar="URL",
        default=default,
        help="sqlite:///FILE, a file path, or postgresql://…",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="the demo's database (demo.db in the data dir): the board alone starts it afresh "
        "with sample orders and the stand-ins; a COMMAND uses it as it is",
    )
    group.add_argument(
        "--actor", default=default, help="pharmacist initials recorded in the audit trail"
    )
    group.add_argument(
        "--station", default=default, help="station name recorded in the audit trail"
    )
    return parser


_SUBCOMMAND_GLOBALS = global_options(suppress=True)


def add_command(
    subcommands: Subcommands,
    name: str,
    handler: Handler | None,
    *,
    help: str,
    description: str | None = None,
    with_globals: bool = True,
) -> argparse.ArgumentParser:
    """Register one subcommand (with the global options unless ``with_globals`` is false).

    ``handler`` is None only for a group whose own subcommands carry the handlers.
    """
    parents = [_SUBCOMMAND_GLOBALS] if with_globals else []
    parser = subcommands.add_parser(name, parents=parents, help=help, description=description)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser

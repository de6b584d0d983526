"""``rxfloor watch``: the wall screen as an app of its own. No key changes data: ``q`` quits,
``t`` cycles the themes (ctrl+p offers them by name as well)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.segment import Segment, Segments
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from rxfloor.core.config import Settings
from rxfloor.core.db import Store
from rxfloor.core.db.schema import utcnow
from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.crash import crash_line, write_crash_log
from rxfloor.tui.themes import DEFAULT_THEME, load_themes, register_themes
from rxfloor.tui.watch.screen import WatchScreen

Background = Callable[[], AbstractContextManager[object]]


class WatchApp(App[None]):
    """The wall screen on a store; with ``background`` (``rxfloor watch --sync``) it also
    runs the sync worker, otherwise it only reads what the terminals sync."""

    CSS_PATH = Path(__file__).with_name("watch.tcss")
    TITLE = "rxfloor watch"
    AUTO_FOCUS = None
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("t", "next_theme", "Theme"),
    ]

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        theme: str | None = None,
        background: Background | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.clock = clock
        self.background = background
        self._stop = threading.Event()
        register_themes(self)
        self._themes = [t.name for t in load_themes()]
        wanted = theme or settings.theme
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME

    def get_default_screen(self) -> Screen[Any]:
        return WatchScreen(self.store, self.settings, self.clock)

    @property
    def wall(self) -> WatchScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, WatchScreen)
        return screen

    def action_next_theme(self) -> None:
        names = self._themes
        self.theme = (
            names[(names.index(self.theme) + 1) % len(names)] if (self.theme in names) else names[0]
        )

    def on_mount(self) -> None:
        if self.background is not None:
            self._run_background(self.background)

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, group="background")
    def _run_background(self, background: Background) -> None:
        try:
            with background():
                self._stop.wait()
        except Exception as exc:  # report, never take the wall down
            self.notify(f"sync stopped: {exc}", severity="error", markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """As the board does: the traceback alone (never frame locals with patient data) to
        the crash log, one line on the terminal, exit code ``ExitCode.INTERNAL``."""
        path, problem = write_crash_log(error)
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self._return_code = ExitCode.INTERNAL
        self.error_console.soft_wrap = True
        self.panic(Segments([Segment(crash_line(path, problem)), Segment.line()]))

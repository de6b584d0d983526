"""``rxfloor``: the app around the board: themes, keymap, the notice line, the background
runner.

The board itself is :mod:`rxfloor.tui.board` (screen, view, columns, cards); its keys are
the action table :mod:`rxfloor.tui.actions`.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from time import monotonic
from typing import Any

from rich.segment import Segment, Segments
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import WorkerFailed

from rxfloor.core.config import Settings, state_file
from rxfloor.core.lifecycle import Person
from rxfloor.core.people import People
from rxfloor.core.service import OrderService
from rxfloor.tui.actions import ACTIONS, BY_ID, BoardAction, bindings, check_keymap
from rxfloor.tui.board.messages import Notice
from rxfloor.tui.board.screen import BoardScreen
from rxfloor.tui.cli.exit_codes import ExitCode
from rxfloor.tui.crash import contained_line, crash_line, write_crash_log
from rxfloor.tui.scan import Outcome, ScanBuffer, Verdict, scan_refs
from rxfloor.tui.screens.confirm import QuitScreen
from rxfloor.tui.screens.goto import PinScreen
from rxfloor.tui.screens.handoff import BinScreen, HandoffScreen
from rxfloor.tui.screens.help import HelpScreen
from rxfloor.tui.screens.reason import ReasonScreen
from rxfloor.tui.screens.tracking import TrackingScreen
from rxfloor.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, register_themes

#: The dialogs that ask for a specific answer. While one of their text boxes has focus, a burst
#: of keys that ends in Enter is that answer, typed: a PIN typed fast (or by ``tmux
#: send-keys``), a date of birth, a reason, a bin's or a tracking number's label scanned
#: into the box that asks for it. Everywhere else (the board, its filter, go to, a note,
#: who is at the keys: a badge) such a burst is a scan, an order's code or a badge, and
#: never acts as keys. A reason dialog's list is no text box: a scan there still goes to
#: the order, it never picks a reason.
TYPED_ANSWERS: tuple[type[Screen[Any]], ...] = (
    PinScreen,
    BinScreen,
    HandoffScreen,
    TrackingScreen,
    ReasonScreen,
)

Background = Callable[[], AbstractContextManager[object]]

#: the exit code of the board after an internal error (sysexits EX_SOFTWARE)
EXIT_INTERNAL_ERROR = ExitCode.INTERNAL


class BoardApp(App[None]):
    """``rxfloor``: the board on the configured database."""

    CSS_PATH = Path(__file__).with_name("board.tcss")  # absolute: subclasses live elsewhere
    TITLE = "rxfloor"
    AUTO_FOCUS = None  # the board takes keys itself; dialogs choose their own focus
    BINDINGS = bindings(on_app=True)

    def __init__(
        self,
        service: OrderService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        background: Background | None = None,
        remember_theme: bool = True,
        sign_in_first: bool = False,
    ) -> None:
        """``sign_in_first``: the station starts signed out and asks who is at the keys
        before anything else (``rxfloor serve --board``: one browser, one person)."""
        super().__init__()
        self.sign_in_first = sign_in_first
        self.service = service
        self.settings = settings
        self.clock = clock or service.clock
        self.background = background
        self.remember_theme = remember_theme
        self._stop = threading.Event()
        self.keymap = check_keymap(settings.keys)
        self.scans: ScanBuffer[events.Key] = ScanBuffer()
        self._scan_timer: Timer | None = None
        self.keys_seen = 0  #: keys that reached the app (a dialog read late checks it)
        self.last_key_at = monotonic()  #: the idle sign-out counts from here
        service.check = settings.floor.check
        #: who is at the keys (None: signed out); set at mount from the floor's list
        self.person: Person | None = Person(service.actor.name)
        register_themes(self)
        self._start_theme(self._initial_theme())
        self._collector_paused = False  # on_load paused the cyclic collector

    def on_load(self) -> None:
        """Textual's start, up to the board's first frame, runs without the cyclic collector
        (as the command's imports do, ``starting()``): it allocates tens of thousands of
        objects, and the young generations' passes over them were 6-15 ms of a ~70 ms first
        frame. The collector is back once that frame is painted (:meth:`collect_again`)."""
        if gc.isenabled():
            gc.disable()
            self._collector_paused = True

    def collect_again(self) -> None:
        """The first frame is painted (or the app stops): the collector runs again."""
        if self._collector_paused:
            self._collector_paused = False
            gc.enable()

    def _start_theme(self, name: str) -> None:
        """The theme before the app runs, without Textual's theme watcher: it would
        re-parse the whole stylesheet right after the start (``refresh_css``; ~40 % of the
        first frame) and throw away the parse cache the first parse then misses. What the
        watcher does that matters before a first frame is done here: the theme's variables,
        its classes and the ANSI colour filter."""
        self.set_reactive(BoardApp.theme, name)
        dark = self.current_theme.dark
        self.set_class(True, f"-theme-{name}", update=False)
        self.set_class(dark, "-dark-mode", update=False)
        self.set_class(not dark, "-light-mode", update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    def _initial_theme(self) -> str:
        saved = _read_state().get("theme") if self.remember_theme else None
        for name in (saved, self.settings.theme, DEFAULT_THEME):
            if name and name in self.available_themes:
                return name
        return DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **VARIABLE_DEFAULTS}

    def watch_theme(self, theme: str) -> None:
        if self.remember_theme and self.is_running:
            _write_state({"theme": theme})

    def get_default_screen(self) -> Screen[Any]:
        return BoardScreen()

    async def _dispatch_action(self, namespace: DOMNode, action_name: str, params: Any) -> bool:
        """Every key, palette command and click runs its action here (Textual's one place):
        an internal error in one action is a sentence, not an exit (the demo's sync runs in
        this process, and the pharmacist is mid-shift)."""
        try:
            return await super()._dispatch_action(namespace, action_name, params)
        except Exception as error:
            self.contain(error, f"doing {action_name}")
            return True

    def contain(self, error: BaseException, doing: str) -> None:
        """One action, handler, dialog answer or worker failed: the crash log gets the
        traceback, the pharmacist a sentence and a bell; everything else goes on."""
        self.bell()
        self.say(contained_line(error, doing), "error")

    def _handle_exception(self, error: Exception) -> None:
        """Every unhandled exception of the app, its screens, widgets, timers and workers
        ends here (Textual's single hook). A worker's failure is contained (the worker is
        over, nothing else stopped). Anything else broke a widget's message loop: Textual
        would print the traceback with the frame locals (patient data); instead: the
        traceback alone to the crash log, one line on the terminal, exit code
        :data:`EXIT_INTERNAL_ERROR`."""
        if isinstance(error, WorkerFailed) and self.is_running:
            self.contain(error.error, "working in the background")
            return
        path, problem = write_crash_log(error)
        if self._exception is None:  # as Textual does: run_test re-raises it for tests
            self._exception = error
            self._exception_event.set()
        self._return_code = EXIT_INTERNAL_ERROR
        self.bell()
        # one line however narrow the terminal: Segments (no wrapping when pre-rendered) and a
        # soft-wrapping error console (no cropping when printed at exit)
        self.error_console.soft_wrap = True
        self.panic(Segments([Segment(crash_line(path, problem)), Segment.line()]))

    @property
    def people(self) -> People:
        """The floor's list, changed (sign-ins recorded) as the person at the keys."""
        actor = self.service.actor
        return People(self.service.store, actor.name, actor.station)

    def _who_at_start(self) -> None:
        """On a floor with a list of people, the station starts with the configured person
        when they are on it, else signed out (a badge signs in). ``sign_in_first``: signed out
        whoever is configured, and asked at once."""
        people = self.people
        if self.sign_in_first:
            self.person = None
            self.service.signed_in = False
            self.settings.actor = "signed out"
            self.call_after_refresh(self.board.action_switch_pharmacist)
            return
        if not people.all():
            return
        member = people.get(self.service.actor.name)
        if member is not None and not member.has_pin:
            self.person = member.person
            return
        self.person = None
        self.service.signed_in = False
        self.settings.actor = "signed out"

    def idle_check(self, now: float | None = None) -> bool:
        """Sign the station out when nobody pressed a key for ``idle_sign_out_min``;
        returns whether it did."""
        minutes = self.settings.floor.idle_sign_out_min
        now = monotonic() if now is None else now
        if not minutes or self.person is None or now - self.last_key_at < minutes * 60:
            return False
        self.board.sign_out(f"idle for {minutes:g} min")
        return True

    def on_mount(self) -> None:
        self._who_at_start()
        if self.settings.floor.idle_sign_out_min:
            self.set_interval(15, self.idle_check)
        self.set_keymap(self.keymap)
        if self.background is not None:
            self._run_background(self.background)

    def on_unmount(self) -> None:
        self._stop.set()
        self.collect_again()

    @work(thread=True, group="background")
    def _run_background(self, background: Background) -> None:
        """The sync worker (and, in the demo, the in-process stand-in), stopped on exit."""
        try:
            with background():
                self._stop.wait()
        except Exception as exc:  # report, never take the board down
            self.post_message(Notice(f"background task stopped: {exc}", "error"))

    # ------------------------------------------------------------ scanner
    async def on_event(self, event: events.Event) -> None:
        """Every key passes the scan reader first unless a text box has focus (there a
        scan is just typed, e.g. into Go to)."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            self.keys_seen += 1
            self.last_key_at = monotonic()
        if isinstance(event, events.Key) and not event.is_forwarded and self._reads_scans():
            await self._scan_key(event)
            return
        await super().on_event(event)

    def _reads_scans(self) -> bool:
        """Every screen reads scans, text boxes included (a scan into the filter is a scan,
        not a filter), except a text box of a dialog that asks for a specific answer
        (:data:`TYPED_ANSWERS`): there a burst is typed text."""
        if not self.is_running:
            return False
        typed = isinstance(self.screen, TYPED_ANSWERS) and isinstance(self.focused, Input)
        return not typed

    async def _scan_key(self, key: events.Key) -> None:
        await self._settle_scan(self.scans.expire(key.time))
        outcome = self.scans.key(key, key.key, key.character, key.time)
        if self._scan_timer is not None:
            self._scan_timer.stop()
            self._scan_timer = None
        if outcome.verdict is Verdict.HOLD:
            self._scan_timer = self.set_timer(self.scans.gap * 1.25, self._scan_gap_passed)
            return
        for held in outcome.released:
            await super().on_event(held)
        if outcome.verdict is Verdict.SCAN:
            self.scanned(outcome.text)

    def _scan_gap_passed(self) -> None:
        """Behind the keys already queued (a busy app reads them late, not apart)."""
        self._scan_timer = None
        self.call_later(self._scan_expired)

    async def _scan_expired(self) -> None:
        outcome = self.scans.expire(monotonic())
        if self.is_running and self.screen_stack:  # not while the app is closing
            await self._settle_scan(outcome)

    async def _settle_scan(self, outcome: Outcome[events.Key] | None) -> None:
        if outcome is None:
            return
        if outcome.verdict is Verdict.DROP:
            self.say(f"ignored {outcome.text!r}: typed faster than a person, with no Enter")
            return
        for held in outcome.released:
            await super().on_event(held)

    def scanned(self, text: str) -> None:
        """A scan (on any screen without a text box): it never acts as keys. An order's
        code focuses that order (dialogs close, writing nothing); a badge switches the
        pharmacist."""
        prefix = self.settings.badge_prefix
        badge = bool(prefix) and text.lower().startswith(prefix.lower())
        if badge or (self.person is None and self.people.by_badge(text) is not None):
            while len(self.screen_stack) > 1:  # e.g. who is at the keys: the badge answers
                self.pop_screen()
        if (badge or self.person is None) and self.people.by_badge(text) is not None:
            self.board.badge_scanned(text)  # a badge of the floor's list: its person
            return
        if badge and self.people.all():
            self.board.badge_scanned(text)  # refused: not on the list
            return
        if badge:
            self.board.switch_pharmacist(text[len(prefix) :])
            return
        box = self._answer_box()
        if box is not None:  # the dialog's box was not focused yet: the burst is its answer
            box.value = text
            box.focus()
            self.call_later(box.action_submit)
            return
        if self.board.product_scanned(text):
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        # TextArea imported here: a note's box, not needed before the first frame (~6 ms)
        from textual.widgets import TextArea

        if isinstance(self.focused, Input | TextArea):  # the filter box: keys go to the board
            self.board.leave_filter()
        goto = {k for k in self.key_names("goto") if len(k) == 1}
        self.board.scan(scan_refs(text, goto))

    def _answer_box(self) -> Input | None:
        """The text box of a dialog that asks a specific answer (:data:`TYPED_ANSWERS`)
        when nothing on it has focus yet (a burst that came before its ``on_mount``), and
        only if that box is what the dialog focuses first: a reason dialog starts on its
        list, where a scan goes to the order (it must not become the reason)."""
        screen = self.screen
        if not isinstance(screen, TYPED_ANSWERS) or screen.focused is not None:
            return None
        first = next(iter(screen.focus_chain), None)  # what the dialog would focus first
        return first if isinstance(first, Input) else None

    @property
    def board(self) -> BoardScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, BoardScreen)
        return screen

    def say(self, message: str, severity: str = "information") -> None:
        """A sentence for the pharmacist, on the board's notice line (it covers no card,
        as a toast would). Its words may quote data or a remote: the line scrubs them,
        shows controls and never parses markup."""
        self.board.notice.say(message, severity)

    @on(Notice)
    def _notice(self, message: Notice) -> None:
        """Workers' sentences (bubbled up from the board) go to the notice line."""
        self.say(message.text, message.severity)

    def key_names(self, binding_id: str) -> list[str]:
        """The Textual key names bound to an action, as this user bound them."""
        return (self.keymap.get(binding_id) or BY_ID[binding_id].keys).split(",")

    def key_display(self, binding_id: str) -> str:
        return "/".join(self.get_key_display(Binding(k, "")) for k in self.key_names(binding_id))

    async def action_quit(self) -> None:
        """``q`` quits at once, unless it would stop something the floor counts on: the
        sync running in this process (in the demo: every source's) and the moves it has not
        sent yet, or a move not yet saved. Then it asks (``q q`` or ``y``), saying what."""
        if isinstance(self.screen, QuitScreen):
            self.exit()
            return
        stops = self.quit_stops()
        if not stops:
            self.exit()
            return
        key = self.key_display("quit")

        def answer(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(
            QuitScreen(
                "Quit?",  # what it stops goes below: the title is one line
                f"{stops[0].upper()}{stops[1:]}.\n{key} again or y quits, n or Esc stays",
                ",".join(self.key_names("quit")),
            ),
            answer,
        )

    def quit_stops(self) -> str:
        """What quitting now would stop, in words ("" when nothing)."""
        said: list[str] = []
        view = self.board.view if self.screen_stack else None
        pending = [c for c in view.model.cards.values() if c.pending] if view else []
        if pending:
            said.append(
                f"{len(pending)} move(s) not saved yet ({', '.join(c.name for c in pending[:3])})"
            )
        if self.background is not None:
            health = view.health if view is not None else {}
            queued = {name: h.queued for name, h in health.items() if h.queued}
            names = ", ".join(sorted(health)) or "every source"
            said.append(f"the sync running here stops ({names})")
            if queued:
                total = sum(queued.values())
                each = ", ".join(f"{n} {q}" for n, q in sorted(queued.items()))
                said.append(
                    f"{total} move(s) still queued, not sent ({each}): they wait until "
                    "a board or `rxfloor sync` runs again"
                )
        return "; ".join(said)

    def help_rows(self) -> list[tuple[str, str]]:
        rows = [(self.key_display(a.id), a.help_line) for a in ACTIONS]
        rows.append(("ctrl+p", "Command palette (every action, themes)"))
        return rows

    def legend_rows(self) -> list[tuple[str, str]]:
        """What the cards show, for the help screen's legend."""
        from rxfloor.core import sources

        marks = ", ".join(f"{t.mark} {t.label}" for t in map(sources.traits, sources.names()))
        return [
            ("!!", "stat: first in its column, tinted as a whole"),
            ("W", "waiter: the patient waits at the counter (next after stat)"),
            ("R S …", f"the order's source, once several are in play: {marks}"),
            ("red", "late: past its due time (the late time, and the card tinted)"),
            ("amber", "due within 15 minutes"),
            ("bar", "the cursor: one bar over the whole card"),
            (
                "HOLD",
                "on hold (HOLD local: the source does not hold it; HOLD and the source's "
                "name: held at the source, released there)",
            ),
            ("CANCEL?", "the merchant asks to cancel: y accepts, r rejects"),
            ("✎ FRIDGE CTRL", "a note on it; fridge / controlled items"),
        ]

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows(), self.legend_rows()))

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """The palette's screenshot: in a terminal, written to the state dir (Textual's
        default, ~/Downloads, need not exist on a pharmacy's machine) and said where, on the
        notice line; in a browser (``rxfloor serve``) handed to the browser as Textual does."""
        if self.is_web:
            return super().deliver_screenshot(filename, path, time_format)
        where = Path(path) if path else screenshot_dir()
        try:
            where.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(where), time_format)
        except OSError as exc:
            self.say(f"screenshot not saved in {where}: {exc.strerror or exc}", "error")
            return None
        self.say(f"screenshot saved: {saved}")
        return saved

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        ours = {spec.palette for spec in ACTIONS if spec.palette is not None}
        # Textual's own "Keys" and "Quit" would sit next to ours under the same names
        yield from (
            c
            for c in super().get_system_commands(screen)
            if c.title not in ours and not c.title.lower().startswith("quit")
        )
        board = self.board
        for spec in ACTIONS:
            if spec.palette is not None:
                target = self if spec.on_app else board
                yield SystemCommand(spec.palette, spec.palette_help, _palette_call(target, spec))


def _palette_call(target: Screen[Any] | App[Any], spec: BoardAction) -> Callable[[], None]:
    def call() -> None:
        if target.check_action(spec.method, spec.args) is False:
            if isinstance(target, BoardScreen):  # the same words as its key
                target.refused(spec, spec.palette or spec.label)
            return
        getattr(target, f"action_{spec.method}")(*spec.args)

    return call


def screenshot_dir() -> Path:
    """Where the palette's screenshots go: ``screenshots`` in the state dir (platformdirs)."""
    return state_file().parent / "screenshots"


def _read_state() -> dict[str, Any]:
    try:
        data = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(update: dict[str, Any]) -> None:
    path = state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**_read_state(), **update}))
    except OSError:
        pass  # a read-only home must not stop the board


__all__ = ["EXIT_INTERNAL_ERROR", "Background", "BoardApp"]

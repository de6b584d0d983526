"""Every key action of the board, in one table.

The screen's and the app's ``BINDINGS`` (and so the footer), the help screen, the command
palette and the ``[keys]`` table of the config file are all derived from :data:`ACTIONS`:
a new action is one row here plus its ``action_<method>``, and nothing can drift apart.
``changes_data`` lets a read-only screen (the wall) drop every action that writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType

from rxfloor.core.config import ConfigError
from rxfloor.core.lifecycle import Action


@dataclass(frozen=True, slots=True)
class BoardAction:
    """One row of the table."""

    id: str  #: the name in the config file's ``[keys]`` table (and the Binding id)
    keys: str  #: default keys, comma separated (Textual key names)
    method: str  #: ``action_<method>`` on the board screen (or on the app)
    label: str  #: footer word
    help: str = ""  #: the help screen's line, when it says more than the label
    args: tuple[int, ...] = ()  #: arguments of the action (navigation)
    footer: bool = True  #: shown in the footer (while it can act)
    palette: str | None = None  #: title in the command palette; None: not listed there
    palette_help: str = ""  #: the palette's line under the title
    needs_card: bool = False  #: acts on the focused card (disabled without one)
    #: lifecycle actions of which one must be legal for the focused card
    needs_legal: frozenset[Action] = frozenset()
    changes_data: bool = False  #: writes to the database (a read-only screen drops it)
    on_app: bool = False  #: an App action (help, quit), not a board one

    @property
    def action(self) -> str:
        """The Textual action string: ``advance``, ``column(-1)``."""
        if not self.args:
            return self.method
        return f"{self.method}({', '.join(str(a) for a in self.args)})"

    @property
    def help_line(self) -> str:
        return self.help or self.label

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.label, show=self.footer, id=self.id)


_A = BoardAction
ACTIONS: tuple[BoardAction, ...] = (
    _A("column_left", "left,h", "column", "Column", "Column left", args=(-1,), footer=False),
    _A("column_right", "right,l", "column", "Column", "Column right", args=(1,), footer=False),
    _A("card_up", "up,k", "card", "Card", "Card up", args=(-1,), footer=False),
    _A("card_down", "down,j", "card", "Card", "Card down", args=(1,), footer=False),
    _A("first", "home", "edge", "First", args=(0,), footer=False),
    _A("last", "end", "edge", "Last", args=(1,), footer=False),
    _A("page_up", "pageup", "page", "Page up", args=(-1,), footer=False),
    _A("page_down", "pagedown", "page", "Page down", args=(1,), footer=False),
    _A("advance", "a,space", "advance", "Advance",
       "Advance: start, finish; where the floor checks: start, filled, checked, finish",
       palette="Advance order",
       palette_help="Start an OPEN order, finish a PROCESSING one (or its next step: filled, "
       "checked)", needs_card=True,
       needs_legal=frozenset({Action.ADVANCE, Action.FILL, Action.CHECK}), changes_data=True),
    _A("cancel", "x", "cancel_order", "Cancel",
       "Cancel (asks the reason); on a filled card awaiting its check: the check failed "
       "(asks why; back to filling)", palette="Cancel order",
       palette_help="Cancel the focused order, or fail the check of a filled one (asks why)",
       needs_card=True, needs_legal=frozenset({Action.CANCEL, Action.FAIL_CHECK}),
       changes_data=True),
    _A("handoff", "H", "handoff", "Hand off",
       "Hand off a ready pickup order at the counter: confirm the patient (date of birth, or "
       "identity checked); it is picked up", palette="Hand off order",
       palette_help="The patient collects the focused ready order (scan it or its bin first)",
       needs_card=True, needs_legal=frozenset({Action.HANDOFF}), changes_data=True),
    _A("hold", "p", "hold", "Hold/release", palette="Hold / release order",
       palette_help="Put the focused order on hold or release it", needs_card=True,
       needs_legal=frozenset({Action.HOLD, Action.RELEASE}), changes_data=True),
    _A("accept_cancel", "y", "accept_cancel", "Accept cancel",
       "Accept the merchant's cancellation request: the order is cancelled",
       palette="Accept cancellation request",
       palette_help="The merchant asked to cancel the focused order: cancel it", needs_card=True,
       needs_legal=frozenset({Action.ACCEPT_CANCEL}), changes_data=True),
    _A("reject_cancel", "r", "reject_cancel", "Reject cancel",
       "Reject the merchant's cancellation request (asks the reason)",
       palette="Reject cancellation request",
       palette_help="Keep the focused order: tell the merchant why", needs_card=True,
       needs_legal=frozenset({Action.REJECT_CANCEL}), changes_data=True),
    _A("note", "n", "note", "Note", "Note on the order: for the floor, never sent",
       palette="Note on order", palette_help="A note for the floor (audited, never sent)",
       needs_card=True, changes_data=True),
    _A("exceptions", "e", "exceptions", "Exceptions",
       "Exceptions queue: what needs a person",
       palette="Exceptions queue",
       palette_help="Parked moves, source statuses, cancel requests: oldest first"),
    _A("detail", "enter", "detail", "Detail", palette="Order detail",
       palette_help="Items, patient, delivery and the full timeline", needs_card=True),
    _A("filter", "slash", "filter", "Filter", palette="Filter",
       palette_help="Filter cards by name, patient, item or source (source:NAME)"),
    _A("goto", "g", "goto", "Go to", palette="Go to order",
       palette_help="Jump to an order by id, name or barcode"),
    _A("undo", "u", "undo", "Undo", palette="Undo last move",
       palette_help="Take back this terminal's last move", changes_data=True),
    _A("pharmacist", "w", "switch_pharmacist", "Who",
       "Sign in: switch pharmacist (or scan a badge; a PIN where one is set)",
       palette="Sign in / switch pharmacist",
       palette_help="Who is at the keys: recorded on every move, fills and checks"),
    _A("cancelled", "c", "toggle_cancelled", "Cancelled", palette="Show/hide CANCELLED",
       palette_help="Toggle the CANCELLED column"),
    _A("acknowledge", "A", "acknowledge", "Ack alert",
       "Acknowledge the alert in the banner (a cancellation request: go to its order)",
       palette="Acknowledge alert",
       palette_help="Mark the first open alert as seen (or go to the order it is about)",
       changes_data=True),
    _A("clear_filter", "escape", "clear_filter", "Clear filter", footer=False),
    _A("help", "question_mark", "help", "Help", palette="Keys",
       palette_help="Every key of the board", on_app=True),
    _A("quit", "q", "quit", "Quit", on_app=True),
)  # fmt: skip
del _A

BY_ID: dict[str, BoardAction] = {a.id: a for a in ACTIONS}
#: by method: the rows that share one (column left/right) share their flags too
BY_METHOD: dict[str, BoardAction] = {a.method: a for a in ACTIONS}
KEY_IDS = frozenset(BY_ID)


def bindings(*, on_app: bool, read_only: bool = False) -> list[BindingType]:
    """The board screen's (or the app's) bindings; ``read_only`` drops what writes.

    The footer lists a screen's keys before the app's and cuts what does not fit: the board
    screen lists Help and Quit first itself (acting on the app) so they always show."""
    if on_app:
        return [
            Binding(a.keys, a.action, a.label, show=False, id=a.id) for a in ACTIONS if a.on_app
        ]
    first: list[BindingType] = [
        Binding(a.keys, f"app.{a.action}", a.label, show=a.footer, id=a.id)
        for a in ACTIONS
        if a.on_app
    ]
    return first + [
        a.binding() for a in ACTIONS if not a.on_app and not (read_only and a.changes_data)
    ]


def check_keymap(keys: Mapping[str, str]) -> dict[str, str]:
    """The ``[keys]`` table of the config file, checked: ``advance = "n,space"``."""
    unknown = sorted(set(keys) - KEY_IDS)
    if unknown:
        raise ConfigError(
            f"unknown key action(s) in [keys]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KEY_IDS))})"
        )
    empty = sorted(k for k, v in keys.items() if not v.strip())
    if empty:
        raise ConfigError(f"empty key binding in [keys]: {', '.join(empty)}")
    keymap = {k: v.replace(" ", "") for k, v in keys.items()}
    _refuse_shared_keys(keymap)
    return keymap


def _refuse_shared_keys(keymap: Mapping[str, str]) -> None:
    """A key bound to two actions (one rebound, the other by default, or both rebound) would
    silently do only one of them: refuse it, naming both."""
    owners: dict[str, list[str]] = {}
    for action in ACTIONS:
        spec = keymap.get(action.id, action.keys)
        for key in dict.fromkeys(k for k in spec.split(",") if k):
            owners.setdefault(key, []).append(action.id)
    shared = [(key, ids) for key, ids in owners.items() if len(ids) > 1]
    if shared:
        key, ids = shared[0]
        named = " and ".join(f"{i} ({'[keys]' if i in keymap else 'its default'})" for i in ids)
        raise ConfigError(
            f"key {key!r} in [keys] is bound to both {named}; give one of them another key"
        )

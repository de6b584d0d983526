"""The board screen: the view plus every key action (moves, undo, filter, go-to, detail).

Keys come from the action table (:mod:`rxfloor.tui.actions`). A move is optimistic: the
card moves at once, the service call runs in a thread worker and its answer comes back
as a Message carrying the order as the service left it (no second read).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input

from rxfloor.core.db import StoreError
from rxfloor.core.db import queries as bq
from rxfloor.core.lifecycle import (
    MOVES,
    RELEASE_FIRST,
    Action,
    DeliveryType,
    Person,
    Status,
    Step,
    TransitionError,
    apply,
    resolve,
)
from rxfloor.core.models import Tracking, initials
from rxfloor.core.people import Member, People
from rxfloor.core.service import Actor, Counter, ServiceError, local_hold_note
from rxfloor.core.text import shown, visible
from rxfloor.tui.actions import ACTIONS, BY_METHOD, BoardAction, bindings
from rxfloor.tui.board.card import hold_line
from rxfloor.tui.board.column import ColumnView
from rxfloor.tui.board.messages import (
    AlertsChanged,
    DetailLoaded,
    HealthChanged,
    MoveDone,
    MoveRefused,
    Notice,
    OrderAmbiguous,
    OrderFound,
    ProductRefused,
    RejectAsked,
    Row,
    Undone,
)
from rxfloor.tui.board.model import BoardModel, Card, source_label, source_traits
from rxfloor.tui.board.notice import NoticeLine
from rxfloor.tui.board.view import CANCEL_REQUEST, BoardView
from rxfloor.tui.contain import Contained
from rxfloor.tui.crash import contained_line
from rxfloor.tui.screens.confirm import ConfirmScreen
from rxfloor.tui.screens.detail import DetailScreen, detail_text
from rxfloor.tui.screens.goto import GotoScreen, PharmacistScreen, PinScreen
from rxfloor.tui.screens.handoff import BinScreen, Confirmation, HandoffScreen
from rxfloor.tui.screens.reason import (
    CANCEL_REASONS,
    CHECK_REASONS,
    HOLD_REASONS,
    ReasonScreen,
    reject_cancel_screen,
)
from rxfloor.tui.screens.tracking import TrackingScreen

if TYPE_CHECKING:
    from rxfloor.tui.app import BoardApp


#: The lifecycle action a refused key asks for (the sentence of its refusal says why).
_MEANT = {
    "advance": Action.ADVANCE,
    "cancel": Action.CANCEL,
    "hold": Action.HOLD,
    "accept_cancel": Action.ACCEPT_CANCEL,
    "reject_cancel": Action.REJECT_CANCEL,
    "handoff": Action.HANDOFF,
}

#: How long go-to waits for the rest of the board after the first page (then looks anyway).
LOAD_WAIT_S = 30.0


def asks_tracking(card: Card) -> bool:
    """The finish of this order asks for a tracking number: a shipped order of a source
    that wants one, with nothing else in the way (a refused finish asks nothing)."""
    known = source_traits(card.source)
    return (
        known is not None
        and known.tracking_on_finish
        and card.delivery == DeliveryType.SHIP
        and not card.cancel_requested
    )


def hold_note(source: str) -> str | None:
    """What a pharmacist must know before and after holding an order of a source that
    does not hold orders for the pharmacy (None: the hold reaches the source)."""
    known = source_traits(source)
    return None if known is None or known.remote_hold else local_hold_note(known)


class KeyFooter(Footer):
    """Textual's footer, without keeping the keys it removed alive.

    The footer is composed again whenever the keys change (one or two times a move). Each
    key it makes is bound to the footer's ``compact``, and Textual (8.2) drops a removed
    key's watcher only when ``compact`` changes (textual#6666): every key ever shown stayed
    alive with its styles (~400 keys, ~3 MB after 60 presses at 100,000 cards)."""

    async def recompose(self) -> None:
        await super().recompose()
        # the watchers run once with the same value: those of closed keys are dropped
        self.mutate_reactive(Footer.compact)


class BoardScreen(Contained, Screen[None]):
    """The columns, the cursor and every card action."""

    BINDINGS = bindings(on_app=False)
    AUTO_FOCUS = None  # keys go to the board; only the filter box ever takes focus

    def __init__(self) -> None:
        super().__init__()
        self.undo_stack: list[tuple[int, str]] = []  # (audit event, summary) of our moves
        self.undoing = False  # the last thing done was an undo: going further back asks first
        self._detail_keys = -1  # app.keys_seen when the detail was asked for
        self._keys_shown: tuple[bool | None, ...] | None = None
        self._undo_reset = False  # the undo list started afresh with a new person at the keys
        self._resumed = False  # the first ScreenResume (right after the mount) was seen
        # made with the screen (the app's start), not at compose: its first page is read
        # from here on, beside Textual's own start
        rx = self.rx
        answer = (rx.key_display("accept_cancel"), rx.key_display("reject_cancel"))
        self._view = BoardView(
            rx.service.store,
            rx.settings,
            rx.clock,
            ack_key=rx.key_display("acknowledge"),
            answer_keys=answer,
        )

    @property
    def rx(self) -> BoardApp:
        return cast("BoardApp", self.app)

    def compose(self) -> ComposeResult:
        yield self._view
        yield NoticeLine(id="notice")
        yield KeyFooter()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """The first resume comes right after the mount, which styled every widget: Textual
        would style them all once more (``refresh_styles``), ~10 ms of the first frame for
        the board's ~170 nodes and the columns' component classes. Later resumes (back from
        a dialog, perhaps after a change of theme) refresh as Textual does. Once this
        first frame is painted, the collector paused for the start runs again."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
            self.call_after_refresh(self.rx.collect_again)  # after the first frame

    def on_resize(self) -> None:
        self.view.set_compact(self.size.height < 36)

    # ------------------------------------------------------------- the view
    @property
    def view(self) -> BoardView:
        return self.query_one(BoardView)

    @property
    def notice(self) -> NoticeLine:
        return self.query_one("#notice", NoticeLine)

    @property
    def model(self) -> BoardModel:
        return self.view.model

    @property
    def visible_columns(self) -> list[ColumnView]:
        return self.view.visible_columns

    @property
    def column(self) -> ColumnView:
        return self.view.column

    @property
    def card(self) -> Card | None:
        if not self.is_mounted:
            return None
        return self.view.card

    # ------------------------------------------------------------ key checks
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = BY_METHOD.get(action)
        if spec is None:
            return True
        view = self.view
        if not view.loaded:
            return not (spec.needs_card or spec.changes_data)
        if action == "clear_filter":
            box = self.filter_box
            return bool(view.needle) or (box is not None and box.display)
        if action == "undo":
            return bool(self.undo_stack)
        if action == "acknowledge":
            return bool(view.alerts)
        if action == "exceptions":
            return view.exceptions > 0
        if spec.needs_card:
            card = self.card
            if card is None or card.pending:
                return False
            # the footer shows only what applies; a key refused here says why (on_key)
            return not spec.needs_legal or bool(spec.needs_legal & self.legal(card))
        return True

    # ------------------------------------------------------- refused keys say why
    def on_key(self, event: events.Key) -> None:
        """A key of the board that cannot act now is not silently dropped (Textual skips a
        binding whose ``check_action`` says no): it says why on the notice line."""
        if isinstance(self.focused, Input):  # the filter box's keys are its own
            return
        spec = self._bound(event.key)
        if spec is None or self.check_action(spec.method, spec.args) is not False:
            return
        event.stop()
        event.prevent_default()
        self.refused(spec, self.app.get_key_display(Binding(event.key, "")))

    def _bound(self, key: str) -> BoardAction | None:
        """The board's action bound to ``key`` (as this user bound it); None: another key,
        an app action (never refused) or Esc with no filter (nothing to say)."""
        for spec in ACTIONS:
            if not spec.on_app and spec.id != "clear_filter" and key in self.rx.key_names(spec.id):
                return spec
        return None

    def refused(self, spec: BoardAction, key: str) -> None:
        """``spec`` cannot act now: say why. A refusal the source or the floor decides (the
        merchant asked to cancel, a hold placed in Shopify, a check by the filler, nobody
        signed in) still goes to the service, whose sentence says why and is audited."""
        card = self.card
        if (
            card is not None
            and self.view.loaded
            and not card.pending
            and spec.needs_legal
            and spec.needs_legal & (card.explained | self._told(card))
        ):
            getattr(self, f"action_{spec.method}")(*spec.args)
            return
        self.rx.say(f"{key}: {self.why_not(spec)}", "warning")

    def why_not(self, spec: BoardAction) -> str:
        """Why ``spec`` cannot act now, in the words the service would use."""
        view = self.view
        if not view.loaded:
            return "not yet: the board is still loading"
        if spec.id == "undo":
            who = self.rx.settings.actor
            since = f" since {who} signed in" if self._undo_reset else ""
            return f"nothing to undo: no move of {who} at this terminal{since}"
        if spec.id == "acknowledge":
            return "no alert to acknowledge"
        if spec.id == "exceptions":
            return "nothing in the exceptions queue"
        card = self.card
        if card is None:
            shown_ = " (the filter shows none: Esc clears it)" if view.needle else ""
            return f"no order under the cursor{shown_}"
        if card.pending:
            return f"{self.named(card)} is still being saved: a moment"
        action = _MEANT.get(spec.id, Action.ADVANCE)
        if spec.id == "cancel" and self.step(card) is Step.FILLED:
            action = Action.FAIL_CHECK
        elif spec.id == "hold" and card.on_hold:
            action = Action.RELEASE
        try:
            apply(
                card.facts(self.rx.service.check),
                action,
                self.rx.clock(),
                reason="-",
                name=card.name,
                held_at=source_label(card.source),
                by=self.rx.person,
            )
        except TransitionError as exc:
            said = str(exc) if exc.named else f"{card.name}: {exc}"
            return self.view.named(said, card.name, card.source)
        return f"not possible for {self.named(card)} now"

    def legal(self, card: Card) -> frozenset[Action]:
        """What the lifecycle lets the person at the keys do to ``card`` now."""
        return card.legal(self.rx.clock(), self.rx.service.check, self.rx.person)

    def _told(self, card: Card) -> frozenset[Action]:
        """On a floor that checks, a step refused to the person at the keys (their own
        fill, not a pharmacist, nobody signed in) still acts: the service says why."""
        if self.step(card) is not None:
            return frozenset({Action.ADVANCE, Action.FILL, Action.CHECK, Action.FAIL_CHECK})
        nobody = self.rx.person is None and self.rx.service.check != "none"
        if card.status is Status.OPEN and nobody:
            return frozenset({Action.ADVANCE, Action.START})
        return frozenset()

    def step(self, card: Card) -> Step | None:
        """The card's step inside PROCESSING on a floor that checks (else None)."""
        return card.facts(self.rx.service.check).current_step

    def refresh_bindings(self) -> None:
        """Tell the footer only when the keys it shows changed: each time it is told it
        recomposes (a widget and a style pass per key, ~30 ms), and a move, a clock tick or
        a cursor step mostly leaves the legal keys as they were."""
        shown = tuple(self.check_action(method, ()) for method in BY_METHOD)
        if shown != self._keys_shown:
            self._keys_shown = shown
            super().refresh_bindings()

    # ------------------------------------------------------------ navigation
    def action_column(self, delta: int) -> None:
        self.view.set_current(self.view.current_index + delta)
        self.view.note_cursor()

    def action_card(self, delta: int) -> None:
        self._navigate(self.column.cursor + delta)

    def action_edge(self, end: int) -> None:
        self._navigate(len(self.column.cards) - 1 if end else 0)

    def action_page(self, delta: int) -> None:
        self._navigate(self.column.cursor + delta * self.column.page())

    def _navigate(self, index: int) -> None:
        self.column.move_to(index)
        self.view.note_cursor()
        self.refresh_bindings()

    def action_toggle_cancelled(self) -> None:
        self.view.toggle_cancelled()
        self.view.note_cursor()

    def _guarded(self, key: str) -> Card | None:
        """The focused card, unless it only just took the place of another one (a move
        here, another terminal, a lost race): then this key does nothing and says why;
        pressed again it acts."""
        card = self.card
        if card is None:
            return None
        gone = self.view.cursor_replaced(self.rx.settings.repeat_guard_s)
        if gone is None:
            return card
        self.view.note_cursor()
        where = self.model.cards.get(gone.id)
        now = f" is now {where.status}" if where is not None else " left the board"
        on, was = self.named(card), self.named(gone)
        self.rx.say(
            f"{key}: not done, the cursor just moved to {on} ({was}{now}); "
            f"press {key} again to act on {on}",
            "warning",
        )
        return None

    def named(self, card: Card) -> str:
        """The card's name, with its source's mark where several sources are in play."""
        return self.view.named(card.name, card.name, card.source)

    # ----------------------------------------------------------------- moves
    def action_advance(self) -> None:
        card = self._guarded(self.rx.key_display("advance"))
        if card is None:
            return
        action = resolve(card.status, Action.ADVANCE, self.step(card))
        if action is Action.FINISH and asks_tracking(card):
            self._finish_with_tracking(card)
            return
        if action is Action.FINISH and self._asks_bin(card):
            self._finish_into_bin(card)
            return
        self.move(card, action)

    def _asks_bin(self, card: Card) -> bool:
        """``[floor] will_call_bins``: the finish of a pickup order asks for its bin."""
        return self.rx.settings.floor.will_call_bins and card.delivery == DeliveryType.PICKUP

    def _finish_into_bin(self, card: Card) -> None:
        """A pickup order is finished into a will-call bin: scan its label or type it (Enter
        alone finishes without one, Esc aborts the finish)."""

        def done(label: str | None) -> None:
            if label is not None:
                self.move(card, Action.FINISH, counter=Counter(bin=label or None))

        self.ask(BinScreen(f"Finish {card.name}: will-call bin?"), done)

    def _finish_with_tracking(self, card: Card) -> None:
        """A shipped order of a source that wants tracking: scan it (Enter alone skips,
        Esc aborts the finish)."""

        def done(number: str | None) -> None:
            if number is None:
                return
            tracking = Tracking(company=None, number=number, url=None) if number else None
            self.move(card, Action.FINISH, tracking=tracking)

        title = f"Finish {card.name} ({source_label(card.source)}): tracking number?"
        self.ask(TrackingScreen(title, self.rx.service.check_tracking), done)

    def action_handoff(self) -> None:
        """The patient collects a ready pickup order: confirm them, then it is picked up."""
        card = self._guarded(self.rx.key_display("handoff"))
        if card is None:
            return

        def done(confirmed: Confirmation | None) -> None:
            if confirmed is not None:
                counter = Counter(dob=confirmed.dob, id_checked=confirmed.id_checked)
                self.move(card, Action.HANDOFF, counter=counter)

        where = f" (bin {card.will_call_bin})" if card.will_call_bin else ""
        title = f"Hand off {card.name}{where} to {card.initials or 'the patient'}"
        self.ask(HandoffScreen(title, dob_on_file=card.dob_on_file), done)

    def action_cancel_order(self) -> None:
        card = self._guarded(self.rx.key_display("cancel"))
        if card is None:
            return
        if self.step(card) is Step.FILLED:  # the check failed (the service says who may)
            self._fail_check(card)
            return

        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.CANCEL, reason)

        order = f"{card.name} · {card.initials} · {card.items}"
        self.ask(ReasonScreen(f"Cancel {card.name}: why?", CANCEL_REASONS, subject=order), done)

    def _fail_check(self, card: Card) -> None:
        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.FAIL_CHECK, reason)

        order = f"{card.name} · {card.initials} · {card.items}"
        title = f"Check of {card.name} failed: why? (back to filling {card.filled_by or ''})"
        self.ask(ReasonScreen(title.replace(" )", ")"), CHECK_REASONS, subject=order), done)

    def action_note(self) -> None:
        card = self.card
        if card is None:
            return

        def done(text: str | None) -> None:
            if text:
                self._note(card.id, text)

        order = f"{card.name} · {card.initials} · {card.items}"
        # imported here: its TextArea (~6 ms of imports) is not needed before the first frame
        from rxfloor.tui.screens.note import NoteScreen

        self.ask(NoteScreen(f"Note on {card.name}", subject=order), done)

    @work(thread=True, group="moves")
    def _note(self, card_id: str, text: str) -> None:
        try:
            view = self.rx.service.add_note(card_id, text)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(Notice(f"note added to {view.name}", "information"))

    def product_scanned(self, text: str) -> bool:
        """A product's barcode with an order being filled under the cursor: checked against
        its items (ticked, or refused loudly). False: not a product, or no order in filling
        under the cursor (the scan is then read as an order's code)."""
        card = self.card
        if (
            card is None
            or card.status is not Status.PROCESSING
            or self.step(card) not in (None, Step.FILLING)
        ):
            return False
        from rxfloor.core.products import read_product

        if read_product(text) is None:
            return False
        self._scan_product(card.id, text)
        return True

    @work(thread=True, group="moves")
    def _scan_product(self, card_id: str, text: str) -> None:
        try:
            done = self.rx.service.scan_product(card_id, text)
        except (ServiceError, StoreError) as exc:
            self.post_message(ProductRefused(str(exc)))
            return
        self.post_message(Notice(done.summary, "information"))

    @on(ProductRefused)
    def _product_refused(self, message: ProductRefused) -> None:
        self.view.ring()  # loud: the bell and the error colour
        self.rx.say(message.error, "error")

    def action_hold(self) -> None:
        card = self._guarded(self.rx.key_display("hold"))
        if card is None:
            return
        if card.on_hold and card.remote_hold:  # placed at the source: the service says why
            self.move(card, Action.RELEASE)
            return
        if card.on_hold:
            self._release(card)
            return

        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.HOLD, reason)

        note = hold_note(card.source)
        self.ask(ReasonScreen(f"Hold {card.name}: why?", HOLD_REASONS, note=note or ""), done)

    def _release(self, card: Card) -> None:
        """A release asks once, showing whose hold it is, since when and why: the pharmacist
        who placed it may be waiting on the patient's call."""

        def answer(yes: bool | None) -> None:
            if yes:
                self.move(card, Action.RELEASE)

        held = hold_line(card, self.rx.clock())
        hint = f"{held}\ny releases it, n or Esc keeps it on hold"
        self.ask(ConfirmScreen(f"Release the hold on {card.name}?", hint), answer)

    def action_accept_cancel(self) -> None:
        card = self.card
        if card is not None:
            self.move(card, Action.ACCEPT_CANCEL)

    def action_reject_cancel(self) -> None:
        card = self.card
        if card is not None:
            self._read_request(card)

    @work(thread=True, group="reads")
    def _read_request(self, card: Card) -> None:
        """The merchant's words for the dialog (read, not carried on every card)."""
        try:
            order = self.rx.service.get(card.id)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(RejectAsked(card, order))

    @on(RejectAsked)
    def _reject_asked(self, message: RejectAsked) -> None:
        card = message.card
        if self.app.screen is not self:
            return  # something else opened meanwhile (a scan): no dialog on top of it

        def done(reason: str | None) -> None:
            if reason:
                self.move(card, Action.REJECT_CANCEL, reason)

        screen = reject_cancel_screen(
            card.name,
            subject=f"{card.name} · {card.initials} · {card.items}",
            source=source_label(card.source),
            message=message.order.request_message,
        )
        self.ask(screen, done)

    def move(
        self,
        card: Card,
        action: Action,
        reason: str | None = None,
        *,
        tracking: Tracking | None = None,
        counter: Counter | None = None,
    ) -> None:
        """Optimistic: the card moves at once; a refusal puts it back with a message. A
        move the lifecycle already refuses (sent for the service's sentence) waits.

        ``card`` is the order as the person saw it when they chose; a dialog's answer may
        come minutes later. The board's card now may be another object (the feed replaced
        it) or another version: then nothing moves here, and the service, asked with the
        version the person saw, says what happened meanwhile and does nothing."""
        if self.view.down_sentence is not None:  # it could not be stored: say so, do nothing
            self.rx.say(f"{action.value}: not done, {self.view.down_sentence}", "error")
            return
        shown = self.model.cards.get(card.id)
        target = MOVES.get((card.status, action))
        if shown is None:
            pass  # it left the board (a day's FINISHED, a filter): the service answers
        elif shown.version != card.version or shown.status is not card.status:
            self.view.mark_pending(shown)
        elif target is not None and action in self.legal(shown):
            self.view.move_card(shown, target)
        else:
            self.view.mark_pending(shown)
        self._send(card.id, card.version, action, reason, tracking, counter)

    @work(thread=True, group="moves")
    def _send(
        self,
        card_id: str,
        version: int,
        action: Action,
        reason: str | None,
        tracking: Tracking | None,
        counter: Counter | None = None,
    ) -> None:
        service = self.rx.service
        try:
            result = service.act(
                card_id,
                action,
                reason=reason,
                expected_version=version,
                tracking=tracking,
                counter=counter or Counter(),
            )
        except Exception as exc:
            # a refusal carries the order as it is now; an internal error is a sentence
            known = isinstance(exc, ServiceError | StoreError)
            said = str(exc) if known else contained_line(exc, f"sending {action.value}")
            order = getattr(exc, "order", None)
            rows: Sequence[Row] = ()
            failed: bq.SyncMarks = {}
            if order is None:  # e.g. the write lock timed out: read the card back
                with suppress(StoreError):
                    rows, failed = bq.rows_for(service.store, [card_id])
            self.post_message(MoveRefused(said, order, rows, failed))
            return
        self.post_message(MoveDone(result))

    @on(MoveDone)
    def _move_done(self, message: MoveDone) -> None:
        result = message.result
        self.undo_stack.append((result.event_id, result.summary))
        self.undoing = False
        note = hold_note(result.order.source) if result.action is Action.HOLD else None
        self.notice.clear_error_about(result.order.name)
        if note:  # the card visibly moved: only what it does not show is told
            self.rx.say(f"{result.summary} — {note}", "information")
        self.view.show_order(result.order)
        self.view.own_move_shown()
        if result.action in (Action.ACCEPT_CANCEL, Action.REJECT_CANCEL):
            self._acknowledge(None)

    @on(MoveRefused)
    def _move_refused(self, message: MoveRefused) -> None:
        order = message.order
        said = message.error
        if said.endswith(RELEASE_FIRST):  # the board's way to release: its key
            said += f" with {self.rx.key_display('hold')}"
        if order is not None:
            said = self.view.named(said, order.name, order.source)
        self.rx.say(said, "error")
        if message.order is not None:
            self.view.show_order(message.order)
        else:
            self.view.show_rows(message.rows, message.failed)

    def action_undo(self) -> None:
        """One press takes back one move. Right after an undo, going further back asks
        first (a second press is often a press too many)."""
        if not self.undo_stack:
            return
        _, summary = self.undo_stack[-1]
        if not self.undoing:
            self._undo_last()
            return

        def answer(yes: bool | None) -> None:
            if yes and self.undo_stack and self.undo_stack[-1][1] == summary:
                self._undo_last()

        self.ask(
            ConfirmScreen(f"Undo one more move: {summary}?", "y undoes it, n or Esc keeps it"),
            answer,
        )

    def _undo_last(self) -> None:
        event_id, summary = self.undo_stack.pop()
        self.undoing = True
        self._undo(event_id, summary)

    @work(thread=True, group="moves")
    def _undo(self, event_id: int, summary: str) -> None:
        try:
            result = self.rx.service.undo(event_id)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(Undone(result, summary))

    @on(Undone)
    def _undone(self, message: Undone) -> None:
        more = f"; {self.rx.key_display('undo')} again goes further back" if self.undo_stack else ""
        order = message.result.order  # the move's words, then where the order is now
        said = f"undone: {message.summary} · {order.name} is {order.status} again{more}"
        self.rx.say(self.view.named(said, order.name, order.source), "information")
        self.view.show_order(message.result.order)
        self.focus_order(message.result.order.id)

    def action_acknowledge(self) -> None:
        """Acknowledge the banner's alert; a merchant's cancellation request stays until it
        is answered: the cursor goes to its order instead, where the answer keys act."""
        if not self.view.alerts:
            return
        alert = self.view.alerts[0]
        if alert["kind"] != CANCEL_REQUEST:
            self._acknowledge(int(alert["id"]))
        elif not self.focus_order(str(alert["order_id"])):
            self.rx.say(f"{shown(alert['order_name'])} is not on the board", "warning")

    @work(thread=True, group="moves")
    def _acknowledge(self, alert_id: int | None) -> None:
        """Acknowledge ``alert_id`` (None: only read the banner again, e.g. after answering a
        cancellation request, whose alert the service closed with the answer)."""
        store = self.rx.service.store
        try:
            if alert_id is not None:
                self.rx.service.acknowledge_alert(alert_id)
            health, alerts = store.sync_health(self.view.sources), store.open_alerts()
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.view.post_message(AlertsChanged(alerts))
        self.view.post_message(HealthChanged(health))

    # ---------------------------------------------- exceptions, detail, filter, go to
    def action_exceptions(self) -> None:
        from rxfloor.tui.screens.exceptions import ExceptionsScreen

        if not isinstance(self.app.screen, ExceptionsScreen):
            self.app.push_screen(ExceptionsScreen(self.view))

    def action_detail(self) -> None:
        if self.card is not None:
            self._detail_keys = self.rx.keys_seen
            self._detail(self.card.id)

    @work(thread=True, group="reads")
    def _detail(self, card_id: str) -> None:
        service = self.rx.service
        try:
            order = service.get(card_id)
            items = service.store.line_items(card_id)
            history = service.store.history(card_id)
            errors = bq.sync_errors(service.store, card_id)
        except (ServiceError, StoreError) as exc:
            self.post_message(Notice(str(exc), "error"))
            return
        self.post_message(DetailLoaded(order, items, history, errors))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        if self.app.screen is not self or self.rx.keys_seen != self._detail_keys:
            return  # the pharmacist typed on (Enter then g): no detail on top of that
        title, body = detail_text(
            message.order,
            message.items,
            message.history,
            message.errors,
            now=self.rx.clock(),
            targets=self.model.targets,
        )
        goto = ",".join(self.rx.key_names("goto"))
        self.app.push_screen(DetailScreen(title, body, goto))

    @property
    def filter_box(self) -> Input | None:
        """The filter's text box, once it was first asked for (None before)."""
        return next(iter(self.query("#filter").results(Input)), None)

    def action_filter(self) -> None:
        """The box is mounted the first time it is asked for, not with the board: hidden
        until then, it cost the first frame its mount, its styles and the parse of Input's
        CSS (~3 ms)."""
        box = self.filter_box
        if box is None:
            box = Input(
                placeholder="filter: name, patient, item or source:NAME (Esc clears)",
                id="filter",
            )
            self.mount(box, before=self.notice)  # where compose had it: below the board
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.view.set_filter(event.value.strip().lower())
        self.view.note_cursor()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.set_focus(None)

    def leave_filter(self) -> None:
        """The filter box gives the keys back to the board (what it holds still filters)."""
        box = self.filter_box
        if box is not None:
            box.display = bool(box.value.strip())
        self.set_focus(None)

    def action_clear_filter(self) -> None:
        box = self.filter_box
        if box is not None:
            box.value = ""
            box.display = False
        self.set_focus(None)
        self.view.set_filter("")
        self.view.note_cursor()

    def action_goto(self) -> None:
        self.ask(GotoScreen(), self._goto_ref)

    def _goto_ref(self, ref: str | None) -> None:
        if not ref:
            return
        self._lookup([ref])

    def scan(self, refs: Sequence[str]) -> None:
        """A scanned code (read by the app, never acted on as keys): focus that order."""
        self._lookup(refs)

    @work(thread=True, group="reads")
    def _lookup(self, refs: Sequence[str]) -> None:
        store = self.rx.service.store
        self.view.wait_complete(LOAD_WAIT_S)  # an order below the first page: not loaded yet
        card_id = next((r.strip() for r in refs if r.strip() in self.model.cards), "")
        if not card_id:
            try:
                with store.read() as conn:
                    row = next((found for r in refs if (found := bq.resolve_order(conn, r))), None)
            except bq.AmbiguousOrder as exc:  # a scanner cannot type SOURCE:ID: pick one
                choices = [
                    (
                        str(r["id"]),
                        str(r["source"]),
                        str(r["name"]),
                        str(r["patient_name"] or ""),
                        str(r["status"]),
                    )
                    for r in exc.rows
                ]
                self.post_message(OrderAmbiguous(refs[-1], choices))
                return
            if row is None:
                self.post_message(Notice(f"no order {refs[-1]!r}", "warning"))
                return
            card_id = row["id"]
            if card_id not in self.model.cards:  # e.g. FINISHED before today
                self.post_message(
                    Notice(f"{row['name']} is {row['status']} (before today)", "warning")
                )
                return
        self.post_message(OrderFound(card_id))

    @on(OrderFound)
    def _order_found(self, message: OrderFound) -> None:
        self.focus_order(message.card_id)

    @on(OrderAmbiguous)
    def _order_ambiguous(self, message: OrderAmbiguous) -> None:
        from rxfloor.tui.screens.pick import PickOrderScreen

        names = dict.fromkeys(name for _, _, name, _, _ in message.choices)
        rows = [
            (card_id, source_label(source), name, initials(patient), status)
            for card_id, source, name, patient, status in message.choices
        ]

        def picked(card_id: str | None) -> None:
            if card_id and not self.focus_order(card_id):
                row = next(r for r in rows if r[0] == card_id)
                self.rx.say(f"{row[1]} {row[2]} is {row[4]} (before today)", "warning")

        self.ask(PickOrderScreen(f"{' / '.join(names)}: which order?", rows), picked)

    def focus_order(self, card_id: str) -> bool:
        """Put the cursor on an order wherever it is (showing CANCELLED, clearing the filter)."""
        view = self.view
        card = view.model.cards.get(card_id)
        if card is None:
            return False
        if card.status is Status.CANCELLED and not view.show_cancelled:
            view.toggle_cancelled()
        if view.needle and not card.matches(view.needle):
            self.action_clear_filter()
        col = view.column_for(card.status)
        view.set_current(view.visible_columns.index(col))
        col.select(card_id)
        view.note_cursor()
        self.refresh_bindings()
        return True

    # ------------------------------------------------------------ pharmacist
    def action_switch_pharmacist(self) -> None:
        self.ask(PharmacistScreen(self.rx.settings.badge_prefix), self._pharmacist_typed)

    def _pharmacist_typed(self, name: str | None) -> None:
        if name:
            self.switch_pharmacist(name)

    def switch_pharmacist(self, name: str) -> None:
        """Who is at the keys from now on: the header shows it, every move records it. On a
        floor with a list of people, only someone on it (with their PIN, where set)."""
        name = visible(name.strip())
        if not 1 <= len(name) <= 32:
            self.rx.say("a pharmacist's name or initials: 1 to 32 characters", "warning")
            return
        people = self.rx.people
        if people.all():
            member = people.get(name) or people.get(name.upper())
            if member is None:
                self.refuse_sign_in(name, f"{name} is not on the floor's list (rxfloor people add)")
                return
            self.sign_in(member)
            return
        self._signed_in(name, None)

    def badge_scanned(self, badge: str) -> None:
        """A badge scanned on a floor with a list of people: its person signs in."""
        member = self.rx.people.by_badge(badge)
        if member is None:
            self.refuse_sign_in(badge, f"badge {badge} is not on the floor's list")
            return
        self.sign_in(member)

    def sign_in(self, member: Member) -> None:
        """``member`` signs in at this station: at once, or after their PIN."""
        if not member.has_pin:
            self._signed_in(member.name, member)
            return

        def typed(pin: str | None) -> None:
            if pin is None:
                return
            if self.rx.people.pin_ok(member.name, pin):
                self._signed_in(member.name, member)
            else:
                self.refuse_sign_in(member.name, f"wrong PIN for {member.name}: not signed in")

        self.ask(PinScreen(member.name), typed)

    def refuse_sign_in(self, who: str, why: str) -> None:
        self.view.ring()
        self.rx.say(why, "error")
        self.rx.people.signed("sign_in_refused", who[:32], why)

    def sign_out(self, why: str) -> None:
        """Nobody is at the keys any more (idle, or by hand): the next person signs in."""
        if self.rx.person is None:
            return
        who = self.rx.service.actor.name
        self.rx.service.signed_in = False
        self.rx.person = None
        self.rx.settings.actor = "signed out"
        self.rx.people.signed("sign_out", who, why)
        self.undo_stack.clear()
        self.undoing = False
        self.view.refresh_header()
        self.refresh_bindings()
        self.rx.say(f"{who} signed out: {why}; scan a badge to sign in", "warning")

    def _signed_in(self, name: str, member: Member | None) -> None:
        service = self.rx.service
        service.actor = Actor(name, service.actor.station)
        service.signed_in = True
        self.rx.person = member.person if member else Person(name)
        if member is not None:
            People(service.store, name, service.actor.station).signed("sign_in", name)
        self.rx.settings.actor = name
        self.undo_stack.clear()  # the last pharmacist's moves are theirs to undo
        self._undo_reset = True
        self.undoing = False
        self.view.refresh_header()
        self.refresh_bindings()  # the header says who it is now: no toast

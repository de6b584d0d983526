"""One board column on Textual's Line API: cost depends on the screen, not on the queue.

The column's virtual height is ``cards * card height``; ``render_line`` draws only the rows
on screen, from a per-card strip cache that is invalidated only for cards that changed.
A widget per card (what most kanbans do) took seconds at 10,000 orders; this stays flat.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from rxfloor.core.lifecycle import Status
from rxfloor.tui.board.card import card_lines
from rxfloor.tui.board.model import Card, late_count

#: scroll offset, card height, cursor, current column, width, ids of the cards in view
Window = tuple[int, int, int, bool, int, tuple[str, ...]]


class ColumnView(ScrollView, can_focus=False):
    """A virtualised list of cards with a cursor that follows its order, not its row."""

    COMPONENT_CLASSES = {
        "column--card",
        "column--late-card",
        "column--stat-card",
        "column--item",
        "column--cursor",
        "column--stat",
        "column--waiter",
        "column--overdue",
        "column--soon",
        "column--ontime",
        "column--dim",
        "column--badge",
        "column--error",
        "column--empty",
        "column--source",
    }

    def __init__(self, status: Status, clock: Callable[[], datetime], **kw: object) -> None:
        super().__init__(id=f"col-{status.value.lower()}", **kw)  # type: ignore[arg-type]
        self.status = status
        self.clock = clock
        self.cards: list[Card] = []
        self.total = 0
        #: (orders, late ones) of this column not loaded yet (the first page is shown)
        self.beyond = (0, 0)
        self.cursor = 0
        #: the card under the cursor as last placed: the column's list may be the model's
        #: own (no copy of 100,000 cards per paint), which a move changes before the repaint
        self._at: Card | None = None
        self.current = False
        self.compact = False
        self.marks = False  # source marks on the cards (orders of several sources)
        self._cache: dict[str, tuple[int, bool, int, list[Strip]]] = {}
        self._width = 0
        self._blank = Style()
        self._now = clock()
        #: what the last ``set_cards`` asked to show (see :meth:`_window`)
        self._shown: Window | None = None

    # ------------------------------------------------------------------ data
    @property
    def card_height(self) -> int:
        return 3 if self.compact else 4

    @property
    def cursor_card(self) -> Card | None:
        if 0 <= self.cursor < len(self.cards):
            return self.cards[self.cursor]
        return None

    def set_cards(self, cards: list[Card], total: int, changed: set[str] | None = None) -> None:
        """New content; the cursor stays on its order unless that order left the column.

        ``cards`` may be the model's own list (kept, not copied): the cursor's order is known
        from the card last under it, not from the old list."""
        keep = self._at
        shown = self._shown
        self.cards = cards
        self.total = total
        if changed is None:
            self._cache.clear()
        else:
            for card_id in changed:
                self._cache.pop(card_id, None)
        if keep is not None:
            self.cursor = _find(cards, keep, self.cursor, self.status)
        self.cursor = max(0, min(self.cursor, len(cards) - 1))
        self._at = self.cursor_card
        titled = self._title()
        self._fit_height()
        self._shown = self._window()
        if changed is None or titled or self._shown != shown:
            self.refresh()
            return
        # the same cards in the same rows (a move's answer, a badge, a fresh row): only
        # their rows are drawn again, not the whole column (~8 ms a frame at 200x50)
        top, h, *_, ids = self._shown
        for index, card_id in enumerate(ids):
            if card_id in changed:
                y = (top // h + index) * h - top
                self.refresh(Region(0, y, self.size.width, h))

    def _window(self) -> Window:
        """What the column shows: its scroll, card height, cursor and the ids of the cards
        in view. Equal before and after new content, only the changed cards need drawing."""
        h = self.card_height
        top = round(self.scroll_offset.y)
        rows = self.scrollable_content_region.height // h + 2
        ids = tuple(c.id for c in self.cards[top // h : top // h + rows])
        return (top, h, self.cursor, self.current, self.size.width, ids)

    def _title(self) -> bool:
        """``OPEN 109 · 12 late`` (``· 3 shown`` under a filter); the orders not loaded
        yet count too. Set only when it changed (setting it redraws the whole column);
        True then."""
        now = self._now
        unloaded, unloaded_late = self.beyond
        late = 0 if self.status.is_terminal else unloaded_late + late_count(self.cards, now)
        shown = len(self.cards) if len(self.cards) != self.total else None  # a filter's
        title = column_title(self.status.value, self.total + unloaded, shown, late, self.size.width)
        if title == (self.border_title, self.border_subtitle):
            return False
        self.border_title, self.border_subtitle = title
        return True

    def _fit_height(self) -> None:
        """As tall as the whole column: the scrollbar does not jump when the rest arrives."""
        unloaded = self.beyond[0] if len(self.cards) == self.total else 0  # not filtered
        rows = (len(self.cards) + unloaded) * self.card_height
        size = Size(self.size.width, rows)
        if size == self.virtual_size:
            return
        # ``virtual_size`` is a ``layout=True`` reactive: set, it relaid the whole screen on
        # every move (most of a move's main-thread work). The column's box is the CSS's
        # (1fr by 1fr), so only its scrollbar changes; when the scrollbar appears or goes
        # (the cards a cell narrower or wider) ``show_vertical_scrollbar``, itself a
        # ``layout=True`` reactive, asks for the layout.
        old = self.virtual_size.height
        self.set_reactive(ColumnView.virtual_size, size)
        if self._bar_drawn_alike(old, rows):
            # a card more or less in a long column rarely moves the thumb by an eighth of a
            # cell; redrawn anyway, the scrollbar was ~1-2 ms of the move's first frame
            self.vertical_scrollbar.set_reactive(ScrollBar.window_virtual_size, rows)
            return
        self._scroll_update(size)

    def _bar_drawn_alike(self, old: int, new: int) -> bool:
        """The vertical scrollbar shows before and after, the scroll offset stays in range,
        and the scrollbar's own renderer draws the same thumb for both heights."""
        height = self.container_size.height
        if not self.show_vertical_scrollbar or min(old, new) <= height:
            return False  # it appears or goes: a layout (see above)
        if self.scroll_y > self.max_scroll_y:
            return False  # the offset must be clamped
        bar = self.vertical_scrollbar
        window = bar.window_size
        if bar.window_virtual_size != old or window != height - self.scrollbar_size_horizontal:
            return False

        def drawn(virtual: int) -> list[Segment]:
            shown = window if window < virtual else 0
            bars = bar.renderer.render_bar(
                size=bar.size.height, virtual_size=virtual, window_size=shown, position=bar.position
            )
            return list(bars.segments)

        return drawn(old) == drawn(new)

    def select(self, card_id: str) -> bool:
        index = next((i for i, c in enumerate(self.cards) if c.id == card_id), None)
        if index is None:
            return False
        self.move_to(index)
        return True

    def move_to(self, index: int) -> None:
        if not self.cards:
            return
        self.cursor = max(0, min(index, len(self.cards) - 1))
        self._at = self.cursor_card
        h = self.card_height
        self.scroll_to_region(
            Region(0, self.cursor * h, 1, h), animate=False, force=True, immediate=True
        )
        self.refresh()

    def page(self) -> int:
        return max(1, self.scrollable_content_region.height // self.card_height)

    def set_marks(self, marks: bool) -> None:
        """Show or hide the source marks (every card's look changes)."""
        if marks != self.marks:
            self.marks = marks
            self._cache.clear()
            self.refresh()

    def tick(self) -> None:
        """The clock moved on: times in status and due colours change for every card."""
        self._now = self.clock()
        self._cache.clear()
        self._title()
        self.refresh()

    def on_resize(self) -> None:
        self._cache.clear()
        self._title()
        self._fit_height()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self) -> None:
        """Another theme: every cached card is in the old one's colours. Textual re-reads the
        stylesheet first; the strips are dropped after that, so they paint in the new one."""
        self.call_after_refresh(self.restyle)

    def restyle(self) -> None:
        self._cache.clear()
        self.refresh()

    # ------------------------------------------------------------- rendering
    def render_lines(self, crop: Region) -> list[Strip]:
        """Look up width and background once per paint, not once per line."""
        self._width = self.scrollable_content_region.width
        self._blank = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self._width
        _, scroll_y = self.scroll_offset
        row = y + scroll_y
        h = self.card_height
        index, line = divmod(row, h)
        if index >= len(self.cards):
            if not self.cards and y == 1:
                style = self.get_component_rich_style("column--empty")
                return Strip([Segment(" no orders".ljust(width), style)], width)
            return Strip.blank(width, self._blank)
        card = self.cards[index]
        selected = index == self.cursor and self.current
        cached = self._cache.get(card.id)
        if cached is None or cached[0] != width or cached[1] != selected or cached[2] != h:
            cached = (width, selected, h, self._render_card(card, width, selected))
            self._cache[card.id] = cached
        return cached[3][line]

    def _render_card(self, card: Card, width: int, selected: bool) -> list[Strip]:
        rule = self.rich_style + self.get_component_rich_style("column--dim")
        return card_lines(
            card,
            self._now,
            width,
            selected=selected,
            compact=self.compact,
            style=self.get_component_rich_style,
            rule=rule,
            marks=self.marks,
        )


def column_title(
    status: str, total: int, shown: int | None, late: int, width: int
) -> tuple[str, str]:
    """The border's title and subtitle: ``OPEN 109 · 3 shown · 12 late`` when it fits in a
    column ``width`` wide (0: not laid out yet), else the parts that do not fit move to the
    bottom border, whole: the column's name and count are never cut. ``shown``: the cards
    a filter lets through (None: no filter)."""
    name = f"{status} {total}"
    parts = ([f"{shown} shown"] if shown is not None else []) + ([f"{late} late"] if late else [])
    room = width - 6  # the corners, the rules and the spaces around the title
    for keep in range(len(parts), -1, -1):
        title = " · ".join([name, *parts[:keep]])
        if width <= 0 or len(title) <= room or keep == 0:
            return title, " · ".join(parts[keep:])
    return name, ""  # not reached: keep == 0 returns


def _find(cards: list[Card], card: Card, default: int, status: Status) -> int:
    """Where ``card``'s order now is: identity search in C (~0.1 ms at 10,000 cards), then by
    id when its row was replaced; ``default`` (the same row) when it left the column — known
    at once when the card itself moved on (a move changes the card in place), which saves
    the scan by id (~5 ms at 10,000) on every move."""
    if card.status is not status:  # not in this column: no scan (~3 ms at 100,000)
        return default
    with suppress(ValueError):
        return cards.index(card)
    return next((i for i, c in enumerate(cards) if c.id == card.id), default)

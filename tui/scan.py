"""A barcode scanner is a keyboard that types faster than a person: tell its bursts apart.

A scanner types an order's barcode (``po-s0-000012``) and Enter a few milliseconds a key.
On the board each of those keys is a command (``p`` holds, Enter opens the detail), so
every printable key is held back for a moment (:data:`SCAN_GAP_S`): if the next one follows
within the gap the keys are a burst, and a burst that ends in Enter is a scan; none of its
keys acts. A key that is not followed within the gap acts as usual (40 ms later than it
would have). Pure logic over ``(key, character, time)``: the app feeds it Textual keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

#: The longest pause between two keys of one burst (scanners: 5-20 ms; people: 80 ms+).
SCAN_GAP_S = 0.04
#: A burst this long or longer that ends in Enter is a scan (shorter: a person's keys).
SCAN_MIN_CHARS = 3

#: ASCII group separator: a scanner types it between the variable-length fields of a GS1
#: code (FNC1); it belongs to the burst like any printable key
GROUP_SEPARATOR = "\x1d"

#: Key auto-repeat follows the key's first press within this long.
REPEAT_WINDOW_S = 1.0

K = TypeVar("K")


class Verdict(Enum):
    HOLD = "hold"  #: keep the key back, a burst may be starting
    SCAN = "scan"  #: a scan ended with this Enter: read ``text``, drop the keys
    PASS = "pass"  #: act on the released keys, then on this one
    DROP = "drop"  #: a burst too fast for a person that never ended in Enter


@dataclass(slots=True)
class Outcome(Generic[K]):
    verdict: Verdict
    #: the keys to act on now, in order (PASS: the held ones and then this one)
    released: list[K] = field(default_factory=list)
    text: str = ""  #: the scanned text (SCAN) or the dropped keys (DROP)


@dataclass(slots=True)
class _Held(Generic[K]):
    key: K
    char: str
    at: float


class ScanBuffer(Generic[K]):
    """Holds printable keys back until it knows whether they are a person's or a scan."""

    def __init__(self, gap: float = SCAN_GAP_S, min_chars: int = SCAN_MIN_CHARS) -> None:
        self.gap = gap
        self.min_chars = min_chars
        self._held: list[_Held[K]] = []
        self._last: tuple[str, float] | None = None  # the last key let through on its own

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def key(self, key: K, name: str, char: str | None, at: float) -> Outcome[K]:
        """One key arrived at ``at`` (seconds, the key's own time stamp). Call
        :meth:`expire` with ``at`` first: a burst that ended before this key is settled there."""
        if char is not None and len(char) == 1 and (char.isprintable() or char == GROUP_SEPARATOR):
            self._held.append(_Held(key, char, at))
            if self._repeating():
                return Outcome(Verdict.PASS, self._release())
            return Outcome(Verdict.HOLD)
        if name == "enter" and len(self._held) >= self.min_chars:
            text = "".join(h.char for h in self._held)
            self._held.clear()
            return Outcome(Verdict.SCAN, [], text)
        return Outcome(Verdict.PASS, [*self._release(), key])

    def _repeating(self) -> bool:
        """A key held down: the terminal repeats it fast, but only after it first came on
        its own (and acted). A scan that starts with two equal characters is no repeat."""
        last = self._last
        first = self._held[0]
        return (
            last is not None
            and len({h.char for h in self._held}) == 1
            and first.char == last[0]
            and first.at - last[1] < REPEAT_WINDOW_S
        )

    def expire(self, now: float) -> Outcome[K] | None:
        """The gap passed with no further key: a person's key acts; a long burst without
        Enter (a scan cut short) is dropped, never acted on. None: nothing was held or the
        burst may still go on."""
        if not self._held or now - self._held[-1].at <= self.gap:
            return None
        if len(self._held) >= self.min_chars:
            text = "".join(h.char for h in self._held)
            self._held.clear()
            return Outcome(Verdict.DROP, [], text)
        return Outcome(Verdict.PASS, self._release())

    def _release(self) -> list[K]:
        keys = [h.key for h in self._held]
        if self._held:
            self._last = (self._held[-1].char, self._held[-1].at)
        self._held.clear()
        return keys


def scan_refs(text: str, goto_chars: set[str]) -> list[str]:
    """What a scanned text may name: itself, or, when a person pressed go-to just before the
    scanner fired (the ``g`` joins the burst), the rest of it."""
    refs = [text]
    if len(text) > 1 and text[0] in goto_chars:
        refs.append(text[1:])
    return refs

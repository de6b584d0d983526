"""Digits as large as the space allows, drawn with block characters.

A 3x5 pixel font; a pixel is ``scale`` cells wide and ``scale`` half-rows tall (a cell is
about twice as tall as it is wide, so pixels stay square), and two half-rows share a
character: ``█`` both, ``▀`` the upper, ``▄`` the lower. Scale 1 is 3 cells by 3 rows a
digit; scale 6 is 18 by 15, legible across a room on a 1080p screen.
"""

from __future__ import annotations

_FONT = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    "+": ("...", ".#.", "###", ".#.", "..."),
}
_GLYPH = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
PIXELS_WIDE = 3
PIXELS_HIGH = 5


def size(text: str, scale: int) -> tuple[int, int]:
    """Cells wide and rows high that ``text`` takes at ``scale`` (one pixel between glyphs)."""
    n = len(text)
    return scale * (n * (PIXELS_WIDE + 1) - 1), -(-scale * PIXELS_HIGH // 2)


def best_scale(text: str, width: int, height: int, *, max_scale: int = 12) -> int:
    """The largest scale at which ``text`` fits ``width`` x ``height``; 0 if none does."""
    for scale in range(max_scale, 0, -1):
        w, h = size(text, scale)
        if w <= width and h <= height:
            return scale
    return 0


def big(text: str, scale: int) -> list[str]:
    """``text`` (digits and ``+``) as lines of block characters at ``scale``."""
    pixels: list[list[bool]] = [[] for _ in range(PIXELS_HIGH)]
    for i, char in enumerate(text):
        rows = _FONT[char]
        for y in range(PIXELS_HIGH):
            if i:
                pixels[y].append(False)
            pixels[y].extend(c == "#" for c in rows[y])
    half_rows = [
        [row[x // scale] for x in range(len(row) * scale)] for row in pixels for _ in range(scale)
    ]
    if len(half_rows) % 2:
        half_rows.append([False] * len(half_rows[0]))
    return [
        "".join(_GLYPH[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(half_rows[::2], half_rows[1::2], strict=True)
    ]

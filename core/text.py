"""Text from outside is data: secrets scrubbed, control characters made visible.

Every string that came from a remote, a webhook, the database or a person's input may be
hostile. Before it is shown or stored:

* :func:`scrub` replaces every registered secret (the API key, the webhook signing secret)
  with ``<redacted>``: the secret itself, its URL-encoded forms, its JSON-escaped form, and a
  cut-off start of it at the very end of the text (a message truncated inside the key);
* :func:`visible` makes control characters visible so that data can never move the cursor,
  clear the screen, set the terminal title or forge a line: C0 controls and DEL become their
  Unicode control pictures (ESC ``␛``, newline ``␊``, tab ``␉``, BEL ``␇``, DEL ``␡``), and
  the other invisible or reordering characters (C1 controls, bidi overrides and isolates,
  zero-width and other format characters, line/paragraph separators) become ``<U+XXXX>``;
* :func:`shown` is both, for a line on a screen or a terminal.

Markup is a separate matter: the board never parses text from data as markup (it builds
``Text``/``Content`` or passes ``markup=False``), so brackets stay brackets here.
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
import urllib.parse
from collections.abc import Iterable

REDACTED = "<redacted>"
#: shorter values are not scrubbed (they would blot out ordinary words; no real key is this short)
MIN_SECRET_LEN = 6
#: a text that ends with at least this many leading characters of a secret was cut inside it
MIN_TAIL = 8

_lock = threading.Lock()
_secrets: dict[str, tuple[str, ...]] = {}  # secret -> every form of it, longest first


def _forms(secret: str) -> tuple[str, ...]:
    found = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    }
    found |= {f.lower() for f in found if "%" in f}  # %2f as well as %2F
    return tuple(sorted(found, key=len, reverse=True))


def register_secret(secret: str | None) -> None:
    """From now on, :func:`scrub` removes ``secret`` (and its encoded forms) from any text."""
    if not secret or len(secret) < MIN_SECRET_LEN:
        return
    with _lock:
        if secret not in _secrets:
            _secrets[secret] = _forms(secret)


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` without any registered secret (nor those in ``extra``)."""
    with _lock:
        table = dict(_secrets)
    for secret in extra:
        if secret and len(secret) >= MIN_SECRET_LEN and secret not in table:
            table[secret] = _forms(secret)
    if not table or not text:
        return text
    for forms in table.values():
        for form in forms:
            if form in text:
                text = text.replace(form, REDACTED)
    for secret in table:  # a message cut off inside the key
        for size in range(len(secret) - 1, MIN_TAIL - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + REDACTED
                break
    return text


_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"}


def _invisible(char: str) -> bool:
    category = unicodedata.category(char)
    # Cc: controls (C1 here; C0 handled above), Cf: format (bidi, zero-width, soft hyphen...),
    # Zl/Zp: line and paragraph separators, Cs: lone surrogates, Cn: unassigned
    return category in ("Cc", "Cf", "Zl", "Zp", "Cs", "Cn")


def visible(text: str) -> str:
    """``text`` with every control or invisible character shown (see the module docstring)."""
    if text.isprintable():
        return text  # the common case (Müller too), checked in C
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code in _PICTURES:
            out.append(_PICTURES[code])
        elif code > 0x7F and _invisible(char):
            out.append(f"<U+{code:04X}>")
        else:
            out.append(char)
    return "".join(out)


def shown(text: object, extra: Iterable[str | None] = ()) -> str:
    """One line for a person: secrets scrubbed, then controls made visible."""
    return visible(scrub(str(text), extra))


def api_key_problem(key: str) -> str | None:
    """What is wrong with an API key, in words that never contain the key; None when fine.

    A key is sent byte for byte in a header: it must be printable ASCII without spaces.
    Nothing is stripped silently: a stray newline from a copy/paste is named so it can be
    fixed where it came from (the same key may be used by other tools).
    """
    if not key:
        return "is empty"
    if key.endswith(("\n", "\r")):
        return "ends with a newline; remove it"
    for char, where in ((key[0], "starts"), (key[-1], "ends")):
        if char == " ":
            return f"{where} with a space; remove it"
        if char.isspace() and char.isascii():
            return f"{where} with whitespace (U+{ord(char):04X}); remove it"
    for position, char in enumerate(key, start=1):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return f"contains a control character (U+{code:04X}) at position {position}"
        if code > 0x7F:
            return f"contains a non-ASCII character (U+{code:04X}) at position {position}"
        if char == " ":
            return f"contains a space at position {position}"
    return None


class ScrubFilter(logging.Filter):
    """A logging filter: the record's message and arguments scrubbed of every secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


__all__ = [
    "REDACTED",
    "ScrubFilter",
    "api_key_problem",
    "register_secret",
    "scrub",
    "shown",
    "visible",
]


# -- data echoed in an error: quoted and cut to a readable length ----------------------------
#: At most this many characters of a value are repeated in an error.
ECHO_LIMIT = 80


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of ``value`` (a string) cut to ``limit`` characters of content, then ``…``."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit])[:-1] + f"…' ({len(text)} characters)"

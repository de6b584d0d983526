"""A remote's base URL as a setting: checked when the config is read, not at the first
sync cycle (``ftp://…`` or a URL without a scheme was accepted, and every cycle then
failed while ``sync --once`` exited 0). Light: the plugins' sections import it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator


def _http_url(value: str | None) -> str | None:
    """``http://`` or ``https://`` with a host."""
    if not value:
        return value
    try:
        parts = urlsplit(value.strip())
        good = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a bad port, a broken IPv6 literal
        good = False
    if not good:
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise ValueError(f"must be an http:// or https:// URL, not {shown!r}")
    return value


#: A setting holding a remote's base URL (see :func:`_http_url`).
HttpUrl = Annotated[str | None, AfterValidator(_http_url)]

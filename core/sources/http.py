"""One HTTP kit for the source clients: the pooled httpx client, and the mapping of what
happened to a request onto the error kinds of :mod:`rxfloor.core.sources.base`.

Every client speaks through :func:`client` (explicit timeouts, a small pool, no redirects)
and :func:`send` (a lost connection, a timeout or a dropped answer become
:class:`UnreachableError` / :class:`TransientError`, with ``maybe_applied`` when the request
was a write). A client with a plain REST answer judges its status code with :func:`judge`
(429 and 5xx retry, 401/403 are the credentials, other 4xx a refusal; the rate limiter
learns from every answer). Each client keeps only its wording (:class:`Wording`) and the
reading of its own bodies. httpx is imported with a client, never at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from rxfloor.core.sources.base import (
    AuthError,
    PermanentError,
    TransientError,
    UnreachableError,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    from rxfloor.core.sync.retry import RateLimiter


def client(
    timeout_s: float,
    transport: httpx.BaseTransport | None,
    headers: dict[str, str],
    base_url: str | None = None,
) -> httpx.Client:
    """The pooled client every source uses: ``timeout_s`` per request (connecting: 5 s at
    most), ten connections, redirects never followed (a redirect is not the API)."""
    return httpx.Client(
        base_url=base_url or "",  # "": httpx's own default, every URL given whole
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        transport=transport,
        follow_redirects=False,
    )


@dataclass(frozen=True, slots=True)
class Wording:
    """How one client words its errors: ``str.format`` templates with the fields ``base``
    (its URL), ``what`` (the call), ``error`` (the httpx error's class), ``code`` and
    ``words`` (the server's own, scrubbed)."""

    unreachable: str
    timeout: str
    dropped: str
    busy: str = ""  # a 429 or 5xx
    auth: str = ""  # a 401 or 403
    refused: str = ""  # any other 4xx
    #: the 401/403 error carries its status code
    auth_code: bool = True
    #: a 5xx with Retry-After pauses every later request of this client too
    pause_on_busy: bool = True


def send(
    request: Callable[[], httpx.Response], wording: Wording, *, sends: bool, base: str, what: str
) -> httpx.Response:
    """Make the request; what became of it if no answer came back, as an error kind."""
    try:
        return request()
    except httpx.ConnectError:
        raise UnreachableError(wording.unreachable.format(base=base, what=what)) from None
    except httpx.TimeoutException:
        raise TransientError(
            wording.timeout.format(base=base, what=what), maybe_applied=sends, late=sends
        ) from None
    except httpx.HTTPError as exc:  # dropped connection, protocol error
        raise TransientError(
            wording.dropped.format(base=base, what=what, error=type(exc).__name__),
            maybe_applied=sends,
        ) from None


def judge(
    response: httpx.Response,
    wording: Wording,
    *,
    sends: bool,
    what: str,
    words: Callable[[httpx.Response], str],
    limiter: RateLimiter,
    slot: float,
) -> None:
    """Raise the error kind of a non-2xx answer; tell ``limiter`` how the request fared
    (a 429 is certainly not applied: everyone backs off and the client learns the rate)."""
    code = response.status_code
    wait = retry_after(response.headers.get("Retry-After"))
    if code == 429:
        limiter.rate_limited(slot, wait)
    else:
        limiter.accepted(slot)
    if code == 429 or code >= 500:
        if wait is not None and code != 429 and wording.pause_on_busy:
            limiter.pause(wait)
        raise TransientError(
            wording.busy.format(code=code, what=what, words=words(response)),
            code,
            retry_after=wait,
            maybe_applied=code >= 500 and sends,
        )
    if code in (401, 403):
        message = wording.auth.format(code=code, what=what, words=words(response))
        raise AuthError(message, code) if wording.auth_code else AuthError(message)
    if code >= 400:
        raise PermanentError(
            wording.refused.format(code=code, what=what, words=words(response)), code
        )


def retry_after(raw: str | None) -> float | None:
    """A ``Retry-After`` in seconds (never negative); None when absent or not a number."""
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def short(exc: ValidationError) -> str:
    """The first problem of a malformed answer, in one line (``field.path: message``)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"

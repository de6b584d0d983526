"""What a system of record offers rxfloor: the contract the sync engine is written against.

``core/sync`` knows only this module. A source (RxScale, Shopify, Photon, Konnektive, the
folder: each a plugin, see :mod:`rxfloor.core.sources`) is a package beside it that
implements :class:`OrderSource` structurally (no base class to inherit), maps its own
statuses in both directions, and raises only the error kinds defined here, so the worker's
retry / park / stop decisions never depend on which remote answered.

Direction of the mapping:

* remote -> board: every :class:`SourceOrder` a source hands out already carries its board
  column (``board_status``) and hold flag, decided by the source as it reads its own wire
  format;
* board -> remote: :meth:`OrderSource.plan_push` turns a local action into the remote steps
  that reach its target from the remote's current status, and :meth:`OrderSource.push_step`
  sends one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import NewOrder
from rxfloor.core.text import scrub

T = TypeVar("T")

# -- errors: the only kinds a source raises out of its calls ------------------------------------


class RemoteError(Exception):
    """A failed call; ``str()`` is one line for a person and never contains the API key
    (nor any other registered secret: the message is scrubbed here, whoever builds it)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(scrub(message))
        self.status_code = status_code


class TransientError(RemoteError):
    """Worth retrying: connect errors, timeouts, rate limiting, server errors, a malformed
    answer.

    ``maybe_applied`` is True when the request may have reached the remote and been
    applied although no answer came back (the worker reads the order back before retrying);
    ``late`` when no answer came in time (a timeout): the request may still be applied after
    a read-back that does not show it yet; ``retry_after`` is the remote's own "not before"
    in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        retry_after: float | None = None,
        maybe_applied: bool = True,
        late: bool = False,
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        self.late = late


class UnreachableError(TransientError):
    """The remote could not be reached at all (connection refused, no route): offline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_applied=False)


class PermanentError(RemoteError):
    """The remote refused: a person must decide (unless it is a ``conflict``).

    ``conflict`` means the refusal may only say the order is not where the step expected
    (HTTP 409 / 422 by default): our own earlier answer was lost, or the remote moved it.
    The worker reads the order back and plans again before it believes such a refusal.
    """

    def __init__(
        self, message: str, status_code: int | None = None, *, conflict: bool | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.conflict = status_code in (409, 422) if conflict is None else conflict


def read_after_write(read: Callable[[], T], done: str) -> T:
    """The read that follows a write the remote took (``done`` says which, in words): when
    it fails, the write is made all the same, so the error says it may be applied (the
    worker reads the order back before anything is sent again)."""
    try:
        return read()
    except (TransientError, PermanentError) as exc:
        raise TransientError(
            f"{done} but the read after it failed: {exc}",
            exc.status_code,
            retry_after=exc.retry_after if isinstance(exc, TransientError) else None,
            maybe_applied=True,
        ) from None


class AuthError(RemoteError):
    """The key is missing, wrong or lacks permission: nothing works until it is fixed."""


# -- what a source hands out ------------------------------------------------------------------


class SourceOrder(Protocol):
    """One order as a source reports it (a list entry, a read-back, a push answer, a webhook).

    ``status`` is the remote's own word for where the order is (stored as
    ``orders.remote_status`` and given back to :meth:`OrderSource.plan_push`); ``uid`` is the
    source's id of the order.
    """

    @property
    def uid(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def comment(self) -> str | None:
        """The remote's note on the order (the hold reason when it holds the order)."""

    @property
    def board_status(self) -> Status | None:
        """The board column, or None where the order is not shown (not yet assigned)."""

    @property
    def on_hold(self) -> bool:
        """The remote holds the order (the card keeps its column and shows the flag)."""

    @property
    def cancel_requested(self) -> bool:
        """The merchant asked to cancel and the request awaits the floor's answer."""

    @property
    def request_message(self) -> str | None:
        """The merchant's words with an open request (e.g. why to cancel), if any."""

    @property
    def scheduled_at(self) -> datetime | None:
        """When the merchant scheduled the order for (the card's ``fulfill_at``), or None:
        not scheduled. Read only of a source whose traits say ``schedules``."""

    def to_new_order(self, board_status: Status) -> NewOrder:
        """The local form of an order seen for the first time, in column ``board_status``
        (``source`` and ``remote_id`` set: its ``id`` is then the local one)."""


@dataclass(frozen=True, slots=True)
class PushPlan:
    """What pushing one local action needs, given the remote's current status."""

    done: bool  # the remote is already there (or past it): nothing to send
    stale: bool  # the remote moved where this action no longer applies (superseded)
    steps: tuple[str, ...]  # the remote status values to send, in order


class Headers(Mapping[str, str]):
    """Request headers looked up case-insensitively (what :class:`WebhookFormat` is given)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): v for k, v in (items or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One verified delivery, parsed: the order it carries and what identifies the event."""

    event_type: str
    timestamp: float  # seconds since the epoch, as the source stamped the event
    order: SourceOrder
    raw: dict[str, Any]  # the whole event as sent (its hash tells a retry from an update)
    #: the source's own id of the delivery (a retry repeats it): when given, the inbox
    #: dedupes on it rather than on the body's hash
    event_id: str | None = None


class IgnoredEvent(ValueError):
    """A verified delivery this floor has no use for (another pharmacy's order, an event type
    it does not follow): acknowledged 2xx and not stored, never refused (a sender that drops
    an event refused with a 4xx would otherwise drop it for good, and one that retries 5xx
    would retry for ever)."""


class WebhookFormat(Protocol):
    """How a source signs and shapes its webhook deliveries (needs no connection: the
    receiver may run where the API is not configured)."""

    @property
    def signature_header(self) -> str:
        """The request header carrying the signature (a delivery without it: refused unread)."""

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        """True only when the request's signature proves ``body`` was signed with ``secret``
        (constant time; checked on the raw body before anything is parsed). ``headers``
        are the request's, looked up case-insensitively."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The event in a verified body (``headers`` as for :meth:`verify`: some sources
        send the event's id or time there); raises :class:`ValueError` when malformed and
        :class:`IgnoredEvent` for one the floor has no use for.

        Optional, looked up with ``getattr``: ``drops_on_4xx`` (True: the sender drops an
        event answered any 4xx but 408 / 429 for good, so only a forged signature is
        answered 4xx; what the receiver cannot take for its own reasons is 5xx) and
        ``delivery_problem(headers) -> str | None`` (after the signature: why a signed
        delivery is not taken now, e.g. a stale ``X-Photon-Timestamp``; answered 503)."""


class OrderSource(Protocol):
    """A system of record: where orders come from and where local moves are sent.

    Every call is one or a few requests with no hidden retries (the worker decides, because
    only it knows whether a lost answer matters). Calls raise only :class:`TransientError`
    (and its :class:`UnreachableError`), :class:`PermanentError` and :class:`AuthError`.
    A source is used from several push threads at once: its calls must be thread-safe.
    """

    @property
    def name(self) -> str:
        """The source's id (``rxscale``): names its push lease and its configuration section."""

    @property
    def webhooks(self) -> WebhookFormat:
        """How this source signs and shapes its webhook deliveries."""

    @property
    def rate_limit_per_s(self) -> float | None:
        """The most requests per second this source is sent (None: not limited)."""

    def active_statuses(self) -> tuple[str, ...] | None:
        """The remote statuses in which the remote may still change an order by itself, or
        None while the source cannot tell yet (the worker then lists every order)."""

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[SourceOrder | str]:
        """Every order (``active``: only those in :meth:`active_statuses`), page by page.

        A malformed entry is yielded as its one-line error, so one bad order never hides
        the others. Raises :class:`PermanentError` when the remote refuses the filter of
        an active listing (the worker then lists everything).
        """

    def get_order(self, uid: str) -> SourceOrder:
        """The order as the remote has it now (a read-back before a push is believed)."""

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        """Pure decision: the steps that take an order in ``remote_status`` to the target of
        ``action``, or that it is already there (done) or no longer can be (stale)."""

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: dict[str, Any] | None,
    ) -> SourceOrder:
        """Send one step of a plan; returns the order as the remote answered.

        ``uid`` is the source's id (``orders.remote_id``). ``reason`` is the pharmacist's (a
        cancel's); the source sends it where the step takes one. ``idempotency_key`` is
        unique per step: a repeat is applied once. ``payload`` is what the move carries
        besides (the outbox row's JSON: ``{"tracking": {...}}`` for a finish), or None.
        """

    def close(self) -> None:
        """Release the connection pool."""

"""The change feed as a generator: which orders changed, in coalesced batches.

Every write that changes an order appends to the change log (:meth:`Store.record_change`);
a reader follows it from a cursor. The waiting (``PRAGMA data_version`` on SQLite,
``LISTEN`` on PostgreSQL) and the coalescing live here, so a screen only iterates:
``for batch in change_batches(store, stop, since=cursor): ...``. No Textual, no threads of
its own: the caller runs it where it likes (the board, in a thread worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime

from rxfloor.core.db import ChangeWaiter, Cursor, Store, StoreError, utcnow

#: at most ~10 batches a second: a burst of 1,000 changes is one batch, not 1,000
MIN_INTERVAL = 0.1
#: how often a database that stopped answering is tried again (back on screen within ~2 s)
RETRY_INTERVAL = 0.5
_WAIT = 0.25  # how long one wait for a change notice lasts before the stop flag is looked at


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Orders changed after the previous batch; ``cursor`` resumes the feed after them."""

    cursor: Cursor
    order_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class FeedDown:
    """The database stopped answering at ``since`` (the feed retries until it answers)."""

    since: datetime
    error: str


@dataclass(frozen=True, slots=True)
class FeedBack:
    """The database answers again after being down since ``down_since``; what changed
    meanwhile follows in the next batches (the cursor survived)."""

    down_since: datetime


@dataclass(frozen=True, slots=True)
class FeedReopened:
    """The SQLite file was replaced (a restarted ``--demo`` removes its file and makes a new
    one) and the store now reads the new one, since ``at``: nothing read before is true
    any more, so a reader reads everything again; the batches that follow are the new
    file's."""

    at: datetime
    path: str


FeedEvent = ChangeBatch | FeedDown | FeedBack | FeedReopened


def change_batches(
    store: Store,
    stop: threading.Event,
    *,
    since: Cursor,
    min_interval: float = MIN_INTERVAL,
    retry_interval: float = RETRY_INTERVAL,
    clock: Callable[[], datetime] = utcnow,
    wake: threading.Event | None = None,
) -> Generator[FeedEvent, None, None]:
    """Batches of changed order ids after cursor ``since``, until ``stop`` is set.

    After each look at the log the feed rests ``min_interval``: changes committed meanwhile
    join the next batch. ``since`` comes from :meth:`Store.change_cursor` read *before* the
    reader's first load, so a change committed during that load is seen, not lost.

    The database going away (a server restarted or killed, a dropped connection, a file
    that cannot be read) is no end: the feed yields :class:`FeedDown` once, tries again
    every ``retry_interval`` seconds, and when the database answers yields
    :class:`FeedBack`, then the changes made meanwhile (nothing is lost: the log kept them).

    A SQLite file replaced under the store (its device or inode changed; a removed file is
    down until a new one appears) is reopened (:meth:`Store.reopen`) and told with
    :class:`FeedReopened`; the cursor starts again at the new file's end.

    ``wake``: set it when this process has just committed a change the reader already
    shows (its own move): the feed looks at once instead of at its next poll, so its
    small read runs while the move is still being shown, not some 50 ms later as a
    separate burst of work (see :meth:`ChangeWaiter.wait`).
    """
    cursor = since
    down: datetime | None = None
    waiter: ChangeWaiter | None = None
    try:
        while not stop.is_set():
            try:
                if store.file_replaced():
                    if waiter is not None:
                        waiter.close()
                        waiter = None
                    store.reopen()
                    cursor = store.change_cursor()
                    down = None
                    yield FeedReopened(clock(), store.where)
                    continue
                if waiter is None:
                    waiter = store.change_waiter()
                    if down is not None:
                        waiter.open()  # the probe: connects (and LISTENs) or raises
                if down is None:
                    waiter.wait(_WAIT, wake=wake)
                if stop.is_set():
                    break
                cursor, ids = store.changes_since(cursor)
            except StoreError as exc:
                if waiter is not None:
                    waiter.close()
                    waiter = None
                if down is None:
                    down = clock()
                    yield FeedDown(down, str(exc))
                stop.wait(retry_interval)
                continue
            if down is not None:
                yield FeedBack(down)
                down = None
            if ids:
                yield ChangeBatch(cursor, frozenset(ids))
            stop.wait(min_interval)
    finally:
        if waiter is not None:
            waiter.close()

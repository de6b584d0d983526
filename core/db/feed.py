"""The change feed as a generator: which orders changed, in coalesced batches.

Every write that changes an order appends to the change log (:meth:`Store.record_change`);
a reader follows it from a cursor. The waiting (``PRAGMA data_version`` on SQLite,
``LISTEN`` on PostgreSQL) and the coalescing live here, so a screen only iterates:
``for batch in change_batches(store, stop, since=cursor): ...``. No Textual, no threads of
its own: the caller runs it where it likes (the board, in a thread worker).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from rxfloor.core.db import Cursor, Store

#: at most ~10 batches a second: a burst of 1,000 changes is one batch, not 1,000
MIN_INTERVAL = 0.1
_WAIT = 0.25  # how long one wait for a change notice lasts before the stop flag is looked at


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Orders changed after the previous batch; ``cursor`` resumes the feed after them."""

    cursor: Cursor
    order_ids: frozenset[str]


def change_batches(
    store: Store,
    stop: threading.Event,
    *,
    since: Cursor,
    min_interval: float = MIN_INTERVAL,
) -> Iterator[ChangeBatch]:
    """Batches of changed order ids after cursor ``since``, until ``stop`` is set.

    After each look at the log the feed rests ``min_interval``: changes committed meanwhile
    join the next batch. ``since`` comes from :meth:`Store.change_cursor` read *before* the
    reader's first load, so a change committed during that load is seen, not lost.
    Raises :class:`StoreError` when the database goes away.
    """
    waiter = store.change_waiter()
    cursor = since
    try:
        while not stop.is_set():
            waiter.wait(_WAIT)
            if stop.is_set():
                break
            cursor, ids = store.changes_since(cursor)
            if ids:
                yield ChangeBatch(cursor, frozenset(ids))
            stop.wait(min_interval)
    finally:
        waiter.close()

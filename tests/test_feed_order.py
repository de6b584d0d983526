"""The change feed never loses a change that commits after a later one (issue 26 §2).

A change's ``seq`` is taken when it is inserted; its transaction commits later. A follower
that moved its cursor to the highest ``seq`` it saw would skip a lower one still in flight,
for good. The interleaving is driven step by step here: no threads, no sleeps.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from rxfloor.core.db import Store, StoreError


@pytest.mark.postgres
def test_a_change_committed_after_a_later_one_is_still_returned(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        cursor = store.change_cursor()
        with ExitStack() as a_open:
            conn_a = a_open.enter_context(store.write())
            store.record_change(conn_a, ["po-a"])  # writer A: inserted, not committed
            with store.write() as conn_b:
                store.record_change(conn_b, ["po-b"])  # writer B: a higher seq, committed
            cursor, ids = store.changes_since(cursor)  # the follower reads meanwhile
            assert ids == {"po-b"}
        # A commits only now, below the seq the follower has already passed
        cursor, ids = store.changes_since(cursor)
        assert ids == {"po-a"}
        assert store.changes_since(cursor)[1] == set()  # and each change comes once
    finally:
        store.close()


def test_sqlite_writers_commit_in_seq_order(sqlite_url: str) -> None:
    """On SQLite the interleaving cannot happen: a writer takes the write lock at BEGIN
    (``BEGIN IMMEDIATE``) and holds it to its commit, so B cannot even insert while A's
    change is in flight: seq order is commit order, and the highest seq is a safe cursor."""
    store = Store.open(sqlite_url)
    impatient = Store.open(sqlite_url, busy_timeout_ms=0)
    try:
        cursor = store.change_cursor()
        with ExitStack() as a_open:
            conn_a = a_open.enter_context(store.write())
            store.record_change(conn_a, ["po-a"])
            with pytest.raises(StoreError, match="busy"), impatient.write() as conn_b:
                impatient.record_change(conn_b, ["po-b"])
            cursor, ids = store.changes_since(cursor)
            assert ids == set()  # A is not committed: nothing to see, the cursor stays
        with impatient.write() as conn_b:
            impatient.record_change(conn_b, ["po-b"])
        cursor, ids = store.changes_since(cursor)
        assert ids == {"po-a", "po-b"}
        assert store.changes_since(cursor)[1] == set()
    finally:
        impatient.close()
        store.close()

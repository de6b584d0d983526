"""The change feed never loses a change that commits after a later one (issue 26 §2).

A change's ``seq`` is taken when it is inserted; its transaction commits later. A follower
that moved its cursor to the highest ``seq`` it saw would skip a lower one still in flight,
for good. The interleaving is driven step by step here: no threads, no sleeps.
"""

from __future__ import annotations

import random
import threading
from contextlib import ExitStack

import pytest
from sqlalchemy import bindparam, text

from rxfloor.core.db import Store, StoreError


@pytest.mark.postgres
def test_a_change_committed_after_a_later_one_is_still_returned(pg_url: str) -> None:
    store = Store.open(pg_url, pool_size=3)  # two writers and a follower, as three terminals
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


def test_every_follower_ends_with_every_orders_final_version(db_url: str) -> None:
    """N writers committing at once, M followers reading the log as a board does (ids, then
    the orders' versions): each follower ends with the last version of every order."""
    writers, followers, orders_n, moves = 4, 3, 30, 80
    store = Store.open(db_url, pool_size=writers + followers)  # each thread a terminal
    with store.write() as conn:
        conn.execute(text("CREATE TABLE stress (id VARCHAR(20) PRIMARY KEY, version INTEGER)"))
        conn.execute(
            text("INSERT INTO stress VALUES (:id, 0)"),
            [{"id": f"o{i}"} for i in range(orders_n)],
        )
    start = threading.Barrier(writers + followers)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            for _ in range(moves):
                oid = f"o{rng.randrange(orders_n)}"
                with store.write() as conn:
                    store.record_change(conn, [oid])  # the seq is taken here ...
                    conn.execute(  # ... and the commit comes a round trip later
                        text("UPDATE stress SET version = version + 1 WHERE id = :id"),
                        {"id": oid},
                    )
        except BaseException as exc:
            errors.append(exc)

    seen: list[dict[str, int]] = [{} for _ in range(followers)]

    def follow(n: int) -> None:
        try:
            cursor = store.change_cursor()
            with store.read() as conn:
                rows = conn.execute(text("SELECT id, version FROM stress")).all()
            versions: dict[str, int] = {str(k): int(v) for k, v in rows}
            start.wait()
            while True:
                last = done.is_set()  # decided before the read: that read sees every commit
                cursor, ids = store.changes_since(cursor)
                if ids:
                    with store.read() as conn:
                        found = conn.execute(
                            text("SELECT id, version FROM stress WHERE id IN :ids").bindparams(
                                bindparam("ids", expanding=True)
                            ),
                            {"ids": sorted(ids)},
                        ).all()
                    versions.update({str(k): int(v) for k, v in found})
                if last:
                    break
            seen[n] = versions
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    threads += [threading.Thread(target=follow, args=(i,)) for i in range(followers)]
    try:
        for t in threads:
            t.start()
        for t in threads[:writers]:
            t.join()
        done.set()
        for t in threads[writers:]:
            t.join()
        assert not errors, errors
        with store.read() as conn:
            final = {
                str(k): int(v) for k, v in conn.execute(text("SELECT id, version FROM stress"))
            }
        assert sum(final.values()) == writers * moves
        missed = [(n, oid) for n, got in enumerate(seen) for oid in final if got[oid] != final[oid]]
        assert missed == []
    finally:
        store.close()

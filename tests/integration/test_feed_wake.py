"""A writer of this process can wake the SQLite change feed at once (the board does after
its own move), instead of leaving the commit to the feed's next poll."""

from __future__ import annotations

import threading

from rxfloor.core.db import Store


class Nudge(threading.Event):
    """The feed's wake-up event, which also tells when the feed has started sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.sleeping.set()
        return super().wait(timeout)


def test_a_nudge_ends_the_polls_sleep_and_the_commit_is_seen(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    waiter = store.change_waiter()
    nudge = Nudge()
    woke: list[bool] = []
    try:
        waiter.open()
        cursor = store.change_cursor()
        # a poll as long as the whole wait: only the nudge can end its sleep early
        feed = threading.Thread(target=lambda: woke.append(waiter.wait(30, 30, wake=nudge)))
        feed.start()
        assert nudge.sleeping.wait(30)  # it looked once, found nothing, and sleeps
        with store.write() as conn:
            store.record_change(conn, ["po-1"])
        nudge.set()
        feed.join()
        assert woke == [True]
        assert not nudge.is_set()  # the nudge was taken, not left for the next wait
        assert store.changes_since(cursor)[1] == {"po-1"}
    finally:
        waiter.close()
        store.close()

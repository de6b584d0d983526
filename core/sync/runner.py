"""Running the sync workers in the background (the board, the demo) until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from rxfloor.core import sources
from rxfloor.core.config import Settings
from rxfloor.core.db import StoreError, utcnow
from rxfloor.core.db.feed import RETRY_INTERVAL
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import CycleReport, SyncWorker
from rxfloor.core.text import ScrubFilter

log = logging.getLogger("rxfloor.sync")
log.addFilter(ScrubFilter())


class BackgroundSync:
    """Runs each worker's :meth:`SyncWorker.cycle` every ``interval_s`` until stopped, one
    daemon thread per source: a slow or unreachable source never holds up another one
    (each has its own lease, limiter, cursor and health row anyway).

    A wrong key is reported in that source's ``sync_state`` (the header shows it) and
    retried slowly.
    """

    def __init__(self, workers: SyncWorker | Sequence[SyncWorker], interval_s: float = 5.0) -> None:
        self.workers = [workers] if isinstance(workers, SyncWorker) else list(workers)
        names = [w.source.name for w in self.workers]
        if len(set(names)) != len(names):
            raise ValueError(f"one worker per source: {', '.join(names)}")
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        #: each source's last cycle, by source name
        self.last: dict[str, CycleReport] = {}
        #: since when a source's cycles find the database unreachable, by source name
        self.db_down: dict[str, datetime] = {}
        self._threads = [
            threading.Thread(
                target=self._run, args=(w,), name=f"rxfloor-sync-{w.source.name}", daemon=True
            )
            for w in self.workers
        ]

    @property
    def worker(self) -> SyncWorker:
        """The first source's worker (a floor with one source has only that one)."""
        return self.workers[0]

    def start(self) -> BackgroundSync:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        for worker in self.workers:
            worker.close()
            worker.source.close()

    def __enter__(self) -> BackgroundSync:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, worker: SyncWorker) -> None:
        name = worker.source.name
        while not self.stop_event.is_set():
            wait = self.interval_s
            try:
                self.last[name] = worker.cycle()
            except AuthError:
                wait = max(wait, 60.0)
            except StoreError as exc:  # the database is away: said once, tried again soon
                wait = min(wait, RETRY_INTERVAL)
                self._down(name, exc)
                self.stop_event.wait(wait)
                continue
            except Exception as exc:  # never let the board's worker die silently
                log.warning("sync cycle of %s failed: %s", name, exc)
            if self.db_down.pop(name, None) is not None:
                log.warning("%s sync: database reachable again", name)
            self.stop_event.wait(wait)

    def _down(self, name: str, exc: StoreError) -> None:
        if name in self.db_down:
            return
        since = self.db_down[name] = utcnow()
        log.warning(
            "%s sync: database unreachable since %s · retrying (%s)",
            name,
            since.astimezone().strftime("%H:%M"),
            exc,
        )


def open_workers(
    settings: Settings, service: OrderService, names: Sequence[str] | None = None
) -> list[SyncWorker]:
    """One worker per source in ``names`` (default: every configured source). Raises
    :class:`ValueError` or ``ConfigError`` when one cannot be opened (none is left open)."""
    workers: list[SyncWorker] = []
    try:
        for name in sources.configured(settings) if names is None else names:
            source = sources.open_source(name, settings)
            workers.append(
                SyncWorker(
                    service,
                    source,
                    policy=RetryPolicy.from_settings(settings),
                    in_flight_s=max(60.0, 6 * settings.http_timeout_s),
                )
            )
    except BaseException:
        for worker in workers:
            worker.close()
            worker.source.close()
        raise
    return workers


def background_sync(settings: Settings, service: OrderService) -> BackgroundSync | None:
    """The board's workers, one per configured source (not started), or None when no
    source is configured (the board runs offline)."""
    workers = open_workers(settings, service)
    return BackgroundSync(workers, settings.sync_interval_s) if workers else None

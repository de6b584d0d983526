"""Running the sync worker in the background (the board, the demo) until stopped."""

from __future__ import annotations

import logging
import threading

from rxfloor.core import sources
from rxfloor.core.config import Settings
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import AuthError
from rxfloor.core.sync.retry import RetryPolicy
from rxfloor.core.sync.worker import CycleReport, SyncWorker
from rxfloor.core.text import ScrubFilter

log = logging.getLogger("rxfloor.sync")
log.addFilter(ScrubFilter())


class BackgroundSync:
    """Runs :meth:`SyncWorker.cycle` every ``interval_s`` in a daemon thread until stopped.

    A wrong key is reported in ``sync_state`` (the header shows it) and retried slowly.
    """

    def __init__(self, worker: SyncWorker, interval_s: float = 5.0) -> None:
        self.worker = worker
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self.last: CycleReport | None = None
        self._thread = threading.Thread(target=self._run, name="rxfloor-sync", daemon=True)

    def start(self) -> BackgroundSync:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.worker.close()
        self.worker.source.close()

    def __enter__(self) -> BackgroundSync:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            wait = self.interval_s
            try:
                self.last = self.worker.cycle()
            except AuthError:
                wait = max(wait, 60.0)
            except Exception as exc:  # never let the board's worker die silently
                log.warning("sync cycle failed: %s", exc)
            self.stop_event.wait(wait)


def background_sync(settings: Settings, service: OrderService) -> BackgroundSync | None:
    """The board's worker (not started), or None when no source is configured (offline).

    One source per database for now: ``sync_state`` (the header's health) is one row.
    """
    names = sources.configured(settings)
    if not names:
        return None
    (name,) = names
    worker = SyncWorker(service, sources.open_source(name, settings),
                        policy=RetryPolicy.from_settings(settings),
                        in_flight_s=max(60.0, 6 * settings.http_timeout_s))  # fmt: skip
    return BackgroundSync(worker, settings.sync_interval_s)

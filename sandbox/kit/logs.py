"""The request and transition logs a stand-in keeps for tests to read back."""

from __future__ import annotations

import threading
from typing import Any


class Logs:
    """Mixed into a stand-in's state: ``_lock`` guards everything, ``_requests`` and
    ``_transitions`` are lists of dicts the state fills (and empties on reset)."""

    _lock: threading.Lock | threading.RLock
    _requests: list[dict[str, Any]]
    _transitions: list[dict[str, Any]]

    def log_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append ``entry`` (numbered from 1 as ``seq``) and return it, to fill in later."""
        with self._lock:
            entry["seq"] = len(self._requests) + 1
            self._requests.append(entry)
            return entry

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests[since:]]

    def transitions(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._transitions[since:]]

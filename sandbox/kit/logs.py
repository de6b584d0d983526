"""The request, transition and delivery logs a stand-in keeps for tests to read back."""

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

    def transitions(self, since: int = 0, by: str | None = None) -> list[dict[str, Any]]:
        """Transitions from ``since`` on (only those made ``by`` one side, where given)."""
        with self._lock:
            return [dict(t) for t in self._transitions[since:] if by in (None, t["by"])]


class Deliveries:
    """Mixed into the state of a stand-in that sends webhooks: ``_lock`` guards
    ``_deliveries``, the list of attempts the state empties on reset."""

    _lock: threading.Lock | threading.RLock
    _deliveries: list[dict[str, Any]]

    def log_delivery(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one attempt (numbered from 1 as ``seq``) and return it."""
        with self._lock:
            entry["seq"] = len(self._deliveries) + 1
            self._deliveries.append(entry)
            return entry

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self._deliveries]

    def delivery(self, seq: int) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._deliveries[seq - 1]) if 0 < seq <= len(self._deliveries) else None

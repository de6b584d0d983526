"""The reproducible fault draw: request ``n`` draws from ``Random(f"{fault_seed}/{n}")``."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

K = TypeVar("K", bound=str)


def draw(next_: list[K], fail_rate: float, seed: int | str, n: int, kinds: Sequence[K]) -> K | None:
    """A fault forced by name (``next_``, consumed first), else one drawn at ``fail_rate``
    from ``kinds`` (the same seed and count, the same fault), else None. A stand-in that
    counts per endpoint passes the endpoint in ``seed`` (``"3/fulfillment/update"``)."""
    if next_:
        return next_.pop(0)
    if fail_rate <= 0:
        return None
    rng = random.Random(f"{seed}/{n}")
    return rng.choice(kinds) if rng.random() < fail_rate else None


class BaseFaults(BaseModel):
    """What every stand-in's fault settings start with: API request ``n`` (counted from the
    last change) draws from ``Random(f"{fault_seed}/{n}")``: one seed, one fault sequence."""

    model_config = ConfigDict(extra="forbid")

    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_seed: int = 0


F = TypeVar("F", bound=BaseFaults)


class FaultBox(Generic[F]):
    """Mixed into a stand-in's state: the live fault settings (``_faults``) and the count of
    requests drawn since they last changed (``_fault_n``), under ``_lock``."""

    _lock: threading.Lock | threading.RLock
    _faults: F
    _fault_n: int

    @property
    def faults(self) -> F:
        with self._lock:
            return self._faults.model_copy(deep=True)

    def set_faults(self, changes: dict[str, Any]) -> F:
        """Change fault settings live; the draw sequence restarts from request 0."""
        with self._lock:
            merged = {**self._faults.model_dump(), **changes}
            self._faults = type(self._faults).model_validate(merged)
            self._fault_n = 0
            return self._faults.model_copy(deep=True)

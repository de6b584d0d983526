"""The reproducible fault draw: request ``n`` draws from ``Random(f"{fault_seed}/{n}")``."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

K = TypeVar("K", bound=str)


def draw(next_: list[K], fail_rate: float, seed: int, n: int, kinds: Sequence[K]) -> K | None:
    """A fault forced by name (``next_``, consumed first), else one drawn at ``fail_rate``
    from ``kinds`` (the same seed and count, the same fault), else None."""
    if next_:
        return next_.pop(0)
    if fail_rate <= 0:
        return None
    rng = random.Random(f"{seed}/{n}")
    return rng.choice(kinds) if rng.random() < fail_rate else None

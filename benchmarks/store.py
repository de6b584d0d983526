"""Store benchmark: board load at 10k/100k orders and one transition commit, SQLite and PostgreSQL.

    uv run python -m benchmarks.store [--sizes 10000 100000] [--moves 200] [--postgres URL|none]

Prints one JSON line per figure. PostgreSQL defaults to $RXFLOOR_TEST_POSTGRES_URL; a scratch
database is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from tests.helpers import scratch_postgres


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def bench(backend: str, url: str, sizes: list[int], moves: int) -> None:
    store = Store.open(url)
    service = OrderService(store, Actor("BM", "bench"))
    now = datetime.now(UTC)
    have = 0
    for size in sorted(sizes):
        t0 = time.perf_counter()
        service.add_orders(o for i, o in enumerate(sample_orders(size, 1, now)) if i >= have)
        have = size
        seed_s = time.perf_counter() - t0
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = store.board_rows()
            loads.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == size
        median = round(statistics.median(loads), 1)
        emit(bench="board_load", backend=backend, orders=size, load_ms_median=median,
             load_ms_min=round(min(loads), 1), seed_s=round(seed_s, 2))  # fmt: skip
        ready = [
            r["id"]
            for r in rows
            if r["status"] == "OPEN" and not r["on_hold"] and not r["fulfill_at"]
        ]
        times = []
        for order_id in ready[:moves]:
            t0 = time.perf_counter()
            service.act(order_id, Action.START)
            times.append((time.perf_counter() - t0) * 1000)
        q = statistics.quantiles(times, n=20)
        emit(bench="transition_commit", backend=backend, orders=size, moves=len(times),
             p50_ms=round(statistics.median(times), 2), p95_ms=round(q[18], 2))  # fmt: skip
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--postgres", default=os.environ.get("RXFLOOR_TEST_POSTGRES_URL", "none"))
    args = parser.parse_args()
    with scratch_sqlite() as url:
        bench("sqlite", url, args.sizes, args.moves)
    if args.postgres != "none":
        with scratch_postgres(args.postgres, prefix="rxfloor_bench") as url:
            bench("postgresql", url, args.sizes, args.moves)


if __name__ == "__main__":
    main()

"""Floor benchmark: N terminals (processes) moving orders on one PostgreSQL, against pgbench.

    uv run python -m benchmarks.floor [--postgres URL] [--terminals 1 10 25 50]
        [--seconds 3] [--rates 20 200] [--followers 10 30]

One JSON line per figure (issue 26 §4):

- ``floor_moves``: N terminal processes, each a headless ``OrderService`` with its own
  store (a pool of one connection, as a board), moving its own orders (start, then finish)
  as fast as it can for ``--seconds``: moves/s and the p50/p95 of one move; then
  ``pgbench`` with the same N clients and duration on a transaction of the same shape
  (an UPDATE and two INSERTs), its tps the floor; ``ratio`` = moves/s / floor tps.
- ``floor_feed``: writer processes moving orders at a fixed total rate while F follower
  processes follow the change feed as a board does (``ChangeWaiter`` + ``changes_since``):
  the delay from a move's commit to a follower reading it, p50/p95/max over every
  (follower, move), and how many a follower never got (``missed``, must be 0).

Runs on a scratch database created on the server of ``--postgres`` (default
``$RXFLOOR_TEST_POSTGRES_URL``) and dropped afterwards. ``pgbench`` connects as
``-h HOST -p PORT -U USER`` of that URL.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from rxfloor.core.db import Store, StoreError
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, Conflict, OrderService, Refused
from tests.helpers import scratch_postgres

_CTX = mp.get_context("fork")  # children start in milliseconds: the parent imported it all


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


_SEEDS = iter(range(10, 10_000))
#: every seeded order can be started then finished: open, not on hold, not scheduled
_PLAIN = {"sample": False, "status": Status.OPEN, "on_hold": False, "hold_reason": None,
          "fulfill_at": None}  # fmt: skip


def seed(url: str, count: int) -> list[str]:
    """``count`` new real (not sample) open orders: their moves queue outbox rows, as on a
    floor."""
    store = Store.open(url)
    service = OrderService(store, Actor("BM", "seed"))
    now = datetime.now(UTC)
    new = [o.model_copy(update=_PLAIN) for o in sample_orders(count, next(_SEEDS), now)]
    for i in range(0, len(new), 2000):
        service.add_orders(new[i : i + 2000])
    store.close()
    return [o.id for o in new]


# ----------------------------------------------------------------- moves/s
def _terminal(url: str, ids: list[str], go: Any, seconds: float, out: Queue[Any]) -> None:
    store = Store.open(url, migrate=False, pool_size=1, app_name=f"rxfloor bench@{os.getpid()}")
    service = OrderService(store, Actor("BM", f"t{os.getpid()}"))
    latencies: list[float] = []
    conflicts = 0
    service.act(ids[0], Action.START)  # warm: the first move builds its statement, loads sources
    ids = ids[1:]
    go.wait()  # every terminal warm and connected: the clock starts for all at once
    stop = time.time() + seconds
    steps = ((oid, action) for oid in ids for action in (Action.START, Action.FINISH))
    for oid, action in steps:
        if time.time() >= stop:
            break
        t0 = time.perf_counter()
        try:
            service.act(oid, action)
        except (Conflict, Refused):
            conflicts += 1
        latencies.append(time.perf_counter() - t0)
    store.close()
    out.put((latencies, conflicts))


def moves(url: str, ids: list[str], n: int, seconds: float) -> dict[str, Any]:
    share = len(ids) // n
    out: Queue[Any] = _CTX.Queue()
    go = _CTX.Barrier(n + 1)
    procs = [
        _CTX.Process(
            target=_terminal, args=(url, ids[i * share : (i + 1) * share], go, seconds, out)
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    go.wait(timeout=120)
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for lat, _ in results for x in lat]
    return {
        "moves": len(latencies),
        "moves_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(pct(latencies, 0.5) * 1000, 1),
        "p95_ms": round(pct(latencies, 0.95) * 1000, 1),
        "conflicts": sum(c for _, c in results),
    }


_PGBENCH_SCRIPT = """\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, :delta, now());
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (2, 1, :aid, :delta, now());
END;
"""


def _pgbench_cmd(url: str) -> list[str]:
    parsed = make_url(url)
    cmd = ["pgbench", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
           "-U", parsed.username or "postgres"]  # fmt: skip
    return cmd


def pgbench_init(url: str) -> None:
    db = make_url(url).database or ""
    subprocess.run([*_pgbench_cmd(url), "-i", "-q", "-s", "1", db], check=True,
                   capture_output=True)  # fmt: skip


def pgbench(url: str, clients: int, seconds: float, script: Path) -> float:
    db = make_url(url).database or ""
    done = subprocess.run(
        [*_pgbench_cmd(url), "-n", "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds))),
         "-f", str(script), db],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(f"no tps in pgbench's output: {done.stdout[-300:]}")


# ---------------------------------------------------------------- the feed
def _follower(url: str, ready: Any, stop: Any, out: Queue[Any]) -> None:
    store = Store.open(url, migrate=False, pool_size=1, app_name=f"rxfloor follow@{os.getpid()}")
    waiter = store.change_waiter()
    waiter.open()
    cursor = store.change_cursor()
    seen: dict[str, float] = {}
    ready.release()
    while time.time() < stop.value:
        try:
            waiter.wait(0.2)
            cursor, ids = store.changes_since(cursor)
        except StoreError:  # a dropped connection: the next wait reconnects, as a board does
            waiter = store.change_waiter()
            time.sleep(0.1)
            continue
        t = time.time()
        for oid in ids:
            seen.setdefault(oid, t)
    waiter.close()
    store.close()
    out.put(seen)


def _writer(url: str, ids: list[str], rate: float, start: float, out: Queue[Any]) -> None:
    store = Store.open(url, migrate=False, pool_size=1, app_name=f"rxfloor write@{os.getpid()}")
    service = OrderService(store, Actor("BM", f"w{os.getpid()}"))
    done: dict[str, float] = {}
    for i, oid in enumerate(ids):
        due = start + i / rate
        while (wait := due - time.time()) > 0:
            time.sleep(wait)
        for _attempt in range(5):  # a shared server may drop a connection: the move is retried
            try:
                service.act(oid, Action.START)
                break
            except StoreError:
                time.sleep(0.1)
        done[oid] = time.time()  # committed: the move's statement returned
    store.close()
    out.put(done)


def feed(url: str, ids: list[str], rate: float, followers: int, seconds: float) -> dict[str, Any]:
    writers = max(1, int(rate // 25))  # each paced at most 25 moves/s: the rate is met
    count = int(rate * seconds)
    mine = [ids[i::writers][: count // writers] for i in range(writers)]
    out: Queue[Any] = _CTX.Queue()
    wout: Queue[Any] = _CTX.Queue()
    ready = _CTX.Semaphore(0)
    stop = _CTX.Value("d", time.time() + seconds + 60)  # bounded whatever happens
    fprocs = [
        _CTX.Process(target=_follower, args=(url, ready, stop, out)) for _ in range(followers)
    ]
    for p in fprocs:
        p.start()
    for _ in fprocs:
        ready.acquire(timeout=60)
    start = time.time() + 0.2
    wprocs = [
        _CTX.Process(target=_writer, args=(url, m, rate / writers, start, wout)) for m in mine
    ]
    for p in wprocs:
        p.start()
    committed: dict[str, float] = {}
    for _ in wprocs:
        committed |= wout.get(timeout=seconds + 60)
    stop.value = max(committed.values()) + 2.0  # ample for a board to read the last one
    seen_all = [out.get(timeout=30) for _ in fprocs]
    for p in [*fprocs, *wprocs]:
        p.join()
    delays: list[float] = []
    missed = 0
    for seen in seen_all:
        for oid, t in committed.items():
            if oid in seen:
                delays.append(max(0.0, seen[oid] - t))
            else:
                missed += 1
    achieved = len(committed) / max(1e-9, max(committed.values()) - start)
    return {"moves": len(committed), "writers": writers, "achieved_per_s": round(achieved, 1),
            "delay_p50_ms": round(pct(delays, 0.5) * 1000, 1),
            "delay_p95_ms": round(pct(delays, 0.95) * 1000, 1),
            "delay_max_ms": round(max(delays, default=float("nan")) * 1000, 1),
            "missed": missed}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", default=os.environ.get("RXFLOOR_TEST_POSTGRES_URL"))
    parser.add_argument("--terminals", type=int, nargs="*", default=[1, 10, 25, 50])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rates", type=float, nargs="*", default=[20.0, 200.0])
    parser.add_argument("--followers", type=int, nargs="*", default=[10, 30])
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error("a PostgreSQL URL: --postgres or $RXFLOOR_TEST_POSTGRES_URL")
    if shutil.which("pgbench") is None:
        parser.error("pgbench is not on PATH (postgresql-contrib / postgresql-client)")
    load = os.getloadavg()[0]
    with (
        scratch_postgres(args.postgres, "rxfloor_bench") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        script = Path(tmp) / "move_shape.sql"
        script.write_text(_PGBENCH_SCRIPT)
        pgbench_init(url)
        for n in args.terminals:
            ids = seed(url, max(200, int(n * 400 * args.seconds / 3)))
            got = moves(url, ids, n, args.seconds)
            tps = pgbench(url, n, args.seconds, script)
            emit(bench="floor_moves", terminals=n, seconds=args.seconds, **got,
                 pgbench_tps=round(tps, 1), ratio=round(got["moves_per_s"] / tps, 3),
                 load1=round(load, 1), cpus=os.cpu_count())  # fmt: skip
            load = os.getloadavg()[0]
        for rate in args.rates:
            for followers in args.followers:
                ids = seed(url, int(rate * args.seconds) + 10)
                got = feed(url, ids, rate, followers, args.seconds)
                emit(bench="floor_feed", rate=rate, followers=followers, seconds=args.seconds,
                     **got, load1=round(os.getloadavg()[0], 1))  # fmt: skip


if __name__ == "__main__":
    main()

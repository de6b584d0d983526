"""Stand-in benchmark: what the sandbox itself can serve over loopback (real uvicorn).

    uv run python -m benchmarks.sandbox [--orders 10000] [--moves 2000] [--limit-s 3]

Prints one JSON line per figure: the stand-in must never be the bottleneck of the sync
benchmark (targets there: >= 300 moves/s unlimited, >= 0.95 of a rate limit).
"""

from __future__ import annotations

import argparse
import json
import time

import httpx

from tests.remote_fixtures import serve_sandbox


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=2_000)
    parser.add_argument("--limit-s", type=float, default=3.0)
    args = parser.parse_args()

    with serve_sandbox() as s, s.api() as api:
        t0 = time.perf_counter()
        s.add_orders(args.orders)
        emit(bench="sandbox_seed", orders=args.orders, s=round(time.perf_counter() - t0, 2))

        t0 = time.perf_counter()
        seen = 0
        page, pages = 0, 1
        while page < pages:
            body = api.get("/pharmacy_orders/", params={"page": page, "limit": 200}).json()
            pages = body["totalPages"]
            seen += len(body["data"])
            page += 1
        assert seen == args.orders
        emit(bench="sandbox_list_all", orders=seen, pages=pages,
             s=round(time.perf_counter() - t0, 2))  # fmt: skip

        uids = [o["uid"] for o in s.state.list_orders(0, args.moves, "open")[0]]
        t0 = time.perf_counter()
        for uid in uids:
            r = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
            assert r.status_code == 200, r.text
        elapsed = time.perf_counter() - t0
        emit(bench="sandbox_patch_serial", moves=len(uids),
             moves_per_s=round(len(uids) / elapsed, 1))  # fmt: skip

    with serve_sandbox(rate_limit=10) as s, s.api() as api:
        ok = limited = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.limit_s:
            code = api.get("/health/").status_code
            ok += code == 200
            limited += code == 429
            if code == 429:
                time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        emit(bench="sandbox_rate_limit", limit=10, greedy_client_s=round(elapsed, 2),
             accepted_per_s=round(ok / elapsed, 2), answered_429=limited)  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except httpx.HTTPError as exc:
        raise SystemExit(f"benchmark failed: {exc}") from None

"""Webhook acknowledgement latency: N concurrent signed deliveries against a real server.

    uv run python -m benchmarks.webhooks [--deliveries 500] [--rounds 3]

Both servers run in their own process under uvicorn on loopback, with the same client
(plain asyncio sockets, one connection per delivery, all opened at once):

  receiver   ``rxfloor webhooks serve`` on a fresh SQLite (WAL) file: verify, store in the
             inbox (2xx only once committed), apply in the background
  floor      a trivial Starlette endpoint that reads the body and answers 200 at once

Prints one JSON line per round and server (p50/p95/max ack latency in ms, the answers
received, and for the receiver the seconds until the inbox was fully applied), then a
summary line with the medians over the rounds and the ratio receiver / floor.
Target (issue 9 item 6): receiver p95 < 1 s for 500 concurrent deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rxfloor.core.db import Store, webhook_inbox
from rxfloor.core.models import NewOrder
from rxfloor.core.service import Actor, OrderService
from rxfloor.sandbox.rxscale import sign
from tests.helpers import rxfloor_cmd

SECRET = "whsec_bench"

_FLOOR = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    await request.body()
    return Response(b'{"status":"ok"}', 200, media_type="application/json")

app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start") from None
            time.sleep(0.05)


def _body(uid: str, status: str) -> bytes:
    now = time.time()
    event = {"event_type": "pharmacy_order_updated", "timestamp": now, "payload_version": "1",
             "data": {"uid": uid, "status": status, "updated_at": now}}  # fmt: skip
    return json.dumps(event, separators=(",", ":")).encode()


def _request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Webhook-Event: pharmacy_order_updated\r\nX-Webhook-Signature: {sign(SECRET, body)}"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _one(port: int, raw: bytes, start: asyncio.Event) -> tuple[float, int]:
    await start.wait()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    elapsed = time.perf_counter() - t0
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    parts = status_line.split()
    return elapsed, int(parts[1]) if len(parts) > 1 else 0


async def _burst(port: int, raws: list[bytes]) -> list[tuple[float, int]]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(_one(port, raw, start)) for raw in raws]
    await asyncio.sleep(0.05)  # every task is parked at the start line
    start.set()
    return await asyncio.gather(*tasks)


def _figures(name: str, rnd: int, results: list[tuple[float, int]]) -> dict[str, Any]:
    lat = sorted(r[0] for r in results)
    return {
        "bench": "webhook_ack",
        "server": name,
        "round": rnd,
        "deliveries": len(lat),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
        "max_ms": round(1000 * lat[-1], 1),
        "answers": dict(Counter(str(r[1]) for r in results)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    n, rounds = args.deliveries, args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url)
        service = OrderService(store, Actor("BM", "bench"))
        uids = [f"po-{i:06d}" for i in range(n * rounds)]
        service.add_orders(
            [NewOrder(id=u, name=f"#{i}", remote_status="open") for i, u in enumerate(uids)],
            source="remote",
        )
        env = {**os.environ, "RXFLOOR_DATABASE_URL": url, "BENCH_SECRET": SECRET}
        rport, fport = _free_port(), _free_port()
        receiver = _start(
            rxfloor_cmd("webhooks", "serve", "--port", str(rport), "--secret-env", "BENCH_SECRET"),
            rport, env,
        )  # fmt: skip
        floor = _start([sys.executable, "-c", _FLOOR, str(fport)], fport, env)
        summary: dict[str, list[float]] = {"rx_p50": [], "rx_p95": [], "fl_p50": [], "fl_p95": []}
        try:
            for rnd in range(rounds):
                batch = uids[rnd * n : (rnd + 1) * n]
                bodies = [_body(u, "cancelled") for u in batch]
                floor_raw = [_request(fport, b) for b in bodies]
                fl = _figures("floor", rnd, asyncio.run(_burst(fport, floor_raw)))
                print(json.dumps(fl), flush=True)
                receiver_raw = [_request(rport, b) for b in bodies]
                t0 = time.perf_counter()
                rx = _figures("receiver", rnd, asyncio.run(_burst(rport, receiver_raw)))
                deadline = time.monotonic() + 120
                while True:
                    with store.read() as conn:
                        left = conn.execute(
                            select(func.count())
                            .select_from(webhook_inbox)
                            .where(webhook_inbox.c.applied_at.is_(None))
                        ).scalar_one()
                    if not left or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                rx["applied_all_s"] = round(time.perf_counter() - t0, 2)
                rx["unapplied"] = left
                print(json.dumps(rx), flush=True)
                summary["rx_p50"].append(rx["p50_ms"])
                summary["rx_p95"].append(rx["p95_ms"])
                summary["fl_p50"].append(fl["p50_ms"])
                summary["fl_p95"].append(fl["p95_ms"])
        finally:
            for proc in (receiver, floor):
                proc.terminate()
                proc.wait(15)
            with store.read() as conn:
                stored = conn.execute(select(func.count()).select_from(webhook_inbox)).scalar_one()
            store.close()
        med = {k: statistics.median(v) for k, v in summary.items()}
        print(
            json.dumps(
                {
                    "bench": "webhook_ack_summary",
                    "deliveries": n,
                    "rounds": rounds,
                    "stored": stored,
                    "receiver_p50_ms": med["rx_p50"],
                    "receiver_p95_ms": med["rx_p95"],
                    "floor_p50_ms": med["fl_p50"],
                    "floor_p95_ms": med["fl_p95"],
                    "ratio_p95": round(med["rx_p95"] / med["fl_p95"], 2) if med["fl_p95"] else None,
                    "target_p95_ms": 1000,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

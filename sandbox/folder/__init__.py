"""A partner that drops order files in a watched folder and reads the results back (tests,
demo, ``rxfloor sandbox --source folder``).

:class:`Partner` writes as a partner is asked to (a temporary name, then a rename), now
and then a file with a line it got wrong or the same file twice, and reads every result
file rxfloor wrote. ``create_app`` serves one on a schedule with control routes under
``/_sandbox/``. Nothing heavy at import (Starlette is imported by ``create_app``).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

#: what the partner's patients are given (drug, strength)
_DRUGS = (("Sertraline", "50 mg tabs"), ("Amlodipine", "10 mg tabs"),
          ("Finasteride", "1 mg tabs"), ("Tretinoin", "0.025% cream"),
          ("Semaglutide", "0.25 mg pen"), ("Minoxidil", "2.5 mg tabs"),
          ("Sildenafil", "50 mg tabs"), ("Levothyroxine", "50 µg tabs"))  # fmt: skip
_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
          "Donald Knuth", "Frances Allen", "John Backus")  # fmt: skip


class Partner:
    """The partner's side of the folder at ``root``: it drops, it reads results."""

    def __init__(self, root: Path | str, *, seed: int = 0, prefix: str = "TH") -> None:
        self.root = Path(root)
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.next_number = 1001
        self.files = 0
        self.dropped: list[Path] = []
        #: every result file read: its name -> its content
        self.results: dict[str, dict[str, Any]] = {}
        #: results the partner would refuse (a pickup reported before the order's finish)
        self.refused: list[str] = []
        for which in ("inbox", "results"):
            (self.root / which).mkdir(parents=True, exist_ok=True)

    def order(self) -> dict[str, Any]:
        number, self.next_number = self.next_number, self.next_number + 1
        picks = self.rng.sample(_DRUGS, self.rng.randint(1, 2))
        items = "; ".join(
            (f"{q}x " if (q := self.rng.choice((1, 1, 2, 3))) > 1 else "") + f"{d} {s}"
            for d, s in picks
        )
        return {
            "order": f"{self.prefix}-{number}",
            "patient": self.rng.choice(_NAMES),
            "items": items,
            "delivery": self.rng.choice(("ship", "ship", "courier")),
            "priority": self.rng.choice(("normal", "normal", "normal", "stat")),
        }

    def drop(self, count: int, *, fmt: str = "jsonl", malformed: bool = False) -> Path:
        """Write ``count`` orders (plus one line it got wrong) as one file, the partner's
        way: under a temporary name, then renamed into the inbox."""
        orders = [self.order() for _ in range(count)]
        if fmt == "csv":
            out = io.StringIO(newline="")
            writer = csv.DictWriter(
                out, ["order", "patient", "items", "delivery", "priority"], lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(orders)
            if malformed:
                out.write(f"{self.prefix}-bad,Nobody\n")  # a row with too few cells
            body = out.getvalue().encode()
        else:
            rows = [json.dumps(o) for o in orders]
            if malformed:
                rows.append('{"order": "' + self.prefix + '-bad", "items": ')  # cut short
            body = ("\n".join(rows) + "\n").encode()
        self.files += 1
        return self.write(f"{self.prefix.lower()}-{self.files:04d}.{fmt}", body)

    def write(self, name: str, body: bytes) -> Path:
        """``body`` under a temporary name, then renamed to ``inbox/<name>``."""
        final = self.root / "inbox" / name
        tmp = final.with_name(f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        self.dropped.append(final)
        return final

    def drop_again(self) -> Path | None:
        """The last file once more, under a new name (a partner's retry)."""
        if not self.dropped:
            return None
        last = self.dropped[-1]
        taken = [*self.root.glob(f"taken/*-{last.name}"), last]
        for path in taken:
            with contextlib.suppress(OSError):
                self.files += 1
                return self.write(f"again-{self.files:04d}-{last.name}", path.read_bytes())
        return None

    def read_results(self) -> dict[str, dict[str, Any]]:
        """Every result file not read before (name -> content), also kept in ``results``."""
        new: dict[str, dict[str, Any]] = {}
        for path in sorted((self.root / "results").glob("*.json")):
            if path.name.startswith(".") or path.name in self.results:
                continue
            with contextlib.suppress(OSError, ValueError):
                new[path.name] = json.loads(path.read_text("utf-8"))
        self.results.update(new)
        for name in new:  # a partner takes "picked up" only of an order it was told finished
            order, _, move = name.removesuffix(".json").rpartition(".")
            if move == "picked_up" and f"{order}.finish.json" not in self.results:
                self.refused.append(f"{name}: {order} was never finished")
        return new

    def step(self) -> None:
        """The demo's partner: a file of one to three orders (now and then a CSV, a line it
        got wrong, or the same file again), and the results read."""
        roll = self.rng.random()
        if roll < 0.1:
            self.drop_again()
        else:
            self.drop(
                self.rng.randint(1, 3), fmt="csv" if roll > 0.75 else "jsonl", malformed=roll > 0.92
            )
        self.read_results()

    def stats(self) -> dict[str, Any]:
        folders = ("inbox", "taken", "orders", "results", "rejected")
        return {
            "files_dropped": len(self.dropped),
            "results_read": len(self.results),
            **{
                f: len([p for p in (self.root / f).glob("*") if not p.name.startswith(".")])
                for f in folders
                if (self.root / f).is_dir()
            },
        }


async def drop_forever(partner: Partner, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        partner.step()


def create_app(partner: Partner, every_s: float) -> Any:
    """The partner dropping every ``every_s`` seconds while served, with control routes:
    ``GET /_sandbox/stats``, ``GET /_sandbox/results``, ``POST /_sandbox/drop?count=N&format=csv``
    (``&malformed=1``), ``POST /_sandbox/drop-again``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(partner.stats())

    async def results(request: Request) -> JSONResponse:
        partner.read_results()
        return JSONResponse(partner.results)

    async def drop(request: Request) -> JSONResponse:
        q = request.query_params
        fmt = "csv" if q.get("format") == "csv" else "jsonl"
        path = partner.drop(int(q.get("count", "1")), fmt=fmt, malformed=bool(q.get("malformed")))
        return JSONResponse({"dropped": path.name})

    async def again(request: Request) -> JSONResponse:
        path = partner.drop_again()
        return JSONResponse({"dropped": path.name if path else None})

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(drop_forever(partner, every_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/results", results),
        Route("/_sandbox/drop", drop, methods=["POST"]),
        Route("/_sandbox/drop-again", again, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.partner = partner
    return app

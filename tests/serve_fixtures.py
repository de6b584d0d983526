"""``rxfloor serve`` as a real server in another process, and the processes it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import rxfloor_cmd

TOKEN = "wall-test-token-0123456789abcdef"


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen[str]
    log: Path  # the server's stdout and stderr

    def app_processes(self) -> list[int]:
        """Every process the server started (the app processes and their shells)."""
        return descendants(self.process.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return sorted(found)


@contextmanager
def serve(db_url: str, tmp: Path, *args: str, token: str | None = TOKEN) -> Iterator[Served]:
    """``rxfloor serve --port 0`` on ``db_url``; stopped with SIGTERM, checked to leave no
    app process behind."""
    env = {**os.environ, "RXFLOOR_DATABASE_URL": db_url}
    if token is not None:
        env["RXFLOOR_SERVE_TOKEN"] = token
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(rxfloor_cmd("serve", "--port", "0", *args), env=env,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        base = None
        while base is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            for line in log.read_text().splitlines():
                if " on http://" in line:
                    base = line.split(" on ", 1)[1].split("/ ", 1)[0]
            time.sleep(0.05)
        yield Served(base, token or "", process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("rxfloor serve did not stop on SIGTERM") from None
        deadline = time.monotonic() + 10
        while descendants(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

"""A PostgreSQL server of the test's own, to restart and kill under a running rxfloor.

``initdb`` + ``pg_ctl`` on a free port, trust authentication on 127.0.0.1, in a temporary
directory. As root they run as the ``postgres`` user (``runuser``), in a directory that user
owns. Skipped, with the reason, where the binaries are not on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin")


def _binary(name: str) -> str | None:
    for d in _BIN_DIRS:
        path = Path(d) / name
        if path.exists():
            return str(path)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server: :meth:`restart` (``pg_ctl restart -m fast``), :meth:`kill` (SIGKILL to
    the postmaster and its children), :meth:`start`, :meth:`stop`."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)

    def _ctl(self, *args: str) -> None:
        pg_ctl = _binary("pg_ctl")
        assert pg_ctl is not None
        log = str(self.root / "server.log")
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._run(pg_ctl, "-D", str(self.data), "-l", log, "-o", opts, "-w", *args)

    def init(self) -> None:
        initdb = _binary("initdb")
        assert initdb is not None
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def kill(self) -> None:
        """``kill -9`` of the postmaster (its backends follow it)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        for victim in (pid, *map(int, found.stdout.split())):
            with suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # gone once its pid no longer answers
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)

    def running(self) -> bool:
        pg_ctl = _binary("pg_ctl")
        assert pg_ctl is not None
        return self._run(pg_ctl, "-D", str(self.data), "status", check=False).returncode == 0


@contextmanager
def private_postgres() -> Iterator[PgServer]:
    """A fresh server for one test, stopped and removed afterwards."""
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        pytest.skip("initdb / pg_ctl are not on this machine")
    root = Path(tempfile.mkdtemp(prefix="rxfloor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server._run(_binary("pg_ctl") or "pg_ctl", "-D", str(server.data), "stop", "-m",
                        "immediate", check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)

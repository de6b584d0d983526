"""Start-up benchmark: the CPU one CLI command costs, as a ratio to ``import sqlalchemy``.

    uv run python -m benchmarks.startup [--runs 5] [--count 10000] [--venv PATH]

Seeds a 10,000-order SQLite file in a temp dir (``rxfloor seed``), then times, as CPU
(user + sys of the child process, median of ``--runs``), the floor
``python -c "import sqlalchemy"`` -- the one library a command cannot avoid -- and
``rxfloor --help``, ``rxfloor orders --status OPEN --json`` and ``rxfloor start ID`` (a fresh
OPEN order each run). Each command runs as ``<venv>/bin/rxfloor`` (not ``uv run``, which adds
its own start-up). Prints one JSON line per figure: ms, the ratio to the floor, the target,
and which heavy modules the command imported (from one extra, untimed run in a wrapper).
``--venv`` times another checkout's environment (e.g. main's, to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY = (
    "sqlalchemy",
    "pydantic",
    "pydantic_settings",
    "alembic",
    "textual",
    "rich",
    "starlette",
    "uvicorn",
    "httpx",
    "psycopg",
    "keyring",
)

# Runs the CLI's main() in-process and reports which heavy top-level packages were imported.
_WRAPPER = """
import json, sys
argv = json.loads(sys.argv[1])
from rxfloor.tui.cli.main import main
try:
    main(argv)
except SystemExit:
    pass
heavy = json.loads(sys.argv[2])
mods = {m.split(".")[0] for m in sys.modules}
sys.__stderr__.write("HEAVY " + json.dumps([h for h in heavy if h in mods]) + "\\n")
"""


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def cpu_ms(cmd: list[str], env: dict[str, str]) -> float:
    """User + sys CPU of one child process, in ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def heavy_imports(python: str, argv: list[str], env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [python, "-c", _WRAPPER, json.dumps(argv), json.dumps(HEAVY)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ).stderr
    line = next(ln for ln in out.splitlines() if ln.startswith("HEAVY "))
    return list(json.loads(line.removeprefix("HEAVY ")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument(
        "--venv",
        type=Path,
        default=Path(sys.executable).parent.parent,
        help="the environment whose python and rxfloor to time (default: this one)",
    )
    args = ap.parse_args()
    bindir = args.venv.resolve() / "bin"
    python, rxfloor = str(bindir / "python"), str(bindir / "rxfloor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RXFLOOR_")}

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "startup.db")
        env["HOME"] = tmp  # no user config file, no keyring lookups of the real user
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        env["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        subprocess.run(
            [rxfloor, "seed", "--count", str(args.count), "--database", db],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        listing = subprocess.run(
            [rxfloor, "orders", "--status", "OPEN", "--json", "--database", db],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        open_ids = [o["id"] for o in json.loads(listing)]
        needed = args.runs + 1  # the timed runs and the untimed import check
        if len(open_ids) < needed:
            raise SystemExit(f"only {len(open_ids)} OPEN orders; need {needed}")
        fresh = iter(open_ids)

        # (name, target ratio, rxfloor argv; None for the floor); "{id}": a fresh OPEN order
        commands: list[tuple[str, float, list[str] | None]] = [
            ("floor: import sqlalchemy", 1.0, None),
            ("rxfloor --help", 0.5, ["--help"]),
            (
                "rxfloor orders --status OPEN --json",
                2.0,
                ["orders", "--status", "OPEN", "--json", "--database", db],
            ),
            ("rxfloor start ID", 2.0, ["start", "{id}", "--database", db]),
        ]

        def argv_of(argv: list[str]) -> list[str]:
            return [next(fresh) if a == "{id}" else a for a in argv]

        # Rounds interleave the commands, so a busy neighbour slows the floor and the
        # commands alike and the ratios hold on a shared machine.
        samples: dict[str, list[float]] = {name: [] for name, _, _ in commands}
        for _ in range(args.runs):
            for name, _, argv in commands:
                floor_cmd = [python, "-c", "import sqlalchemy"]
                cmd = floor_cmd if argv is None else [rxfloor, *argv_of(argv)]
                samples[name].append(cpu_ms(cmd, env))
        floor = statistics.median(samples[commands[0][0]])
        emit(command=commands[0][0], cpu_ms=round(floor, 1), runs=args.runs, venv=str(args.venv))
        for name, target, argv in commands[1:]:
            assert argv is not None
            ms = statistics.median(samples[name])
            ratio = ms / floor
            emit(
                command=name,
                cpu_ms=round(ms, 1),
                ratio_to_floor=round(ratio, 2),
                target=f"<= {target}x",
                met=ratio <= target,
                heavy_imports=heavy_imports(python, argv_of(argv), env),
                runs=args.runs,
            )


if __name__ == "__main__":
    main()

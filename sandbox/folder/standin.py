"""The folder drop's stand-in as ``rxfloor sandbox --source folder`` serves it and the demo
runs it (registered under the entry point group ``rxfloor.sandboxes``; nothing heavy at
import)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rxfloor.core.sources.standin import DemoKit, Option, StandIn

NAME = "folder"


def _serve(args: argparse.Namespace, faults: dict[str, Any]) -> tuple[Any, Any]:
    from rxfloor.sandbox.folder import Partner, create_app

    root = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="rxfloor-drop-"))
    partner = Partner(root, seed=args.fault_seed)
    if args.seed:
        partner.drop(args.seed)
    every_s = args.drop_every if args.drop_every is not None else 10.0
    return (
        create_app(partner, every_s),
        lambda url: (
            f"a partner dropping order files in {root}/inbox every {every_s:g} s and reading "
            f"{root}/results (set [sources.folder] path = {str(root)!r}) at {url}"
        ),
    )


def _folder(kit: DemoKit) -> Path:
    """``demo-drop/`` beside the demo's SQLite file (recreated, as the database is), else a
    fresh temporary folder."""
    url = kit.settings.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        root = Path(url.removeprefix("sqlite:///")).with_name("demo-drop")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root
    return Path(tempfile.mkdtemp(prefix="rxfloor-demo-drop-"))


def _demo(kit: DemoKit, orders: int | None) -> Any:
    """A telehealth partner: a first file of orders, one line it got wrong (in
    ``rejected/`` with its reason), then a file every few seconds; it reads the results."""
    from rxfloor.core.sources.folder.source import FolderSource
    from rxfloor.sandbox.folder import Partner, drop_forever

    partner = Partner(_folder(kit), seed=5)
    partner.drop(6 if orders is None else orders)
    partner.drop(2, fmt="csv", malformed=True)
    kit.submit(drop_forever(partner, kit.every_s * 1.9))
    kit.sync(FolderSource(partner.root, settle_s=0.0))
    return partner


STANDIN = StandIn(
    name=NAME,
    what="a partner dropping order files in a folder and reading the results",
    serve=_serve,
    demo=_demo,
    options=(
        Option(
            "--folder", "the folder to drop in (default: a new temporary one)", {"metavar": "DIR"}
        ),
        Option(
            "--drop-every",
            "seconds between the partner's files (default 10)",
            {"type": float, "metavar": "S"},
        ),
    ),
)

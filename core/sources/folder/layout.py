"""The folder drop's shared file layout: what the partner writes, what rxfloor writes back.

::

    <path>/
      inbox/      the partner's order files (``*.jsonl``, ``*.ndjson``, ``*.csv``), each
                  written under a temporary name (``.name``, ``name.tmp``, ``name.part``)
                  and renamed when complete; rxfloor never writes here but to take a file
      taken/      every file rxfloor took, as ``<sha256>-<name>`` (a file with the same
                  content dropped again is not taken twice)
      orders/     one ``<order>.json`` per order taken: rxfloor's copy, never overwritten
      results/    one ``<order>.<move>.json`` per move (``start``, ``finish``, ``cancel``,
                  ``picked_up``: a pickup order handed off at the counter):
                  written once, atomically, never overwritten; the partner reads these
      rejected/   what could not be taken, each with its reason: a line
                  (``<sha16>.<line>.json``), a whole file that stayed unreadable
                  (``<sha16>-<name>`` and ``<sha16>-<name>.reason.json``), a file dropped
                  again (same content)

A line is one order. JSON lines: ``{"order": "TH-1001", "patient": "Ada Lovelace",
"items": "2x Sertraline 50 mg; Amlodipine 10 mg", "delivery": "ship", "priority":
"normal", "due": "2025-05-01T14:00:00+00:00"}`` (``items`` may also be a list of
``{"drug", "strength", "quantity", "sku"}``). CSV: a header naming the same columns, one
order a row. Only ``order`` and ``items`` are required; ``order`` is letters, digits, ``-``
and ``_`` (it names files).

Every file rxfloor writes is written whole under a temporary name, flushed to disk, then
given its name (a hard link, which fails when the name exists: never overwritten; where the
file system has no links, ``os.replace`` after a check), and the folder itself is synced.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from rxfloor.core.lifecycle import DeliveryType, Priority, Status
from rxfloor.core.sources.http import short

NAME = "folder"
INBOX, TAKEN, ORDERS, RESULTS, REJECTED = "inbox", "taken", "orders", "results", "rejected"
FOLDERS = (INBOX, TAKEN, ORDERS, RESULTS, REJECTED)
#: the suffixes of order files; anything else in the inbox is not ours to take
SUFFIXES = (".jsonl", ".ndjson", ".csv")
#: the partner's names for a file still being written
TEMPORARY = (".tmp", ".part", ".partial")

# the partner's words for where an order stands, from the result files it has
OPEN, STARTED, FINISHED, CANCELLED = "open", "started", "finished", "cancelled"
#: a finished pickup order handed to its patient at the counter (``<order>.picked_up.json``)
PICKED_UP = "picked_up"
#: a move's result file -> the status it leaves the order in (latest wins, in this order)
MOVES = {"start": STARTED, "finish": FINISHED, "cancel": CANCELLED, PICKED_UP: PICKED_UP}
BOARD = {OPEN: Status.OPEN, STARTED: Status.PROCESSING, FINISHED: Status.FINISHED,
         CANCELLED: Status.CANCELLED, PICKED_UP: Status.FINISHED}  # fmt: skip
ACTIVE = (OPEN, STARTED)

_ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")  # "#<order>" is the card name
_QUANTITY = re.compile(r"^\s*(\d{1,4})\s*[x\u00d7]\s+(.+)$")


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    drug: str = Field(min_length=1, max_length=128)
    strength: str = Field(default="", max_length=64)
    quantity: int = Field(default=1, ge=1, le=9999)
    sku: str | None = Field(default=None, max_length=64)


class Line(BaseModel):
    """One order as the partner wrote it (a JSON line or a CSV row)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order: str
    patient: str = Field(default="", max_length=128)
    items: tuple[Item, ...] = Field(min_length=1)
    delivery: DeliveryType = DeliveryType.SHIP
    priority: Priority = Priority.NORMAL
    due: AwareDatetime | None = None

    @field_validator("order", mode="before")
    @classmethod
    def _order(cls, value: object) -> object:
        text = str(value).strip() if isinstance(value, str | int) else value
        if not isinstance(text, str) or not _ORDER_ID.match(text):
            raise ValueError("order must be 1-63 letters, digits, '-' or '_'")
        return text

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: object) -> object:
        """``"2x Sertraline 50 mg; Amlodipine 10 mg"`` -> two items."""
        if not isinstance(value, str):
            return value
        found = []
        for part in (p.strip() for p in value.split(";")):
            if not part:
                continue
            quantity, drug = 1, part
            if m := _QUANTITY.match(part):
                quantity, drug = int(m.group(1)), m.group(2).strip()
            found.append({"drug": drug, "quantity": quantity})
        return found

    @field_validator("delivery", "priority", mode="before")
    @classmethod
    def _word(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def record(self, file: str, sha: str, line: int) -> dict[str, Any]:
        """What ``orders/<order>.json`` holds: the line as read, and where it came from."""
        return {**self.model_dump(mode="json"), "file": file, "sha256": sha, "line": line}


class Unreadable(ValueError):
    """The whole file cannot be read (yet): left in the inbox and tried again."""


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def lines(name: str, content: bytes) -> Iterator[tuple[int, str, Line | str]]:
    """Each non-blank line of a complete file: its number, its text and the order it holds
    or why it holds none. Raises :class:`Unreadable` when the file as a whole cannot be
    read: not UTF-8, not ended by a newline (still being written), a CSV with no ``order``
    column."""
    if content and not content.endswith(b"\n"):
        raise Unreadable("the last line has no newline (still being written?)")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if name.lower().endswith(".csv"):
        yield from _csv_lines(text)
        return
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, raw, f"not JSON: {exc.msg} (column {exc.colno})"
            continue
        yield number, raw, _line(fields)


def _csv_lines(text: str) -> Iterator[tuple[int, str, Line | str]]:
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        return
    columns = [c.strip().lower() for c in header]
    if "order" not in columns:
        raise Unreadable(f"the CSV header names no 'order' column ({', '.join(columns)})")
    for row in rows:
        number = rows.line_num
        raw = ",".join(row)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            yield number, raw, f"{len(row)} cells where the header has {len(columns)}"
            continue
        yield number, raw, _line(dict(zip(columns, row, strict=True)))


def _line(fields: Any) -> Line | str:
    if not isinstance(fields, dict):
        return "not an object"
    # a blank cell is a field not given (its default), as an absent key is
    given = {k: v for k, v in fields.items() if not (isinstance(v, str) and not v.strip())}
    try:
        return Line.model_validate(given)
    except ValidationError as exc:
        return short(exc)


# -- writing: whole, once, durable ------------------------------------------------------------


def sync_dir(path: Path) -> None:
    """Make the names in ``path`` durable (a rename or link is not, until its folder is)."""
    with contextlib.suppress(OSError):  # e.g. a share that does not sync folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_once(path: Path, data: Mapping[str, Any] | bytes) -> bool:
    """Write ``path`` whole, durably, and only if it does not exist yet; False when it
    did (it is left as it was, never overwritten)."""
    body = data if isinstance(data, bytes) else (json.dumps(data, indent=1) + "\n").encode()
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "xb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    try:
        try:
            os.link(tmp, path)  # atomic and refuses an existing name
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some shares): one writer per source anyway
            if path.exists():
                return False
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    sync_dir(path.parent)
    return True


def move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (same file system) and make both folders durable."""
    os.replace(src, dst)
    sync_dir(dst.parent)
    sync_dir(src.parent)


# -- reading an order back -----------------------------------------------------------------------


def status_of(moves: set[str]) -> str:
    """The partner's word for an order with these result files."""
    for move_name in ("cancel", PICKED_UP, "finish", "start"):
        if move_name in moves:
            return MOVES[move_name]
    return OPEN


def result_name(order: str, move_name: str) -> str:
    return f"{order}.{move_name}.json"


def parse_result_name(name: str) -> tuple[str, str] | None:
    """``TH-1.finish.json`` -> (``TH-1``, ``finish``); None for anything else."""
    if name.startswith(".") or not name.endswith(".json"):
        return None
    order, _, move_name = name.removesuffix(".json").rpartition(".")
    return (order, move_name) if order and move_name in MOVES else None


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

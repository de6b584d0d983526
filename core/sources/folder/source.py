"""The folder drop as an :class:`~rxfloor.core.sources.base.OrderSource` (the layout is in
:mod:`~rxfloor.core.sources.folder.layout`).

Pull: every complete file in ``inbox/`` is *taken*: each order line is copied to
``orders/<order>.json`` (written once), each line that holds no order to ``rejected/`` with
its reason, and only then is the file moved to ``taken/<sha256>-<name>``. Every step can be
done again after a crash with the same outcome (an order or a rejection already written is
recognised as the same line of the same content), so a file is taken once however often
the pull is cut short. The orders are then listed from ``orders/``, each where its result
files put it.

A file is left in the inbox, and tried on the next pull, while it may still be written: a
temporary name (``.x``, ``x.tmp``, ``x.part``), changed in the last ``settle_s`` seconds,
growing while read, or not ended by a newline; a file still unreadable after ``give_up_s``
is moved to ``rejected/`` with its reason, never lost. The same content dropped again is
not taken twice (its hash is in ``taken/``); an order id already taken from another line
is rejected, not taken twice.

Push: a move is one result file ``results/<order>.<move>.json``, written once (never
overwritten: when it exists, the move was made, e.g. before a crash); a read-back is the
order with its result files, so the worker's read-back before a resend sees every move
that reached the folder. A hold is local (the partner has no word for it).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rxfloor.core.config import Settings
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.sources.base import (
    PermanentError,
    PushPlan,
    TransientError,
    UnreachableError,
    WebhookEvent,
)
from rxfloor.core.sources.folder import layout
from rxfloor.core.sources.folder.layout import NAME
from rxfloor.core.text import scrub


class NoWebhooks:
    """A folder sends no webhooks: every request to its path is refused unread."""

    signature_header = "X-Folder-Signature"

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return False

    def parse(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        raise ValueError("a folder drop sends no webhooks")


WEBHOOKS = NoWebhooks()


@dataclass(frozen=True, slots=True)
class FolderOrder:
    """One order of ``orders/`` with the moves its result files record."""

    uid: str
    record: Mapping[str, Any]
    moves: frozenset[str]

    @property
    def status(self) -> str:
        return layout.status_of(set(self.moves))

    @property
    def comment(self) -> str | None:
        return None

    @property
    def board_status(self) -> Status | None:
        return layout.BOARD[self.status]

    @property
    def on_hold(self) -> bool:
        return False

    @property
    def cancel_requested(self) -> bool:
        return False

    @property
    def request_message(self) -> str | None:
        return None

    @property
    def scheduled_at(self) -> datetime | None:
        return None

    def to_new_order(self, board_status: Status) -> NewOrder:
        r = self.record
        items = [
            LineItem(
                sku=i.get("sku") or f"{NAME}-{n}",
                drug=i["drug"],
                strength=i.get("strength") or "",
                quantity=i.get("quantity") or 1,
            )
            for n, i in enumerate(r.get("items") or (), 1)
        ]
        return NewOrder.model_validate(
            {
                "remote_id": self.uid,
                "source": NAME,
                "name": f"#{self.uid}",
                "status": board_status,
                "remote_status": self.status,
                "priority": r.get("priority") or "normal",
                "delivery_type": r.get("delivery") or "ship",
                "patient_name": r.get("patient") or "",
                "items": items,
                "due_at": layout.when(r.get("due")),
            }
        )


_NOTHING = PushPlan(done=False, stale=False, steps=())
_DONE = PushPlan(done=True, stale=False, steps=())
_STALE = PushPlan(done=False, stale=True, steps=())


def plan_push(action: Action, remote_status: str) -> PushPlan:
    """The result files that take an order in ``remote_status`` where ``action`` leads."""
    status = remote_status.strip().lower()
    finished = (layout.FINISHED, layout.PICKED_UP)
    if action is Action.START:
        if status == layout.OPEN:
            return PushPlan(done=False, stale=False, steps=("start",))
        return _DONE if status in (layout.STARTED, *finished) else _STALE
    if action is Action.FINISH:
        if status in finished:
            return _DONE
        if status == layout.CANCELLED:
            return _STALE
        steps = ("finish",) if status == layout.STARTED else ("start", "finish")
        return PushPlan(done=False, stale=False, steps=steps)
    if action is Action.CANCEL:
        if status == layout.CANCELLED:
            return _DONE
        if status in finished:
            return _STALE
        return PushPlan(done=False, stale=False, steps=("cancel",))
    if action is Action.HANDOFF:  # only a finished order is picked up
        if status == layout.PICKED_UP:
            return _DONE
        if status == layout.FINISHED:
            return PushPlan(done=False, stale=False, steps=(layout.PICKED_UP,))
        return _STALE
    return _NOTHING  # a hold or release stays local


class FolderSource:
    """The folder at ``root`` (thread-safe: each push writes its own file, the lease
    makes one pusher per floor, and the take is one pull thread's)."""

    name = NAME
    webhooks = WEBHOOKS
    rate_limit_per_s = None

    def __init__(
        self,
        root: Path | str,
        *,
        settle_s: float = 2.0,
        give_up_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.settle_s = settle_s
        self.give_up_s = give_up_s
        self._clock = clock
        self._swept = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FolderSource:
        """The folder ``[sources.folder] path`` names. Raises :class:`ValueError` when unset."""
        section = settings.sources.folder
        if not section.path:
            raise ValueError("no folder configured: set [sources.folder] path")
        return cls(
            Path(section.path).expanduser(), settle_s=section.settle_s, give_up_s=section.give_up_s
        )

    def dir(self, which: str) -> Path:
        return self.root / which

    def _ready(self) -> None:
        """The folder is there (a share may be down: offline), with its sub-folders."""
        if not self.root.is_dir():
            raise UnreachableError(f"the drop folder {self.root} is not there")
        try:
            for which in layout.FOLDERS:
                self.dir(which).mkdir(exist_ok=True)
        except OSError as exc:
            raise UnreachableError(f"the drop folder {self.root}: {exc.strerror}") from None

    # -- the partner's files in ---------------------------------------------------------------

    def take(self) -> list[str]:
        """Take every complete file of the inbox; returns what was rejected, in words."""
        self._ready()
        if not self._swept:
            self._sweep()
        rejected: list[str] = []
        try:
            entries = [e for e in os.scandir(self.dir(layout.INBOX)) if _ours(e.name)]
            # oldest first: of two drops of the same content, the first is the one taken
            entries.sort(key=lambda e: (e.stat().st_mtime_ns, e.name))
        except OSError as exc:
            raise UnreachableError(f"the drop folder's inbox: {exc.strerror}") from None
        for entry in entries:
            name = entry.name
            try:
                rejected += self._take(Path(entry.path))
            except FileNotFoundError:
                continue  # the partner took it back
            except OSError as exc:
                rejected.append(f"{name}: left in the inbox ({exc.strerror})")
        return rejected

    def _sweep(self, older_s: float = 3600.0) -> None:
        """Remove our own temporary files a crash left (once per start; an hour old, so
        never one another process is writing)."""
        self._swept = True
        for which in (layout.ORDERS, layout.RESULTS, layout.REJECTED):
            for entry in os.scandir(self.dir(which)):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        if self._clock() - entry.stat().st_mtime > older_s:
                            os.unlink(entry.path)

    def _take(self, path: Path) -> list[str]:
        before = path.stat()
        age = self._clock() - before.st_mtime
        if age < self.settle_s:
            return []  # just written or renamed: maybe still growing
        content = path.read_bytes()
        after = path.stat()
        if len(content) != before.st_size or after.st_mtime != before.st_mtime:
            return []  # growing while read
        sha = layout.sha256(content)
        taken = self.dir(layout.TAKEN)
        if any(taken.glob(f"{sha}-*")):
            return [self._reject_file(path, sha, "the same content was taken before")]
        try:
            found = list(layout.lines(path.name, content))
        except layout.Unreadable as exc:
            if age < self.give_up_s:
                return []  # tried again on the next pull
            return [self._reject_file(path, sha, f"unreadable: {exc}")]
        rejected = []
        for number, raw, line in found:
            reason = line if isinstance(line, str) else self._keep(line, path.name, sha, number)
            if reason is None:
                continue
            note = {"file": path.name, "sha256": sha, "line": number, "text": raw, "reason": reason}
            if layout.write_once(self.dir(layout.REJECTED) / f"{sha[:16]}.{number}.json", note):
                rejected.append(scrub(f"{path.name} line {number} rejected: {reason}"))
        layout.move(path, taken / f"{sha}-{path.name}")
        return rejected

    def _keep(self, line: layout.Line, file: str, sha: str, number: int) -> str | None:
        """Write ``orders/<order>.json``; None when it is this line's, else why not."""
        target = self.dir(layout.ORDERS) / f"{line.order}.json"
        if layout.write_once(target, line.record(file, sha, number)):
            return None
        first = _read_json(target)
        if first.get("sha256") == sha and first.get("line") == number:
            return None  # this very line, taken before a crash cut the take short
        where = f"{first.get('file')} line {first.get('line')}"
        return f"order {line.order} was taken before (from {where})"

    def _reject_file(self, path: Path, sha: str, reason: str) -> str:
        name = f"{sha[:16]}-{path.name}"
        rejected = self.dir(layout.REJECTED)
        layout.write_once(
            rejected / f"{name}.reason.json", {"file": path.name, "sha256": sha, "reason": reason}
        )
        layout.move(path, rejected / name)
        return scrub(f"{path.name} rejected: {reason}")

    # -- the orders -----------------------------------------------------------------------------

    def _moves(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for name in os.listdir(self.dir(layout.RESULTS)):
            parsed = layout.parse_result_name(name)
            if parsed:
                found.setdefault(parsed[0], set()).add(parsed[1])
        return found

    def active_statuses(self) -> tuple[str, ...]:
        return layout.ACTIVE

    def iter_orders(self, page_size: int, *, active: bool) -> Iterator[FolderOrder | str]:
        """Take what the inbox holds (each rejection yielded once, as its words), then
        every order of ``orders/`` (``active``: those not finished or cancelled)."""
        yield from self.take()
        try:
            moves = self._moves()
            names = sorted(os.listdir(self.dir(layout.ORDERS)))
        except OSError as exc:
            raise UnreachableError(f"the drop folder: {exc.strerror}") from None
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            uid = name.removesuffix(".json")
            try:
                order = FolderOrder(
                    uid, _read_json(self.dir(layout.ORDERS) / name), frozenset(moves.get(uid, ()))
                )
            except (OSError, ValueError) as exc:
                yield f"{NAME} order {uid}: unreadable ({exc})"
                continue
            if not active or order.status in layout.ACTIVE:
                yield order

    def get_order(self, uid: str) -> FolderOrder:
        self._ready()
        path = self.dir(layout.ORDERS) / f"{uid}.json"
        try:
            record = _read_json(path)
        except FileNotFoundError:
            raise PermanentError(f"order {uid} is not in the drop folder") from None
        except (OSError, ValueError) as exc:
            raise TransientError(f"order {uid} in the drop folder: {exc}") from None
        moves = {
            m
            for m in layout.MOVES
            if (self.dir(layout.RESULTS) / layout.result_name(uid, m)).exists()
        }
        return FolderOrder(uid, record, frozenset(moves))

    def plan_push(self, action: Action, remote_status: str) -> PushPlan:
        return plan_push(action, remote_status)

    def push_step(
        self,
        uid: str,
        step: str,
        *,
        reason: str | None,
        idempotency_key: str,
        payload: Mapping[str, Any] | None = None,
    ) -> FolderOrder:
        """Write ``results/<uid>.<step>.json`` once; an existing one is the move already
        made (left as it is) and the order is read back either way."""
        if step not in layout.MOVES:
            raise PermanentError(f"no such move for a drop folder: {step}")
        order = self.get_order(uid)  # refused when the order is not in the folder
        result: dict[str, Any] = {
            "order": uid,
            "move": step,
            "status": layout.MOVES[step],
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "idempotency_key": idempotency_key,
        }
        if step == "cancel" and reason:
            result["reason"] = reason
        if step == "finish" and payload and isinstance(payload.get("tracking"), Mapping):
            result["tracking"] = dict(payload["tracking"])
        if step == layout.PICKED_UP and payload and isinstance(payload.get("picked_up"), Mapping):
            result["picked_up"] = dict(payload["picked_up"])  # when, and by whom
        try:
            layout.write_once(self.dir(layout.RESULTS) / layout.result_name(uid, step), result)
        except OSError as exc:  # it may be there all the same: read back before a resend
            raise TransientError(f"result {uid}.{step} not written: {exc.strerror}") from None
        return FolderOrder(uid, order.record, order.moves | {step})

    def close(self) -> None:
        """Nothing to release."""


def _ours(name: str) -> bool:
    """An order file of the partner's, complete by its name (not a temporary one)."""
    lower = name.lower()
    return not name.startswith((".", "~")) and lower.endswith(layout.SUFFIXES)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    found = json.loads(path.read_text("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("not an object")
    return found

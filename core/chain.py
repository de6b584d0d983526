"""Several pharmacies at a glance (``rxfloor chain``): one line per pharmacy's database.

A chain is one database per pharmacy, on one server or several (the schema knows no
pharmacy: the push lease, the feed channel and the webhook inbox are each database's own).
This reads them, never writes: per pharmacy the open and processing counts, how many of
those are late, its exceptions (parked pushes and unacknowledged alerts) and its sync health,
or the one line that says it cannot be read (the others still show).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rxfloor.core.db import Store
    from rxfloor.core.due import Targets


@dataclass(frozen=True, slots=True)
class Pharmacy:
    name: str
    url: str


def parse_pharmacy(text: str) -> Pharmacy:
    """``NAME=URL`` (as ``--pharmacy`` takes it); ValueError with the reason."""
    name, sep, url = text.partition("=")
    if not sep or not name.strip() or not url.strip():
        raise ValueError(f"--pharmacy wants NAME=URL, got {text!r}")
    return Pharmacy(name.strip(), url.strip())


def pharmacies(configured: Mapping[str, str], given: Iterable[str] = ()) -> list[Pharmacy]:
    """The ``[chain]`` section's pharmacies, then ``--pharmacy`` ones (a name given twice:
    the command line wins), in that order."""
    out = {name: Pharmacy(name, url) for name, url in configured.items()}
    for text in given:
        p = parse_pharmacy(text)
        out[p.name] = p
    return list(out.values())


@dataclass(frozen=True, slots=True)
class PharmacyLine:
    """What the chain view shows for one pharmacy (``error``: why it could not be read)."""

    name: str
    open: int = 0
    processing: int = 0
    late: int = 0
    on_hold: int = 0
    failed: int = 0  # parked pushes: a person must retry or resolve them
    alerts: int = 0  # unacknowledged alerts (a remote cancellation in work, ...)
    queued: int = 0
    online: bool | None = None  # every source's last word online (None: never synced)
    offline_since: datetime | None = None
    last_ok_at: datetime | None = None
    error: str | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def exceptions(self) -> int:
        return self.failed + self.alerts

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["exceptions"] = self.exceptions
        return data


def read_line(
    name: str, store: Store, now: datetime, targets: Targets | None = None
) -> PharmacyLine:
    """One pharmacy's line, read in one transaction; late as its board says it
    (:mod:`rxfloor.core.due`)."""
    from sqlalchemy import case, func, select

    from rxfloor.core.db import queries
    from rxfloor.core.db.schema import alerts, orders
    from rxfloor.core.due import Targets, late_sql

    active = ("OPEN", "PROCESSING")
    late = case((late_sql(targets or Targets(), now), 1), else_=0)
    held = case((orders.c.on_hold, 1), else_=0)
    with store.read() as conn:
        per_status = {
            str(status): (int(n), int(n_late or 0), int(n_held or 0))
            for status, n, n_late, n_held in conn.execute(
                select(orders.c.status, func.count(), func.sum(late), func.sum(held))
                .where(orders.c.status.in_(active))
                .group_by(orders.c.status)
            )
        }
        n_alerts = conn.execute(
            select(func.count()).select_from(alerts).where(alerts.c.acknowledged_at.is_(None))
        ).scalar_one()
        health = queries.sync_health(conn)
    known = [h for h in health.values() if h.online is not None]
    offline = [h.offline_since for h in known if not h.online and h.offline_since is not None]
    last_ok = [h.last_ok_at for h in known if h.last_ok_at is not None]
    zero = (0, 0, 0)
    return PharmacyLine(
        name=name,
        open=per_status.get("OPEN", zero)[0],
        processing=per_status.get("PROCESSING", zero)[0],
        late=sum(v[1] for v in per_status.values()),
        on_hold=sum(v[2] for v in per_status.values()),
        failed=sum(h.failed for h in health.values()),
        alerts=int(n_alerts),
        queued=sum(h.queued for h in health.values()),
        online=all(h.online for h in known) if known else None,
        offline_since=min(offline) if offline else None,
        last_ok_at=max(last_ok) if last_ok else None,
        sources=sorted(health),
    )


class Chain:
    """The pharmacies' stores, opened read-only on first use (one connection each) and kept;
    a pharmacy that cannot be read is a line saying why, and is tried again next time."""

    def __init__(self, chain: list[Pharmacy], *, app_name: str = "rxfloor chain") -> None:
        self.chain = chain
        self.app_name = app_name
        self._stores: dict[str, Store] = {}

    def _store(self, p: Pharmacy) -> Store:
        from rxfloor.core.db import Store

        store = self._stores.get(p.name)
        if store is None:
            store = Store.open(p.url, migrate=False, pool_size=1, app_name=self.app_name)
            self._stores[p.name] = store
        return store

    def snapshot(self, now: datetime) -> list[PharmacyLine]:
        from rxfloor.core.db import StoreError
        from rxfloor.core.text import shown

        lines = []
        for p in self.chain:
            try:
                lines.append(read_line(p.name, self._store(p), now))
            except (StoreError, ValueError) as exc:
                lines.append(PharmacyLine(p.name, error=shown(exc)))
                self._drop(p.name)
            except Exception as exc:  # a driver's error: the server went away meanwhile
                from sqlalchemy.exc import DBAPIError

                if not isinstance(exc, DBAPIError):
                    raise
                lines.append(
                    PharmacyLine(p.name, error=f"cannot read: {shown(str(exc).splitlines()[0])}")
                )
                self._drop(p.name)
        return lines

    def _drop(self, name: str) -> None:
        store = self._stores.pop(name, None)
        if store is not None:
            store.close()

    def close(self) -> None:
        for name in list(self._stores):
            self._drop(name)

"""The exceptions queue and alerts: a person acknowledges an alert, retries or resolves a
parked move, or settles a source's exceptional word; each is audited on its order.
"""

from __future__ import annotations

from sqlalchemy import select, update

from rxfloor.core import outbox as outbox_rows
from rxfloor.core import sources
from rxfloor.core.db import alerts, orders
from rxfloor.core.models import OutboxState
from rxfloor.core.service.base import Conflict, Refused, ServicePart


class ExceptionsQueue(ServicePart):
    """What a person does in the exceptions queue (see the module's docstring)."""

    def acknowledge_alert(self, alert_id: int) -> None:
        """A pharmacist has seen the alert; recorded in the order's audit trail."""
        now = self.clock()
        with self.store.write() as conn:
            alert = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
            if alert is None or alert["acknowledged_at"] is not None:
                return
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(acknowledged_at=now, acknowledged_by=self.actor.name)
            )
            row = self._find(conn, alert["order_id"])
            self._event(
                conn,
                row["id"],
                now,
                action="acknowledge",
                from_status=row["status"],
                to_status=row["status"],
                reason=alert["message"],
                version=row["version"],
            )
            self.store.record_change(conn, [row["id"]])

    def retry_failed(self, outbox_id: int) -> str:
        """A person asks to send a refused move again (e.g. after fixing it at the remote)."""
        return self._unpark(outbox_id, None)

    def resolve_failed(self, outbox_id: int, note: str) -> str:
        """A person settles a refused move by hand: it is never sent; the note is audited."""
        note = note.strip()
        if not note:
            raise Refused("resolve needs a note saying what was done")
        return self._unpark(outbox_id, note)

    def _unpark(self, outbox_id: int, note: str | None) -> str:
        """Retry (``note`` None) or resolve one parked move, audited on its order."""
        now = self.clock()
        with self.store.write() as conn:
            row = outbox_rows.get(conn, outbox_id)
            if row is None:
                raise Refused(f"no queued move {outbox_id}")
            done = (
                outbox_rows.retry(conn, outbox_id)
                if note is None
                else outbox_rows.resolve(conn, outbox_id, f"resolved by {self.actor.name}: {note}")
            )
            if not done:
                raise Refused(f"move {outbox_id} is {row['state']}, not {OutboxState.FAILED}")
            order = self._find(conn, row["order_id"])
            self._event(
                conn,
                order["id"],
                now,
                action="retry" if note is None else "resolve",
                from_status=order["status"],
                to_status=order["status"],
                reason=note or f"{row['action']} sent again",
                version=order["version"],
            )
            self.store.record_change(conn, [order["id"]])
        done_how = "queued again" if note is None else "resolved"
        return f"{order['name']}: {row['action']} {done_how}"

    def resolve_exception(self, ref: str, note: str) -> str:
        """A person settles a source status (Photon ``error``, Konnektive Failed, …) by
        hand: the order leaves the exceptions queue until its source says another word
        that needs a person. The note is audited; the order itself does not move."""
        note = note.strip()
        if not note:
            raise Refused("resolve needs a note saying what was done")
        now = self.clock()
        with self.store.write() as conn:
            row = self._find(conn, ref)
            said = row["remote_status"]
            label = sources.traits(row["source"]).label
            words = sources.status_words(row["source"], said) or "nothing"
            if sources.exception(row["source"], said, row["exception_resolved"]) is None:
                raise Refused(
                    f"{row['name']} is not a source status in the queue ({label} says {words})"
                )
            done = conn.execute(
                update(orders)
                .where(orders.c.id == row["id"], orders.c.remote_status == said)
                .values(exception_resolved=said)
            )
            if done.rowcount != 1:  # the source spoke in between (PostgreSQL READ COMMITTED)
                raise Conflict(f"{row['name']}: {label} changed its status meanwhile; look again")
            self._event(
                conn,
                row["id"],
                now,
                action="resolve",
                from_status=row["status"],
                to_status=row["status"],
                reason=f"{label} {words}: {note}",
                version=row["version"],
            )
            self.store.record_change(conn, [row["id"]])
        return f"{row['name']}: {label} {words} resolved"

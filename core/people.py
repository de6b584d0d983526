"""The floor's people: who may sign in, as what, and every change to that list.

The only writer of ``people`` and ``people_events`` (tests/e2e/test_quality.py holds it to that).
One list per database (one floor); each change is one transaction with its event. A PIN is
kept as a salted scrypt hash, never as typed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from rxfloor.core.db import Store, people, people_events, utcnow
from rxfloor.core.lifecycle import Person


class Role(StrEnum):
    PHARMACIST = "pharmacist"
    TECHNICIAN = "technician"


class PeopleError(ValueError):
    """A change to the list refused; the message is one line for a person."""


@dataclass(frozen=True, slots=True)
class Member:
    """One person of the floor, as listed (never the PIN itself)."""

    name: str
    role: Role
    badge: str | None
    has_pin: bool
    added_at: datetime
    added_by: str

    @property
    def person(self) -> Person:
        return Person(self.name, pharmacist=self.role is Role.PHARMACIST)


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def pin_matches(stored: str | None, pin: str) -> bool:
    """The typed ``pin`` is the one stored (constant time); no PIN stored: never."""
    if not stored:
        return False
    try:
        kind, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    typed = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(typed.hex(), digest)


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 32 or not name.isprintable() or " " in name:
        raise PeopleError(f"a person's name or initials: 1 to 32 characters, no spaces: {name!r}")
    return name


def check_pin(pin: str) -> str:
    if not (4 <= len(pin) <= 12 and pin.isdigit()):
        raise PeopleError("a PIN is 4 to 12 digits")
    return pin


def _member(row: RowMapping) -> Member:
    return Member(
        name=str(row["name"]),
        role=Role(str(row["role"])),
        badge=None if row["badge"] is None else str(row["badge"]),
        has_pin=bool(row["pin_hash"]),
        added_at=row["added_at"],
        added_by=str(row["added_by"]),
    )


class People:
    """The list, read and changed by ``actor`` at ``station``."""

    def __init__(self, store: Store, actor: str, station: str) -> None:
        self.store = store
        self.actor = actor
        self.station = station

    # ------------------------------------------------------------------ reads
    def all(self) -> list[Member]:
        with self.store.read() as conn:
            rows = conn.execute(select(people).order_by(people.c.name)).mappings()
            return [_member(r) for r in rows]

    def get(self, name: str) -> Member | None:
        with self.store.read() as conn:
            row = conn.execute(select(people).where(people.c.name == name)).mappings().first()
            return None if row is None else _member(row)

    def by_badge(self, badge: str) -> Member | None:
        with self.store.read() as conn:
            row = conn.execute(select(people).where(people.c.badge == badge)).mappings().first()
            return None if row is None else _member(row)

    def pin_ok(self, name: str, pin: str) -> bool:
        with self.store.read() as conn:
            stored = conn.execute(select(people.c.pin_hash).where(people.c.name == name)).scalar()
        return pin_matches(stored, pin)

    def events(self, limit: int = 200) -> list[dict[str, object]]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(people_events).order_by(people_events.c.id.desc()).limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    # ---------------------------------------------------------------- changes
    def add(
        self, name: str, role: Role, *, badge: str | None = None, pin: str | None = None
    ) -> Member:
        """A new person; refused when the name or the badge is taken."""
        name = check_name(name)
        badge = badge.strip() if badge and badge.strip() else None
        now = utcnow()
        with self.store.write() as conn:
            if conn.execute(select(people.c.name).where(people.c.name == name)).first():
                raise PeopleError(f"{name} is already on the floor's list (remove them first)")
            if badge is not None:
                owner = conn.execute(select(people.c.name).where(people.c.badge == badge)).scalar()
                if owner is not None:
                    raise PeopleError(f"badge {badge} is already {owner}'s")
            conn.execute(
                insert(people).values(
                    name=name,
                    role=role.value,
                    badge=badge,
                    pin_hash=hash_pin(check_pin(pin)) if pin is not None else None,
                    added_at=now,
                    added_by=self.actor,
                )
            )
            detail = (
                f"{role.value}"
                + (f", badge {badge}" if badge else "")
                + (", with a PIN" if pin is not None else "")
            )
            self._event(conn, now, "add", name, detail)
        member = self.get(name)
        assert member is not None
        return member

    def set_pin(self, name: str, pin: str | None) -> None:
        """Set (or, with None, clear) a person's PIN."""
        now = utcnow()
        with self.store.write() as conn:
            done = conn.execute(
                update(people)
                .where(people.c.name == name)
                .values(pin_hash=hash_pin(check_pin(pin)) if pin is not None else None)
            )
            if done.rowcount != 1:
                raise PeopleError(f"{name} is not on the floor's list")
            self._event(conn, now, "change", name, "PIN set" if pin else "PIN cleared")

    def remove(self, name: str) -> None:
        now = utcnow()
        with self.store.write() as conn:
            done = conn.execute(delete(people).where(people.c.name == name))
            if done.rowcount != 1:
                raise PeopleError(f"{name} is not on the floor's list")
            self._event(conn, now, "remove", name, None)

    def seed(self, entries: Mapping[str, tuple[Role, str | None]]) -> list[str]:
        """``[people]`` of the config: add whoever is missing (an audited add each, by
        ``config``); a person already listed is left as the list has them. Returns who
        was added."""
        known = {m.name for m in self.all()}
        added = []
        for name, (role, badge) in entries.items():
            if name in known:
                continue
            try:
                People(self.store, "config", self.station).add(name, role, badge=badge)
            except PeopleError:
                continue  # a race with another station, or a badge taken: the list wins
            added.append(name)
        return added

    def signed(self, action: str, name: str, detail: str | None = None) -> None:
        """A sign-in, sign-out (``sign_out``, ``idle_sign_out``) or a refused sign-in."""
        now = utcnow()
        with self.store.write() as conn:
            self._event(conn, now, action, name, detail)

    def _event(
        self, conn: Connection, at: datetime, action: str, person: str, detail: str | None
    ) -> None:
        conn.execute(
            insert(people_events).values(
                at=at,
                actor=self.actor,
                station=self.station,
                action=action,
                person=person,
                detail=detail,
            )
        )

"""The one door for every change to an order: the only writer of orders, audit events,
alerts and product scans (tests/e2e/test_quality.py holds this package to that).

Each call is one database transaction that writes the new state, an audit event and —
for moves the remote must learn about — an outbox row (through :mod:`rxfloor.core.outbox`,
inside the same transaction), together or not at all. The order's ``version`` column makes
every move conditional, so two terminals racing on the same order can never both win (the
loser gets a :class:`Conflict`).

The service does four jobs, one module each, all on the shared state of :mod:`.base`:
local moves (:mod:`.moves`), applying the remote (:mod:`.remote`), settling the sync
worker's pushes (:mod:`.pushes`), and the exceptions queue and alerts (:mod:`.queue`).
:class:`OrderService` composes them, so its callers need one object and one import.
"""

from __future__ import annotations

from rxfloor.core.config import Settings
from rxfloor.core.db import Store
from rxfloor.core.flags import FlagRules
from rxfloor.core.service.base import (
    REMOTE_ACTOR,
    Actor,
    Conflict,
    OrderNotFound,
    Refused,
    ServiceError,
    local_hold_note,
)
from rxfloor.core.service.moves import PUSHED_ACTIONS, Counter, MoveResult, Moves, ProductScanned
from rxfloor.core.service.pushes import (
    _SET_REMOTE_STATUS,
    PushResult,
    PushSettling,
    ReadBack,
    Refusal,
)
from rxfloor.core.service.queue import ExceptionsQueue
from rxfloor.core.service.remote import RemoteChanges

__all__ = [
    "PUSHED_ACTIONS",
    "REMOTE_ACTOR",
    "_SET_REMOTE_STATUS",
    "Actor",
    "Conflict",
    "Counter",
    "MoveResult",
    "OrderNotFound",
    "OrderService",
    "ProductScanned",
    "PushResult",
    "ReadBack",
    "Refusal",
    "Refused",
    "ServiceError",
    "local_hold_note",
    "open_service",
]


class OrderService(Moves, RemoteChanges, PushSettling, ExceptionsQueue):
    """The service as its callers see it: every part on one store, actor and clock."""


def open_service(settings: Settings, role: str = "cli") -> OrderService:
    """Open the configured store (migrating it on first use) and a service acting as the user.
    ``role``: the command, for the connections' name (``rxfloor board@counter-1``)."""
    store = Store.open(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.db_pool_size,
        app_name=f"rxfloor {role}@{settings.station}",
        pgbouncer=settings.db_pgbouncer,
    )
    if settings.people:  # [people] of the config: whoever the list lacks is added (audited)
        from rxfloor.core.people import People, Role

        People(store, settings.actor, settings.station).seed(
            {name: (Role(p.role), p.badge) for name, p in settings.people.items()}
        )
    service = OrderService(
        store,
        Actor(settings.actor, settings.station),
        check=settings.floor.check,
        flags=FlagRules.of(settings.floor.fridge, settings.floor.controlled),
    )
    service.require_product_scan = settings.floor.require_product_scan
    return service

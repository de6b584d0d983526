"""The local database: schema, engine and transactions, queries, change log, migrations.

Import the database's names from here (``from rxfloor.core.db import Store, orders``); how
they are spread over the modules inside is this package's own business:
``schema`` (tables), ``engine`` (Store: open, migrate, read/write, errors), ``queries``
(every read, the one id resolver), ``changelog`` (the change log the board follows).
"""

from rxfloor.core.db.changelog import ChangeWaiter, Cursor
from rxfloor.core.db.engine import Store, StoreError, normalise_url, safe_url
from rxfloor.core.db.queries import AmbiguousOrder, SyncHealth, resolve_order
from rxfloor.core.db.schema import (
    SCHEMA_HEAD,
    UTCDateTime,
    alerts,
    audit_events,
    changes,
    line_items,
    metadata,
    orders,
    outbox,
    sync_lease,
    sync_state,
    utcnow,
    webhook_inbox,
)

__all__ = [
    "SCHEMA_HEAD",
    "AmbiguousOrder",
    "ChangeWaiter",
    "Cursor",
    "Store",
    "StoreError",
    "SyncHealth",
    "UTCDateTime",
    "alerts",
    "audit_events",
    "changes",
    "line_items",
    "metadata",
    "normalise_url",
    "orders",
    "outbox",
    "resolve_order",
    "safe_url",
    "sync_lease",
    "sync_state",
    "utcnow",
    "webhook_inbox",
]

"""What the wall shows, read for this floor's configuration. The wall screen and ``watch
--json`` both read it here, so a new figure is a field of
:class:`~rxfloor.core.db.queries.WallFigures` and its query, then a widget that shows it:
the JSON carries every field as it is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from rxfloor.core import sources as plugins
from rxfloor.core.config import Settings
from rxfloor.core.db import queries
from rxfloor.core.due import Targets, day_start


def read_wall(
    conn: Connection,
    settings: Settings,
    now: datetime,
    *,
    sources: Sequence[str] | None = None,
) -> queries.WallFigures:
    """The wall's figures at ``now`` (one read transaction: ``conn``). ``sources`` are the
    configured ones (a caller that reads every second passes them once found)."""
    return queries.wall_figures(
        conn,
        now,
        day_start(now),
        sources=plugins.configured(settings) if sources is None else sources,
        targets=Targets.from_settings(settings),
        will_call_days=settings.floor.will_call_days,
    )

"""The board's header: clock, pharmacy · station · pharmacist, and sync health per source.

Health reads one part per source that syncs here: ``rxscale online · shopify 2 queued``.
A source is named when it is configured, or when the database knows its health (a worker
ran for it: the demo's stand-ins) or holds moves queued or parked for it. Nothing to name:
``sync: off`` (no source is configured: the board works locally), never "offline".

Health has an age: a worker writes it every cycle, so when none has for a few intervals
(:func:`stale_after_s`) nothing syncs (the only ``rxfloor sync`` stopped, the demo died), and
the last word ("online", "1 queued") is no longer true: the part says ``rxscale: no sync since
10:02`` in the warning colour instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from textual.content import Content
from textual.widgets import Static

from rxfloor.core.config import Settings
from rxfloor.core.db import SyncHealth
from rxfloor.core.text import visible

#: How a bad word of the header is styled (the theme's error colour).
_BAD = "$error bold"
#: The exceptions queue's count: someone must look (the theme's warning colour).
_LOOK = "$warning bold"


def down_sentence(since: datetime) -> str:
    """What the board and the wall say while the database does not answer."""
    return f"database unreachable since {_hhmm(since)} · retrying"


def reopened_sentence(at: datetime, path: str) -> str:
    """What the board and the wall say after reopening a replaced SQLite file."""
    return (
        f"the database file was replaced at {at.astimezone():%H:%M:%S}: now reading the "
        f"new {visible(path)}"
    )


#: A source's health is old when no worker wrote it for this many sync intervals...
STALE_INTERVALS = 3
#: ...and at least this long (a cycle that pulls many pages writes only at its end).
STALE_MIN_S = 30.0


def stale_after_s(settings: Settings) -> float:
    """How old a source's health may be before the header stops believing it."""
    return max(STALE_INTERVALS * settings.sync_interval_s, STALE_MIN_S)


def no_sync_since(
    health: SyncHealth | None, now: datetime | None, stale_after: float | None
) -> datetime | None:
    """When its worker last reported, if that is longer ago than ``stale_after`` seconds."""
    if health is None or health.reported_at is None or now is None or stale_after is None:
        return None
    if now - health.reported_at <= timedelta(seconds=stale_after):
        return None
    return health.reported_at


def _hhmm(when: datetime) -> str:
    return when.astimezone().strftime("%H:%M")


def exceptions_part(count: int) -> Content:
    """``exceptions 3 │ `` for the header; nothing at 0."""
    if not count:
        return Content("")
    return Content.styled(f"exceptions {count}", _LOOK) + Content(" │ ")


def shown_sources(configured: Sequence[str], health: Mapping[str, SyncHealth]) -> list[str]:
    """The configured sources in their order, then any other the database has news of."""
    known = [
        name
        for name, h in sorted(health.items())
        if name not in configured and (h.online is not None or h.queued or h.failed)
    ]
    return [*configured, *known]


def source_health(
    name: str,
    health: SyncHealth | None,
    *,
    configured: bool,
    now: datetime | None = None,
    stale_after: float | None = None,
) -> Content:
    """One source's part: ``rxscale online``, ``shopify 2 queued``,
    ``shopify offline since 10:02, 1 failed`` (offline and failed in the error colour),
    ``shopify sync error`` (it answers, but its last sync had errors: the warning colour),
    ``rxscale: no sync since 10:02, 1 queued`` (no worker reported for ``stale_after``
    seconds before ``now``: the warning colour)."""
    words: list[Content] = []
    since = no_sync_since(health, now, stale_after)
    if since is None and (health is None or health.online is None):
        words.append(Content("connecting" if configured else "off"))
    elif since is None and health is not None and not health.online:
        when = _hhmm(health.offline_since) if health.offline_since else ""
        words.append(Content.styled(f"offline since {when}" if when else "offline", _BAD))
    if health is not None and health.queued:
        words.append(Content(f"{health.queued} queued"))
    if health is not None and health.failed:
        words.append(Content.styled(f"{health.failed} failed", _BAD))
    if since is None and health is not None and health.online and health.last_error:
        # it answers, but its last sync did not go through (a refused query, a malformed
        # answer): "online" alone would hide that nothing arrives; the words are in the detail
        words.append(Content.styled("sync error", _LOOK))
    if since is not None:  # its last word is no longer true: say how old it is
        lead = Content.styled(f"{visible(name)}: no sync since {_hhmm(since)}", _LOOK)
        return Content(", ").join([lead, *words])
    if not words:
        words.append(Content("online"))
    return Content(f"{visible(name)} ") + Content(", ").join(words)


def health_line(
    health: Mapping[str, SyncHealth],
    configured: Sequence[str],
    *,
    now: datetime | None = None,
    stale_after: float | None = None,
) -> Content:
    """Every source's part, ``·`` between them; ``sync: off`` when there is none."""
    names = shown_sources(configured, health)
    if not names:
        return Content("sync: off")
    parts: Iterable[Content] = (
        source_health(
            n, health.get(n), configured=n in configured, now=now, stale_after=stale_after
        )
        for n in names
    )
    return Content(" · ").join(parts)


def compact_health_line(
    health: Mapping[str, SyncHealth],
    configured: Sequence[str],
    *,
    now: datetime | None = None,
    stale_after: float | None = None,
) -> Content:
    """The header's form where every source's part does not fit (four sources on 80
    columns): a source with news (offline, queued, failed, connecting, no sync) keeps its
    part, the ones simply online are counted: ``photon offline since 10:02 · 3 online``."""
    names = shown_sources(configured, health)
    parts = [
        source_health(
            n, health.get(n), configured=n in configured, now=now, stale_after=stale_after
        )
        for n in names
    ]
    troubled = [p for n, p in zip(names, parts, strict=True) if p.plain != f"{visible(n)} online"]
    fine = len(parts) - len(troubled)
    if not troubled:
        return Content(f"{fine} sources online")
    return Content(" · ").join([*troubled, *([Content(f"{fine} online")] if fine else [])])


def _counts(health: SyncHealth | None, since: datetime | None = None) -> str:
    if since is not None:
        state = f"no sync since {_hhmm(since)}"
    elif health is None or health.online is None:
        state = "offline"
    elif health.online:
        state = "online"
    else:
        when = _hhmm(health.offline_since) if health.offline_since else ""
        state = f"offline since {when}" if when else "offline"
    queued = health.queued if health else 0
    failed = health.failed if health else 0
    return f"{state} · {queued} queued · {failed} failed"


def health_text(
    health: Mapping[str, SyncHealth] | None,
    *,
    now: datetime | None = None,
    stale_after: float | None = None,
) -> str:
    """The long form, every count spelled out (the wall has the room): ``sync: online · 0
    queued · 0 failed``; with several sources, each one named; a source no worker reported
    for lately: ``rxscale: no sync since 10:02 · 1 queued · 0 failed``."""
    if not health:
        return f"sync: {_counts(None)}"
    parts = []
    for name, h in health.items():
        since = no_sync_since(h, now, stale_after)
        if since is not None:
            parts.append(f"{visible(name)}: {_counts(h, since)}")
        elif len(health) == 1:
            parts.append(f"sync: {_counts(h)}")
        else:
            parts.append(f"{visible(name)} {_counts(h)}")
    if len(health) == 1:
        return parts[0]
    return "sync: " + " │ ".join(parts)


def any_stale(
    health: Mapping[str, SyncHealth], now: datetime | None, stale_after: float | None
) -> bool:
    """Whether some source's health is older than ``stale_after`` (the wall's warning)."""
    return any(no_sync_since(h, now, stale_after) is not None for h in health.values())


class BoardHeader(Static):
    """Clock, pharmacy / station / pharmacist, sync health per source."""

    def __init__(self) -> None:
        # text from data is never parsed as markup (an order named "[/]x" is just a name)
        super().__init__("", id="header", markup=False)

    def show(
        self,
        now: datetime,
        settings: Settings,
        health: Mapping[str, SyncHealth],
        configured: Sequence[str],
        exceptions: int = 0,
        db_down: datetime | None = None,
    ) -> None:
        """``db_down``: since when the database does not answer (its sentence, in the error
        colour, takes the place of the sync health, which cannot be read meanwhile)."""
        clock = now.astimezone().strftime("%H:%M:%S")
        where = visible(f"{settings.pharmacy} · {settings.station} · {settings.actor}")
        head = Content(f" {clock} │ {where} │ ") + exceptions_part(exceptions)
        if db_down is not None:
            self.update(head + Content.styled(down_sentence(db_down), _BAD), layout=False)
            return
        stale = stale_after_s(settings)
        line = head + health_line(health, configured, now=now, stale_after=stale)
        width = self.size.width
        if width and line.cell_length > width and len(shown_sources(configured, health)) > 1:
            line = head + compact_health_line(health, configured, now=now, stale_after=stale)
        self.update(line, layout=False)

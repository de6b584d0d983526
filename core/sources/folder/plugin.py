"""The folder drop's plugin: its traits, its ``[sources.folder]`` section (no secrets: the
folder's permissions are the gate) and its factories."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rxfloor.core.sources import SourcePlugin, SourceTraits, loader, opener

NAME = "folder"

_WORDS = {"open": "Open", "started": "Started", "finished": "Finished", "cancelled": "Cancelled"}


class FolderSection(BaseModel):
    """``[sources.folder]``: a folder a partner drops order files in (see
    docs/pages/sources/folder.md for the layout)."""

    model_config = ConfigDict(extra="forbid")

    #: the watched folder (``inbox/``, ``results/``, … are made in it); set: configured
    path: str | None = None
    #: a file changed less than this ago may still be written: left for the next pull
    settle_s: float = Field(default=2.0, ge=0, le=3600)
    #: a file still unreadable this long after it last changed goes to ``rejected/``
    give_up_s: float = Field(default=600.0, ge=0, le=7 * 86400)


PLUGIN = SourcePlugin(
    name=NAME,
    rank=50,
    traits=SourceTraits(
        "Folder",
        "F",
        tracking_on_finish=True,
        remote_hold=False,
        status_words=lambda status: _WORDS.get(status, status),
    ),
    section=FolderSection,
    configured=lambda s: bool(s.sources.folder.path),
    open=opener("rxfloor.core.sources.folder.source:FolderSource"),
    webhooks=loader("rxfloor.core.sources.folder.source:WEBHOOKS"),
)

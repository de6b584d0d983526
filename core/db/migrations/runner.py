"""Run Alembic migrations programmatically (no alembic.ini needed on a pharmacy PC)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

if TYPE_CHECKING:
    from rxfloor.core.db import Store

_HERE = Path(__file__).parent
_PG_MIGRATION_LOCK = 0x72786D69  # advisory lock id: "rxmi"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(store: Store, current: str | None) -> None:
    """Upgrade to head under a lock, so several terminals opening a new database agree."""
    from rxfloor.core.db import StoreError

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise StoreError(
            f"the database schema ({current}) is newer than this rxfloor knows "
            f"(up to {script.get_current_head()}): upgrade rxfloor before opening it"
        )
    with store.write() as conn:
        if not store.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

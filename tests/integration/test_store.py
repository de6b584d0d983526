"""Opening databases: URLs as typed, migrations, refusals with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from rxfloor.core.db import SCHEMA_HEAD, Store, StoreError, normalise_url
from rxfloor.core.db.migrations.runner import head_revision


def test_schema_head_constant_matches_alembic() -> None:
    assert head_revision() == SCHEMA_HEAD


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
        ("postgres://u:pw@db/floor", "postgresql+psycopg://u:pw@db/floor"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("/var/lib/rxfloor/floor.db", "sqlite:////var/lib/rxfloor/floor.db"),
    ],
)
def test_urls_are_accepted_as_people_type_them(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("", "empty"),
        ("postgresql+asyncpg://x/y", "psycopg 3"),
    ],
)
def test_bad_urls_say_why(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_url(raw)


def test_unreachable_server_is_one_line_without_password() -> None:
    with pytest.raises(StoreError) as err:
        Store.open("postgresql://postgres:s3cret@127.0.0.1:1/nowhere")
    message = str(err.value)
    assert "cannot open database" in message and "\n" not in message
    assert "s3cret" not in message and "***" in message


@pytest.mark.empty_db
def test_first_use_creates_schema_in_wal_mode(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    assert store.schema_revision() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    store.close()


def test_newer_database_refuses_to_open(db_url: str) -> None:
    Store.open(db_url).close()
    store = Store.open(db_url, migrate=False)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    store.close()
    with pytest.raises(StoreError, match=r"schema \(0999_future\) is newer than this rxfloor"):
        Store.open(db_url)


def test_sqlite_file_in_a_missing_folder_is_refused_but_the_data_dir_is_created(
    tmp_path: Path,
) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(str(tmp_path / "deep" / "er" / "floor.db"))  # a typo: no new empty board
    assert not (tmp_path / "deep").exists()
    from rxfloor.core.config import data_dir

    store = Store.open(str(data_dir() / "floor.db"))
    assert (data_dir() / "floor.db").exists()
    store.close()

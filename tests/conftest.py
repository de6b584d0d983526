"""Shared fixtures: isolated user dirs, real SQLite files, fresh PostgreSQL databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rxfloor.core.db import Store
from rxfloor.core.service import Actor, OrderService
from tests.helpers import scratch_postgres

PG_ENV = "RXFLOOR_TEST_POSTGRES_URL"
PG_SKIP_REASON = f"{PG_ENV} is not set (CI sets it to the machine's PostgreSQL)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first: property runs (hypothesis), then the ``slow`` ones, then the rest,
    each group in its written order. Under pytest-xdist (``-n`` in addopts) the first batch is
    dealt out round robin, so the long tests start at once on different workers instead of
    being the last ones left running on one worker while the others idle. A stable order:
    every worker must collect the same list."""

    def rank(item: pytest.Item) -> int:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never read or write the developer's real config, data or keyring."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):  # fmt: skip
        monkeypatch.setenv(var, str(home / sub))
    (home / "config.toml").touch()  # RXFLOOR_CONFIG naming a missing file is refused
    monkeypatch.setenv("RXFLOOR_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for var in list(os.environ):
        if var.startswith("RXFLOOR_") and var not in (PG_ENV, "RXFLOOR_CONFIG"):
            monkeypatch.delenv(var)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rxfloor.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for this test, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    with scratch_postgres(base) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on a real SQLite file and once on a fresh PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


@pytest.fixture
def service(store: Store) -> OrderService:
    return OrderService(store, Actor("AB", "counter-1"))

"""Shared fixtures: isolated user dirs, real SQLite files, fresh PostgreSQL databases."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import httpx._transports.default as httpx_transports
import pytest

from rxfloor.core.db import Store
from rxfloor.core.service import Actor, OrderService
from tests.helpers import migrated_sqlite, postgres_head, scratch_postgres

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


@pytest.fixture(autouse=True, scope="session")
def _one_default_ssl_context() -> Iterator[None]:
    """Every httpx client (and each of its proxy mounts) builds an SSL context with certifi's
    bundle: ~20 ms of CPU each, 0.1 s on a loaded machine (129 of them in one run of
    test_sync_property[rxscale]: the tests' own clients, the sources' clients, the stand-ins'
    webhook senders). The tests talk plain HTTP on loopback, so in the
    test processes the default context (``verify=True``, no client certificate) is built once
    per SSL_CERT_FILE/SSL_CERT_DIR and shared; any other ``verify`` is built as asked.
    Processes the tests start (the CLI, ``serve``, ``sync``) are untouched."""
    real = httpx.create_ssl_context  # what httpx._transports.default calls

    @functools.cache
    def default(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
        return real(verify=True, cert=None, trust_env=trust_env)  # reads those two variables

    def shared(verify: ssl.SSLContext | str | bool = True, cert: object = None,
               trust_env: bool = True) -> ssl.SSLContext:  # fmt: skip
        if verify is True and cert is None:
            env = os.environ
            return default(trust_env, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))
        return real(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(httpx_transports, "create_ssl_context", shared)
        yield


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


def _empty(request: pytest.FixtureRequest) -> bool:
    """The test asked for an empty database (``@pytest.mark.empty_db``): no schema at all,
    so that opening it runs the real migrations."""
    return request.node.get_closest_marker("empty_db") is not None


@pytest.fixture
def sqlite_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A SQLite file already at the schema head (a copy: see ``migrated_sqlite``), or with
    ``@pytest.mark.empty_db`` a path with no file yet."""
    path = tmp_path / "rxfloor.db"
    return f"sqlite:///{path}" if _empty(request) else migrated_sqlite(path)


@pytest.fixture(scope="session")
def _pg_head() -> Iterator[str]:
    """This worker's PostgreSQL database at the schema head, migrated once and dropped at
    the end of the session (made only when a test asks for PostgreSQL)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    with postgres_head(base) as name:
        yield name


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A brand-new PostgreSQL database for this test, dropped afterwards: a copy of one at
    the schema head (``CREATE DATABASE ... TEMPLATE``), or with ``@pytest.mark.empty_db``
    an empty one."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    template = None if _empty(request) else str(request.getfixturevalue("_pg_head"))
    with scratch_postgres(base, template=template) as url:
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


@pytest.fixture
def services(db_url: str) -> Iterator[Callable[[str], OrderService]]:
    """Terminals on one database: ``services("A")`` opens a store of its own each call."""
    stores: list[Store] = []

    def make(name: str) -> OrderService:
        stores.append(Store.open(db_url))
        return OrderService(stores[-1], Actor(name, f"station-{name}"))

    yield make
    for s in stores:
        s.close()

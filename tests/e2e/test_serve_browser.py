"""``rxfloor serve`` in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them): the page loads with the token, shows the
database's counts, follows a CLI move within 2 s, and without the token is refused with no
app process started.

The page's text is read from xterm.js's DOM renderer (canvas is switched off for the page,
so xterm draws its rows as text); the screenshot test keeps the real canvas renderer.
Set ``RXFLOOR_WALL_PNG=path`` to keep the 1920x1080 screenshot (the docs' picture,
docs/pages/images/wall-1920x1080.png).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rxfloor.tui.watch import font
from tests.board_fixtures import seed_board
from tests.helpers import run_cli
from tests.serve_fixtures import TOKEN, Served, serve

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and not os.environ.get("CI"),
        reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
    ),
]

#: xterm.js falls back to its DOM renderer (rows as text) when a canvas gives no context
_NO_CANVAS = "HTMLCanvasElement.prototype.getContext = function () { return null; };"


@contextmanager
def chromium(*, dom_text: bool) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="rxfloor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                "--window-size=1920,1080"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1920, "height": 1080, "deviceScaleFactor": 1,
                                "mobile": False})  # fmt: skip
        if dom_text:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _NO_CANVAS})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium(dom_text=True) as driver:
        yield driver


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


@pytest.fixture
def served(url: str, tmp_path: Path) -> Iterator[Served]:
    with serve(url, tmp_path) as server:
        yield server


def page_rows(driver) -> list[str]:
    text = driver.execute_script(
        "const r = document.querySelector('.xterm-rows'); return r ? r.innerText : '';"
    )
    return str(text).replace("\u00a0", " ").split("\n")


def shows_number(rows: list[str], number: int) -> bool:
    """``number`` is drawn somewhere on the page in the wall's block digits (any size)."""
    for scale in range(1, 13):
        glyph = font.big(str(number), scale)
        for top in range(len(rows) - len(glyph) + 1):
            start = rows[top].find(glyph[0])
            while start != -1:
                if all(rows[top + i][start:start + len(line)] == line
                       for i, line in enumerate(glyph)):  # fmt: skip
                    return True
                start = rows[top].find(glyph[0], start + 1)
    return False


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def counts(url: str) -> dict[str, int]:
    listed = json.loads(run_cli(url, "orders", "--json").stdout)
    return {s: sum(o["status"] == s for o in listed) for s in ("OPEN", "PROCESSING")}


def test_the_page_shows_the_database_and_follows_a_cli_move(
    served: Served, browser, url: str
) -> None:
    want = counts(url)
    browser.get(f"{served.base}/?token={TOKEN}")
    assert "token" not in browser.current_url  # the redirect took it out of the address bar
    wait_until(lambda: any("LAST MOVES" in r for r in page_rows(browser)), 30)
    wait_until(lambda: shows_number(page_rows(browser), want["PROCESSING"]), 30)
    rows = page_rows(browser)
    assert shows_number(rows, want["OPEN"]) and shows_number(rows, want["PROCESSING"])
    assert any("OPEN" in r for r in rows) and any("PROCESSING" in r for r in rows)
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert fetched and all(str(u).startswith(served.base) for u in fetched), fetched
    apps = served.app_processes()
    assert apps, "the page's websocket started no app process"
    for pid in apps:  # the token stays with the server
        assert TOKEN.encode() not in Path(f"/proc/{pid}/environ").read_bytes()

    done = run_cli(url, "--actor", "GH", "--station", "counter-3", "start", "#1020")
    assert done.returncode == 0, done.stderr
    took = wait_until(lambda: shows_number(page_rows(browser), want["PROCESSING"] + 1), 5)
    assert took < 2.0, f"the move took {took:.2f} s to reach the page"
    assert any("#1020" in r and "GH@counter-3" in r for r in page_rows(browser))
    assert TOKEN not in served.log_text()


def test_without_the_token_the_browser_gets_401_and_no_app_starts(served: Served, browser) -> None:
    for address in (f"{served.base}/", f"{served.base}/?token=not-the-token-0123456789"):
        browser.get(address)
        body = browser.find_element("tag name", "body").text
        assert "This screen needs its link" in body  # what to do, in words
        assert "rxfloor serve --print-url" in body and "?token=" in body
    time.sleep(0.5)
    assert served.app_processes() == []


def test_a_screenshot_at_1920x1080(served: Served, tmp_path: Path) -> None:
    """The real page (canvas renderer) as a PNG; ``RXFLOOR_WALL_PNG`` keeps it."""
    with chromium(dom_text=False) as driver:
        driver.get(f"{served.base}/?token={TOKEN}")

        def painted() -> bool:
            return "-first-byte" in str(driver.execute_script("return document.body.className"))

        wait_until(painted, 30)
        time.sleep(float(os.environ.get("RXFLOOR_WALL_PNG_WAIT", "2")))
        png = tmp_path / "wall.png"
        driver.save_screenshot(str(png))
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (1920, 1080)
        keep = os.environ.get("RXFLOOR_WALL_PNG")
        if keep:
            shutil.copy(png, keep)


def test_board_option_serves_the_board_and_a_stop_ends_its_processes(
    url: str, tmp_path: Path, browser
) -> None:
    with serve(url, tmp_path, "--board") as served:
        browser.get(f"{served.base}/?token={TOKEN}")
        # column titles as the board writes them: "OPEN 30 · 6 late"
        wait_until(lambda: any(re.search(r"OPEN \d", r) for r in page_rows(browser)), 60)
        rows = page_rows(browser)
        assert any(re.search(r"PROCESSING \d", r) for r in rows)
        assert any("sync: off" in r for r in rows)  # nothing configured: the board says so
        apps = served.app_processes()
        assert apps
    # the server stopped on SIGTERM: every app process it started is gone with it
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in apps), 15)


def last_move(url: str, action: str) -> tuple[str, str]:
    """(actor, station) of the newest ``action`` in the audit trail."""
    from sqlalchemy import select

    from rxfloor.core.db import Store, audit_events

    store = Store.open(url, migrate=False)
    try:
        with store.read() as conn:
            row = conn.execute(
                select(audit_events.c.actor, audit_events.c.station)
                .where(audit_events.c.action == action)
                .order_by(audit_events.c.id.desc())
                .limit(1)
            ).one()
    finally:
        store.close()
    return str(row.actor), str(row.station)


def type_keys(driver, *keys: str) -> None:
    """Keys into the page's terminal (xterm.js listens on its helper textarea)."""
    area = driver.find_element("css selector", ".xterm-helper-textarea")
    for key in keys:
        area.send_keys(key)
        time.sleep(0.15)


def test_each_browser_of_the_board_signs_in_and_is_its_own_station(
    url: str, tmp_path: Path, browser
) -> None:
    """``serve --board``: a browser's first screen asks who is at the keys; its moves are
    recorded as that person at the browser's station (``?station=`` or its address), never
    as the server's actor and station."""
    from selenium.webdriver.common.keys import Keys

    with serve(url, tmp_path, "--board") as served:
        browser.get(f"{served.base}/?token={TOKEN}&station=counter-3")
        assert "station" not in browser.current_url and "token" not in browser.current_url
        wait_until(lambda: any("Who is at the keys" in r for r in page_rows(browser)), 60)
        type_keys(browser, "GH", Keys.ENTER)
        wait_until(lambda: any("GH" in r and "counter-3" in r for r in page_rows(browser)), 15)
        type_keys(browser, "a")  # advance the first OPEN card
        wait_until(lambda: last_move(url, "start")[1] == "counter-3", 15)
        assert last_move(url, "start") == ("GH", "counter-3")
        done = run_cli(url, "history", "--json", "#1001")
        assert done.returncode == 0, done.stderr

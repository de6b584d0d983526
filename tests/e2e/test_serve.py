"""``rxfloor serve``: the token gate in front of textual-serve, over real HTTP on loopback."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
import pytest

from rxfloor.tui.cli.serve import COOKIE, session_value, token_file
from tests.board_fixtures import seed_board
from tests.helpers import run_cli
from tests.serve_fixtures import TOKEN, Served, serve


@pytest.fixture
def url(sqlite_url: str) -> str:
    seed_board(sqlite_url)
    return sqlite_url


@pytest.fixture
def served(url: str, tmp_path: Path):
    with serve(url, tmp_path) as server:
        yield server


WS_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_no_token_or_a_wrong_one_is_401_and_starts_no_app(served: Served) -> None:
    wrong = TOKEN[:-1] + "X"
    with httpx.Client(base_url=served.base, follow_redirects=False) as http:
        for path in ("/", f"/?token={wrong}", "/static/js/textual.js", "/download/x",
                     "/?token=", "/nothing"):  # fmt: skip
            answer = http.get(path)
            assert answer.status_code == 401, path
            assert answer.text.startswith("401: a valid token is required.")
            assert "rxfloor serve --print-url" in answer.text
        page = http.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert "This screen needs its link" in page.text
        for headers in (
            {},
            {"Authorization": f"Bearer {wrong}"},
            {"Cookie": f"{COOKIE}={session_value(wrong)}"},
            {"Cookie": f"{COOKIE}={TOKEN[:16]}"},
        ):
            http.cookies.clear()
            answer = http.get("/ws", headers={**WS_HEADERS, **headers,
                                              "Origin": served.base})  # fmt: skip
            assert answer.status_code == 401
    assert served.app_processes() == []
    log = served.log_text()
    assert "GET / 401" in log and "GET /ws 401" in log
    assert TOKEN not in log and wrong not in log and TOKEN[:16] not in log


def test_the_token_once_then_a_cookie_and_never_in_the_log(served: Served) -> None:
    with httpx.Client(base_url=served.base, follow_redirects=False) as http:
        first = http.get(f"/?token={TOKEN}&fontsize=20")
        assert first.status_code == 303
        assert first.headers["location"] == "/?fontsize=20"  # the token leaves the address bar
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        page = http.get("/?fontsize=20")
        assert page.status_code == 200
        assert f'data-session-websocket-url="ws://{served.base[7:]}/ws"' in page.text
        assert 'data-font-size="20"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert http.get("/static/js/textual.js").status_code == 200
        # the page asks nothing of another origin (textual-serve's own asks Google for a font)
        outside = re.findall(r'(?:href|src)="(https?://[^"]+)"', page.text)
        assert [u for u in outside if not u.startswith(served.base)] == []
    bearer = httpx.get(served.base + "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    assert served.app_processes() == []  # a page alone starts nothing: only its websocket
    assert TOKEN not in served.log_text()


def test_a_websocket_from_another_site_is_refused(served: Served) -> None:
    cookie = {"Cookie": f"{COOKIE}={session_value(TOKEN)}"}
    answer = httpx.get(served.base + "/ws", headers={**WS_HEADERS, **cookie,
                                                      "Origin": "http://evil.example"})  # fmt: skip
    assert answer.status_code == 403
    answer = httpx.get(served.base + "/ws", headers={**WS_HEADERS, **cookie})  # no Origin
    assert answer.status_code == 403
    assert served.app_processes() == []


def test_all_interfaces_without_a_token_is_refused_in_one_line(url: str) -> None:
    assert not token_file().exists()
    done = run_cli(url, "serve", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("rxfloor serve: --host 0.0.0.0 is reachable from other machines")
    assert "RXFLOOR_SERVE_TOKEN" in line
    assert not token_file().exists()  # nothing generated for an address others can reach


def test_a_token_is_generated_once_on_loopback_and_kept(url: str) -> None:
    first = run_cli(url, "serve", "--print-url", "--port", "8566")
    assert first.returncode == 0, first.stderr
    path = token_file()
    token = path.read_text().strip()
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.stdout.strip() == f"http://127.0.0.1:8566/?token={token}"
    again = run_cli(url, "serve", "--print-url", "--port", "8566")
    assert again.stdout == first.stdout
    # once it exists, the kept token may serve other machines too
    wide = run_cli(url, "serve", "--print-url", "--host", "0.0.0.0", "--public-url",
                   "https://wall.example.org")  # fmt: skip
    assert wide.stdout.strip() == f"https://wall.example.org/?token={token}"


@pytest.mark.parametrize(
    ("token", "words"),
    [("short-token", "shorter than 16"), ("a token with spaces ok", "no spaces")],
)
def test_a_bad_token_is_one_line_without_it(url: str, token: str, words: str) -> None:
    done = run_cli(url, "serve", "--port", "0", env_extra={"RXFLOOR_SERVE_TOKEN": token})
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert words in line and "RXFLOOR_SERVE_TOKEN" in line and token not in line


def test_a_browser_without_a_name_is_the_station_of_its_address() -> None:
    from aiohttp.test_utils import make_mocked_request

    from rxfloor.tui.cli.serve import STATION_COOKIE, Gate

    gate = Gate("true", TOKEN, public_url=None, title="t", board=True)
    named = make_mocked_request("GET", "/ws", headers={"Cookie": f"{STATION_COOKIE}=bench-2"})
    assert gate.station(named) == "bench-2"
    bad = make_mocked_request("GET", "/ws", headers={"Cookie": f"{STATION_COOKIE}=<x>"})
    assert gate.station(bad).startswith("web-")

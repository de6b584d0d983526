"""``rxfloor serve``: the wall (or, with ``--board``, the board) in a browser, behind a token.

textual-serve runs one app process per browser connection, started when the page opens its
websocket; it has no authentication of its own. rxfloor puts a gate in front of every route
(page, websocket, static files, downloads): a request without the token gets ``401`` and
nothing else, so no app process is ever started for it.

The token comes from ``$RXFLOOR_SERVE_TOKEN`` or from the file ``serve-token`` in the state
dir, created (mode 0600) at the first start on a loopback address. A browser shows it once,
``http://HOST:PORT/?token=…``: the answer is a redirect to the same page without it, with a
cookie (HttpOnly, SameSite=Strict) derived from the token, so the token stays out of the
address bar, the history and any Referer. Scripts may send ``Authorization: Bearer …``.
The token is never printed in a log line: the access log writes the path without its query.
The websocket must also come from the page's own origin (no other site can open it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from aiohttp import web

    from rxfloor.tui.cli.context import Subcommands

TOKEN_ENV = "RXFLOOR_SERVE_TOKEN"
TOKEN_FILE = "serve-token"
MIN_TOKEN_LENGTH = 16
DEFAULT_PORT = 8566
COOKIE = "rxfloor_serve"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]+")
STATION_COOKIE = "rxfloor_station"
STATION_COOKIE_AGE = 400 * 24 * 3600  # a browser keeps its name (browsers cap at 400 days)
_STATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
BAD_TOKEN_TEXT = (
    "401: a valid token is required. Open the address `rxfloor serve --print-url` prints "
    "(it ends in ?token=...), or ask whoever runs rxfloor serve for it.\n"
)
BAD_TOKEN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rxfloor: sign-in link needed</title>
<style>body{font:20px/1.5 sans-serif;max-width:40em;margin:3em auto;padding:0 1em}
code{background:#eee;padding:0 .2em}</style></head>
<body><h1>This screen needs its link</h1>
<p>The address was opened without a valid token (or with an old one), so nothing of the
floor is shown.</p>
<ol><li>On the machine that runs <code>rxfloor serve</code>, run
<code>rxfloor serve --print-url</code> (add <code>--board</code> if it serves the board).</li>
<li>Open the address it prints here; it ends in <code>?token=...</code>. Add
<code>&amp;station=counter-3</code> to give this browser a station name.</li>
<li>The browser then remembers it: bookmark the page <em>without</em> the token.</li></ol>
<p>If it worked before, the token may have been changed: ask whoever runs the server.</p>
</body></html>
"""
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class ServeError(Exception):
    """A reason not to serve, one line (never the token)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.CONFIG) -> None:
        super().__init__(message)
        self.code = code


def add_parser(subcommands: Subcommands) -> None:
    p = add_command(
        subcommands,
        "serve",
        handle,
        help="serve the wall screen (or the board) to browsers, behind a token",
        description="Serve `rxfloor watch` to browsers with textual-serve (one app process per "
        "browser connection, started only once the token was checked). The token comes from "
        f"${TOKEN_ENV}, else the file {TOKEN_FILE} in the state dir (created at the first "
        "start on 127.0.0.1). Open http://HOST:PORT/?token=TOKEN (see --print-url).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)",
    )
    p.add_argument("--board", action="store_true", help="serve the full board, not the wall")
    p.add_argument("--theme", help="the wall's theme (rxfloor-dark, -light, -high-contrast)")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not this server's (a TLS reverse proxy: "
        "https://wall.example.org)",
    )
    p.add_argument(
        "--print-url",
        action="store_true",
        help="print the address with the token (to open on the wall's browser) and exit",
    )


# ------------------------------------------------------------------- the token
def token_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("rxfloor", appauthor=False)) / TOKEN_FILE


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_token(host: str, *, create: bool = True) -> tuple[str, str]:
    """The token and where it came from; created in the state dir only on loopback.

    Raises :class:`ServeError` for a host reachable from other machines with no token yet,
    and for a token too short or with characters a URL would mangle.
    """
    raw = os.environ.get(TOKEN_ENV)
    where = f"${TOKEN_ENV}"
    path = token_file()
    if raw is None:
        where = str(path)
        with contextlib.suppress(FileNotFoundError):
            raw = path.read_text(encoding="utf-8").strip()
    if raw is None:
        if not is_loopback(host):
            raise ServeError(
                f"--host {host} is reachable from other machines and no token is set: set "
                f"{TOKEN_ENV} (at least {MIN_TOKEN_LENGTH} characters), or start once on "
                f"127.0.0.1 to create {path}",
                ExitCode.USAGE,
            )
        if not create:
            raise ServeError(f"no token yet: set {TOKEN_ENV} or start `rxfloor serve` once")
        raw = secrets.token_urlsafe(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(raw + "\n")
        except OSError as exc:
            raise ServeError(f"cannot keep the token in {path}: {exc.strerror or exc}") from None
    if len(raw) < MIN_TOKEN_LENGTH:
        raise ServeError(f"the token (from {where}) is shorter than {MIN_TOKEN_LENGTH} characters")
    if not _TOKEN_CHARS.fullmatch(raw):
        raise ServeError(
            f"the token (from {where}) may hold only letters, digits and ._~+/=- "
            "(no spaces or control characters)"
        )
    return raw, where


def session_value(token: str) -> str:
    """The cookie's value: derived from the token, so the token itself is stored nowhere."""
    return hmac.new(token.encode(), b"rxfloor serve session", hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- the command
def handle(args: argparse.Namespace, ctx: Context) -> int:
    try:
        return _serve(args, ctx)
    except ServeError as exc:
        print(f"rxfloor serve: {exc}", file=sys.stderr)
        return exc.code


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    if not 0 <= args.port <= 65535:
        raise ServeError(f"invalid port {args.port}", ExitCode.USAGE)
    public_url = _public_url(args.public_url) if args.public_url else None
    token, where = load_token(args.host)
    from rxfloor.core.text import register_secret

    register_secret(token)
    os.environ.pop(TOKEN_ENV, None)  # the app processes inherit the environment: not this
    if args.print_url:
        base = public_url or f"http://{_url_host(args.host)}:{args.port}"
        print(f"{base}/?{urlencode({'token': token})}")
        return ExitCode.OK
    if args.theme is not None:
        from rxfloor.tui.themes import load_themes

        names = [t.name for t in load_themes()]
        if args.theme not in names:
            raise ServeError(f"--theme: unknown theme {args.theme!r}; one of {', '.join(names)}")
    settings = ctx.settings
    ctx.service  # noqa: B018 — opens (and migrates) the database now: a bad one is one line here
    ctx.close()
    # what each app process reads: the same database and names as this command
    os.environ.update(
        RXFLOOR_DATABASE_URL=settings.database_url,
        RXFLOOR_ACTOR=settings.actor,
        RXFLOOR_STATION=settings.station,
    )
    child = [sys.executable, "-m", "rxfloor.tui.cli.serve", "board" if args.board else "watch"]
    if args.theme:
        child += ["--theme", args.theme]
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{_url_host(host)}:{port}/"
    what = "the board" if args.board else "the wall (watch)"
    print(
        f"rxfloor serve: {what} on {url} (token from {where}; open {url}?token=…); Ctrl+C stops",
        flush=True,
    )
    gate = Gate(
        shlex.join(child), token, public_url=public_url, title=f"rxfloor {what}", board=args.board
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gate.run(sock))
    return ExitCode.OK


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def _public_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ServeError(
            f"--public-url: expected http(s)://HOST[:PORT], got {raw!r}", ExitCode.USAGE
        )
    return f"{parts.scheme}://{parts.netloc}"


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


#: textual-serve's page asks Google for a web font: on a pharmacy's own network that is a
#: request to the outside each time a screen loads (slow or failing offline, and telling a
#: third party when the floor looks at its board). The page falls back to a local monospace.
_OUTSIDE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>\s*", re.S)


#: The wall read from three metres: unless ``?fontsize=N`` says otherwise, the page picks the
#: font size that makes the browser's window :data:`WALL_COLUMNS` cells wide (1920 pixels:
#: about 29 px letters, 110x31 cells), so the lists and the alerts are large too, not only
#: the digits. It runs before textual.js reads the size (which it does once the page loaded).
WALL_COLUMNS = 110
_FIT = """{% if fit_columns %}<script>
(function () {
  var t = document.getElementById("terminal");
  var px = Math.floor(window.innerWidth / ({{ fit_columns }} * 0.6));
  t.dataset.fontSize = String(Math.max(12, Math.min(64, px)));
})();
</script>{% endif %}
"""


def _offline_templates(jinja2: Any, templates: str | Path) -> Any:
    """textual-serve's templates with every request to another origin taken out."""
    files = jinja2.FileSystemLoader(templates)

    def load(name: str) -> tuple[str, str | None, Callable[[], bool]] | None:
        source, path, fresh = files.get_source(None, name)
        return _OUTSIDE_FONT.sub("", source).replace("</body>", _FIT + "</body>"), path, fresh

    return jinja2.FunctionLoader(load)


# ------------------------------------------------------------------- the gate
class Gate:
    """textual-serve's routes behind a token check (an aiohttp middleware that runs before
    any handler: the websocket handler, which starts the app process, is never reached
    without the token)."""

    def __init__(
        self, command: str, token: str, *, public_url: str | None, title: str, board: bool = False
    ) -> None:
        from textual_serve.server import Server

        self.server = Server(command, title=title)
        self.command = command
        #: the board: each browser signs in and is its own station (see :meth:`station`)
        self.board = board
        self.token = token
        self.session = session_value(token)
        self.public_url = public_url
        self.title = title
        self._sessions: set[asyncio.Task[Any]] = set()

    def authorized(self, request: web.Request) -> bool:
        offered = [request.query.get("token"), request.cookies.get(COOKIE)]
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            offered.append(bearer[7:])
        return any(
            value is not None
            and (
                hmac.compare_digest(value.encode(), self.token.encode())
                or hmac.compare_digest(value.encode(), self.session.encode())
            )
            for value in offered
        )

    def application(self) -> web.Application:
        import aiohttp_jinja2
        import jinja2
        from aiohttp import web

        @web.middleware
        async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
            if not self.authorized(request):
                return refused(request)
            if "token" in request.query or "station" in request.query:
                # once: from now on the cookies, not the address bar
                rest = [(k, v) for k, v in request.query.items() if k not in ("token", "station")]
                location = request.path + (f"?{urlencode(rest)}" if rest else "")
                answer = web.HTTPSeeOther(location)
                answer.set_cookie(
                    COOKIE,
                    self.session,
                    httponly=True,
                    samesite="Strict",
                    secure=self._https(request),
                    path="/",
                )
                name = request.query.get("station")
                if name is not None and _STATION.fullmatch(name):
                    answer.set_cookie(
                        STATION_COOKIE,
                        name,
                        httponly=True,
                        samesite="Strict",
                        secure=self._https(request),
                        path="/",
                        max_age=STATION_COOKIE_AGE,
                    )
                answer.headers["Cache-Control"] = "no-store"
                answer.headers["Referrer-Policy"] = "no-referrer"
                return answer
            if request.path == "/ws" and not self._same_origin(request):
                return web.Response(status=403, text="403: the websocket is for this page only\n")
            response: web.StreamResponse = await handler(request)
            if not response.prepared:
                response.headers.setdefault("Cache-Control", "no-store")
                response.headers.setdefault("Referrer-Policy", "no-referrer")
                response.headers.setdefault("X-Frame-Options", "DENY")
                response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response

        def refused(request: web.Request) -> web.Response:
            """401 and nothing of the app; a browser is told in words what to do."""
            headers = {"WWW-Authenticate": 'Bearer realm="rxfloor"', "Cache-Control": "no-store"}
            if "text/html" in request.headers.get("Accept", "") and request.path == "/":
                return web.Response(
                    status=401, text=BAD_TOKEN_PAGE, content_type="text/html", headers=headers
                )
            return web.Response(status=401, text=BAD_TOKEN_TEXT, headers=headers)

        app = web.Application(middlewares=[gate])
        aiohttp_jinja2.setup(
            app, loader=_offline_templates(jinja2, self.server.templates_path), autoescape=True
        )
        app.add_routes(
            [
                web.get("/", self.index, name="index"),
                web.get("/ws", self.websocket, name="websocket"),
                web.get("/download/{key}", self.server.handle_download, name="download"),
                web.static("/static", self.server.statics_path, name="static"),
            ]
        )
        app.on_shutdown.append(self._close_sessions)
        return app

    def _https(self, request: web.Request) -> bool:
        if self.public_url is not None:
            return self.public_url.startswith("https:")
        return request.secure

    def _base(self, request: web.Request) -> str | None:
        if self.public_url is not None:
            return self.public_url
        if not _HOST.fullmatch(request.host):
            return None
        return f"{'https' if request.secure else 'http'}://{request.host}"

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        allowed = {f"{'https' if request.secure else 'http'}://{request.host}"}
        if self.public_url is not None:
            allowed.add(self.public_url)
        return origin in allowed

    async def index(self, request: web.Request) -> web.StreamResponse:
        import aiohttp_jinja2
        from aiohttp import web

        base = self._base(request)
        if base is None:
            return web.Response(status=400, text="400: bad Host header\n")
        try:
            font_size = max(6, min(64, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        # the wall fits its font to the window unless told a size; the board keeps 16
        fit = WALL_COLUMNS if not self.board and "fontsize" not in request.query else 0
        ws = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1]
        context = {
            "font_size": font_size,
            "app_websocket_url": f"{ws}/ws",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
            "fit_columns": fit,
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's handler (it starts the app process), tracked so that a stop
        ends every session and with it every app process."""
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            if not self.board:
                return await self.server.handle_websocket(request)
            return await self._board_session(request)
        finally:
            self._sessions.discard(task)

    def station(self, request: web.Request) -> str:
        """The browser's station: the name it was given (``/?station=counter-3``, kept in a
        cookie), else its address (``web-10.0.0.7``)."""
        name = request.cookies.get(STATION_COOKIE)
        if name is not None and _STATION.fullmatch(name):
            return name
        return f"web-{request.remote or 'unknown'}"[:64]

    async def _board_session(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's websocket handler for one browser, with this browser's own
        command: its station, and the board asking who is at the keys before any move."""
        from aiohttp import web
        from textual_serve.app_service import AppService

        def number(name: str, default: int) -> int:
            try:
                return int(request.query.get(name, default))
            except ValueError:
                return default

        websocket = web.WebSocketResponse(heartbeat=15)
        command = f"{self.command} --station {shlex.quote(self.station(request))} --sign-in"
        service: AppService | None = None
        try:
            await websocket.prepare(request)

            async def close() -> None:
                await websocket.close()

            service = AppService(
                command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.server.download_manager,
            )
            await service.start(number("width", 80), number("height", 24))
            await self.server._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            if service is not None:
                await service.stop()
        return websocket

    async def _close_sessions(self, _app: web.Application) -> None:
        for task in list(self._sessions):
            task.cancel()

    async def run(self, sock: socket.socket) -> None:
        """Serve on ``sock`` until SIGINT or SIGTERM."""
        import logging

        from aiohttp import web

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
        )
        runner = web.AppRunner(
            self.application(),
            access_log_class=_access_log_class(),
            handle_signals=False,
            shutdown_timeout=5,
        )
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def _access_log_class() -> type:
    from aiohttp.abc import AbstractAccessLogger

    class _PathOnly(AbstractAccessLogger):
        """One line per request: method, path (never the query: it may hold the token),
        status, seconds."""

        def log(self, request: Any, response: Any, time: float) -> None:
            self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)

    return _PathOnly


# -------------------------------------------------------- one browser's app
def child(argv: list[str]) -> int:
    """What textual-serve starts for one browser: the wall or the board on the database
    the server named in the environment."""
    parser = argparse.ArgumentParser(prog="rxfloor serve (app process)")
    parser.add_argument("app", choices=["watch", "board"])
    parser.add_argument("--theme")
    parser.add_argument("--station", help="the browser's station (the board)")
    parser.add_argument("--sign-in", action="store_true", help="ask who is at the keys first")
    args = parser.parse_args(argv)
    ctx = Context(station=args.station)
    try:
        if args.app == "watch":
            from rxfloor.tui.cli.watch import run_app

            return run_app(ctx, theme=args.theme, sync=False)
        from rxfloor.core.sync.runner import background_sync
        from rxfloor.tui.app import Background, BoardApp

        service = ctx.service
        worker = background_sync(ctx.settings, service)
        background: Background | None = None
        if worker is not None:
            background = lambda: worker  # noqa: E731 — entering it starts it, leaving stops it
        app = BoardApp(service, ctx.settings, background=background, sign_in_first=args.sign_in)
        app.run()
        return app.return_code or ExitCode.OK
    except Exception as exc:
        from rxfloor.tui.cli.main import _exit_code

        code = _exit_code(exc)
        if code is None:
            raise
        from rxfloor.core.text import shown

        print(f"rxfloor: {shown(exc)}", file=sys.stderr)
        return code
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))

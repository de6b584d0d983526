"""``rxfloor sync`` and ``rxfloor webhooks serve``: the headless sync worker and receiver.

``rxfloor sync --once`` prints one JSON object per source (source, pulled, pushed,
superseded, pending, failed, online, lease, errors) and exits 0 when every cycle ran, even
with work left; it exits non-zero with one line on stderr when one could not run (no URL or
key, bad key, unreachable remote: the cycles' JSON reports are still printed then).
``--source NAME`` syncs that source only (default: every configured one; without
``--once`` each source cycles in its own thread, so a slow one never holds up another).
``--retry ID`` / ``--resolve ID --note TEXT`` settle a refused move.

``rxfloor webhooks serve`` serves ``POST /webhooks/<source>`` for every source whose
signing secret is set (the variable its plugin names; ``--secret-env`` names another for the
default source, the one whose ids stay bare); any other path keeps meaning the default
source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from typing import TYPE_CHECKING

from rxfloor.tui.cli.context import Context, add_command
from rxfloor.tui.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rxfloor.tui.cli.context import Subcommands


def add_parsers(subcommands: Subcommands) -> None:
    """Register ``sync`` and ``webhooks serve``."""
    p = add_command(subcommands, "sync", handle_sync, help="sync with the remote pharmacy API")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true", help="one pull + push cycle, then exit")
    what.add_argument("--retry", type=int, metavar="ID", help="send a refused move again")
    what.add_argument("--resolve", type=int, metavar="ID", help="settle a refused move by hand")
    p.add_argument("--note", help="what was done (with --resolve)")
    p.add_argument("--interval", type=float, metavar="S", help="seconds between cycles")
    p.add_argument(
        "--source",
        type=str.lower,
        metavar="NAME",
        help="sync this source only (default: every configured source)",
    )

    hooks = add_command(
        subcommands, "webhooks", None, help="receive the remote's webhook deliveries"
    )
    hsub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    serve = add_command(hsub, "serve", handle_webhooks, help="serve the receiver with uvicorn")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--secret-env",
        metavar="VAR",
        help="env var holding the default source's signing secret (default: the variable "
        "its plugin names)",
    )


#: ``--interval``'s bounds are the setting's (``sync_interval_s``): more than 0, at most an hour.
MAX_INTERVAL_S = 3600.0


def _fail(message: str, code: ExitCode) -> int:
    from rxfloor.core.text import shown

    print(f"rxfloor: {shown(message)}", file=sys.stderr)  # remote words: scrubbed, visible
    return code


def handle_sync(args: argparse.Namespace, ctx: Context) -> int:
    """A refused move retried or resolved, one cycle (``--once``) or cycles until Ctrl+C.

    A refusal (exit 1) and a bad setting or database (exit 3) reach ``main`` as exceptions.
    """
    from rxfloor.core import sources
    from rxfloor.core.config import ConfigError
    from rxfloor.core.sources.base import AuthError
    from rxfloor.core.sync.runner import BackgroundSync, open_workers
    from rxfloor.core.text import shown

    service = ctx.service
    if args.retry is not None:
        print(shown(service.retry_failed(args.retry)))
        return ExitCode.OK
    if args.resolve is not None:
        print(shown(service.resolve_failed(args.resolve, args.note or "")))
        return ExitCode.OK
    if args.interval is not None and not 0 < args.interval <= MAX_INTERVAL_S:
        # nan and -1 were a traceback; inf killed the sync thread while the process stayed up
        return _fail(
            f"--interval: {args.interval!r} is not a number of seconds between 0 "
            f"and {MAX_INTERVAL_S:g}",
            ExitCode.USAGE,
        )
    if args.source is not None and args.source not in sources.names():
        known = ", ".join(sources.names())
        return _fail(f"--source: unknown source {args.source!r} (known: {known})", ExitCode.USAGE)
    names = [args.source] if args.source else sources.configured(ctx.settings)
    if not names:
        return _fail(
            "no source is configured: set api_url (RXFLOOR_API_URL) or a [sources.<name>] section",
            ExitCode.CONFIG,
        )
    try:
        workers = open_workers(ctx.settings, service, names)
    except (ValueError, ConfigError) as exc:  # no URL or key, a malformed key
        return _fail(str(exc), ExitCode.CONFIG)
    interval = args.interval if args.interval is not None else ctx.settings.sync_interval_s
    if not args.once:
        background = BackgroundSync(workers, interval)
        reported: dict[str, object] = {}  # the last report printed, by source
        try:
            with background:
                while True:  # print each source's cycles as they end, until Ctrl+C
                    for name, report in list(background.last.items()):
                        if reported.get(name) is not report:
                            reported[name] = report
                            print(json.dumps(report.as_dict()), flush=True)
                    time.sleep(min(interval, 0.5))
        except KeyboardInterrupt:  # the way to stop the continuous worker: not an error
            return ExitCode.OK
    problem: str | None = None
    try:
        for worker in workers:
            try:
                report = worker.cycle()
            except AuthError as exc:
                problem = problem or (
                    str(exc) if len(workers) == 1 else f"{worker.source.name}: {exc}"
                )
                continue
            print(json.dumps(report.as_dict()), flush=True)  # always, even offline
            if not report.online:
                why = report.errors[0] if report.errors else "offline"
                problem = problem or (why if len(workers) == 1 else f"{report.source}: {why}")
    finally:
        for worker in workers:
            worker.close()
            worker.source.close()
    return ExitCode.OK if problem is None else _fail(problem, ExitCode.REMOTE)


def handle_webhooks(args: argparse.Namespace, ctx: Context) -> int:
    import uvicorn

    from rxfloor.core import sources
    from rxfloor.core.sync.webhooks import WebhookReceiver, serve_app
    from rxfloor.core.text import register_secret

    default = sources.default_source()
    variables = {p.name: p.webhook_secret_env for p in sources.plugins() if p.webhook_secret_env}
    if args.secret_env:
        variables[default] = args.secret_env
    secrets = {name: os.environ.get(var, "") for name, var in variables.items()}
    for secret in secrets.values():
        register_secret(secret)  # never shown or logged, whatever text quotes it
    if args.secret_env and not secrets[default]:
        return _fail(
            f"the webhook secret variable {args.secret_env} is unset or empty", ExitCode.CONFIG
        )
    known = sources.names()
    served = {n: s for n, s in secrets.items() if s and n in known}
    if not served:
        wanted = " or ".join(variables[n] for n in variables if n in known)
        return _fail(f"no webhook secret is set: set {wanted}", ExitCode.CONFIG)
    settings, service = ctx.settings, ctx.service
    receivers = {
        name: WebhookReceiver(
            service,
            secret.encode(),
            webhooks=sources.webhook_format(name),
            source=name,
            max_body_bytes=settings.webhook_max_body_bytes,
            max_age_s=settings.webhook_max_age_s,
            max_ahead_s=settings.webhook_max_ahead_s,
        )
        for name, secret in served.items()
    }
    app = serve_app(receivers, default=default)
    paths = ", ".join(f"/webhooks/{name}" for name in receivers)
    print(
        f"rxfloor webhooks: receiving on http://{args.host}:{args.port} ({paths}); Ctrl+C stops",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return ExitCode.OK

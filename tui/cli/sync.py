"""``rxfloor sync`` and ``rxfloor webhooks serve``: the headless sync worker and receiver.

``rxfloor sync --once`` prints one JSON object (pulled, pushed, superseded, pending, failed,
online, lease, errors) and exits 0 when the cycle ran, even with work left; it exits
non-zero with one line on stderr when it could not run (no URL or key, bad key,
unreachable remote: the cycle's JSON report is still printed then). ``--retry ID`` /
``--resolve ID --note TEXT`` settle a refused move.
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

    hooks = add_command(
        subcommands, "webhooks", None, help="receive the remote's webhook deliveries"
    )
    hsub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    serve = add_command(hsub, "serve", handle_webhooks, help="serve the receiver with uvicorn")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--secret-env", required=True, metavar="VAR", help="env var holding the signing secret"
    )


def _fail(message: str, code: ExitCode) -> int:
    from rxfloor.core.text import shown

    print(f"rxfloor: {shown(message)}", file=sys.stderr)  # remote words: scrubbed, visible
    return code


def handle_sync(args: argparse.Namespace, ctx: Context) -> int:
    """A refused move retried or resolved, one cycle (``--once``) or cycles until Ctrl+C.

    A refusal (exit 1) and a bad setting or database (exit 3) reach ``main`` as exceptions.
    """
    from rxfloor.core.config import ConfigError
    from rxfloor.core.sources import DEFAULT_SOURCE, open_source
    from rxfloor.core.sources.base import AuthError
    from rxfloor.core.sync.retry import RetryPolicy
    from rxfloor.core.sync.worker import SyncWorker
    from rxfloor.core.text import shown

    service = ctx.service
    if args.retry is not None:
        print(shown(service.retry_failed(args.retry)))
        return ExitCode.OK
    if args.resolve is not None:
        print(shown(service.resolve_failed(args.resolve, args.note or "")))
        return ExitCode.OK
    try:
        source = open_source(DEFAULT_SOURCE, ctx.settings)
    except (ValueError, ConfigError) as exc:  # no URL or key, a malformed key
        return _fail(str(exc), ExitCode.CONFIG)
    worker = SyncWorker(service, source, policy=RetryPolicy.from_settings(ctx.settings),
                        in_flight_s=max(60.0, 6 * ctx.settings.http_timeout_s))  # fmt: skip
    try:
        interval = args.interval if args.interval is not None else ctx.settings.sync_interval_s
        while True:
            report = worker.cycle()
            print(json.dumps(report.as_dict()), flush=True)  # always, even offline
            if args.once and not report.online:
                return _fail(report.errors[0] if report.errors else "offline", ExitCode.REMOTE)
            if args.once:
                return ExitCode.OK
            time.sleep(interval)
    except AuthError as exc:
        return _fail(str(exc), ExitCode.REMOTE)
    except KeyboardInterrupt:  # the way to stop the continuous worker: not an error
        return ExitCode.OK
    finally:
        worker.close()
        source.close()


def handle_webhooks(args: argparse.Namespace, ctx: Context) -> int:
    import uvicorn

    from rxfloor.core.sources import webhook_format
    from rxfloor.core.sync.webhooks import WebhookReceiver
    from rxfloor.core.text import register_secret

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        return _fail(
            f"the webhook secret variable {args.secret_env} is unset or empty", ExitCode.CONFIG
        )
    register_secret(secret)  # never shown or logged, whatever text quotes it
    settings, service = ctx.settings, ctx.service
    receiver = WebhookReceiver(
        service,
        secret.encode(),
        webhooks=webhook_format(),
        max_body_bytes=settings.webhook_max_body_bytes,
        max_age_s=settings.webhook_max_age_s,
        max_ahead_s=settings.webhook_max_ahead_s,
    )
    app = receiver.asgi_app()
    print(f"rxfloor webhooks: receiving on http://{args.host}:{args.port}/ ; Ctrl+C stops",
          flush=True)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return ExitCode.OK

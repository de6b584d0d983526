"""``rxfloor sync`` and ``rxfloor webhooks serve``: the headless sync worker and receiver.

``rxfloor sync --once`` prints one JSON object (pulled, pushed, superseded, pending, failed,
online, lease, errors) and exits 0 when the cycle ran, even with work left; it exits
non-zero with one line on stderr when it could not run (no URL or key, bad key,
unreachable remote: the cycle's JSON report is still printed then). ``--retry ID`` /
``--resolve ID --note TEXT`` settle a refused move.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

EXIT_REFUSED = 1
EXIT_CONFIG = 3
EXIT_REMOTE = 4


def add_parsers(subparsers: Any) -> None:
    """Register ``sync`` and ``webhooks`` on the ``rxfloor`` subcommands."""
    p = subparsers.add_parser("sync", help="sync with the remote pharmacy API")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true", help="one pull + push cycle, then exit")
    what.add_argument("--retry", type=int, metavar="ID", help="send a refused move again")
    what.add_argument("--resolve", type=int, metavar="ID", help="settle a refused move by hand")
    p.add_argument("--note", help="what was done (with --resolve)")
    p.add_argument("--interval", type=float, metavar="S", help="seconds between cycles")
    p.set_defaults(handler=handle_sync)

    hooks = subparsers.add_parser("webhooks", help="receive the remote's webhook deliveries")
    hsub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    serve = hsub.add_parser("serve", help="serve the receiver with uvicorn")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--secret-env", required=True, metavar="VAR", help="env var holding the signing secret"
    )
    serve.set_defaults(handler=handle_webhooks)


def _fail(message: str, code: int) -> int:
    from rxfloor.core.text import shown

    print(f"rxfloor: {shown(message)}", file=sys.stderr)  # remote words: scrubbed, visible
    return code


def _open(args: argparse.Namespace) -> Any:
    from rxfloor.core.config import load_settings
    from rxfloor.core.service import open_service

    settings = load_settings(
        database_url=getattr(args, "database", None),
        actor=getattr(args, "actor", None),
        station=getattr(args, "station", None),
    )
    return settings, open_service(settings)


def handle_sync(args: argparse.Namespace) -> int:
    from rxfloor.core.config import ConfigError
    from rxfloor.core.db import StoreError
    from rxfloor.core.service import Refused
    from rxfloor.core.sources import DEFAULT_SOURCE, open_source
    from rxfloor.core.sources.base import AuthError
    from rxfloor.core.sync.retry import RetryPolicy
    from rxfloor.core.sync.worker import SyncWorker
    from rxfloor.core.text import shown

    try:
        settings, service = _open(args)
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    try:
        if args.retry is not None or args.resolve is not None:
            try:
                if args.retry is not None:
                    print(shown(service.retry_failed(args.retry)))
                else:
                    print(shown(service.resolve_failed(args.resolve, args.note or "")))
            except Refused as exc:
                return _fail(str(exc), EXIT_REFUSED)
            return 0
        try:
            source = open_source(DEFAULT_SOURCE, settings)
        except (ValueError, ConfigError) as exc:  # no URL or key, a malformed key
            return _fail(str(exc), EXIT_CONFIG)
        worker = SyncWorker(service, source, policy=RetryPolicy.from_settings(settings))
        try:
            interval = args.interval if args.interval is not None else settings.sync_interval_s
            while True:
                report = worker.cycle()
                print(json.dumps(report.as_dict()), flush=True)  # always, even offline
                if args.once and not report.online:
                    return _fail(report.errors[0] if report.errors else "offline", EXIT_REMOTE)
                if args.once:
                    return 0
                time.sleep(interval)
        except AuthError as exc:
            return _fail(str(exc), EXIT_REMOTE)
        except KeyboardInterrupt:
            return 0
        finally:
            worker.close()
            source.close()
    finally:
        service.store.close()


def handle_webhooks(args: argparse.Namespace) -> int:
    import uvicorn

    from rxfloor.core.config import ConfigError
    from rxfloor.core.db import StoreError
    from rxfloor.core.sources import webhook_format
    from rxfloor.core.sync.webhooks import WebhookReceiver
    from rxfloor.core.text import register_secret

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        return _fail(
            f"the webhook secret variable {args.secret_env} is unset or empty", EXIT_CONFIG
        )
    register_secret(secret)  # never shown or logged, whatever text quotes it
    try:
        settings, service = _open(args)
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
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
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    except KeyboardInterrupt:
        pass
    finally:
        service.store.close()
    return 0

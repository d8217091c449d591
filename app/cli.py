"""The command line: ``python -m app COMMAND``.

migrate     apply the committed migrations
serve       run the HTTP server (--host, --port, --workers)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

from app.settings import Settings, SettingsError


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print("shengshi cannot start; fix these settings first:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See .env.example and the settings table in README.md.", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.db import migrate

    settings = load_settings()
    print(f"Migrating {_describe_db(settings.database_url)} …", flush=True)
    try:
        applied = asyncio.run(migrate(settings.database_url))
    except (OSError, ConnectionError) as exc:
        print(f"Cannot reach the database: {exc}. Is it running, and is DATABASE_URL right?", file=sys.stderr)
        return 1
    print(f"Done: {len(applied)} migration(s) applied." if applied else "Done: the schema is up to date.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from app.redis_client import EMBEDDED_MULTI_WORKER_ERROR

    settings = load_settings()
    if args.workers > 1 and settings.uses_embedded_redis:
        print(EMBEDDED_MULTI_WORKER_ERROR, file=sys.stderr)
        return 2
    from app.factory import create_app

    loader = AppLoader(factory=create_app)
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=args.workers, single_process=args.workers == 1, motd=False)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


def _describe_db(url: str) -> str:
    # Never print credentials.
    scheme, _, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="省事 (shengshi) service commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="apply the committed database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    p.set_defaults(func=cmd_serve)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


# Later areas (catalog, ask, staff …) add their sub-commands here.
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)

"""The database: Tortoise ORM on PostgreSQL (asyncpg) or SQLite (aiosqlite).

The schema is changed only by the migrations committed under
``models/migrations`` (Tortoise's own migration tool).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from sanic import Sanic
from tortoise import Tortoise, connections
from tortoise.context import get_current_context

from app.core.settings import DEFAULT_DATABASE_URL

log = logging.getLogger("shengshi.db")

MODEL_MODULES = ["models"]
MIGRATIONS_MODULE = "models.migrations"


def normalise_url(url: str) -> str:
    """Accept the spellings people paste (``postgresql://``), and make SQLite's folder exist."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite://:memory:"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return url


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": normalise_url(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "Asia/Shanghai",
    }


async def init_db(database_url: str) -> bool:
    """Set up the ORM for this process; answer False when it already was (an embedding test)."""
    if get_current_context() is not None:
        return False
    # The global fallback makes the ORM visible to every task of the worker, not only this one.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    return True


async def close_db() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str, progress: bool = True) -> list[str]:
    """Apply every committed migration not yet applied; answer the names applied."""
    from tortoise.migrations.api.migrate import migrate as run_migrations

    applied: list[str] = []

    def on_progress(event: str, app_label: str, name: str) -> None:
        if event.endswith("start") or event == "apply_start":
            return
        applied.append(f"{app_label}.{name}")
        if progress:
            print(f"  applied {app_label}.{name}", flush=True)

    async def run() -> None:
        try:
            await run_migrations(config=tortoise_config(database_url), progress=on_progress)
        finally:
            await Tortoise.close_connections()

    # A task of its own: the ORM context the migration sets up must not leak into the caller's.
    await asyncio.get_running_loop().create_task(run())
    return applied


async def check_database(timeout: float = 2.0) -> None:
    """Raise if the database does not answer ``SELECT 1`` in time."""
    conn = connections.get("default")
    await asyncio.wait_for(conn.execute_query("SELECT 1"), timeout)


def setup_database(app: Sanic) -> None:
    @app.before_server_start
    async def open_database(app: Sanic) -> None:
        app.ctx.owns_database = await init_db(app.ctx.settings.database_url)

    @app.after_server_stop
    async def close_database(app: Sanic) -> None:
        if getattr(app.ctx, "owns_database", False):
            await close_db()


# For Tortoise's own CLI: `tortoise -c app.core.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL)

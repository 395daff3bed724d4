"""Apply the Alembic migrations (baseline and later revisions) to the store's database.

Called once when a store opens (worker start, CLI commands that need the database):
``upgrade head`` is a no-op on an up-to-date database and safe to run from several processes
(PostgreSQL serialises it with an advisory lock; SQLite with its write lock).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x62697A6F  # "bizo": one advisory-lock id for the store's migrations


def alembic_config(schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(engine: AsyncEngine, schema: str | None = None) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            if schema:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        await conn.run_sync(_upgrade_sync, schema)


def _upgrade_sync(conn: Connection, schema: str | None) -> None:
    cfg = alembic_config(schema)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except Exception:  # no table yet: never migrated
            return None
        return None if row is None else str(row[0])

"""Apply the Alembic migrations (baseline and later revisions) to the store's database.

Called once when a store opens (worker start, CLI commands that need the database):
``upgrade head`` is a no-op on an up-to-date database and safe to run from several processes
at once: PostgreSQL serialises it with an advisory lock, SQLite with an exclusive lock on a
file beside the database (``<db>.migrate.lock``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x62697A6F  # "bizo": one advisory-lock id for the store's migrations
# Migrating a local file takes seconds at most; a holder this slow is hung, not busy.
SQLITE_MIGRATION_LOCK_TIMEOUT_S = 120.0


class MigrationLockTimeout(RuntimeError):
    pass


def alembic_config(schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(engine: AsyncEngine, schema: str | None = None) -> None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        await _upgrade(engine, schema)
        return
    # SQLite's own locking does not serialise this: pysqlite sends no BEGIN before DDL, so
    # processes opening a new file together all see no alembic_version and all create the
    # tables ("table … already exists"). An OS lock (flock) is dropped when its holder dies.
    from filelock import AsyncFileLock, Timeout

    lock_path = f"{database}.migrate.lock"  # relative like the database: both from the cwd
    try:
        async with AsyncFileLock(lock_path, timeout=SQLITE_MIGRATION_LOCK_TIMEOUT_S):
            await _upgrade(engine, schema)
    except Timeout:
        raise MigrationLockTimeout(
            f"gave up after {SQLITE_MIGRATION_LOCK_TIMEOUT_S:g} s waiting for the store's "
            f"migration lock {lock_path}: another process holding it is still migrating "
            f"{database} (or is hung); stop that process and start again"
        ) from None


async def _upgrade(engine: AsyncEngine, schema: str | None) -> None:
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

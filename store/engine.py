"""The store's async engine: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when
``BIZOS_DATABASE_URL`` says so. One engine per process; it owns a small connection pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from store.settings import StoreSettings

SQLITE_BUSY_TIMEOUT_S = 30
# PostgreSQL down or unreachable must surface as an error in bounded time (the API answers
# 503 + Retry-After, activities retry), never as a request held open: asyncpg's connect
# timeout is 60 s and the pool's wait for a free connection 30 s by default.
PG_CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10


def create_engine(settings: StoreSettings) -> AsyncEngine:
    url = settings.url()
    connect_args: dict[str, Any] = {}
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
        # Several worker processes share the file: wait for a writer instead of failing.
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    else:
        connect_args["timeout"] = PG_CONNECT_TIMEOUT_S
        if settings.database_schema:
            connect_args["server_settings"] = {"search_path": settings.database_schema}
    engine = create_async_engine(
        url,
        echo=settings.database_echo,
        connect_args=connect_args,
        # a connection cut by a database restart is found and replaced before use
        pool_pre_ping=True,
        **({} if settings.is_sqlite else {"pool_timeout": POOL_TIMEOUT_S}),
    )
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer (worker pools are separate processes);
    # synchronous=NORMAL is durable across process crashes in WAL mode and far cheaper
    # than FULL per commit.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()

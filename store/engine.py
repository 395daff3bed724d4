"""The store's async engine: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when
``BIZOS_DATABASE_URL`` says so. One engine per process; it owns a small connection pool.

Every write goes through `write_transaction`. On SQLite that is where writers queue: the
database has one writer at a time and no queue of its own (issue #14, below)."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
        # PostgreSQL: a connection cut by a database restart is found and replaced before
        # use. SQLite is a file with no server to restart: a ping there is only one more
        # trip to the driver's thread per checkout, a turn of the event loop each (#14).
        pool_pre_ping=not settings.is_sqlite,
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


# SQLite writers of one process queue here, one asyncio.Lock per database file and event
# loop (a lock belongs to one loop; a loop's locks go with it).
_WRITE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(engine: AsyncEngine) -> asyncio.Lock:
    database = engine.url.database or ""
    # every Store on the file shares the queue (the API and a worker pool in one process)
    key = os.path.realpath(database) if database and database != ":memory:" else str(id(engine))
    locks = _WRITE_LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_transaction(
    engine: AsyncEngine, *, reads_first: bool = False
) -> AsyncIterator[AsyncConnection]:
    """A transaction for writes: committed on exit, rolled back on error. ``reads_first``:
    the body reads before it writes and decides on what it read (SQLite only: see below).

    PostgreSQL: ``engine.begin()``, nothing more. SQLite (issue #14): one connection writes
    at a time and the others are not queued: each polls for the lock (the busy timeout,
    sleeping up to 100 ms between tries) and is served in no order. 100 steps of one worker
    writing at once left the lock idle between polls while every statement of the holder's
    transaction waited for a turn of a busy event loop: 1.5 steps/s, and writers that lost
    every poll for 30 s failed ("database is locked" on ledger inserts). So the process's
    writers queue on an asyncio lock (in order, woken as soon as it is free, no timeout) and
    only its holder goes to SQLite; writers of other processes are still met on SQLite's
    lock and waited for with the busy timeout. The driver begins the transaction just
    before its first INSERT/UPDATE/DELETE, in the same trip to its thread: reads before
    that run outside it, so a body that reads first (``reads_first``) takes the write lock
    with ``BEGIN IMMEDIATE`` before anything (one more trip) — then no other process can
    write between its read and its write. Keep the body to the transaction's own
    statements: every writer of the process waits while it runs."""
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    lock = _write_lock(engine)
    await lock.acquire()
    held = True
    try:
        async with engine.connect() as conn:
            if reads_first:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()
            # SQLite's lock is free: the next writer starts while this connection goes back
            # to the pool (its reset is one more trip to the driver's thread).
            lock.release()
            held = False
    finally:
        if held:
            lock.release()

"""Test support: a throwaway PostgreSQL schema per test session, so parallel test runs on
one database never see each other's rows. Used by the store and agent test suites."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from store.settings import StoreSettings

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_database_url() -> str:
    return os.environ.get("BIZOS_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@asynccontextmanager
async def temporary_pg_schema(prefix: str = "bizos_test") -> AsyncIterator[StoreSettings]:
    """Settings pointing at a fresh schema; the schema is dropped on exit. Fails (never
    skips) when PostgreSQL is unreachable: the suite is meant to run against it."""
    import asyncpg

    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = test_database_url()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield StoreSettings(database_url=url, database_schema=schema)
    finally:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

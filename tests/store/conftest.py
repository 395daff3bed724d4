"""Every store test runs twice: on a SQLite file and on the real PostgreSQL (a schema of its
own per session, dropped at the end). PostgreSQL unreachable = failure, not a skip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Store, StoreSettings
from store.testing import temporary_pg_schema


@pytest.fixture(scope="session")
async def store_pg_settings() -> AsyncIterator[StoreSettings]:
    async with temporary_pg_schema("bizos_store_test") as settings:
        yield settings


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(home=tmp_path)
    pg: StoreSettings = request.getfixturevalue("store_pg_settings")
    return pg


@pytest.fixture
async def store(settings: StoreSettings) -> AsyncIterator[Store]:
    opened = await Store.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_settings(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreSettings]:
    """An empty database of its own, for migration tests (the session schema stays at
    head for the other tests)."""
    if request.param == "sqlite":
        yield StoreSettings(home=tmp_path)
        return
    async with temporary_pg_schema("bizos_migration") as settings:
        yield settings

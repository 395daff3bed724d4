"""Fixtures for the agent platform tests: tools for every catalog name, stores on SQLite and
PostgreSQL, an OpenAI-compatible test double, and one agent worker per module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import activities.crew.env  # noqa: F401  (before anything imports crewai)
from activities.catalog import default_catalog
from store import StoreSettings
from store.testing import temporary_pg_schema
from tests.agents.openai_double import OpenAIDouble


def _catalog_tool_names() -> set[str]:
    cat = default_catalog()
    return {t for a in cat for m in a.modes for t in a.mode_tools(m)}


@pytest.fixture(scope="session")
def registry_snapshot() -> frozenset[str]:
    """Tool names the tools package registers by itself (before any test stub)."""
    import activities.tools  # noqa: F401
    from activities.tools.registry import TOOLS

    return frozenset(TOOLS)


@pytest.fixture(scope="session")
def catalog_tools(registry_snapshot: frozenset[str]) -> frozenset[str]:
    """Every tool the catalog names, from the real registry: no stand-ins, a missing tool
    fails here instead of being papered over."""
    missing = _catalog_tool_names() - registry_snapshot
    assert not missing, f"the catalog names tools the registry lacks: {sorted(missing)}"
    return registry_snapshot


@pytest.fixture(scope="session")
async def pg_settings() -> AsyncIterator[StoreSettings]:
    async with temporary_pg_schema("bizos_agents_test") as settings:
        yield settings


@pytest.fixture(scope="session")
def openai_double() -> Iterator[OpenAIDouble]:
    double = OpenAIDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:10]

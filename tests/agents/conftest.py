"""Fixtures for the agent platform tests: tools for every catalog name, stores on SQLite and
PostgreSQL, an OpenAI-compatible test double, and one agent worker per module."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import activities.crewai_env  # noqa: F401  (before anything imports crewai)
from activities.catalog import default_catalog
from activities.tools.registry import ToolInput, ToolOutput
from store import StoreSettings
from store.testing import temporary_pg_schema
from tests.agents.openai_double import OpenAIDouble


class StandInInput(ToolInput):
    topic: str = ""
    product: str = ""
    company: str = ""


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
    """Make every catalog tool runnable. Names the tools package does not provide yet get a
    small deterministic stand-in (test_catalog checks the real registry separately)."""
    from activities.tools.registry import TOOLS, tool

    def register(name: str) -> None:
        @tool(name, f"test stand-in for {name}")
        def stand_in(inp: StandInInput) -> ToolOutput:
            seed = f"{name}|{inp.topic}|{inp.product}|{inp.company}"
            h = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
            return ToolOutput(
                headline=f"{name}: score {h % 1000} for {inp.topic or inp.product or inp.company}",
                metrics={"score": float(h % 1000), "index": float(h % 97)},
                recommendations=[f"{name}: act on signal {h % 13}"],
            )

    for name in sorted(_catalog_tool_names() - set(TOOLS)):
        register(name)
    return frozenset(TOOLS)


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

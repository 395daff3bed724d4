"""Fixtures for the DAG core: the spec registry (templates + test templates) and in-process
workers (the workflow pool and the `system` pool hosting the noop agent) on the shared
dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from worker.binaries import temporal_test_server
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows import search_attributes as sa
from workflows.registry import (
    DEFAULT_SPEC_DIR,
    EXAMPLES_DIR,
    SpecRegistry,
    load_registry,
    set_registry,
)

TEST_SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC_DIRS = [DEFAULT_SPEC_DIR, EXAMPLES_DIR, TEST_SPECS]


@pytest.fixture(scope="session")
def registry() -> SpecRegistry:
    reg = load_registry(SPEC_DIRS)
    set_registry(reg)
    return reg


@pytest.fixture(scope="session")
async def client(temporal_client: Client, registry: SpecRegistry) -> AsyncIterator[Client]:
    """A client with the workflow pool and the noop agent's pool running in this process."""
    async with build_worker(temporal_client, "workflows"), build_worker(temporal_client, "system"):
        yield temporal_client


async def start_time_skipping() -> WorkflowEnvironment:
    """The time-skipping test server (hours pass in milliseconds), with the platform's search
    attributes registered (it knows no custom ones until then)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), plugins=[BizosPlugin()]
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: k.indexed_value_type.value for k in sa.ALL},  # type: ignore[misc]
        )
    )
    return env

"""Fixtures for the provider-fault suite: the real `run_agent` activity (CrewAI's native
OpenAI client inside the chain) on the session's Temporal server, the PostgreSQL store,
and the OpenAI-compatible test double with fault scripts. Built on the provider-chain
tests' probe agent, so the faults hit exactly the path those tests prove when healthy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_step.activity import build_agent_activities
from activities.agent_step.runtime import AgentRuntime
from store import Store
from store.testing import temporary_pg_schema
from tests.agents.openai_double import OpenAIDouble
from tests.agents.probe_workflow import AgentProbeWorkflow
from tests.agents.test_provider_chain import Rig, probe_catalog

CONCURRENT_STEPS = 30  # steps in flight at once: "under load" for a 2-core CI machine


@pytest.fixture(scope="module")
def fault_double() -> Iterator[OpenAIDouble]:
    double = OpenAIDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="module")
async def fault_rig(
    temporal_client: Client, fault_double: OpenAIDouble, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Rig]:
    """One agent worker able to run every step of the load at once: as many crew threads
    and activity slots as steps, so the faults, not the worker, decide what waits."""
    home: Path = tmp_path_factory.mktemp("faults")
    async with temporary_pg_schema("bizos_faults_test") as settings:
        store = await Store.open(settings)
        runtime = AgentRuntime(
            threads=CONCURRENT_STEPS,
            store=store,
            catalog=probe_catalog(home),
            home=home,
            heartbeat_every_s=0.5,
        )
        await runtime.start()
        queue = f"agents-faults-{uuid.uuid4().hex[:8]}"
        try:
            async with Worker(
                temporal_client,
                task_queue=queue,
                workflows=[AgentProbeWorkflow],
                activities=build_agent_activities(runtime),
                max_concurrent_activities=CONCURRENT_STEPS,
            ):
                yield Rig(temporal_client, fault_double, runtime, store, queue)
        finally:
            await runtime.close()
            await store.close()


@pytest.fixture
def rig(fault_rig: Rig) -> Rig:
    fault_rig.double.reset()
    return fault_rig

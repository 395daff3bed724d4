"""One console for the package: the API app (real Temporal on its own namespace, real store)
with the workflow pool and every agent pool in-process on the offline provider, tenants
`acme` and `globex` with a key per role. `signed_in(console, "acme:operator")` is a browser's
session (tests.console.support)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.agent_step.runtime import AgentRuntime
from activities.catalog import CATEGORIES
from tests.api.app_support import Api, running_api
from worker.pools import build_worker

NAMESPACE = "isolated-console"


@pytest.fixture(scope="package")
async def console(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    home = tmp_path_factory.mktemp("console-home")
    async with running_api(
        temporal_env, home, tenants=("acme", "globex"), namespace=NAMESPACE
    ) as api:
        runtime = AgentRuntime(threads=4, store=api.store, home=home)
        await runtime.start()
        try:
            async with AsyncExitStack() as stack:
                for pool in CATEGORIES:
                    if pool != "system":
                        await stack.enter_async_context(build_worker(api.temporal, pool, runtime))
                yield api
        finally:
            await runtime.close()

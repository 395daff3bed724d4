"""Fixtures for the workflow templates and their schedules, on the shared dev server (the
time-skipping server has no schedules): the registry of the shipped templates plus this
folder's test specs, in-process workflow + noop workers, and the agent pools as a separate
`bizos worker --pool agents` process (CrewAI threads next to workflow tasks would push them
toward the 2 s deadlock detector on a small machine)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.catalog import task_queue_for
from starters.stack import stop_processes
from tests.conftest import cli_env, server_address
from tests.support import eventually
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.registry import (
    DEFAULT_SPEC_DIR,
    EXAMPLES_DIR,
    SpecRegistry,
    load_registry,
    set_registry,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_TEST_SPECS = Path(__file__).resolve().parent / "specs"
# A superset of tests/core's directories: both suites' workflow workers share the registry.
SPEC_DIRS = [DEFAULT_SPEC_DIR, EXAMPLES_DIR, REPO / "tests" / "specs", TEMPLATE_TEST_SPECS]


@pytest.fixture(scope="session")
def templates_registry() -> SpecRegistry:
    reg = load_registry(SPEC_DIRS)
    set_registry(reg)
    return reg


@pytest.fixture(scope="session")
async def workflow_client(
    temporal_env: WorkflowEnvironment, templates_registry: SpecRegistry
) -> AsyncIterator[Client]:
    """A client with the workflow pool and the noop agent's pool running in this process.

    Its own connection: the SDK refuses a second worker on a task queue through one client,
    and tests/core's fixture may already run one (both serve the same process-wide registry,
    which this folder's `templates_registry` extends)."""
    client = await Client.connect(
        server_address(temporal_env),
        namespace=temporal_env.client.namespace,
        plugins=[BizosPlugin()],
    )
    async with build_worker(client, "workflows"), build_worker(client, "system"):
        yield client




def _spawn_agent_worker(env: WorkflowEnvironment, home: Path) -> subprocess.Popen[bytes]:
    environ = cli_env(env, BIZOS_HOME=str(home), BIZOS_AGENT_THREADS="4")
    for key in list(environ):
        if key.endswith("_API_KEY") or key == "BIZOS_DATABASE_URL":
            environ.pop(key)  # the offline provider: deterministic, no network
    return subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "worker", "--pool", "agents"],
        env=environ,
        cwd=REPO,
        stdout=(home / "agents-worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="session")
async def agent_pools(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Path]:
    """Every agent pool in one `bizos worker --pool agents` process, on the offline
    provider (no keys are set in tests), with its store and artifacts in a temp home.
    Yields that home once the process polls, or fails with its log if it died."""
    home = tmp_path_factory.mktemp("agents-home")
    proc = _spawn_agent_worker(temporal_env, home)

    async def polling() -> bool:
        if proc.poll() is not None:
            log = (home / "agents-worker.log").read_text()
            raise AssertionError(f"the agent worker exited ({proc.returncode}):\n{log}")
        resp = await temporal_env.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal_env.client.namespace,
                task_queue=TaskQueue(name=task_queue_for("orchestration")),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return len(resp.pollers) > 0

    try:
        await eventually(polling, timeout_s=90, what="the agent worker polling")
        yield home
    finally:
        await asyncio.to_thread(stop_processes, [proc])

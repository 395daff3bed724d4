"""Every worker pool in its own `bizos worker --pool <pool>` process, each as if on a host of
its own: sharing only Temporal (an isolated namespace on the session's dev server, so other
tests' in-process workers never take these tasks) and PostgreSQL (a fresh schema).

Isolation is real, not a naming convention: each process starts in its own mount namespace
(`unshare --mount`, we run as root) where the whole filesystem is remounted read-only and
fresh tmpfs mounts cover /tmp and /dev/shm; its HOME, BIZOS_HOME, TMPDIR and cwd live in that
private /tmp. So the only place a worker can write is invisible to every other process, and a
write anywhere else (the repo, ~/.cache, /var/tmp) fails loudly instead of being shared.
The code (repo and venv) is read by all, read-only; bytecode caches are not written.
"""

from __future__ import annotations

import asyncio
import subprocess
import sysconfig
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.catalog import task_queue_for
from starters.stack import stop_processes
from store.settings import StoreSettings
from store.testing import temporary_pg_schema
from tests.conftest import cli_env, namespace_client
from tests.support import eventually
from worker.pools import WORKFLOWS_POOL, task_queue
from workflows.registry import DEFAULT_SPEC_DIR, SpecRegistry, load_registry

NAMESPACE = "isolated-deploy"
BIZOS = Path(sysconfig.get_path("scripts")) / "bizos"
AGENT_QUEUE_PREFIX = task_queue_for("")  # bizos-agents-

# Runs inside the new mount namespace, then becomes the worker (exec: same pid, so SIGTERM
# from the test reaches `bizos` and its graceful shutdown).
PRIVATE_HOST = (
    "mount -o remount,bind,ro / && mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /dev/shm"
    ' && mkdir -p "$BIZOS_HOME" "$TMPDIR" && cd "$HOME" && exec "$@"'
)


@dataclass
class PoolProcess:
    pool: str
    proc: subprocess.Popen[bytes]
    log: Path

    def died(self) -> AssertionError:
        return AssertionError(
            f"`bizos worker --pool {self.pool}` exited ({self.proc.returncode}):\n"
            + self.log.read_text(errors="replace")
        )


@pytest.fixture(scope="session")
def shipped_templates() -> SpecRegistry:
    """The templates of dag_specs/ only (the starting process builds each run's plan)."""
    return load_registry([DEFAULT_SPEC_DIR])


def agent_pools_for(registry: SpecRegistry) -> list[str]:
    """Every agent category some template's steps are routed to (child runs included: they
    are templates too)."""
    queues = {s.task_queue for d in registry.current.values() for s in d.steps.values()}
    return sorted(q.removeprefix(AGENT_QUEUE_PREFIX) for q in queues if q)


@pytest.fixture
async def deploy_db() -> AsyncIterator[StoreSettings]:
    async with temporary_pg_schema("bizos_deploy") as settings:
        yield settings


def spawn_private(
    env: WorkflowEnvironment, pool: str, db: StoreSettings, logs: Path
) -> PoolProcess:
    home = f"/tmp/host-{pool}"  # inside the process's own tmpfs: the path is private too
    environ = {
        k: v
        for k, v in cli_env(env).items()
        # no provider keys: the deterministic offline provider; no outer BIZOS_ settings
        if not (k.endswith("_API_KEY") or k.startswith("BIZOS_"))
    }
    environ.update(
        TEMPORAL_NAMESPACE=NAMESPACE,
        HOME=home,
        BIZOS_HOME=f"{home}/.bizos",
        TMPDIR=f"{home}/tmp",
        BIZOS_DATABASE_URL=str(db.database_url),
        BIZOS_DATABASE_SCHEMA=str(db.database_schema),
        BIZOS_AGENT_THREADS="4",
        PYTHONDONTWRITEBYTECODE="1",  # the shared code stays read-only
    )
    log = logs / f"{pool}.log"  # the fd is opened here: the worker never names a shared path
    isolated = ["unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_HOST, "sh"]
    proc = subprocess.Popen(
        [*isolated, str(BIZOS), "worker", "--pool", pool],
        env=environ,
        cwd="/",
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return PoolProcess(pool, proc, log)


async def wait_polling(client: Client, worker: PoolProcess) -> None:
    kind = (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        if worker.pool == WORKFLOWS_POOL
        else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    )

    async def polling() -> bool:
        if worker.proc.poll() is not None:
            raise worker.died()
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=task_queue(worker.pool)),
                task_queue_type=kind,
            )
        )
        return len(resp.pollers) > 0

    await eventually(polling, timeout_s=120, what=f"pool {worker.pool} polling")


@pytest.fixture
async def private_pools(
    temporal_env: WorkflowEnvironment,
    deploy_db: StoreSettings,
    shipped_templates: SpecRegistry,
    tmp_path: Path,
) -> AsyncIterator[tuple[Client, list[PoolProcess]]]:
    """The workflow pool and each agent pool the templates use, one private process each,
    all polling; yields a client on their namespace and the processes (for their logs)."""
    pools = [WORKFLOWS_POOL, *agent_pools_for(shipped_templates)]
    workers = [spawn_private(temporal_env, p, deploy_db, tmp_path) for p in pools]
    try:
        client = await namespace_client(temporal_env, NAMESPACE)
        await asyncio.gather(*(wait_polling(client, w) for w in workers))
        yield client, workers
    finally:
        await asyncio.to_thread(stop_processes, [w.proc for w in workers])

"""A worker process for the benchmarks: `workflows` (the DAG workflow and the hand-written
baseline, both passed through the sandbox alike) or `agents` (the noop agent's pool)."""

from __future__ import annotations

import asyncio
import sys

from temporalio.worker import Worker

from worker.connection import connect
from worker.main import preload
from worker.plugin import BizosPlugin
from worker.pools import build_worker, tuning_for


async def main(role: str) -> None:
    preload(["workflows"])
    # the baseline's module gets the same sandbox treatment as the platform's own
    client = await connect(plugin=BizosPlugin(extra_passthrough=("bench",)))
    if role == "agents":
        worker = build_worker(client, "system")
    else:
        from bench.baseline_workflow import BaselineChain
        from worker.local_activities import default_local_activities
        from workflows.engine.workflow import DagWorkflow

        tuning = tuning_for("workflows")
        worker = Worker(
            client,
            task_queue="bizos-workflows",
            workflows=[DagWorkflow, BaselineChain],
            activities=default_local_activities().all(),
            max_cached_workflows=tuning.max_cached_workflows,
            max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        )
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

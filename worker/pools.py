"""Worker pools: which task queue hosts what, and each pool's tuning.

`bizos-workflows` runs the DAG workflow; each agent category has its own pool
(`bizos-agents-<category>`) running the `run_agent` activity, so a slow or crashing
category cannot starve the others and each can be scaled on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.worker import Worker

from activities.catalog import CATEGORIES, task_queue_for
from worker.deployment import deployment_config
from workflows.models import WORKFLOWS_TASK_QUEUE

if TYPE_CHECKING:
    from activities.agent_step.runtime import AgentRuntime
    from activities.webhooks import WebhookActivities
    from worker.local_activities import LocalActivities

WORKFLOWS_POOL = "workflows"


@dataclass(frozen=True)
class PoolTuning:
    max_concurrent_activities: int = 16
    max_concurrent_workflow_tasks: int = 32
    max_cached_workflows: int = 2000
    # Workflow task pollers: the SDK's defaults (5, a fifth of them on the non-sticky queue).
    # A run evicted from the cache gets its next task (a decision, say) on the non-sticky
    # queue and is replayed there, so after evictions those pollers set the pace.
    max_concurrent_workflow_task_polls: int = 5
    nonsticky_to_sticky_poll_ratio: float = 0.2
    graceful_shutdown: timedelta = timedelta(seconds=30)


# Agent steps spend most of their time waiting on LLM calls, so concurrency is I/O bound;
# categories with CPU-heavy tools (analytics, finance) get fewer slots on a small machine.
# Crews run in the process's AgentRuntime thread pool (BIZOS_AGENT_THREADS, default 8);
# activity slots above the pool size wait their turn, heartbeating.
TUNING: dict[str, PoolTuning] = {
    WORKFLOWS_POOL: PoolTuning(max_concurrent_workflow_tasks=64, max_cached_workflows=2000),
    "intelligence": PoolTuning(max_concurrent_activities=8),
    "finance": PoolTuning(max_concurrent_activities=8),
    "technical": PoolTuning(max_concurrent_activities=8),
    "system": PoolTuning(max_concurrent_activities=200),
}


def pool_names() -> list[str]:
    return [WORKFLOWS_POOL, *CATEGORIES]


def tuning_for(pool: str) -> PoolTuning:
    """The pool's tuning, overridable per pool with BIZOS_POOL_<POOL>_<FIELD> env vars."""
    tuning = TUNING.get(pool, PoolTuning())
    prefix = f"BIZOS_POOL_{pool.upper()}_"
    overrides: dict[str, object] = {}
    for field, kind in (
        ("max_concurrent_activities", int),
        ("max_concurrent_workflow_tasks", int),
        ("max_cached_workflows", int),
        ("max_concurrent_workflow_task_polls", int),
        ("nonsticky_to_sticky_poll_ratio", float),
    ):
        value = os.environ.get(prefix + field.upper())
        if value:
            overrides[field] = kind(value)
    return replace(tuning, **overrides) if overrides else tuning  # type: ignore[arg-type]


def task_queue(pool: str) -> str:
    return WORKFLOWS_TASK_QUEUE if pool == WORKFLOWS_POOL else task_queue_for(pool)


def resolve_pools(spec: str) -> list[str]:
    """`all`, `agents` (every category), a pool name, or a comma-separated list."""
    if spec == "all":
        return pool_names()
    if spec == "agents":
        return list(CATEGORIES)
    pools = [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [p for p in pools if p not in pool_names()]
    if unknown or not pools:
        raise ValueError(
            f"unknown pool(s) {', '.join(unknown) or spec!r}; "
            f"pools: all, agents, {', '.join(pool_names())}"
        )
    return pools


def needs_agent_runtime(pools: list[str]) -> bool:
    """Agent categories run CrewAI; the `system` pool (noop) and workflows do not."""
    return any(p not in (WORKFLOWS_POOL, "system") for p in pools)


def build_worker(
    client: Client,
    pool: str,
    runtime: AgentRuntime | None = None,
    local_activities: LocalActivities | None = None,
    webhooks: WebhookActivities | None = None,
) -> Worker:
    """One pool's worker. Agent pools of a process share one `AgentRuntime` (thread pool,
    store); the caller starts it before polling and closes it after the workers stop. The
    workflow pool hosts the run's local activities (`local_activities`, default: one
    per process with the store from the environment) and webhook delivery (`webhooks`,
    default: the local activities' own, with endpoints from their store plus the
    BIZOS_WEBHOOK_ENDPOINTS file when set; runs' events are fanned out with the local
    activities' resolver, so give a custom one to `LocalActivities(webhooks=...)`)."""
    tuning = tuning_for(pool)
    if pool == WORKFLOWS_POOL:
        from worker.local_activities import default_local_activities
        from workflows.admission import TenantAdmission
        from workflows.engine.workflow import DagWorkflow
        from workflows.single_agent import SingleAgentWorkflow
        from workflows.webhooks import DeliverWebhook

        local = local_activities or default_local_activities()
        # approvers' Slack/email notifications: groups read from the local activities' store
        from activities.notify.delivery import NotifyActivities
        from activities.notify.workflows import DeliverNotification, NotifyApprovers

        notify = NotifyActivities(local.store)
        return Worker(
            client,
            task_queue=WORKFLOWS_TASK_QUEUE,
            workflows=[
                DagWorkflow,
                SingleAgentWorkflow,
                DeliverWebhook,
                TenantAdmission,
                NotifyApprovers,
                DeliverNotification,
            ],
            activities=[
                *local.all(),
                *(webhooks or local.webhook_activities()).all(),
                *notify.all(),
            ],
            max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
            max_cached_workflows=tuning.max_cached_workflows,
            max_concurrent_workflow_task_polls=tuning.max_concurrent_workflow_task_polls,
            nonsticky_to_sticky_poll_ratio=tuning.nonsticky_to_sticky_poll_ratio,
            graceful_shutdown_timeout=tuning.graceful_shutdown,
            deployment_config=deployment_config(),  # BIZOS_DEPLOYMENT_NAME / BIZOS_BUILD_ID
        )
    from activities.agent_step.activity import build_agent_activities

    return Worker(
        client,
        task_queue=task_queue_for(pool),
        activities=build_agent_activities(runtime),
        max_concurrent_activities=tuning.max_concurrent_activities,
        graceful_shutdown_timeout=tuning.graceful_shutdown,
        deployment_config=deployment_config(),
    )

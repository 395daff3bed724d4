"""What a run resolves at its first task: its plan (when the starter gave none) and the agent
configuration versions it pins, through the `resolve_run_start` local activity, recorded in
history so replay never reads spec, catalog or database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.engine.failures import failure_cause
    from workflows.models import RunPlan, RunStart, RunStartRequest, StoreOutputsRequest

RESOLVE_RUN_START = "resolve_run_start"
STORE_RUN_OUTPUTS = "store_run_outputs"
RUN_START_PATCH = "bizos-run-start-1"
"""Runs started before plans were carried resolve their spec from the worker's files."""
RESULT_BY_REF_PATCH = "bizos-result-by-ref-1"
"""Runs from before results went by reference returned big outputs inline."""

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)


def configurable_agents(plan: RunPlan) -> list[str]:
    """Agents of the run (children included) that have configuration versions: all but the
    built-in `system` ones."""
    # a plain walk, not a nested recursive function: that one refers to itself, and every
    # run would leave the cycle to the collector
    found: set[str] = set()
    todo = [plan]
    while todo:
        p = todo.pop()
        found.update(a for a, s in p.catalog.agents.items() if s.category != "system")
        todo.extend(p.children.values())
    return sorted(found)


async def resolve(plan: RunPlan | None, tenant: str, *, pin_configs: bool) -> RunStart:
    info = workflow.info()
    try:
        return await workflow.execute_local_activity(
            RESOLVE_RUN_START,
            RunStartRequest(
                workflow_type=info.workflow_type,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                tenant=tenant,
                plan=plan,
                pin_configs=pin_configs,
            ),
            result_type=RunStart,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
            summary="resolve plan and pin agent configurations",
        )
    except ActivityError as e:
        raise ApplicationError(
            f"{info.workflow_type}: could not start: {failure_cause(e)}",
            type="RunStartFailed",
            non_retryable=True,
        ) from None


async def store_outputs(outputs: dict[str, Any]) -> str:
    """Outputs too big for the run's result go to the store; the reference comes back."""
    info = workflow.info()
    return await workflow.execute_local_activity(
        STORE_RUN_OUTPUTS,
        StoreOutputsRequest(workflow_id=info.workflow_id, run_id=info.run_id, outputs=outputs),
        result_type=str,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=_RETRY,
        summary="store the run's outputs (too big for its result)",
    )

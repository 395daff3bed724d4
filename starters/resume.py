"""Resuming a failed or cancelled run from its failed steps (`bizos resume`).

Chosen over Temporal's reset: a reset replays the old history up to a workflow task and
re-runs everything after it — with parallel branches that is work already done and paid for,
and it depends on the runtime code still replaying that history. A resumed run is a new run,
`<old id>~r<n>`, started with the old run's plan, pinned configurations and params (changed
where the caller says) and a seed: every step that finished (succeeded, or an approval already
decided) is taken over with its output, cost and decision instead of running again; the items
a failed foreach had finished are reused and only the rest run; a failed child run is resumed
the same way by the new child. Completed steps are never re-run nor re-billed.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from starters.runs import start_options
from workflows.compiler import CompiledDag
from workflows.models import ResumeSeed, RunInput, RunResult
from workflows.plans import compile_plan
from workflows.registry import default_registry

RESUMABLE: set[WorkflowExecutionStatus.ValueType] = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
}


class ResumeError(ValueError):
    """The run cannot be resumed (the message says why)."""


async def _status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus.ValueType | None:
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return desc.raw_description.workflow_execution_info.status


async def _started_input(handle: WorkflowHandle[Any, Any], client: Client) -> RunInput:
    """The input the run was started with, from the first event of its history."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            return client.data_converter.payload_converter.from_payload(payloads[0], RunInput)
    raise ResumeError(f"{handle.id}: no start event in its history")


def _dag(seed: ResumeSeed) -> CompiledDag:
    if seed.plan is not None:
        return compile_plan(seed.plan)
    return default_registry().by_name(seed.template)


async def seed_of(client: Client, workflow_id: str) -> ResumeSeed:
    """The run's seed, with the seeds of its child runs that did not complete."""
    handle = client.get_workflow_handle(workflow_id)
    status = await _status(handle)
    if status is None:
        raise ResumeError(f"no run `{workflow_id}`")
    if status not in RESUMABLE:
        raise ResumeError(
            f"`{workflow_id}` is {WorkflowExecutionStatus.Name(status).rsplit('_', 1)[-1].lower()}:"
            " only a failed, cancelled, terminated or timed-out run can be resumed"
        )
    try:
        seed = await handle.query("resume_seed", result_type=ResumeSeed)
    except WorkflowQueryFailedError as e:  # e.g. a run cancelled before its first step
        raise ResumeError(f"`{workflow_id}` cannot be resumed: {e}") from None
    dag = _dag(seed)
    for sid, step_seed in seed.steps.items():
        step = dag.steps.get(sid)
        if step is None or step.kind != "workflow" or step_seed.status == "succeeded":
            continue
        keys = [sid] if step.foreach is None else [f"{sid}.{i}" for i in range(step.spec.max_items)]
        for key in keys:
            if step.foreach is not None and int(key.rsplit(".", 1)[1]) in step_seed.items:
                continue
            child = client.get_workflow_handle(f"{workflow_id}.{key}")
            child_status = await _status(child)
            if child_status is None:
                if step.foreach is not None:
                    break  # items start in order: none after this one ran
                continue
            if child_status in RESUMABLE:
                seed.children[key] = await seed_of(client, child.id)
    return seed


async def resume_run(
    client: Client, workflow_id: str, *, params: dict[str, Any] | None = None
) -> WorkflowHandle[Any, RunResult]:
    """Start the run that takes over from `workflow_id` (params updated by `params`)."""
    seed = await seed_of(client, workflow_id)
    old = await _started_input(client.get_workflow_handle(workflow_id), client)
    run_input = old.model_copy(
        update={
            "params": {**old.params, **(params or {})},
            "plan": seed.plan or old.plan,
            "config_versions": seed.config_versions,
            "resume": seed,
        }
    )
    dag = _dag(seed)
    base = workflow_id.split("~r", 1)[0]
    for n in range(1, 1000):
        new_id = f"{base}~r{n}"
        if await _status(client.get_workflow_handle(new_id)) is None:
            break
    else:
        raise ResumeError(f"`{workflow_id}` was resumed too many times")
    return await client.start_workflow(
        dag.workflow_type,
        run_input,
        result_type=RunResult,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        **start_options(dag, run_input, new_id),
    )

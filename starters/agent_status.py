"""`bizos status` of a single-agent run (`bizos agents run`, workflow type AgentStep).

Such a run is one activity, not a DAG, so it has no `progress` query: its agent and mode come
from its input, its attempts and the pending attempt's failure from describe(), and its
result (summary, cost) or failure from its history once it closed.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowExecutionDescription

from activities.contract import AgentStepResult
from starters.output import OutputFormat, console, emit


def pending_activities(desc: WorkflowExecutionDescription) -> list[dict[str, Any]]:
    return [
        {
            "activity_id": a.activity_id,
            "activity_type": a.activity_type.name,
            "state": PendingActivityState.Name(a.state).removeprefix("PENDING_ACTIVITY_STATE_"),
            "attempt": a.attempt,
            "last_failure": a.last_failure.message if a.HasField("last_failure") else None,
        }
        for a in desc.raw_description.pending_activities
    ]


async def agent_run_status(client: Client, desc: WorkflowExecutionDescription) -> dict[str, Any]:
    from workflows.engine.failures import failure_cause

    handle = client.get_workflow_handle(desc.id, run_id=desc.run_id)
    decode = client.data_converter.decode
    run_input: dict[str, Any] = {}
    attempts = 0
    result: AgentStepResult | None = None
    error: str | None = None
    async for e in handle.fetch_history_events():
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = e.workflow_execution_started_event_attributes.input.payloads
            if payloads:
                # As plain JSON: a run started by a newer CLI may carry fields this one lacks.
                [value] = await decode(payloads[:1])
                run_input = value if isinstance(value, dict) else {}
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            # written when an attempt ends: the last one that ended (retries included)
            attempts = max(attempts, e.activity_task_started_event_attributes.attempt)
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = e.workflow_execution_completed_event_attributes.result.payloads
            [result] = await decode(payloads[:1], [AgentStepResult])
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = e.workflow_execution_failed_event_attributes.failure
            error = failure_cause(await client.data_converter.decode_failure(failure))
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            error = f"terminated: {e.workflow_execution_terminated_event_attributes.reason}"
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            error = "the run passed its execution timeout"
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
            error = "cancelled"
    pending = pending_activities(desc)
    for p in pending:  # running now: describe() knows the attempt in flight
        attempts = max(attempts, p["attempt"])
    if result is not None:
        attempts = max(attempts, result.attempt)
    return {
        "workflow_id": desc.id,
        "run_id": desc.run_id,
        "workflow_type": desc.workflow_type,
        "status": desc.status.name if desc.status else None,
        "agent": run_input.get("agent"),
        "mode": run_input.get("mode"),
        "tenant": run_input.get("tenant"),
        "attempts": attempts,
        "pending_activities": pending,
        "result": result,
        "error": error,
    }


def print_agent_run(
    info: dict[str, Any], artifacts: dict[str, list[str]], fmt: OutputFormat
) -> None:
    if fmt is not OutputFormat.text:
        emit({**info, "artifacts": artifacts}, fmt)
        return
    what = f"{info['agent']}/{info['mode']}"
    console.print(
        f"{info['workflow_id']}: {info['status'] or '?'} · agent {what} (AgentStep)"
        f" · tenant {info['tenant']} · {info['attempts']} attempt(s)",
        highlight=False,
        markup=False,
    )
    for p in info["pending_activities"]:
        failure = f" · last failure: {p['last_failure']}" if p["last_failure"] else ""
        console.print(
            f"  running: attempt {p['attempt']} ({p['state']}){failure}",
            highlight=False,
            markup=False,
        )
    result: AgentStepResult | None = info["result"]
    if result is not None:
        console.print(f"  summary: {result.summary}", highlight=False, markup=False)
        console.print(
            f"  cost ${result.cost_usd:.4f} · {result.provider}/{result.model}"
            f" · {result.tokens_in}+{result.tokens_out} tokens · {result.duration_ms:.0f} ms",
            highlight=False,
            markup=False,
        )
        if result.output_ref:
            console.print(
                f"  full output stored as {result.output_ref}", highlight=False, markup=False
            )
    if info["error"]:
        console.print(f"  failed: {info['error']}", highlight=False, markup=False)
    for ref in artifacts.get("agent", []):
        console.print(f"  artifact: {ref}", highlight=False, markup=False)

"""Decisions that nobody takes, and runs that outlive their execution timeout, on the
time-skipping test server (hours pass in milliseconds)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.core.conftest import start_time_skipping
from worker.pools import build_worker
from workflows.models import WORKFLOWS_TASK_QUEUE, RunInput, RunResult
from workflows.registry import SpecRegistry


@pytest.fixture(scope="module")
async def skipping(registry: SpecRegistry) -> AsyncIterator[Client]:
    env = await start_time_skipping()
    try:
        async with build_worker(env.client, "workflows"), build_worker(env.client, "system"):
            yield env.client
    finally:
        await env.shutdown()


async def _run(client: Client, wtype: str, params: dict[str, object]) -> RunResult:
    return await client.execute_workflow(  # type: ignore[no-any-return]
        wtype,
        RunInput(params=params),
        id=f"default.timeouts.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=RunResult,
    )


async def test_approval_timeout_takes_on_timeout(skipping: Client) -> None:
    result = await _run(skipping, "Timeouts", {"mode": "approve"})
    gate = result.approvals["gate"]
    assert gate.approved is True and gate.timed_out and gate.by == "timeout"


async def test_choice_timeout_takes_the_default(skipping: Client) -> None:
    result = await _run(skipping, "Timeouts", {"mode": "choose"})
    assert result.choices["pick"].option == "b" and result.choices["pick"].timed_out
    assert result.statuses["do_b"] == "succeeded" and result.statuses["do_a"] == "skipped"


async def test_approval_timeout_can_fail_the_run(skipping: Client) -> None:
    with pytest.raises(WorkflowFailureError) as e:
        await _run(skipping, "Timeouts", {"mode": "fail"})
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "DecisionTimeout"
    assert "step `strict`" in cause.message and "no decision within 1:00:00" in cause.message


async def test_spec_execution_timeout_applies_without_a_starter_timeout(skipping: Client) -> None:
    with pytest.raises(WorkflowFailureError) as e:
        await _run(skipping, "Endless", {})
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ExecutionTimeout"
    assert "2:00:00" in cause.message


async def test_approval_timeout_rejects_by_default(skipping: Client) -> None:
    result = await _run(skipping, "ApprovalFlow", {"topic": "nobody answers"})
    review = result.approvals["review"]
    assert review.approved is False and review.timed_out
    assert result.statuses["publish"] == "skipped"


async def test_budget_wait_times_out_and_stops_the_run(skipping: Client) -> None:
    with pytest.raises(WorkflowFailureError) as e:
        await _run(skipping, "Budgeted", {})
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "BudgetExceeded"
    assert "nobody approved within 1:00:00" in cause.message

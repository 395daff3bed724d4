"""The single-agent workflow (`bizos agents run`): one agent step as its own durable run."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.contract import AgentStepResult
from workflows.models import WORKFLOWS_TASK_QUEUE
from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput


async def _run(client: Client, agent: str, mode: str, inputs: dict[str, object]) -> AgentStepResult:
    return await client.execute_workflow(  # type: ignore[no-any-return]
        AGENT_WORKFLOW_TYPE,
        AgentRunInput(agent=agent, mode=mode, inputs=inputs),
        id=f"default.agent.{agent}.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=AgentStepResult,
    )


async def test_runs_one_agent_step_on_its_pool(client: Client) -> None:
    result = await _run(client, "noop", "priced", {"cost_usd": 0.3, "n": 7})
    assert result.output["echo"] == {"cost_usd": 0.3, "n": 7}
    assert result.output["step"] == "agent"
    assert result.cost_usd == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("agent", "mode", "kind", "message"),
    [
        ("nobody", "echo", "UnknownAgent", "unknown agent `nobody`"),
        ("noop", "sing", "UnknownMode", "agent `noop` has no mode `sing` (modes: echo, priced)"),
    ],
)
async def test_unknown_agent_or_mode_fails_at_once(
    client: Client, agent: str, mode: str, kind: str, message: str
) -> None:
    with pytest.raises(WorkflowFailureError) as e:
        await _run(client, agent, mode, {})
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind and message in cause.message

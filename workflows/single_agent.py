"""The single-agent workflow: one agent, one mode, one input — durable, retried, visible.

What `bizos agents run` starts (and, later, `POST /agents/{agent_id}/execute`): the same
`run_agent` activity a template step runs, on the agent's pool, with the same defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    # Pure modules, loaded once per worker (the catalog is validated at worker start).
    from activities.catalog import default_catalog, task_queue_for
    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
    from workflows.compiler import DEFAULT_AGENT_TIMEOUT, DEFAULT_HEARTBEAT, DEFAULT_RETRY

AGENT_WORKFLOW_TYPE = "AgentStep"


class AgentRunInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str
    mode: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    budget_usd: float | None = Field(default=None, gt=0, description="most the step may spend")


@workflow.defn(name=AGENT_WORKFLOW_TYPE)
class SingleAgentWorkflow:
    @workflow.run
    async def run(self, inp: AgentRunInput) -> AgentStepResult:
        catalog = default_catalog()
        if inp.agent not in catalog:
            raise ApplicationError(
                f"unknown agent `{inp.agent}`; known: {', '.join(a.id for a in catalog)}",
                type="UnknownAgent",
                non_retryable=True,
            )
        agent = catalog.get(inp.agent)
        if inp.mode not in agent.modes:
            raise ApplicationError(
                f"agent `{inp.agent}` has no mode `{inp.mode}` (modes: {', '.join(agent.modes)})",
                type="UnknownMode",
                non_retryable=True,
            )
        info = workflow.info()
        workflow.set_current_details(f"**{inp.agent}/{inp.mode}** for tenant {inp.tenant}")
        return await workflow.execute_activity(
            RUN_AGENT,
            AgentStepInput(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                template=AGENT_WORKFLOW_TYPE,
                step_id="agent",
                agent=inp.agent,
                mode=inp.mode,
                inputs=inp.inputs,
                tenant=inp.tenant,
                budget_usd=inp.budget_usd,
            ),
            result_type=AgentStepResult,
            task_queue=task_queue_for(agent.category),
            start_to_close_timeout=DEFAULT_AGENT_TIMEOUT,
            heartbeat_timeout=DEFAULT_HEARTBEAT,
            retry_policy=DEFAULT_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"{inp.agent}/{inp.mode}",
        )

"""The single-agent workflow: one agent, one mode, one input — durable, retried, visible.

What `bizos agents run` starts (and, later, `POST /agents/{agent_id}/execute`): the same
`run_agent` activity a template step runs, on the agent's pool, with the same defaults.
Like a template run it carries what it decides on: the agent's catalog slice (pool, default
timeout) and its pinned configuration version, from the starter or resolved by a local
activity at its first task — never read from files on replay.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    # Pure modules, loaded once per worker (the catalog is validated at worker start).
    from activities.catalog import default_catalog, task_queue_for
    from activities.contract import AgentStepInput, AgentStepResult
    from workflows.compiler import DEFAULT_AGENT_TIMEOUT, DEFAULT_HEARTBEAT, DEFAULT_RETRY
    from workflows.engine import run_metrics
    from workflows.engine.failures import failure_cause
    from workflows.engine.lost_workers import execute_agent_step
    from workflows.models import PRICE_AS_PATTERN, AgentSlice, ModeSlice

AGENT_WORKFLOW_TYPE = "AgentStep"
RESOLVE_AGENT_START = "resolve_agent_start"
AGENT_START_PATCH = "bizos-agent-start-1"
"""Runs started before the slice was carried read the catalog from the worker's files."""


class AgentRunInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str
    mode: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    budget_usd: float | None = Field(default=None, gt=0, description="most the step may spend")
    price_as: str | None = Field(
        default=None,
        pattern=PRICE_AS_PATTERN,
        description="run on the offline policy, its token estimates priced as this "
        "`provider:model` (`chain`: the agent's first provider); see RunInput.price_as",
    )
    catalog: AgentSlice | None = Field(
        default=None, description="the agent's catalog slice; None = resolved at the first task"
    )
    config_version: int | None = Field(
        default=None, description="pinned configuration version (0 = catalog defaults)"
    )


class AgentStartRequest(BaseModel):
    """Local activity `resolve_agent_start`."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    mode: str
    workflow_id: str
    run_id: str
    tenant: str
    need_slice: bool = True


class AgentStart(BaseModel):
    catalog: AgentSlice | None = None
    config_version: int = 0


def _unknown(agent: str, mode: str, slice_: AgentSlice | None, known: list[str]) -> None:
    if slice_ is None:
        raise ApplicationError(
            f"unknown agent `{agent}`; known: {', '.join(known)}",
            type="UnknownAgent",
            non_retryable=True,
        )
    if mode not in slice_.modes:
        raise ApplicationError(
            f"agent `{agent}` has no mode `{mode}` (modes: {', '.join(slice_.modes)})",
            type="UnknownMode",
            non_retryable=True,
        )


@workflow.defn(name=AGENT_WORKFLOW_TYPE)
class SingleAgentWorkflow:
    @workflow.run
    async def run(self, inp: AgentRunInput) -> AgentStepResult:
        info = workflow.info()
        slice_, version = inp.catalog, inp.config_version
        if slice_ is not None:
            _unknown(inp.agent, inp.mode, slice_, [])
        if slice_ is None and not workflow.patched(AGENT_START_PATCH):
            slice_ = self._legacy_slice(inp)
        elif slice_ is None or version is None:
            try:
                started: AgentStart = await workflow.execute_local_activity(
                    RESOLVE_AGENT_START,
                    AgentStartRequest(
                        agent=inp.agent,
                        mode=inp.mode,
                        workflow_id=info.workflow_id,
                        run_id=info.run_id,
                        tenant=inp.tenant,
                        need_slice=slice_ is None,
                    ),
                    result_type=AgentStart,
                    start_to_close_timeout=timedelta(seconds=30),
                    summary="resolve the agent and pin its configuration",
                )
            except ActivityError as e:
                raise ApplicationError(
                    failure_cause(e), type="AgentStartFailed", non_retryable=True
                ) from None
            slice_ = slice_ or started.catalog
            version = started.config_version
        assert slice_ is not None
        mode = slice_.modes[inp.mode]
        timeout = DEFAULT_AGENT_TIMEOUT
        if mode.timeout_s is not None:
            timeout = timedelta(seconds=mode.timeout_s)
        workflow.set_current_details(f"**{inp.agent}/{inp.mode}** for tenant {inp.tenant}")
        template = f"agent.{inp.agent}"  # as visibility and the executions index name it
        run_metrics.started(template, inp.tenant)
        try:
            result = await execute_agent_step(
                AgentStepInput(
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    template=AGENT_WORKFLOW_TYPE,
                    step_id="agent",
                    agent=inp.agent,
                    mode=inp.mode,
                    inputs=inp.inputs,
                    tenant=inp.tenant,
                    config_version=version,
                    budget_usd=inp.budget_usd,
                    price_as=inp.price_as,
                ),
                task_queue=task_queue_for(slice_.category),
                start_to_close_timeout=timeout,
                heartbeat_timeout=DEFAULT_HEARTBEAT,
                retry_policy=DEFAULT_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"{inp.agent}/{inp.mode}",
            )
        except (ActivityError, asyncio.CancelledError) as e:
            cancelled = isinstance(e, asyncio.CancelledError) or isinstance(e.cause, CancelledError)
            run_metrics.ended(template, inp.tenant, "cancelled" if cancelled else "failed", 0.0)
            raise
        run_metrics.ended(template, inp.tenant, "completed", result.cost_usd)
        return result

    @staticmethod
    def _legacy_slice(inp: AgentRunInput) -> AgentSlice:
        """Runs from before the slice was carried: the worker's catalog, as they did."""
        catalog = default_catalog()
        if inp.agent not in catalog:
            _unknown(inp.agent, inp.mode, None, [a.id for a in catalog])
        agent = catalog.get(inp.agent)
        # The platform's default timeout, as those runs had (no catalog timeouts then).
        legacy = AgentSlice(category=agent.category, modes={m: ModeSlice() for m in agent.modes})
        _unknown(inp.agent, inp.mode, legacy, [])
        return legacy

"""A tiny workflow for the agent tests: runs `run_agent` steps on a given task queue with a
given retry policy and returns each step's result or failure (no DAG runtime needed)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Plain pydantic contract, shared with the activity (passed through: no re-import).
    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult


class StepFailure(BaseModel):
    type: str = ""
    message: str = ""
    non_retryable: bool = False
    next_retry_delay_s: float | None = None


class StepOutcome(BaseModel):
    result: AgentStepResult | None = None
    failure: StepFailure | None = None


class ProbeInput(BaseModel):
    task_queue: str
    steps: list[AgentStepInput]
    max_attempts: int = 1
    initial_interval_s: float = 0.05
    start_to_close_s: float = 60
    heartbeat_timeout_s: float | None = None
    max_parallel: int = 8


class ProbeOutput(BaseModel):
    outcomes: list[StepOutcome] = Field(default_factory=list)


@workflow.defn
class AgentProbeWorkflow:
    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeOutput:
        gate = asyncio.Semaphore(inp.max_parallel)

        async def one(step: AgentStepInput) -> StepOutcome:
            async with gate:
                try:
                    result = await workflow.execute_activity(
                        RUN_AGENT,
                        step,
                        task_queue=inp.task_queue,
                        result_type=AgentStepResult,
                        start_to_close_timeout=timedelta(seconds=inp.start_to_close_s),
                        heartbeat_timeout=(
                            timedelta(seconds=inp.heartbeat_timeout_s)
                            if inp.heartbeat_timeout_s
                            else None
                        ),
                        retry_policy=RetryPolicy(
                            maximum_attempts=inp.max_attempts,
                            initial_interval=timedelta(seconds=inp.initial_interval_s),
                            backoff_coefficient=1.0,
                        ),
                    )
                    return StepOutcome(result=result)
                except ActivityError as e:
                    cause = e.cause
                    if isinstance(cause, ApplicationError):
                        delay = cause.next_retry_delay
                        return StepOutcome(
                            failure=StepFailure(
                                type=cause.type or "",
                                message=cause.message,
                                non_retryable=cause.non_retryable,
                                next_retry_delay_s=delay.total_seconds() if delay else None,
                            )
                        )
                    return StepOutcome(
                        failure=StepFailure(type=type(cause).__name__, message=str(cause))
                    )

        outcomes = await asyncio.gather(*(one(s) for s in inp.steps))
        return ProbeOutput(outcomes=list(outcomes))

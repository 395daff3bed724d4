"""The hand-written Temporal workflow the compiled `bench_chain` template is measured against:
the same activities with the same options, the same approval wait with its search-attribute
upserts, written the way one would write it without the platform."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
    from workflows.compiler import DEFAULT_HEARTBEAT, DEFAULT_RETRY
    from workflows.models import RunInput
    from workflows.search_attributes import PENDING_APPROVALS

APPROVAL_TIMEOUT = timedelta(milliseconds=100)


@workflow.defn(name="BenchBaseline")
class BaselineChain:
    def __init__(self) -> None:
        self.decided = False

    @workflow.signal
    def approve(self, _: dict) -> None:  # type: ignore[type-arg]
        self.decided = True

    async def _step(self, sid: str, run_input: RunInput) -> object:
        info = workflow.info()
        result = await workflow.execute_activity(
            RUN_AGENT,
            AgentStepInput(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                template="bench",
                step_id=sid,
                agent="noop",
                mode="echo",
                inputs={"step": sid},
                tenant=run_input.tenant,
            ),
            result_type=AgentStepResult,
            task_queue="bizos-agents-system",
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=DEFAULT_HEARTBEAT,
            retry_policy=DEFAULT_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"{sid}: noop/echo",
        )
        return result.output

    @workflow.run
    async def run(self, run_input: RunInput) -> dict[str, object]:
        outputs = {"s1": await self._step("s1", run_input)}
        outputs["s2"] = await self._step("s2", run_input)
        workflow.upsert_search_attributes([PENDING_APPROVALS.value_set(["review"])])
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.decided, timeout=APPROVAL_TIMEOUT, timeout_summary="review"
            )
        workflow.upsert_search_attributes([PENDING_APPROVALS.value_set([])])
        outputs["s3"] = await self._step("s3", run_input)
        outputs["s4"] = await self._step("s4", run_input)
        return outputs

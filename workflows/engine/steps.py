"""The four step kinds — agent, child workflow, approval, choice — and `foreach` fan-out.
Each returns the step's output (agent and child steps) or records its decision."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError, FailureError
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.contract import REF_KEY, AgentStepInput
    from workflows import search_attributes as sa
    from workflows.compiler import CompiledDag, CompiledStep
    from workflows.digest import CONTENT_HASH_KEY, outputs_digest
    from workflows.engine import revise
    from workflows.engine.budget import Budget
    from workflows.engine.decisions import Decisions
    from workflows.engine.failures import StepFailure, failure_cause
    from workflows.engine.lost_workers import execute_agent_step
    from workflows.engine.state import RunState
    from workflows.expressions import EvaluationError, Scope
    from workflows.models import SPEC_MEMO_KEY, DecisionRecord, RunInput, RunPlan, RunResult
    from workflows.plans import PlanError, child_plan

Call = Callable[[CompiledStep, Scope, int | None], Awaitable[Any]]
_RUNNERS = {"agent": "agent", "workflow": "child", "approval": "approval", "choice": "choice"}
"""Each step kind's method of `StepKinds`."""


class StepKinds:
    def __init__(
        self,
        state: RunState,
        decisions: Decisions,
        budget: Budget,
        child_dag: Callable[[str], CompiledDag],
        plan: RunPlan | None,
    ) -> None:
        self.state = state
        self.decisions = decisions
        self.budget = budget
        self._child_dag = child_dag
        self._plan = plan  # None: a run from before plans were carried

    async def execute(self, step: CompiledStep) -> None:
        # looked up by name, not through a dict of bound methods built for every step
        output = await getattr(self, _RUNNERS[step.kind])(step)
        if step.kind in ("agent", "workflow"):
            self.state.steps[step.id].output = output
            self.state.set_status(step.id, "succeeded")

    # ------------------------------------------------------------------ foreach

    def _foreach_items(self, step: CompiledStep) -> list[Any]:
        assert step.foreach is not None
        try:
            items = step.foreach.render(self.state.scope)
        except EvaluationError as e:
            raise StepFailure(f"foreach: {e}") from None
        if not isinstance(items, list):
            raise StepFailure(f"foreach gave {type(items).__name__}, not a list")
        if len(items) > step.spec.max_items:
            raise StepFailure(
                f"foreach gave {len(items)} items; the step allows max_items={step.spec.max_items}"
            )
        record = self.state.steps[step.id]
        record.items = len(items)
        record.items_done = 0
        return items

    async def _fan_out(
        self, step: CompiledStep, items: list[Any], call: Callable[[Any, int], Awaitable[Any]]
    ) -> list[Any]:
        limit = asyncio.Semaphore(step.spec.max_parallel or 1)
        record = self.state.steps[step.id]

        seeded = self._seed_items(step.id)

        async def one(index: int, item: Any) -> Any:
            if index in seeded:
                # Done by the run this one resumes: reused, not re-run nor re-billed.
                record.item_outputs[index] = seeded[index]
                record.items_done += 1
                return seeded[index]
            async with limit:
                try:
                    result = await call(item, index)
                except (ActivityError, ChildWorkflowError, EvaluationError) as e:
                    if step.spec.on_error != "continue":
                        raise
                    message = failure_cause(e) if isinstance(e, FailureError) else str(e)
                    result = {"error": message, "index": index}
                else:
                    record.item_outputs[index] = result
                record.items_done += 1
                return result

        tasks = [asyncio.create_task(one(i, item)) for i, item in enumerate(items)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await workflow.wait(tasks)
            raise

    def _seed_items(self, sid: str) -> dict[int, Any]:
        seed = self.state.input.resume
        step_seed = seed.steps.get(sid) if seed is not None else None
        return dict(step_seed.items) if step_seed is not None else {}

    async def _once_or_each(self, step: CompiledStep, call: Call, estimate: float) -> Any:
        """One call, or one per `foreach` item (in order, `max_parallel` at once), after the
        budget gate has priced them (`estimate` per call; child runs carry their own)."""
        scope = self.state.scope
        if step.foreach is None:
            await self.budget.gate(step, estimate)
            return await call(step, scope, None)
        items = self._foreach_items(step)
        await self.budget.gate(step, estimate * len(items))
        return await self._fan_out(
            step, items, lambda item, i: call(step, scope.for_item(item, i), i)
        )

    # ------------------------------------------------------------------ agent steps

    async def agent(self, step: CompiledStep) -> Any:
        return await self._once_or_each(step, self._call_agent, step.cost_estimate_usd)

    async def _call_agent(self, step: CompiledStep, scope: Scope, index: int | None) -> Any:
        assert step.spec.agent is not None and step.spec.mode is not None
        info = workflow.info()
        state = self.state
        inputs = step.inputs.render(scope)
        inputs = inputs if isinstance(inputs, dict) else {"value": inputs}
        record = state.steps[step.id]
        feedback = state.feedback.get(step.id)
        if feedback is not None and feedback["round"] == record.round:
            # a revise decision's feedback, for the target of its loop
            inputs = {**inputs, "revision": feedback}
        label = step.id if index is None else f"{step.id}[{index}]"
        if record.round:
            label += f" (round {record.round + 1})"
        pool, pool_cap = self.budget.pool()
        result = await execute_agent_step(
            AgentStepInput(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                template=state.dag.name,
                step_id=step.id,
                item_index=index,
                agent=step.spec.agent,
                mode=step.spec.mode,
                inputs=inputs,
                tenant=state.input.tenant,
                round=record.round,
                config_version=self._config_version(step.spec.agent),
                # Runs with a pool cap every call by it; older runs capped each step.
                budget_usd=None if pool else self.budget.agent_cap(step),
                budget_pool=pool,
                budget_cap_usd=pool_cap,
                price_as=state.input.price_as,
                inline_limit_bytes=step.inline_limit_bytes,
                view_limit_bytes=step.view_limit_bytes,
            ),
            task_queue=step.task_queue,
            start_to_close_timeout=step.timeout,
            schedule_to_close_timeout=step.deadline,
            heartbeat_timeout=step.heartbeat,
            retry_policy=step.retry_policy,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"{label}: {step.summary}",
        )
        state.add_cost(step.id, result.cost_usd)
        record.attempts = max(record.attempts, result.attempt)
        record.tool_failures += result.tool_failures
        record.failed_tools.extend(t for t in result.failed_tools if t not in record.failed_tools)
        self.budget.note_spending(getattr(result, "budget_alerts", None))
        if result.output_ref is not None:
            view = (
                dict(result.output_view)  # expressions read its fields; `$ref` the rest
                if result.output_view is not None
                else {REF_KEY: result.output_ref, "summary": result.summary}
            )
            if result.output_sha256 is not None:
                view[CONTENT_HASH_KEY] = result.output_sha256  # what a bound decision saw
            return view
        return result.output

    def _config_version(self, agent: str) -> int | None:
        """The version pinned at run start (0 = catalog defaults); None for runs that
        predate pinning at start (the activity then pins at the agent's first step)."""
        pins = self.state.input.config_versions
        if pins is None:
            return None
        return pins.get(agent, 0)

    # ------------------------------------------------------------------ child runs

    async def child(self, step: CompiledStep) -> Any:
        return await self._once_or_each(step, self._call_child, 0.0)

    async def _call_child(self, step: CompiledStep, scope: Scope, index: int | None) -> Any:
        assert step.child_type is not None
        try:
            child = self._child_dag(step.child_type)
        except (KeyError, PlanError):
            # A worker without the child's template must not retry the task forever.
            raise StepFailure(
                f"child template `{step.spec.workflow}` is not known to this worker",
                error_type="UnknownTemplate",
            ) from None
        info = workflow.info()
        tenant = self.state.input.tenant
        params = step.inputs.render(scope)
        if not isinstance(params, dict):
            raise StepFailure(f"with: gave {type(params).__name__}, not a mapping of params")
        child_id = f"{info.workflow_id}.{step.id}" + ("" if index is None else f".{index}")
        child_input = RunInput(
            params=params,
            tenant=tenant,
            budget_usd=self.budget.child_budget(),
            notify=self.state.input.notify,  # a notifying run's children notify too
        )
        if self._plan is not None:
            # The child runs on the plan this run recorded, with this run's pins, and keeps
            # its result within this step's share of the payload.
            child_input.plan = child_plan(self._plan, step.child_type)
            child_input.config_versions = self.state.input.config_versions
            child_input.output_limit_bytes = step.inline_limit_bytes
            # One pool of money for the whole run: children draw on the root's.
            pool, pool_cap = self.budget.pool()
            child_input.budget_pool, child_input.pool_cap_usd = pool, pool_cap
            child_input.price_as = self.state.input.price_as
            seed = self.state.input.resume
            key = step.id if index is None else f"{step.id}.{index}"
            if seed is not None and key in seed.children:
                child_input.resume = seed.children[key]  # the child resumes its old run
        result: RunResult = await workflow.execute_child_workflow(
            step.child_type,
            child_input,
            id=child_id,
            task_queue=info.task_queue,
            result_type=RunResult,
            parent_close_policy=ParentClosePolicy.TERMINATE,
            execution_timeout=child.spec.execution_timeout,
            memo={SPEC_MEMO_KEY: child.pin},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TEMPLATE, child.name),
                    SearchAttributePair(sa.TENANT, tenant),
                ]
            ),
            static_summary=f"{child.name} v{child.version} (child of {info.workflow_id})",
        )
        self.state.add_cost(step.id, result.cost_usd)
        return result.outputs

    # ------------------------------------------------------------------ people

    def digest(self, step: CompiledStep) -> str | None:
        """Of the outputs the step binds its decision to, as they are now (None: no bind)."""
        if not step.people.bind:
            return None
        steps = self.state.steps
        return outputs_digest(
            {b: steps[b].output if steps[b].has_output else None for b in step.people.bind}
        )

    async def approval(self, step: CompiledStep) -> None:
        spec = step.spec.approval
        assert spec is not None
        round = level = 0
        while True:
            decision, level = await self.decisions.wait_for(
                step,
                "approval",
                spec.timeout,
                spec.prompt,
                round=round,
                digest=self.digest(step),
                first_level=level,  # a revised draft goes back to whoever asked for it
            )
            group = _group(step, level)
            if decision is None:
                if spec.on_timeout == "fail":
                    self.decisions.keep(step, _timed_out(None, level, round, group))
                    raise StepFailure(
                        f"no decision within {spec.last_timeout}",
                        fatal=True,
                        error_type="DecisionTimeout",
                    )
                record = _timed_out(spec.on_timeout == "approve", level, round, group)
            else:
                record = self.decisions.record(
                    decision,
                    approved=None
                    if decision.decision == "revise"
                    else decision.decision == "approve",
                    level=level,
                    round=round,
                    group=group,
                )
            self.decisions.keep(step, record)
            if decision is not None and decision.decision == "revise":
                round += 1
                await revise.rerun(
                    self.state, step, round, decision.comment, decision.by, self.execute
                )
                continue
            break
        self.decisions.approvals[step.id] = record
        self.state.approvals_scope[step.id] = {
            "approved": bool(record.approved),
            "by": record.by,
            "comment": record.comment,
            "round": round,
        }
        self.state.set_status(step.id, "succeeded" if record.approved else "rejected")

    async def choice(self, step: CompiledStep) -> None:
        spec = step.spec.choice
        assert spec is not None
        if step.choice_by is not None:
            try:
                option = step.choice_by.evaluate(self.state.scope)
            except EvaluationError as e:
                raise StepFailure(f"choice.by: {e}") from None
            if option not in spec.options:
                raise StepFailure(
                    f"choice.by gave {option!r}, not one of {', '.join(spec.options)}"
                )
            record = DecisionRecord(option=option, by="expression", at=workflow.now())
        else:
            decision, level = await self.decisions.wait_for(
                step, "choice", spec.timeout, spec.prompt
            )
            group = _group(step, level)
            if decision is None:
                if spec.default is None:
                    self.decisions.keep(step, _timed_out(None, level, 0, group))
                    raise StepFailure(
                        f"no choice within {spec.last_timeout} and no default",
                        fatal=True,
                        error_type="DecisionTimeout",
                    )
                record = _timed_out(None, level, 0, group)
                record.option = spec.default
            else:
                record = self.decisions.record(
                    decision, option=decision.option, level=level, group=group
                )
            self.decisions.keep(step, record)
        self.decisions.choices[step.id] = record
        self.state.choices_scope[step.id] = {
            "option": record.option,
            "by": record.by,
            "comment": record.comment,
        }
        self.state.set_status(step.id, "succeeded")


def _group(step: CompiledStep, level: int) -> str | None:
    levels = step.people.levels
    return levels[level].group if level < len(levels) else None


def _timed_out(approved: bool | None, level: int, round: int, group: str | None) -> DecisionRecord:
    return DecisionRecord(
        approved=approved,
        by="timeout",
        timed_out=True,
        at=workflow.now(),
        decision="timeout",
        level=level,
        round=round,
        group=group,
    )

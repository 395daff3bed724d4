"""The DAG runtime: one dynamic Temporal workflow that runs every compiled template.

Each template is its own workflow type (`ContentCreation` …); this class serves them all and
fails unknown types cleanly. Everything it executes was compiled outside the sandbox, once
per worker (workflows.registry); here there is no I/O, clock or randomness outside
`workflow.*`, so every run replays exactly.

Versioning: a run pins the spec it started with (memo `bizos_spec`, or a patch marker when
the starter gave no memo) and finishes on it after newer versions are deployed. Changes to
this file follow docs/versioning.md, and tests/histories/ replays guard them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    RetryState,
)
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    # Pure, deterministic modules compiled once per worker; passed through so the sandbox
    # shares the worker's copy instead of re-importing them for every run.
    from pydantic import ValidationError

    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
    from workflows import search_attributes as sa
    from workflows.compiler import CompiledDag, CompiledStep, params_error_lines
    from workflows.expressions import EvaluationError, Scope
    from workflows.models import (
        SPEC_MEMO_KEY,
        TERMINAL,
        ApprovalSignal,
        ChoiceSignal,
        Decision,
        DecisionReceipt,
        DecisionRecord,
        Progress,
        RunInput,
        RunResult,
        StepProgress,
    )
    from workflows.registry import default_registry

SPEC_PATCH_PREFIX = "bizos-spec-"


class StepFailure(Exception):
    """A step failed; `fatal` ends the run whatever the step's `on_error` says."""

    def __init__(self, message: str, *, fatal: bool = False, error_type: str = "StepFailed"):
        super().__init__(message)
        self.fatal = fatal
        self.error_type = error_type


def _cause(err: BaseException) -> str:
    """The innermost useful message of an activity/child failure, and why retrying stopped."""
    seen = err
    while isinstance(seen, FailureError) and seen.cause is not None:
        seen = seen.cause
    message = seen.message if isinstance(seen, ApplicationError) else str(seen)
    message = message or type(seen).__name__
    if isinstance(err, ActivityError):
        if err.retry_state == RetryState.TIMEOUT:
            message += " (deadline reached: no time left for another attempt)"
        elif err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
            message += " (all attempts used)"
    return message


@workflow.defn(dynamic=True)
class DagWorkflow:
    """Runs the compiled template named by this run's workflow type."""

    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        self._fatal: BaseException | None = None
        self._dag: CompiledDag | None = None
        self._input = RunInput()
        self._status: dict[str, str] = {}
        self._outputs: dict[str, Any] = {}
        self._errors: dict[str, str] = {}
        self._costs: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._items: dict[str, int] = {}
        self._items_done: dict[str, int] = {}
        self._started: dict[str, Any] = {}
        self._ended: dict[str, Any] = {}
        self._inbox: dict[str, Decision] = {}
        self._approvals: dict[str, DecisionRecord] = {}
        self._choices: dict[str, DecisionRecord] = {}
        self._budget_decisions: dict[str, DecisionRecord] = {}
        self._waiting: dict[str, str] = {}
        self._prompts: dict[str, str] = {}
        self._upserted_waiting: list[str] = []
        self._ignored: list[str] = []
        self._total_cost = 0.0
        self._done = False
        self._failed = False
        try:
            self._dag = self._resolve_spec()
            self._input = self._decode_input(args)
        except ApplicationError as e:
            self._fatal = e
            return
        dag = self._dag
        self._status = {sid: "pending" for sid in dag.steps}
        self._steps_scope: dict[str, Any] = {}
        self._approvals_scope: dict[str, Any] = {}
        self._choices_scope: dict[str, Any] = {}
        self._scope = Scope(
            self._params, self._steps_scope, self._approvals_scope, self._choices_scope
        )

    # ------------------------------------------------------------------ start-up

    def _resolve_spec(self) -> CompiledDag:
        info = workflow.info()
        registry = default_registry()
        wtype = info.workflow_type
        if wtype not in registry.current:
            raise ApplicationError(
                f"unknown workflow type `{wtype}`: this worker runs "
                f"{', '.join(sorted(registry.current))}",
                type="UnknownTemplate",
                non_retryable=True,
            )
        pin = workflow.memo_value(SPEC_MEMO_KEY, default=None)
        if isinstance(pin, dict) and "version" in pin:
            dag = registry.version(wtype, int(pin["version"]))
            if dag is None:
                # Not fatal: a worker that has this frozen version can pick the run up.
                raise RuntimeError(
                    f"{wtype} was started on spec version {pin['version']}, which this worker "
                    f"does not have (it has {registry.known_versions(wtype)}); deploy a worker "
                    f"with dag_specs/versions/{pin.get('name')}@{pin['version']}.yaml"
                )
            if pin.get("hash") and pin["hash"] != dag.hash:
                raise ApplicationError(
                    f"{wtype} version {dag.version}: the run's spec hash {pin['hash']} differs "
                    f"from this worker's {dag.hash}: the spec changed without a version bump",
                    type="SpecMismatch",
                    non_retryable=True,
                )
            return dag
        # Started without a pin (e.g. `temporal workflow start`): the first workflow task
        # records which version it chose as a patch marker, so replays choose the same.
        for version in reversed(registry.known_versions(wtype)):
            dag = registry.version(wtype, version)
            assert dag is not None
            if workflow.patched(f"{SPEC_PATCH_PREFIX}{dag.name}@{version}"):
                workflow.upsert_memo({SPEC_MEMO_KEY: dag.pin})
                return dag
        raise RuntimeError(f"no spec version of {wtype} matches this run's history")

    def _decode_input(self, args: Sequence[RawValue]) -> RunInput:
        assert self._dag is not None
        if len(args) != 1:
            raise ApplicationError(
                f"{self._dag.workflow_type} takes one input, "
                '{"params": {...}, "tenant": "default", "budget_usd": null}; '
                f"got {len(args)}",
                type="InvalidInput",
                non_retryable=True,
            )
        try:
            run_input = workflow.payload_converter().from_payload(args[0].payload, RunInput)
        except Exception as e:  # the converter raises pydantic or JSON errors
            raise ApplicationError(
                f"{self._dag.workflow_type}: input is not a RunInput "
                f'({{"params": {{...}}, "tenant": "default", "budget_usd": null}}): {e}',
                type="InvalidInput",
                non_retryable=True,
            ) from None
        try:
            params = self._dag.params_model.model_validate(run_input.params)
        except ValidationError as e:
            raise ApplicationError(
                f"{self._dag.workflow_type}: bad params: " + "; ".join(params_error_lines(e)),
                type="InvalidParams",
                non_retryable=True,
            ) from None
        self._params = params.model_dump()
        return run_input

    # ------------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> RunResult:
        if self._fatal is not None:
            raise self._fatal
        dag = self._dag
        assert dag is not None
        info = workflow.info()
        if info.typed_search_attributes.get(sa.TEMPLATE) is None:
            workflow.upsert_search_attributes(
                [sa.TEMPLATE.value_set(dag.name), sa.TENANT.value_set(self._input.tenant)]
            )
        body = asyncio.create_task(self._run_steps())
        try:
            limit = dag.spec.execution_timeout
            if info.execution_timeout is None or info.execution_timeout > limit:
                # The starter set no execution timeout (or a longer one than the template
                # allows, e.g. a test server's 10-year default): enforce the spec's own.
                guard = asyncio.create_task(
                    workflow.sleep(limit, summary="execution timeout")
                )
                await workflow.wait([body, guard], return_when=asyncio.FIRST_COMPLETED)
                if not body.done():
                    body.cancel()
                    await workflow.wait([body])
                    raise ApplicationError(
                        f"run exceeded the spec's execution_timeout of "
                        f"{dag.spec.execution_timeout}",
                        type="ExecutionTimeout",
                        non_retryable=True,
                    )
                guard.cancel()
            result = await body
        except asyncio.CancelledError:
            # Cancelling the run cancels its steps; they wait for their activities to
            # acknowledge through heartbeats before the run ends as cancelled.
            body.cancel()
            await workflow.wait([body])
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _run_steps(self) -> RunResult:
        dag = self._dag
        assert dag is not None
        pending = list(dag.steps)
        running: dict[asyncio.Task[None], str] = {}
        try:
            while True:
                self._schedule_ready(pending, running)
                self._publish_details()
                if not running:
                    break
                done, _ = await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    sid = running.pop(task)
                    self._finish(dag.steps[sid], task)
        except (StepFailure, asyncio.CancelledError) as e:
            for task in running:
                task.cancel()
            if running:
                # Wait for activities to acknowledge (they heartbeat), so nothing keeps
                # working for a run that has ended.
                await workflow.wait(list(running))
            self._failed = True
            self._publish_details()
            if isinstance(e, StepFailure):
                raise ApplicationError(str(e), type=e.error_type, non_retryable=True) from None
            raise
        self._done = True
        self._publish_details()
        return self._result()

    def _schedule_ready(self, pending: list[str], running: dict[asyncio.Task[None], str]) -> None:
        dag = self._dag
        assert dag is not None
        progressed = True
        while progressed:
            progressed = False
            for sid in list(pending):
                step = dag.steps[sid]
                try:
                    verdict = self._verdict(step)
                except EvaluationError as e:
                    pending.remove(sid)
                    progressed = True
                    self._fail_step(step, f"when: {e}")
                    continue
                if verdict is None:
                    continue
                pending.remove(sid)
                progressed = True
                if verdict == "skip":
                    self._set_status(sid, "skipped")
                else:
                    self._set_status(sid, "running")
                    self._started[sid] = workflow.now()
                    running[asyncio.create_task(self._execute(step))] = sid

    def _verdict(self, step: CompiledStep) -> str | None:
        """None = not ready yet; "skip"; "run"."""
        status = self._status
        if any(status[d] not in TERMINAL for d in step.after):
            return None
        if step.gated_by is not None:
            choice_id, options = step.gated_by
            if status[choice_id] not in TERMINAL:
                return None
            chosen = self._choices.get(choice_id)
            if chosen is None or chosen.option not in options:
                return "skip"
        if step.spec.trigger == "all_success" and any(status[d] != "succeeded" for d in step.after):
            return "skip"
        if step.when is not None:
            ok = step.when.evaluate(self._scope)
            if not isinstance(ok, bool):
                raise EvaluationError(f"`{step.when.source}` gave {ok!r}, not true/false")
            if not ok:
                return "skip"
        return "run"

    def _finish(self, step: CompiledStep, task: asyncio.Task[None]) -> None:
        sid = step.id
        self._ended[sid] = workflow.now()
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, StepFailure):
            message = str(exc)
            fatal = exc.fatal
        elif isinstance(exc, ActivityError | ChildWorkflowError):
            message, fatal = _cause(exc), False
        elif isinstance(exc, EvaluationError):
            message, fatal = str(exc), False
        else:
            raise exc
        self._fail_step(step, message, fatal=fatal, error_type=getattr(exc, "error_type", None))

    def _fail_step(
        self,
        step: CompiledStep,
        message: str,
        *,
        fatal: bool = False,
        error_type: str | None = None,
    ) -> None:
        sid = step.id
        self._set_status(sid, "failed")
        self._errors[sid] = message
        self._ended.setdefault(sid, workflow.now())
        if fatal or step.spec.on_error == "fail":
            workflow.logger.warning("step %s failed, failing the run: %s", sid, message)
            raise StepFailure(
                f"step `{sid}` ({step.summary}) failed: {message}",
                error_type=error_type or "StepFailed",
            )
        workflow.logger.info("step %s failed, continuing (on_error: continue): %s", sid, message)

    def _set_status(self, sid: str, status: str) -> None:
        self._status[sid] = status
        entry = self._steps_scope.setdefault(sid, {"output": None})
        entry["status"] = status
        if sid in self._outputs:
            entry["output"] = self._outputs[sid]

    # ------------------------------------------------------------------ step kinds

    async def _execute(self, step: CompiledStep) -> None:
        runner: dict[str, Callable[[CompiledStep], Awaitable[Any]]] = {
            "agent": self._agent_step,
            "workflow": self._child_step,
            "approval": self._approval_step,
            "choice": self._choice_step,
        }
        output = await runner[step.kind](step)
        if step.kind in ("agent", "workflow"):
            self._outputs[step.id] = output
            self._set_status(step.id, "succeeded")

    def _foreach_items(self, step: CompiledStep) -> list[Any]:
        assert step.foreach is not None
        try:
            items = step.foreach.render(self._scope)
        except EvaluationError as e:
            raise StepFailure(f"foreach: {e}") from None
        if not isinstance(items, list):
            raise StepFailure(f"foreach gave {type(items).__name__}, not a list")
        if len(items) > step.spec.max_items:
            raise StepFailure(
                f"foreach gave {len(items)} items; the step allows max_items={step.spec.max_items}"
            )
        self._items[step.id] = len(items)
        self._items_done[step.id] = 0
        return items

    async def _fan_out(
        self, step: CompiledStep, items: list[Any], call: Callable[[Any, int], Awaitable[Any]]
    ) -> list[Any]:
        limit = asyncio.Semaphore(step.spec.max_parallel or 1)

        async def one(index: int, item: Any) -> Any:
            async with limit:
                try:
                    result = await call(item, index)
                except (ActivityError, ChildWorkflowError, EvaluationError) as e:
                    if step.spec.on_error != "continue":
                        raise
                    message = _cause(e) if isinstance(e, FailureError) else str(e)
                    result = {"error": message, "index": index}
                self._items_done[step.id] += 1
                return result

        tasks = [asyncio.create_task(one(i, item)) for i, item in enumerate(items)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await workflow.wait(tasks)
            raise

    async def _agent_step(self, step: CompiledStep) -> Any:
        return await self._once_or_each(step, self._call_agent, step.cost_estimate_usd)

    async def _once_or_each(
        self,
        step: CompiledStep,
        call: Callable[[CompiledStep, Scope, int | None], Awaitable[Any]],
        estimate: float,
    ) -> Any:
        """One call, or one per `foreach` item (in order, `max_parallel` at once), after the
        budget gate has priced them (`estimate` per call; child runs carry their own)."""
        if step.foreach is None:
            await self._budget_gate(step, estimate)
            return await call(step, self._scope, None)
        items = self._foreach_items(step)
        await self._budget_gate(step, estimate * len(items))
        return await self._fan_out(
            step, items, lambda item, i: call(step, self._scope.for_item(item, i), i)
        )

    async def _call_agent(self, step: CompiledStep, scope: Scope, index: int | None) -> Any:
        assert step.spec.agent is not None and step.spec.mode is not None
        info = workflow.info()
        inputs = step.inputs.render(scope)
        label = step.id if index is None else f"{step.id}[{index}]"
        # The budget left caps the step's model spending (the gate above only sees
        # estimates); a person who approved passing the budget lifted the cap for this step.
        cap = None
        budget = self._budget
        if budget is not None and step.id not in self._budget_decisions:
            cap = max(round(budget - self._total_cost, 6), 0.0)
        result: AgentStepResult = await workflow.execute_activity(
            RUN_AGENT,
            AgentStepInput(
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                template=self._dag.name if self._dag else "",
                step_id=step.id,
                item_index=index,
                agent=step.spec.agent,
                mode=step.spec.mode,
                inputs=inputs if isinstance(inputs, dict) else {"value": inputs},
                tenant=self._input.tenant,
                budget_usd=cap,
            ),
            result_type=AgentStepResult,
            task_queue=step.task_queue,
            start_to_close_timeout=step.timeout,
            schedule_to_close_timeout=step.deadline,
            heartbeat_timeout=step.heartbeat,
            retry_policy=step.retry_policy,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"{label}: {step.summary}",
        )
        self._add_cost(step.id, result.cost_usd)
        self._attempts[step.id] = max(self._attempts.get(step.id, 0), result.attempt)
        if result.output_ref is not None:
            return {"$ref": result.output_ref, "summary": result.summary}
        return result.output

    async def _child_step(self, step: CompiledStep) -> Any:
        return await self._once_or_each(step, self._call_child, 0.0)

    async def _call_child(self, step: CompiledStep, scope: Scope, index: int | None) -> Any:
        assert step.child_type is not None
        child = default_registry().get(step.child_type)
        info = workflow.info()
        params = step.inputs.render(scope)
        if not isinstance(params, dict):
            raise StepFailure(f"with: gave {type(params).__name__}, not a mapping of params")
        child_id = f"{info.workflow_id}.{step.id}" + ("" if index is None else f".{index}")
        remaining = None
        if self._budget is not None:
            remaining = max(self._budget - self._total_cost, 0.01)
        result: RunResult = await workflow.execute_child_workflow(
            step.child_type,
            RunInput(params=params, tenant=self._input.tenant, budget_usd=remaining),
            id=child_id,
            task_queue=info.task_queue,
            result_type=RunResult,
            parent_close_policy=ParentClosePolicy.TERMINATE,
            execution_timeout=child.spec.execution_timeout,
            memo={SPEC_MEMO_KEY: child.pin},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TEMPLATE, child.name),
                    SearchAttributePair(sa.TENANT, self._input.tenant),
                ]
            ),
            static_summary=f"{child.name} v{child.version} (child of {info.workflow_id})",
        )
        self._add_cost(step.id, result.cost_usd)
        return result.outputs

    async def _approval_step(self, step: CompiledStep) -> None:
        spec = step.spec.approval
        assert spec is not None
        decision = await self._await_decision(step, "approval", spec.timeout, spec.prompt)
        if decision is None:
            if spec.on_timeout == "fail":
                raise StepFailure(
                    f"no decision within {spec.timeout}", fatal=True, error_type="DecisionTimeout"
                )
            record = DecisionRecord(
                approved=spec.on_timeout == "approve",
                by="timeout",
                timed_out=True,
                at=workflow.now(),
            )
        else:
            record = self._record(decision, approved=decision.decision == "approve")
        self._approvals[step.id] = record
        self._approvals_scope[step.id] = {
            "approved": bool(record.approved),
            "by": record.by,
            "comment": record.comment,
        }
        self._set_status(step.id, "succeeded" if record.approved else "rejected")

    async def _choice_step(self, step: CompiledStep) -> None:
        spec = step.spec.choice
        assert spec is not None
        if step.choice_by is not None:
            try:
                option = step.choice_by.evaluate(self._scope)
            except EvaluationError as e:
                raise StepFailure(f"choice.by: {e}") from None
            if option not in spec.options:
                raise StepFailure(
                    f"choice.by gave {option!r}, not one of {', '.join(spec.options)}"
                )
            record = DecisionRecord(option=option, by="expression", at=workflow.now())
        else:
            decision = await self._await_decision(step, "choice", spec.timeout, spec.prompt)
            if decision is None:
                if spec.default is None:
                    raise StepFailure(
                        f"no choice within {spec.timeout} and no default",
                        fatal=True,
                        error_type="DecisionTimeout",
                    )
                record = DecisionRecord(
                    option=spec.default, by="timeout", timed_out=True, at=workflow.now()
                )
            else:
                record = self._record(decision, option=decision.option)
        self._choices[step.id] = record
        self._choices_scope[step.id] = {
            "option": record.option,
            "by": record.by,
            "comment": record.comment,
        }
        self._set_status(step.id, "succeeded")

    @property
    def _budget(self) -> float | None:
        assert self._dag is not None
        return (
            self._input.budget_usd
            if self._input.budget_usd is not None
            else self._dag.spec.budget_usd
        )

    async def _budget_gate(self, step: CompiledStep, estimate: float) -> None:
        budget = self._budget
        if budget is None or estimate <= 0 or self._total_cost + estimate <= budget + 1e-9:
            return
        assert self._dag is not None
        prompt = (
            f"Spent ${self._total_cost:.2f}; step {step.id} is estimated at ${estimate:.2f}, "
            f"which would pass the ${budget:.2f} budget. Continue?"
        )
        timeout = self._dag.spec.budget_approval_timeout
        decision = await self._await_decision(step, "budget", timeout, prompt)
        if decision is None:
            raise StepFailure(
                f"budget ${budget:.2f} would be exceeded and nobody approved within {timeout}",
                fatal=True,
                error_type="BudgetExceeded",
            )
        self._budget_decisions[step.id] = self._record(
            decision, approved=decision.decision == "approve"
        )
        if decision.decision != "approve":
            raise StepFailure(
                f"budget ${budget:.2f} would be exceeded; continuing was rejected by {decision.by}",
                fatal=True,
                error_type="BudgetExceeded",
            )

    def _add_cost(self, sid: str, cost: float) -> None:
        self._costs[sid] = self._costs.get(sid, 0.0) + cost
        self._total_cost += cost

    # ------------------------------------------------------------------ decisions

    async def _await_decision(
        self, step: CompiledStep, kind: str, timeout: timedelta, prompt: str  # noqa: ASYNC109
    ) -> Decision | None:
        sid = step.id
        if sid not in self._inbox:
            self._waiting[sid] = kind
            self._prompts[sid] = prompt
            self._sync_waiting()
            try:
                await workflow.wait_condition(
                    lambda: sid in self._inbox,
                    timeout=timeout,
                    timeout_summary=f"{sid}: {kind} times out",
                )
            except TimeoutError:
                return None
            finally:
                self._waiting.pop(sid, None)
                self._sync_waiting()
        return self._inbox.pop(sid)

    def _record(
        self, d: Decision, *, approved: bool | None = None, option: str | None = None
    ) -> DecisionRecord:
        return DecisionRecord(
            approved=approved, option=option, by=d.by, comment=d.comment, at=workflow.now()
        )

    def _sync_waiting(self) -> None:
        waiting = sorted(self._waiting)
        if waiting != self._upserted_waiting:
            workflow.upsert_search_attributes([sa.PENDING_APPROVALS.value_set(waiting)])
            self._upserted_waiting = waiting
        self._publish_details()

    def _decision_problem(self, d: Decision) -> str | None:
        """Why a decision cannot be taken (None = it can)."""
        dag = self._dag
        if dag is None:
            return "this run failed to start"
        step = dag.steps.get(d.step)
        if step is None:
            decidable = [s.id for s in dag.steps.values() if s.kind in ("approval", "choice")]
            return f"unknown step `{d.step}`; decidable steps: {', '.join(decidable) or 'none'}"
        if d.step in self._inbox:
            return f"step `{d.step}` already has a decision ({self._inbox[d.step].decision})"
        if self._status.get(d.step) in TERMINAL:
            return f"step `{d.step}` is already {self._status[d.step]}"
        if step.kind == "agent":
            if self._waiting.get(d.step) != "budget":
                return f"step `{d.step}` is an agent step, not waiting for a budget decision"
            if d.decision == "choose":
                return f"step `{d.step}` waits for approve or reject, not choose"
            return None
        if step.kind == "workflow":
            return f"step `{d.step}` is a child workflow; nothing to decide"
        if step.kind == "approval" and d.decision == "choose":
            return f"step `{d.step}` is an approval: approve or reject it"
        if step.kind == "choice":
            assert step.spec.choice is not None
            if step.choice_by is not None:
                return f"step `{d.step}` is chosen by its expression, not by a person"
            if d.decision != "choose":
                options = ", ".join(step.spec.choice.options)
                return f"step `{d.step}` is a choice: choose one of {options}"
            if d.option not in step.spec.choice.options:
                return (
                    f"`{d.option}` is not an option of step `{d.step}` "
                    f"({', '.join(step.spec.choice.options)})"
                )
        return None

    def _accept(self, d: Decision) -> DecisionReceipt:
        self._inbox[d.step] = d
        return DecisionReceipt(
            step=d.step, decision=d.decision, option=d.option, applied=d.step in self._waiting
        )

    @workflow.update(
        name="decide",
        description="Decide an approval (approve/reject), a choice (choose + option) or a "
        "budget wait. Refused for unknown or already decided steps.",
    )
    async def decide(self, decision: Decision) -> DecisionReceipt:
        return self._accept(decision)

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        problem = self._decision_problem(decision)
        if problem is not None:
            raise ValueError(problem)

    def _signal(self, d: Decision) -> None:
        problem = self._decision_problem(d)
        if problem is not None:
            self._ignored.append(f"{d.decision} {d.step}: {problem}")
            workflow.logger.warning("ignored %s signal for %s: %s", d.decision, d.step, problem)
            return
        self._accept(d)

    @workflow.signal(
        name="approve",
        description='Approve an approval step or a budget wait: {"step": id, "by", "comment"}. '
        "Kept until the step is reached.",
    )
    def approve(self, s: ApprovalSignal) -> None:
        self._signal(Decision(step=s.step, decision="approve", by=s.by, comment=s.comment))

    @workflow.signal(
        name="reject",
        description='Reject an approval step or a budget wait: {"step": id, "by", "comment"}.',
    )
    def reject(self, s: ApprovalSignal) -> None:
        self._signal(Decision(step=s.step, decision="reject", by=s.by, comment=s.comment))

    @workflow.signal(
        name="choose",
        description='Choose an option of a choice step: {"step": id, "option": name}.',
    )
    def choose(self, s: ChoiceSignal) -> None:
        self._signal(
            Decision(step=s.step, decision="choose", option=s.option, by=s.by, comment=s.comment)
        )

    # ------------------------------------------------------------------ progress

    @workflow.query(
        name="progress",
        description="Each step's status, output summary, cost and decision; the run's total.",
    )
    def progress(self) -> Progress:
        dag = self._dag
        if dag is None:
            return Progress(
                template=workflow.info().workflow_type,
                version=0,
                spec_hash="",
                status="failed",
                steps=[],
                cost_usd=0,
                budget_usd=None,
            )
        steps = []
        for sid, step in dag.steps.items():
            decision = (
                self._approvals.get(sid)
                or self._choices.get(sid)
                or self._budget_decisions.get(sid)
            )
            options = list(step.spec.choice.options) if step.spec.choice else None
            status = "waiting" if sid in self._waiting else self._status.get(sid, "pending")
            steps.append(
                StepProgress(
                    id=sid,
                    kind=step.kind,
                    status=status,  # type: ignore[arg-type]
                    summary=_summarise(self._outputs.get(sid))
                    if sid in self._outputs
                    else step.summary,
                    waiting_for=self._waiting.get(sid),
                    prompt=self._prompts.get(sid),
                    options=options,
                    cost_usd=round(self._costs.get(sid, 0.0), 6),
                    attempts=self._attempts.get(sid, 0),
                    items=self._items.get(sid),
                    items_done=self._items_done.get(sid, 0),
                    decision=decision,
                    error=self._errors.get(sid),
                    started_at=self._started.get(sid),
                    ended_at=self._ended.get(sid) if self._status.get(sid) in TERMINAL else None,
                )
            )
        return Progress(
            template=dag.name,
            version=dag.version,
            spec_hash=dag.hash,
            status="failed"
            if self._failed or self._fatal
            else "completed"
            if self._done
            else "running",
            steps=steps,
            cost_usd=round(self._total_cost, 6),
            budget_usd=self._budget,
            waiting=sorted(self._waiting),
            ignored_signals=list(self._ignored),
        )

    def _publish_details(self) -> None:
        """Markdown for the Web UI's "current details" as the run moves."""
        dag = self._dag
        if dag is None:
            return
        done = sum(1 for s in self._status.values() if s in TERMINAL)
        lines = [
            f"**{dag.name} v{dag.version}** — {done}/{len(dag.steps)} steps finished, "
            f"${self._total_cost:.2f} spent"
        ]
        wid = workflow.info().workflow_id
        for sid, kind in sorted(self._waiting.items()):
            lines.append(f"- waiting for {kind} on `{sid}`: {self._prompts.get(sid, '')}")
            if kind == "choice":
                lines.append(f"  `bizos choose {wid} {sid} <option>`")
            else:
                lines.append(f"  `bizos approve {wid} {sid}` or `bizos reject {wid} {sid}`")
        failed = [sid for sid, s in self._status.items() if s == "failed"]
        if failed:
            lines.append(f"- failed: {', '.join(failed)}")
        workflow.set_current_details("\n".join(lines))

    def _result(self) -> RunResult:
        dag = self._dag
        assert dag is not None
        return RunResult(
            template=dag.name,
            version=dag.version,
            spec_hash=dag.hash,
            outputs={sid: self._outputs.get(sid) for sid in dag.outputs if sid in self._outputs},
            statuses=dict(self._status),  # type: ignore[arg-type]
            cost_usd=round(self._total_cost, 6),
            approvals=dict(self._approvals),
            choices=dict(self._choices),
            errors=dict(self._errors),
        )


def _summarise(output: Any) -> str:
    if isinstance(output, dict):
        for key in ("summary", "headline", "title"):
            if isinstance(output.get(key), str):
                return output[key][:200]
        return f"{len(output)} fields"
    if isinstance(output, list):
        return f"{len(output)} items"
    return str(output)[:200]

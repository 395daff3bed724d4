"""`DagWorkflow`: one dynamic Temporal workflow serving every template type (`ContentCreation`
…) and failing unknown types cleanly. It wires the engine's parts together and owns the
handlers people and clients call: update `decide`, signals `approve`/`reject`/`choose`,
query `progress`.

Versioning: a run keeps the spec it started with and finishes on it after newer versions are
deployed. Changes here follow docs/versioning.md, and tests/histories/ replays guard them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    # Pure, deterministic modules compiled once per worker; passed through so the sandbox
    # shares the worker's copy instead of re-importing them for every run.
    from workflows import search_attributes as sa
    from workflows.admission import ADMITTED_SIGNAL
    from workflows.compiler import CompiledDag
    from workflows.engine import decision_log, run_metrics, run_start
    from workflows.engine import progress as report
    from workflows.engine.admission_gate import AdmissionGate
    from workflows.engine.budget import Budget
    from workflows.engine.decisions import Decisions
    from workflows.engine.events import RunEvents
    from workflows.engine.loop import Scheduler
    from workflows.engine.run_start import RESULT_BY_REF_PATCH, RUN_START_PATCH
    from workflows.engine.startup import decode_input, registry_spec, validate_params
    from workflows.engine.state import RunState
    from workflows.engine.steps import StepKinds
    from workflows.models import (
        DIGEST_PATTERN,
        SPEC_MEMO_KEY,
        ApprovalSignal,
        ChoiceSignal,
        Decision,
        DecisionReceipt,
        Progress,
        ResumeSeed,
        RunPlan,
        RunResult,
    )
    from workflows.plans import PlanError, child_plan, compile_plan, compile_shared
    from workflows.registry import default_registry


def _digest(value: str | None) -> str | None:
    """A signal's digest as a decision takes it: a malformed one is as good as none (a signal
    cannot be refused; the step's bind check then says what is missing)."""
    return value if value is not None and re.fullmatch(DIGEST_PATTERN, value) else None


@workflow.defn(dynamic=True)
class DagWorkflow:
    """Runs the compiled template named by this run's workflow type."""

    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        self._fatal: BaseException | None = None
        self._state: RunState | None = None
        self._plan: RunPlan | None = None
        self._early: list[Decision] = []  # signals that came before the plan was known
        self._decisions = Decisions(self._publish_details)
        self._gate = AdmissionGate(None)
        try:
            self._input = decode_input(args)
            self._gate = AdmissionGate(self._input.admission)
            if self._input.plan is not None:
                # The starter recorded the plan: known from the first moment, no file read.
                self._begin(self._input.plan)
        except ApplicationError as e:
            self._fatal = e

    def _begin(self, plan: RunPlan | None) -> RunState:
        """Compile (or, for runs older than plans, look up) the run's template."""
        if plan is not None:
            try:
                dag, shared = compile_shared(plan)
            except PlanError as e:
                raise ApplicationError(str(e), type="InvalidPlan", non_retryable=True) from None
            # the worker's one copy of this plan: the run's own decoded copy is let go
            if self._input.plan is plan:
                self._input.plan = shared
            plan = shared
        else:
            dag = registry_spec(default_registry())
        self._plan = plan
        self._state = RunState(dag, self._input, validate_params(dag, self._input))
        early, self._early = self._early, []
        for d in early:
            self._signal(d)
        return self._state

    @property
    def _dag(self) -> CompiledDag | None:
        return self._state.dag if self._state is not None else None

    def _child_dag(self, child_type: str) -> CompiledDag:
        if self._plan is None:
            return default_registry().get(child_type)
        return compile_plan(child_plan(self._plan, child_type))

    async def _start(self) -> RunState:
        """The run's plan and pinned agent configurations, resolved once at its first task."""
        run_input = self._input
        if self._state is None:
            if workflow.patched(RUN_START_PATCH):
                started = await run_start.resolve(None, run_input.tenant, pin_configs=True)
                assert started.plan is not None
                run_input.config_versions = started.config_versions
                state = self._begin(started.plan)
                if workflow.memo_value(SPEC_MEMO_KEY, default=None) is None:
                    # Started without a memo (`temporal workflow start`, schedules): say
                    # which spec the run is on, for `bizos status` and the Web UI.
                    workflow.upsert_memo({SPEC_MEMO_KEY: state.dag.pin})
            else:
                self._begin(None)
        elif (
            self._plan is not None
            and run_input.config_versions is None
            and run_start.configurable_agents(self._plan)
        ):
            started = await run_start.resolve(self._plan, run_input.tenant, pin_configs=True)
            run_input.config_versions = started.config_versions
        assert self._state is not None
        return self._state

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> RunResult:
        if self._fatal is not None:
            raise self._fatal
        events = RunEvents(self._input)  # emits nothing unless the run was started to notify
        try:
            state = await self._start()
        except ApplicationError as e:
            self._fatal = e  # the progress query says failed, with no steps
            events.failed(None, e.message, e.type)
            await events.flush()
            raise
        dag = state.dag
        info = workflow.info()
        if info.typed_search_attributes.get(sa.TEMPLATE) is None:
            workflow.upsert_search_attributes(
                [sa.TEMPLATE.value_set(dag.name), sa.TENANT.value_set(state.input.tenant)]
            )
        events.started(state)
        evicted = False
        try:
            # A tenant's running cap: wait for a slot before the first step; give it back
            # however the run ends.
            await self._gate.acquire()
            return await self._run_steps(state, events, info)
        except GeneratorExit:
            evicted = True  # dropped from the worker's cache: the run has not ended
            raise
        finally:
            # Queries read only the state and the decisions: the run's helpers (scheduler,
            # step kinds, budget, events, decision log) hang off the decisions' hooks, and
            # let go here they are freed with the run's last frame instead of waiting for the
            # collector with the SDK's (cyclic) workflow instance.
            self._decisions.unhook()
            if not evicted:
                await self._gate.release()

    async def _run_steps(self, state: RunState, events: RunEvents, info: Any) -> RunResult:
        dag = state.dag
        self._decisions.on_wait = events.waiting
        log = decision_log.DecisionLog(state)
        self._decisions.on_record = log.record
        tenant = state.input.tenant
        self._decisions.snapshot = lambda group: decision_log.group_members(tenant, group)
        budget = Budget(state, self._decisions, lambda new: events.budget_alerts(state, new))
        kinds = StepKinds(state, self._decisions, budget, self._child_dag, self._plan)
        body = asyncio.create_task(
            Scheduler(state, self._decisions, kinds, self._publish_details).run()
        )
        try:
            limit = dag.spec.execution_timeout
            if info.execution_timeout is None or info.execution_timeout > limit:
                # The starter set no execution timeout (or a longer one than the template
                # allows, e.g. a test server's 10-year default): enforce the spec's own.
                guard = asyncio.create_task(workflow.sleep(limit, summary="execution timeout"))
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
            await body
        except ApplicationError as e:
            events.failed(state, e.message, e.type)
            await events.flush()
            await log.flush()
            raise
        except asyncio.CancelledError:
            run_metrics.ended(dag.name, state.input.tenant, "cancelled", state.total_cost)
            # Cancelling the run cancels its steps; they wait for their activities to
            # acknowledge through heartbeats before the run ends as cancelled.
            body.cancel()
            await workflow.wait([body])
            raise
        outputs_ref = None
        if report.outputs_too_big(state) and workflow.patched(RESULT_BY_REF_PATCH):
            outputs_ref = await run_start.store_outputs(report.output_values(state))
        result = report.result(state, self._decisions, outputs_ref)
        events.completed(result)
        await events.flush()
        await log.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    # ------------------------------------------------------------------ decisions

    @workflow.signal(
        name=ADMITTED_SIGNAL,
        description="The tenant's admission workflow granted this run a slot.",
    )
    def admitted(self) -> None:
        self._gate.admit()

    @workflow.update(
        name="decide",
        description="Decide an approval (approve/reject), a choice (choose + option) or a "
        "budget wait. Refused for unknown or already decided steps.",
    )
    async def decide(self, decision: Decision) -> DecisionReceipt:
        if self._state is None and self._fatal is None:
            # Came during the first task, before the plan was resolved: check it then.
            await workflow.wait_condition(lambda: self._state is not None)
            problem = self._decisions.problem(decision, self._dag, self._state)
            if problem is not None:
                raise ApplicationError(problem, type="DecisionRefused", non_retryable=True)
        return self._decisions.accept(decision)

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        if self._state is None and self._fatal is None:
            return  # the plan is being resolved; the handler checks once it is
        problem = self._decisions.problem(decision, self._dag, self._state)
        if problem is not None:
            raise ValueError(problem)

    def _signal(self, d: Decision) -> None:
        if self._state is None and self._fatal is None:
            self._early.append(d)
            return
        problem = self._decisions.problem(d, self._dag, self._state)
        if problem is not None:
            self._decisions.ignore(d, problem)
            return
        self._decisions.accept(d)

    @workflow.signal(
        name="approve",
        description='Approve an approval step or a budget wait: {"step": id, "by", "comment"}. '
        "Kept until the step is reached.",
    )
    def approve(self, s: ApprovalSignal) -> None:
        self._signal(self._from_signal("approve", s))

    @workflow.signal(
        name="reject",
        description='Reject an approval step or a budget wait: {"step": id, "by", "comment"}.',
    )
    def reject(self, s: ApprovalSignal) -> None:
        self._signal(self._from_signal("reject", s))

    @workflow.signal(
        name="revise",
        description='Send an approval back to its revise target with feedback: {"step": id, '
        '"comment": feedback, "by", "digest"}.',
    )
    def revise(self, s: ApprovalSignal) -> None:
        self._signal(self._from_signal("revise", s))

    @staticmethod
    def _from_signal(kind: str, s: ApprovalSignal) -> Decision:
        """Signals are the operators' path (plain `temporal workflow signal`): recorded as
        such, and taken without the approver-group check."""
        return Decision(
            step=s.step,
            decision=kind,  # type: ignore[arg-type]
            by=s.by,
            comment=s.comment,
            digest=_digest(s.digest),
            via="signal",
        )

    @workflow.signal(
        name="choose",
        description='Choose an option of a choice step: {"step": id, "option": name}.',
    )
    def choose(self, s: ChoiceSignal) -> None:
        self._signal(
            Decision(
                step=s.step,
                decision="choose",
                option=s.option,
                by=s.by,
                comment=s.comment,
                digest=_digest(s.digest),
                via="signal",
            )
        )

    # ------------------------------------------------------------------ progress

    @workflow.query(
        name="progress",
        description="Each step's status, output summary, cost and decision; the run's total.",
    )
    def progress(self) -> Progress:
        if self._state is None:
            return Progress(
                template=workflow.info().workflow_type,
                version=0,
                spec_hash="",
                status="failed" if self._fatal is not None else "running",
                steps=[],
                cost_usd=0,
                budget_usd=None,
            )
        found = report.progress(self._state, self._decisions, fatal=self._fatal is not None)
        found.waiting_for_slot = self._gate.waiting
        return found

    @workflow.query(
        name="resume_seed",
        description="What `bizos resume` reuses of this run: finished steps' outputs, costs "
        "and decisions, and a foreach's finished items.",
    )
    def resume_seed(self) -> ResumeSeed:
        if self._state is None:
            raise ApplicationError("this run never started its steps: start it again instead")
        return report.resume_seed(self._state, self._decisions, self._plan)

    def _publish_details(self) -> None:
        if self._state is not None:
            workflow.set_current_details(report.current_details(self._state, self._decisions))

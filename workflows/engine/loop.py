"""The scheduling loop: start every step whose turn has come (or skip it), wait for any to
finish, fail the run when a step's failure says so, until nothing is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine.decisions import Decisions
    from workflows.engine.failures import StepFailure, failure_cause
    from workflows.engine.state import RunState
    from workflows.engine.steps import StepKinds
    from workflows.expressions import EvaluationError
    from workflows.models import TERMINAL

REJECT_BRANCHES_PATCH = "bizos-reject-branches-1"
REUSABLE = frozenset({"succeeded", "rejected"})
"""Statuses of the resumed run's steps that the new run takes over instead of running (a
skipped step is judged again: what it waited on may succeed this time)."""


class Scheduler:
    def __init__(
        self,
        state: RunState,
        decisions: Decisions,
        kinds: StepKinds,
        publish: Callable[[], None],
    ) -> None:
        self.state = state
        self.decisions = decisions
        self.kinds = kinds
        self._publish = publish
        self._reject_rule: bool | None = None
        # The resumed run's steps, fixed at start; most runs resume nothing, and the loop
        # asks for every pending step on every pass.
        seed = state.input.resume
        self._seeded = seed.steps if seed is not None else None

    async def run(self) -> None:
        """Every step to a terminal status; raises ApplicationError when the run fails."""
        state = self.state
        pending = list(state.dag.steps)
        running: dict[asyncio.Task[None], str] = {}
        try:
            while True:
                self._schedule_ready(pending, running)
                self._publish()
                if not running:
                    break
                done, _ = await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    sid = running.pop(task)
                    self._finish(state.dag.steps[sid], task)
        except (StepFailure, asyncio.CancelledError) as e:
            for task in running:
                task.cancel()
            if running:
                # Wait for activities to acknowledge (they heartbeat), so nothing keeps
                # working for a run that has ended.
                await workflow.wait(list(running))
            for sid in running.values():
                # Stopped because the run ended: cancelled, neither running nor failed.
                if not state.terminal(sid):
                    state.set_status(sid, "cancelled")
                    state.steps[sid].ended = workflow.now()
            if isinstance(e, StepFailure):
                state.failed = True
            else:
                state.cancelled = True
            self._publish()
            if isinstance(e, StepFailure):
                raise ApplicationError(str(e), type=e.error_type, non_retryable=True) from None
            raise
        state.done = True
        # No publish here: the UI text does not show `done`, and the last pass of the loop
        # published everything it does show.

    def _schedule_ready(self, pending: list[str], running: dict[asyncio.Task[None], str]) -> None:
        dag = self.state.dag
        resumed = self._seeded is not None
        progressed = True
        while progressed:
            progressed = False
            for sid in list(pending):
                step = dag.steps[sid]
                if resumed and self._reuse(sid):
                    pending.remove(sid)
                    progressed = True
                    continue
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
                    self.state.set_status(sid, "skipped")
                else:
                    self.state.set_status(sid, "running")
                    self.state.steps[sid].started = workflow.now()
                    running[asyncio.create_task(self.kinds.execute(step))] = sid

    def _verdict(self, step: CompiledStep) -> str | None:
        """None = not ready yet; "skip"; "run"."""
        state = self.state
        records = state.steps
        for d in step.after:  # a plain loop: this runs for every pending step on every pass
            if records[d].status not in TERMINAL:
                return None
        if step.gated_by is not None:
            choice_id, options = step.gated_by
            if not state.terminal(choice_id):
                return None
            chosen = self.decisions.choices.get(choice_id)
            if chosen is None or chosen.option not in options:
                return "skip"
        if step.spec.trigger == "all_success":
            blocked = [d for d in step.after if state.status(d) != "succeeded"]
            # A rejected approval skips the dependants that say nothing more; a dependant
            # with a `when` decides for itself (the reject branch written the natural way).
            if blocked and not (
                step.when is not None
                and all(state.status(d) == "rejected" for d in blocked)
                and self._reject_branches()
            ):
                return "skip"
        if step.when is not None:
            ok = step.when.evaluate(state.scope)
            if not isinstance(ok, bool):
                raise EvaluationError(f"`{step.when.source}` gave {ok!r}, not true/false")
            if not ok:
                return "skip"
        return "run"

    def _reject_branches(self) -> bool:
        """Runs from before the rule skipped every dependant of a rejected approval; the
        marker is written the first time a run meets the situation, so replays agree."""
        if self._reject_rule is None:
            self._reject_rule = workflow.patched(REJECT_BRANCHES_PATCH)
        return self._reject_rule

    def _reuse(self, sid: str) -> bool:
        """A step the run this one resumes finished: take its result instead of running it."""
        if self._seeded is None:
            return False
        step_seed = self._seeded.get(sid)
        if step_seed is None or step_seed.status not in REUSABLE:
            return False
        state, record = self.state, self.state.steps[sid]
        kind = state.dag.steps[sid].kind
        if step_seed.status == "succeeded" and kind in ("agent", "workflow"):
            record.output = step_seed.output
        if step_seed.decision is not None:
            self.decisions.restore(sid, kind, step_seed.decision, state)
        record.attempts = step_seed.attempts
        state.add_cost(sid, step_seed.cost_usd)  # counted in the run's total, not re-billed
        state.set_status(sid, step_seed.status)
        record.reused = True
        return True

    def _finish(self, step: CompiledStep, task: asyncio.Task[None]) -> None:
        self.state.steps[step.id].ended = workflow.now()
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, StepFailure):
            message = str(exc)
            fatal = exc.fatal
        elif isinstance(exc, ActivityError | ChildWorkflowError):
            message, fatal = failure_cause(exc), False
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
        record = self.state.steps[sid]
        self.state.set_status(sid, "failed")
        self.state.errors[sid] = message
        if record.ended is None:
            record.ended = workflow.now()
        if fatal or step.spec.on_error == "fail":
            workflow.logger.warning("step %s failed, failing the run: %s", sid, message)
            raise StepFailure(
                f"step `{sid}` ({step.summary}) failed: {message}",
                error_type=error_type or "StepFailed",
            )
        workflow.logger.info("step %s failed, continuing (on_error: continue): %s", sid, message)

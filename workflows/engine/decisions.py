"""People's decisions: the inbox of decisions (kept when they arrive early), which steps wait
for a person, why a decision is refused, and the record of what was decided."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.compiler import CompiledDag, CompiledStep
    from workflows.engine.state import RunState
    from workflows.models import (
        IGNORED_SIGNALS_KEPT,
        TERMINAL,
        Decision,
        DecisionReceipt,
        DecisionRecord,
    )

LATE_DECISION_PATCH = "bizos-late-decision-1"


class Decisions:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self.inbox: dict[str, Decision] = {}
        self.waiting: dict[str, str] = {}  # step -> approval | choice | budget
        self.prompts: dict[str, str] = {}
        self.approvals: dict[str, DecisionRecord] = {}
        self.choices: dict[str, DecisionRecord] = {}
        self.budget: dict[str, DecisionRecord] = {}
        self.ignored: list[str] = []
        self.ignored_count = 0
        self._upserted_waiting: list[str] = []
        self._on_change = on_change
        # told each time a step starts waiting for a person (the run's execution events)
        self.on_wait: Callable[[CompiledStep, str, str], None] | None = None

    def decided(self, sid: str) -> DecisionRecord | None:
        return self.approvals.get(sid) or self.choices.get(sid) or self.budget.get(sid)

    async def wait_for(
        self,
        step: CompiledStep,
        kind: str,
        timeout: timedelta,  # noqa: ASYNC109
        prompt: str,
    ) -> Decision | None:
        """The step's decision, or None when nobody decided within `timeout`."""
        sid = step.id
        if sid not in self.inbox:
            self.waiting[sid] = kind
            self.prompts[sid] = prompt
            self.sync_waiting()
            if self.on_wait is not None:
                self.on_wait(step, kind, prompt)
            evicted = False
            try:
                await workflow.wait_condition(
                    lambda: sid in self.inbox,
                    timeout=timeout,
                    timeout_summary=f"{sid}: {kind} times out",
                )
            except GeneratorExit:
                # The worker dropped the run from its cache: no workflow context to record in.
                evicted = True
                raise
            except TimeoutError:
                if sid in self.inbox and workflow.patched(LATE_DECISION_PATCH):
                    # The decision came in the same activation as the timeout: it was
                    # answered `applied`, so it is the one taken.
                    return self.inbox.pop(sid)
                return None
            finally:
                if not evicted:
                    self.waiting.pop(sid, None)
                    self.sync_waiting()
        return self.inbox.pop(sid)

    @staticmethod
    def record(
        d: Decision, *, approved: bool | None = None, option: str | None = None
    ) -> DecisionRecord:
        return DecisionRecord(
            approved=approved, option=option, by=d.by, comment=d.comment, at=workflow.now()
        )

    def sync_waiting(self) -> None:
        """Keep the `BizosPendingApprovals` search attribute equal to the waiting steps."""
        waiting = sorted(self.waiting)
        if waiting != self._upserted_waiting:
            workflow.upsert_search_attributes([sa.PENDING_APPROVALS.value_set(waiting)])
            self._upserted_waiting = waiting
        self._on_change()

    def problem(self, d: Decision, dag: CompiledDag | None, state: RunState | None) -> str | None:
        """Why a decision cannot be taken (None = it can)."""
        if dag is None or state is None:
            return "this run failed to start"
        step = dag.steps.get(d.step)
        if step is None:
            decidable = [s.id for s in dag.steps.values() if s.kind in ("approval", "choice")]
            return f"unknown step `{d.step}`; decidable steps: {', '.join(decidable) or 'none'}"
        if d.step in self.inbox:
            return f"step `{d.step}` already has a decision ({self.inbox[d.step].decision})"
        if state.status(d.step) in TERMINAL:
            return f"step `{d.step}` is already {state.status(d.step)}"
        if step.kind == "agent":
            if self.waiting.get(d.step) != "budget":
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

    def accept(self, d: Decision) -> DecisionReceipt:
        self.inbox[d.step] = d
        return DecisionReceipt(
            step=d.step, decision=d.decision, option=d.option, applied=d.step in self.waiting
        )

    def ignore(self, d: Decision, problem: str) -> None:
        """A signal cannot be refused like an update: it is kept as ignored, with why (the
        last IGNORED_SIGNALS_KEPT of them; a flood of bad signals cannot grow the state)."""
        self.ignored.append(f"{d.decision} {d.step}: {problem}")
        self.ignored_count += 1
        del self.ignored[:-IGNORED_SIGNALS_KEPT]
        workflow.logger.warning("ignored %s signal for %s: %s", d.decision, d.step, problem)

    def restore(self, sid: str, kind: str, record: DecisionRecord, state: RunState) -> None:
        """A decision taken in the run this one resumes."""
        if kind == "approval":
            self.approvals[sid] = record
            state.approvals_scope[sid] = {
                "approved": bool(record.approved),
                "by": record.by,
                "comment": record.comment,
            }
        elif kind == "choice":
            self.choices[sid] = record
            state.choices_scope[sid] = {
                "option": record.option,
                "by": record.by,
                "comment": record.comment,
            }
        else:
            self.budget[sid] = record

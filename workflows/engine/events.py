"""The run's execution events for the tenant's webhooks: `started`, `waiting_for_person`,
`completed`, `failed`, `budget_alert`.

Only runs started with `RunInput.notify` (the API sets it when the tenant has endpoints)
emit: other runs issue no command at all. Each event is one `emit_run_event` local activity
(worker/local_activities.py), which starts one durable `DeliverWebhook` per subscribed
endpoint under the event's stable id, so a retried emission is delivered once. Emissions run
beside the run (they never hold a step up) and their failures are logged, never fatal: the
run's outcome does not depend on a receiver.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine import run_metrics
    from workflows.engine.beside import Beside
    from workflows.engine.decisions import Asking
    from workflows.engine.state import RunState
    from workflows.models import RunEventRequest, RunInput, RunResult

EMIT_RUN_EVENT = "emit_run_event"
EVENTS_PATCH = "bizos-events-1"
"""Runs from before execution events emitted none."""
PROMPT_LIMIT = 2000
MESSAGE_LIMIT = 2000

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RunEvents:
    """The engine's hook: the workflow calls `started`/`completed`/`failed`, `Decisions`
    calls `waiting`, `Budget` calls `budget_alerts`. All but the awaited `flush` are
    synchronous: each emission is a task of its own."""

    def __init__(self, run_input: RunInput) -> None:
        self._input = run_input
        self._on: bool | None = None
        self._beside = Beside(EMIT_RUN_EVENT, _RETRY, timedelta(minutes=2))

    def enabled(self) -> bool:
        """Decided at the first emission of a notifying run (run code only, never a query
        or validator); runs without `notify` never reach the patch."""
        if not self._input.notify:
            return False
        if self._on is None:
            self._on = workflow.patched(EVENTS_PATCH)
        return self._on

    # ------------------------------------------------------------------ the events

    def started(self, state: RunState) -> None:
        dag = state.dag
        run_metrics.started(dag.name, self._input.tenant)  # every run, notifying or not
        self._emit(
            "started",
            data={"template": dag.name, "version": dag.version, "spec_hash": dag.hash},
        )

    def waiting(
        self, step: CompiledStep, kind: str, prompt: str, asking: Asking | None = None
    ) -> None:
        """A step starts waiting for a person, or moves to its next escalation level: one
        event per step, level and round (the ids notifications are delivered under)."""
        data: dict[str, Any] = {"kind": kind, "prompt": _cut(prompt, PROMPT_LIMIT)}
        if kind == "choice" and step.spec.choice is not None:
            data["options"] = list(step.spec.choice.options)
        level = round = 0
        if asking is not None:
            level, round = asking.level, asking.round
            people = step.people
            data.update(
                level=asking.level,
                levels=asking.levels,
                group=asking.group,
                approvers=asking.approvers,
                deadline=asking.deadline.isoformat(),
                digest=asking.digest,
                round=asking.round,
                max_revisions=people.max_revisions,
                bind=list(people.bind),
            )
        self._emit("waiting_for_person", step=step.id, level=level, round=round, data=data)

    def budget_alerts(self, state: RunState, thresholds: list[int]) -> None:
        run_metrics.budget_alerts(state.dag.name, self._input.tenant, thresholds)
        cap = state.pool_cap
        for threshold in thresholds:
            self._emit(
                "budget_alert",
                level=threshold,
                data={
                    "threshold_percent": threshold,
                    "spent_usd": round(state.total_cost, 6),
                    "cap_usd": None if cap is None else round(cap, 6),
                },
            )

    def completed(self, result: RunResult) -> None:
        run_metrics.ended(result.template, self._input.tenant, "completed", result.cost_usd)
        self._emit(
            "completed",
            data={
                "template": result.template,
                "version": result.version,
                "cost_usd": round(result.cost_usd, 6),
                # counts, not a line per step: the event stays small for any template
                "steps": dict(Counter(result.statuses.values())),
                "outputs_ref": result.outputs_ref,
            },
        )

    def failed(self, state: RunState | None, message: str, error_type: str | None) -> None:
        # a run that could not start has no plan: its workflow type stands for the template
        template = state.dag.name if state is not None else workflow.info().workflow_type
        cost = state.total_cost if state is not None else 0.0
        run_metrics.ended(template, self._input.tenant, "failed", cost)
        step = None
        if state is not None and state.failed and state.errors:
            step = list(state.errors)[-1]  # the step whose failure ended the run
        data: dict[str, Any] = {"message": _cut(message, MESSAGE_LIMIT), "error_type": error_type}
        if state is not None:
            data["cost_usd"] = round(state.total_cost, 6)
        self._emit("failed", step=step, data=data)

    async def flush(self) -> None:
        """Wait for the emissions under way (before the run returns or fails)."""
        await self._beside.flush()

    # ------------------------------------------------------------------ plumbing

    def _emit(
        self,
        type: str,
        *,
        step: str | None = None,
        level: int | None = None,
        round: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        if not self.enabled():
            return
        info = workflow.info()
        request = RunEventRequest(
            tenant=self._input.tenant,
            type=type,  # type: ignore[arg-type]
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            occurred_at=workflow.now(),
            step=step,
            level=level,
            round=round,
            data=data or {},
        )
        self._beside.fire(
            request, f"emit {request.type}" + (f" {request.step}" if request.step else "")
        )

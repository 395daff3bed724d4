"""What the run tells: the `progress` query, the Web UI's current details (markdown) and the
run's result."""

from __future__ import annotations

import json
from typing import Any, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contract import (
        AGGREGATE_INLINE_BYTES,
        OUTPUT_VIEW_LIMIT_BYTES,
        bounded_view,
    )
    from workflows.compiler import CompiledStep
    from workflows.engine.decisions import Decisions
    from workflows.engine.state import RunState, StepState
    from workflows.models import (
        TERMINAL,
        Progress,
        ResumeSeed,
        RunPlan,
        RunResult,
        StepProgress,
        StepSeed,
    )


def summarise(output: Any) -> str:
    if isinstance(output, dict):
        for key in ("summary", "headline", "title"):
            if isinstance(output.get(key), str):
                return output[key][:200]
        return f"{len(output)} fields"
    if isinstance(output, list):
        return f"{len(output)} items"
    return str(output)[:200]


def output_values(state: RunState) -> dict[str, Any]:
    """The outputs the spec names as the run's result."""
    return {
        sid: state.steps[sid].output for sid in state.dag.outputs if state.steps[sid].has_output
    }


def outputs_too_big(state: RunState) -> bool:
    limit = state.input.output_limit_bytes or AGGREGATE_INLINE_BYTES
    body = json.dumps(output_values(state), ensure_ascii=False, separators=(",", ":"), default=str)
    return len(body.encode()) > limit


def progress(state: RunState, decisions: Decisions, *, fatal: bool) -> Progress:
    dag = state.dag
    steps = []
    for sid, step in dag.steps.items():
        record = state.steps[sid]
        options = list(step.spec.choice.options) if step.spec.choice else None
        # waiting once a person can be asked: after the level's group is snapshotted
        status = "waiting" if sid in decisions.asking else record.status
        steps.append(
            _with_people(
                step,
                record,
                decisions,
                StepProgress(
                    id=sid,
                    kind=step.kind,
                    status=status,  # type: ignore[arg-type]
                    summary=summarise(record.output) if record.has_output else step.summary,
                    waiting_for=decisions.waiting.get(sid) if sid in decisions.asking else None,
                    prompt=decisions.prompts.get(sid),
                    options=options,
                    cost_usd=round(record.cost, 6),
                    attempts=record.attempts,
                    items=record.items,
                    items_done=record.items_done,
                    decision=decisions.decided(sid),
                    error=state.errors.get(sid),
                    tool_failures=record.tool_failures,
                    failed_tools=list(record.failed_tools),
                    started_at=record.started,
                    ended_at=record.ended if record.status in TERMINAL else None,
                ),
            )
        )
    return Progress(
        template=dag.name,
        version=dag.version,
        spec_hash=dag.hash,
        status=run_status(state, fatal=fatal),
        steps=steps,
        cost_usd=round(state.total_cost, 6),
        budget_usd=state.budget,
        budget_extended_usd=round(state.budget_extended, 6),
        budget_alerts=sorted(state.budget_alerts),
        waiting=sorted(decisions.asking),
        ignored_signals=list(decisions.ignored),
        ignored_count=decisions.ignored_count,
        resumed_from=state.input.resume.workflow_id if state.input.resume else None,
    )


def _with_people(
    step: CompiledStep, record: StepState, decisions: Decisions, found: StepProgress
) -> StepProgress:
    """Levels, rounds, digest and every decision of a people step (and the earlier rounds of
    a step a revise re-ran)."""
    sid = step.id
    found.round = record.round
    if record.rounds:
        found.rounds = [
            {"round": r["round"], "summary": summarise(r["output"]), "cost_usd": r["cost_usd"]}
            for r in record.rounds
        ]
    people = step.people
    if step.kind not in ("approval", "choice"):
        return found
    found.levels = len(people.levels) or None
    found.bind = list(people.bind) or None
    found.max_revisions = people.max_revisions or None
    found.escalations = list(decisions.escalations.get(sid, ()))
    found.decisions = list(decisions.history.get(sid, ()))
    asking = decisions.asking.get(sid)
    if asking is not None:
        found.level = asking.level
        found.group = asking.group
        found.approvers = asking.approvers
        found.deadline = asking.deadline
        found.digest = asking.digest
        found.round = asking.round
    elif found.decisions:
        found.round = found.decisions[-1].round
    return found


RunStatus = Literal["running", "completed", "failed", "cancelled"]


def run_status(state: RunState, *, fatal: bool) -> RunStatus:
    if state.cancelled:
        return "cancelled"
    if state.failed or fatal:
        return "failed"
    return "completed" if state.done else "running"


def resume_seed(state: RunState, decisions: Decisions, plan: RunPlan | None) -> ResumeSeed:
    """What a new run needs to take over from this one: finished steps' outputs, costs and
    decisions, and the items a foreach had finished. Child runs are seeded by the client,
    which queries them."""
    info = workflow.info()
    steps: dict[str, StepSeed] = {}
    for sid, record in state.steps.items():
        seed = StepSeed(
            status=record.status,  # type: ignore[arg-type]
            output=record.output if record.has_output else None,
            cost_usd=round(record.cost, 9),
            attempts=record.attempts,
            decision=decisions.decided(sid),
        )
        if record.status != "succeeded" and record.item_outputs:
            seed.items = dict(record.item_outputs)
        steps[sid] = seed
    return ResumeSeed(
        workflow_id=info.workflow_id,
        run_id=info.run_id,
        template=state.dag.name,
        plan=plan,
        config_versions=state.input.config_versions,
        steps=steps,
    )


def current_details(state: RunState, decisions: Decisions) -> str:
    """Markdown for the Web UI's "current details" as the run moves."""
    dag = state.dag
    lines = [
        f"**{dag.name} v{dag.version}** — {state.finished_count()}/{len(dag.steps)} steps "
        f"finished, ${state.total_cost:.2f} spent"
    ]
    wid = workflow.info().workflow_id if decisions.waiting else ""
    for sid, kind in sorted(decisions.waiting.items()):
        lines.append(f"- waiting for {kind} on `{sid}`: {decisions.prompts.get(sid, '')}")
        asking = decisions.asking.get(sid)
        if asking is not None and (asking.levels > 1 or asking.group or asking.round):
            who = asking.group or "any approver"
            lines.append(
                f"  level {asking.level + 1}/{asking.levels} ({who}) until "
                f"{asking.deadline:%Y-%m-%d %H:%M} UTC"
                + (f", round {asking.round + 1}" if asking.round else "")
            )
        for move in decisions.escalations.get(sid, ()):
            lines.append(
                f"  escalated {move.from_group or 'level ' + str(move.from_level + 1)} → "
                f"{move.to_group or 'level ' + str(move.to_level + 1)} at {move.at:%H:%M}"
            )
        if kind == "choice":
            lines.append(f"  `bizos choose {wid} {sid} <option>`")
        else:
            lines.append(f"  `bizos approve {wid} {sid}` or `bizos reject {wid} {sid}`")
    failed = [sid for sid, s in state.steps.items() if s.status == "failed"]
    if failed:
        lines.append(f"- failed: {', '.join(failed)}")
    if state.cancelled:
        lines.append("- cancelled")
    if state.budget_alerts:
        cap = state.pool_cap or 0.0
        past = f" (${state.budget_extended:.2f} approved past it)" if state.budget_extended else ""
        lines.append(f"- ⚠ {max(state.budget_alerts)} % of the ${cap:.2f} budget spent{past}")
    return "\n".join(lines)


def result(state: RunState, decisions: Decisions, outputs_ref: str | None = None) -> RunResult:
    dag = state.dag
    outputs = output_values(state)
    if outputs_ref is not None:
        limit = state.input.output_limit_bytes or AGGREGATE_INLINE_BYTES
        outputs = bounded_view(outputs, outputs_ref, min(limit, OUTPUT_VIEW_LIMIT_BYTES))
    return RunResult(
        template=dag.name,
        version=dag.version,
        spec_hash=dag.hash,
        outputs=outputs,
        outputs_ref=outputs_ref,
        statuses={sid: s.status for sid, s in state.steps.items()},  # type: ignore[misc]
        cost_usd=round(state.total_cost, 6),
        approvals=dict(decisions.approvals),
        choices=dict(decisions.choices),
        errors=dict(state.errors),
    )

"""A revise decision's second (third…) round: every step from the approval's revise target to
the approval runs again, the target with the person's feedback in its input, and the
approval then asks again.

The round is part of every key of the re-run steps' calls (activity inputs, the call journal,
stored outputs, files), so round 2 never gets round 1's answer back; what earlier rounds
produced and cost is kept on each step (`StepState.rounds`) and in the run's total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine.failures import StepFailure, failure_cause
    from workflows.engine.state import RunState


async def rerun(
    state: RunState,
    approval: CompiledStep,
    round: int,
    feedback: str,
    by: str,
    execute: Callable[[CompiledStep], Awaitable[None]],
) -> None:
    loop = approval.people.revise_loop
    target = loop[0]
    state.feedback[target] = {"round": round, "feedback": feedback, "by": by}
    # steps of the loop a `when` or a choice skipped stay skipped: only work that was done is
    # done again
    again = [sid for sid in loop if state.status(sid) == "succeeded"]
    for sid in again:
        record = state.steps[sid]
        earlier = sum(r["cost_usd"] for r in record.rounds)
        record.rounds.append(
            {
                "round": record.round,
                "output": record.output if record.has_output else None,
                "cost_usd": round_usd(record.cost - earlier),
            }
        )
        record.round = round
        record.tool_failures = 0
        record.failed_tools = []
        record.item_outputs = {}
        record.ended = None
        state.set_status(sid, "pending")
    remaining = list(again)
    while remaining:
        # in waves: a step runs once the loop's steps it comes after have run again
        ready = [
            sid for sid in remaining if not any(d in remaining for d in state.dag.steps[sid].after)
        ]
        for sid in ready:
            state.set_status(sid, "running")
            state.steps[sid].started = workflow.now()
        results = await asyncio.gather(
            *(execute(state.dag.steps[sid]) for sid in ready), return_exceptions=True
        )
        for sid, outcome in zip(ready, results, strict=True):
            state.steps[sid].ended = workflow.now()
            if isinstance(outcome, BaseException):
                _failed(state, approval, sid, round, outcome)
        remaining = [sid for sid in remaining if sid not in ready]


def _failed(
    state: RunState, approval: CompiledStep, sid: str, round: int, exc: BaseException
) -> None:
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    if isinstance(exc, StepFailure):
        message = str(exc)
    elif isinstance(exc, ActivityError | ChildWorkflowError | FailureError):
        message = failure_cause(exc)
    else:
        raise exc
    state.set_status(sid, "failed")
    state.errors[sid] = message
    raise StepFailure(
        f"revise round {round} of `{approval.id}`: step `{sid}` failed: {message}",
        error_type=getattr(exc, "error_type", None) or "StepFailed",
    )


def round_usd(value: float) -> float:
    return round(value, 9)

"""Agent steps re-scheduled when their worker was lost, so a dead worker does not spend them.

Temporal counts a heartbeat timeout as an attempt like any failure: a step whose agent pool
is killed (a deploy, an OOM kill, a lost host) as many times as its `maximum_attempts` while
it runs fails, though nothing was wrong with the step. A heartbeat timeout is what a lost
worker looks like here — a live step heartbeats from a task of its own while tools and model
calls run (activities/agent_step/heartbeat.py) — so when the last attempt ended that way the
step is scheduled again, with its attempts numbered on from where they stopped
(`AgentStepInput.attempt_base`: journal, ledger and events keys stay distinct), at most
`MAX_RESCHEDULES` times and only within the step's `deadline`. Any other failure, or a step
that ran out of its deadline, fails as before.

Runs from before this rule failed the step at that point: `LOST_WORKER_PATCH` keeps their
histories replaying as they were written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult

LOST_WORKER_PATCH = "bizos-lost-worker-1"
MAX_RESCHEDULES = 5
"""Bounds a step whose own code stalls its event loop past the heartbeat timeout (it looks
like a lost worker too): it gets this many more rounds of attempts, not an endless loop."""


def lost_worker(err: ActivityError) -> bool:
    """The activity's last attempt timed out on its heartbeat with every attempt spent."""
    cause = err.cause
    return (
        err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
        and isinstance(cause, TimeoutError)
        and cause.type == TimeoutType.HEARTBEAT
    )


async def execute_agent_step(
    inp: AgentStepInput,
    *,
    retry_policy: RetryPolicy | None,
    schedule_to_close_timeout: timedelta | None = None,
    summary: str,
    **options: Any,
) -> AgentStepResult:
    """`workflow.execute_activity(RUN_AGENT, inp, …)`, scheduled again while its worker was
    lost (see the module's docstring); `options` are execute_activity's other arguments."""
    first = workflow.now()
    per_round = retry_policy.maximum_attempts if retry_policy is not None else 0
    rescheduled = 0
    while True:
        try:
            result: AgentStepResult = await workflow.execute_activity(
                RUN_AGENT,
                inp,
                result_type=AgentStepResult,
                retry_policy=retry_policy,
                schedule_to_close_timeout=_left(schedule_to_close_timeout, first),
                summary=summary if not rescheduled else f"{summary} (worker lost: again)",
                **options,
            )
            return result
        except ActivityError as err:
            left = _left(schedule_to_close_timeout, first)
            if (
                per_round <= 0  # unlimited attempts never run out
                or rescheduled >= MAX_RESCHEDULES
                or not lost_worker(err)
                or (left is not None and left <= timedelta(0))
                or not workflow.patched(LOST_WORKER_PATCH)
            ):
                raise
            rescheduled += 1
            inp = inp.model_copy(update={"attempt_base": inp.attempt_base + per_round})
            workflow.logger.warning(
                "step %s: its worker was lost on all %d attempts (heartbeat timeout); "
                "scheduled again (%d of at most %d)",
                inp.step_id,
                per_round,
                rescheduled,
                MAX_RESCHEDULES,
            )


def _left(deadline: timedelta | None, since: datetime) -> timedelta | None:
    """What is left of the step's deadline (None: no deadline)."""
    return None if deadline is None else deadline - (workflow.now() - since)

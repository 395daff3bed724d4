"""Where people's decisions go beyond the run: the level's approver group, snapshotted when
the level opens, and the store's decision log (every decision, timeout and escalation, with
who, when, level, round and digest), queryable per run and per approver after the run is gone.

Both are local activities (worker/local_activities.py): the group's members are recorded in
history, so a replay or another worker sees the same snapshot; a log entry is written beside
the run (never holding a step up) under a key that makes a retried write one row.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.compiler import CompiledStep
    from workflows.engine.beside import Beside
    from workflows.engine.state import RunState
    from workflows.models import (
        ApproverGroupRequest,
        ApproverGroupSnapshot,
        DecisionLogEntry,
        DecisionRecord,
    )

APPROVER_GROUP = "approver_group"
RECORD_DECISION = "record_decision"
DECISION_LOG_PATCH = "bizos-decision-log-1"
"""Runs from before the decision log wrote none."""

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)


async def group_members(tenant: str, group: str) -> list[str] | None:
    snap: ApproverGroupSnapshot = await workflow.execute_local_activity(
        APPROVER_GROUP,
        ApproverGroupRequest(tenant=tenant, group=group),
        result_type=ApproverGroupSnapshot,
        start_to_close_timeout=timedelta(seconds=15),
        # the store may be down for a while: the level waits for its snapshot rather than
        # opening to nobody
        schedule_to_close_timeout=timedelta(hours=1),
        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        summary=f"approver group {group}",
    )
    return snap.members if snap.found else None


class DecisionLog:
    def __init__(self, state: RunState) -> None:
        self._state = state
        self._on: bool | None = None
        self._beside = Beside(RECORD_DECISION, _RETRY, timedelta(minutes=10))

    def record(self, step: CompiledStep, record: DecisionRecord, kind: str) -> None:
        if self._on is None:
            self._on = workflow.patched(DECISION_LOG_PATCH)
        if not self._on:
            return
        info = workflow.info()
        entry = DecisionLogEntry(
            tenant=self._state.input.tenant,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            template=self._state.dag.name,
            step=step.id,
            kind=kind,  # type: ignore[arg-type]
            option=record.option,
            by=record.by,
            via=record.via,
            comment=record.comment,
            digest=record.digest,
            level=record.level,
            round=record.round,
            group=record.group,
            at=record.at or workflow.now(),
        )
        self._beside.fire(entry, f"log {entry.kind} {entry.step}")

    async def flush(self) -> None:
        await self._beside.flush()

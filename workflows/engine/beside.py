"""Local activities a run fires beside its steps (execution events, decision-log entries):
each is a task of its own, never holds a step up and never fails the run; the run waits for
those under way before it ends, so none is lost with a completed workflow."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.engine.failures import failure_cause


class Beside:
    def __init__(self, activity: str, retry: RetryPolicy, deadline: timedelta) -> None:
        self._activity = activity
        self._retry = retry
        self._deadline = deadline
        self._pending: list[asyncio.Task[None]] = []

    def fire(self, arg: BaseModel, summary: str) -> None:
        self._pending = [t for t in self._pending if not t.done()]
        self._pending.append(asyncio.create_task(self._send(arg, summary)))

    async def flush(self) -> None:
        """Wait for the ones under way (before the run returns or fails)."""
        pending, self._pending = self._pending, []
        if pending:
            await workflow.wait(pending)

    async def _send(self, arg: BaseModel, summary: str) -> None:
        try:
            await workflow.execute_local_activity(
                self._activity,
                arg,
                start_to_close_timeout=timedelta(seconds=15),
                schedule_to_close_timeout=self._deadline,
                retry_policy=self._retry,
                summary=summary,
            )
        except ActivityError as e:
            # a receiver's (or the store's) trouble never fails the run: its own record
            # (progress, result) has what was sent
            workflow.logger.warning("could not %s: %s", summary, failure_cause(e))

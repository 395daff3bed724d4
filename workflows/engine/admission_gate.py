"""A run that counts against its tenant's running cap waits for a slot before its first step
and gives it back when it ends, whatever the ending (workflows/admission.py keeps the queue).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.admission import SlotRequest


class AdmissionGate:
    # one per cached run: no per-instance __dict__
    __slots__ = ("admission_id", "admitted", "waiting")

    def __init__(self, admission_id: str | None) -> None:
        self.admission_id = admission_id
        self.admitted = admission_id is None
        self.waiting = False

    def admit(self) -> None:
        self.admitted = True

    async def acquire(self) -> None:
        """Ask the tenant's admission workflow for a slot (recorded in this run's history:
        an API crash after the start loses nothing) and wait until it is granted."""
        if self.admitted or self.admission_id is None:
            return
        handle = workflow.get_external_workflow_handle(self.admission_id)
        await handle.signal("request", SlotRequest(workflow_id=workflow.info().workflow_id))
        self.waiting = True
        try:
            await workflow.wait_condition(lambda: self.admitted)
        finally:
            self.waiting = False

    async def release(self) -> None:
        """Give the slot back (or the place in the queue). Runs while the run ends, even
        when it was cancelled: shielded so the cancellation does not swallow it."""
        if self.admission_id is None:
            return
        handle = workflow.get_external_workflow_handle(self.admission_id)
        info = workflow.info()
        await asyncio.shield(
            asyncio.ensure_future(
                handle.signal("release", SlotRequest(workflow_id=info.workflow_id))
            )
        )

"""Durable per-tenant admission: at most `max_running` executions of a tenant run at once;
the rest wait in a queue kept in Temporal, so nothing queued is lost when an API process
restarts or Redis is flushed, and slots free as runs end (the pattern of Temporal's mutex
sample).

One `TenantAdmission` workflow per tenant (id `admission.<tenant>`). A run asks for a slot
with the signal `request` (the API sends it with signal-with-start when it starts the run);
the admission workflow grants slots in arrival order by signalling the run `admitted`; the
run signals `release` when it ends (whatever the ending). The queue is carried across
continue-as-new.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.models import WORKFLOWS_TASK_QUEUE

ADMISSION_WORKFLOW_TYPE = "TenantAdmission"
ADMITTED_SIGNAL = "admitted"
EVENTS_BEFORE_CONTINUE = 2000  # continue-as-new well below the history limits


class SlotRequest(BaseModel):
    """Signals `request` and `release` of the admission workflow."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str


class Resize(BaseModel):
    """Signal `resize`: the tenant's cap changed."""

    model_config = ConfigDict(extra="forbid")

    max_running: int = Field(ge=1)


class AdmissionState(BaseModel):
    """The admission workflow's input: its limit and, across continue-as-new, its state."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    max_running: int = Field(ge=1)
    holders: list[str] = Field(default_factory=list)
    queue: list[str] = Field(default_factory=list)


class AdmissionView(BaseModel):
    """Query `slots`."""

    max_running: int
    holders: list[str]
    queue: list[str]


def admission_id(tenant: str) -> str:
    return f"admission.{tenant}"


@workflow.defn(name=ADMISSION_WORKFLOW_TYPE)
class TenantAdmission:
    @workflow.init
    def __init__(self, state: AdmissionState) -> None:
        self._state = state
        self._released: set[str] = set()

    @workflow.run
    async def run(self, state: AdmissionState) -> None:
        s = self._state
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(s.queue and len(s.holders) < s.max_running)
                    or workflow.info().get_current_history_length() > EVENTS_BEFORE_CONTINUE
                )
            )
            while s.queue and len(s.holders) < s.max_running:
                run_id = s.queue.pop(0)
                s.holders.append(run_id)
                # The run waits for this signal before its first step.
                await workflow.get_external_workflow_handle(run_id).signal(ADMITTED_SIGNAL)
            if workflow.info().get_current_history_length() > EVENTS_BEFORE_CONTINUE:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(s)

    @workflow.signal(name="request", description='A run asks for a slot: {"workflow_id": id}')
    def request(self, req: SlotRequest) -> None:
        s = self._state
        if req.workflow_id in self._released:
            return  # a run that already ended (its release overtook its request)
        if req.workflow_id not in s.holders and req.workflow_id not in s.queue:
            s.queue.append(req.workflow_id)

    @workflow.signal(name="release", description="A run ended: its slot (or its place) frees")
    def release(self, req: SlotRequest) -> None:
        s = self._state
        self._released.add(req.workflow_id)
        if req.workflow_id in s.holders:
            s.holders.remove(req.workflow_id)
        if req.workflow_id in s.queue:
            s.queue.remove(req.workflow_id)

    @workflow.signal(name="resize", description="The tenant's cap: {\"max_running\": n}")
    def resize(self, r: Resize) -> None:
        self._state.max_running = r.max_running

    @workflow.query(name="slots", description="Runs holding a slot, and those waiting")
    def slots(self) -> AdmissionView:
        s = self._state
        return AdmissionView(max_running=s.max_running, holders=s.holders, queue=s.queue)


async def ensure_admission(client: Client, tenant: str, max_running: int) -> str:
    """Make sure the tenant's admission workflow runs with this cap (signal-with-start of
    `resize`); returns its id for the run's `RunInput.admission`. The run itself asks for its
    slot at its first task, so a crash between this call and the run loses nothing."""
    await client.start_workflow(
        ADMISSION_WORKFLOW_TYPE,
        AdmissionState(tenant=tenant, max_running=max_running),
        id=admission_id(tenant),
        task_queue=WORKFLOWS_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="resize",
        start_signal_args=[Resize(max_running=max_running)],
        static_summary=f"admission of {tenant}'s executions",
    )
    return admission_id(tenant)

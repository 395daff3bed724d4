"""Big step outputs: one row per step however many attempts stored one, and gone with the
run's other data."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from activities.agent_step.outputs import deliver
from activities.contract import AgentStepInput, AgentStepResult
from store import Store
from store.activity_events import NewActivityEvent
from store.outputs import OutputNotFound
from store.tables import StepOutput

_OUTPUTS = StepOutput.__table__  # type: ignore[attr-defined]


async def _rows(store: Store, workflow_id: str) -> int:
    async with store.engine.connect() as conn:
        stmt = (
            select(func.count()).select_from(_OUTPUTS).where(_OUTPUTS.c.workflow_id == workflow_id)
        )
        return int((await conn.execute(stmt)).scalar_one())


def _step(wf: str, item_index: int | None = None) -> AgentStepInput:
    return AgentStepInput(
        workflow_id=wf,
        run_id="r1",
        template="probe",
        step_id="draft",
        item_index=item_index,
        agent="noop",
        mode="echo",
        inline_limit_bytes=1024,  # the outputs below go by reference
    )


async def _attempt(store: Store, inp: AgentStepInput, attempt: int) -> AgentStepResult:
    async def opened() -> Store:
        return store

    output = {"attempt": attempt, "text": f"attempt {attempt} " + "x" * 4096}
    return await deliver(AgentStepResult(attempt=attempt), output, inp, opened)


async def test_a_later_attempt_replaces_the_stored_output_of_an_earlier_one(store: Store) -> None:
    wf = f"wf-{uuid.uuid4().hex[:10]}"
    first = await _attempt(store, _step(wf), 1)  # stored, then the attempt failed
    last = await _attempt(store, _step(wf), 2)
    assert await _rows(store, wf) == 1
    assert first.output_ref is not None and last.output_ref == first.output_ref
    stored = await store.get_output(last.output_ref)
    assert stored["attempt"] == 2 and stored["text"].startswith("attempt 2 ")
    assert last.output_view is not None

    # each foreach item keeps its own row
    item = await _attempt(store, _step(wf, item_index=0), 1)
    assert item.output_ref != last.output_ref and await _rows(store, wf) == 2


async def test_deleting_a_run_drops_its_outputs_and_blob_refs(store: Store) -> None:
    wf, tenant = f"wf-{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:8]}"
    ref = (await _attempt(store, _step(wf), 1)).output_ref
    assert ref is not None
    await store.put_blob(tenant, b"a file", "a.txt", workflow_id=wf, run_id="r1")
    other = f"{wf}-other"
    kept = (await _attempt(store, _step(other), 1)).output_ref
    assert kept is not None

    await store.append_activity_events(
        [NewActivityEvent(wf, "r1", "draft", 1, 0, "tool_started", payload={"tool": "t"})]
    )
    deleted = await store.delete_run_data(wf, "r1")
    assert (deleted.outputs, deleted.blob_refs, deleted.activity_events) == (1, 1, 1)
    assert await store.list_activity_events(wf) == []  # the console's live view forgets it
    assert await _rows(store, wf) == 0 and await store.blobs.refs_for_run(wf) == []
    with pytest.raises(OutputNotFound):
        await store.get_output(ref)
    assert (await store.get_output(kept))["attempt"] == 1  # another run's output stays

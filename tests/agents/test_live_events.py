"""Live agent activity: real agent steps (the `run_agent` activity on the real Temporal
server, CrewAI's agent loop on the offline policy with the mode's tools) append their events
to the store as they run, each step its own, in order; the console's event stream sends them
once each, resumes after any id (a page reloaded mid-step catches up and misses nothing) and
tails what is appended later. A store that cannot take the events never fails the step."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_step import live_events
from activities.agent_step.activity import build_agent_activities
from activities.agent_step.runtime import AgentRuntime
from activities.contract import AgentStepInput
from api.console.live import event_stream
from store import Store, StoreSettings
from store.activity_events import ActivityEvent, NewActivityEvent
from tests.agents.probe_workflow import AgentProbeWorkflow, ProbeInput, ProbeOutput
from tests.support import eventually

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AGENT, MODE = "seo_optimization", "content_seo"
TEXT = "Trail shoes need grip. Cushioning matters on long runs. Fit is personal."


@dataclass
class Ran:
    wf: str
    out: ProbeOutput
    store: Store


@pytest.fixture(scope="module")
async def ran(
    temporal_client: Client, catalog_tools: frozenset[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ran]:
    """One run of three steps at once: two that work, one whose mode does not exist."""
    home = tmp_path_factory.mktemp("live-events")
    runtime = AgentRuntime(threads=2, store_settings=StoreSettings(home=home), home=home)
    await runtime.start()
    queue = f"agents-live-{uuid.uuid4().hex[:8]}"
    wf = f"default.probe.live-{uuid.uuid4().hex[:8]}"

    def step(step_id: str, mode: str = MODE) -> AgentStepInput:
        return AgentStepInput(
            workflow_id=wf,
            run_id="r1",
            template="probe",
            step_id=step_id,
            agent=AGENT,
            mode=mode,
            inputs={"topic": f"trail shoes {step_id}", "text": TEXT},
        )

    try:
        async with Worker(
            temporal_client,
            task_queue=queue,
            workflows=[AgentProbeWorkflow],
            activities=build_agent_activities(runtime),
            max_concurrent_activities=4,
        ):
            out = await temporal_client.execute_workflow(
                AgentProbeWorkflow.run,
                ProbeInput(
                    task_queue=queue,
                    steps=[step("s1"), step("s2"), step("s3", "no_such_mode")],
                    max_attempts=1,
                ),
                id=wf,
                task_queue=queue,
            )
            yield Ran(wf, out, await runtime.store())
    finally:
        await runtime.close()


def _of(events: list[ActivityEvent], step: str) -> list[ActivityEvent]:
    return [e for e in events if e.step == step]


async def test_each_step_records_its_own_events_in_order(ran: Ran) -> None:
    events = await ran.store.list_activity_events(ran.wf)
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {e.step for e in events} == {"s1", "s2", "s3"}
    for i, name in enumerate(("s1", "s2")):
        result = ran.out.outcomes[i].result
        assert result is not None, ran.out.outcomes[i].failure
        mine = _of(events, name)
        kinds = [e.kind for e in mine]
        # seq counts the attempt's events in the order they happened, and ids follow it:
        # nothing of the other step running beside it got in
        assert [e.seq for e in mine] == list(range(len(mine))), kinds
        assert {e.attempt for e in mine} == {1} and {e.agent for e in mine} == {AGENT}
        assert {e.run_id for e in mine} == {"r1"}
        assert kinds[0] == "step_started" and kinds[-1] == "step_finished", kinds
        assert kinds.count("step_started") == kinds.count("step_finished") == 1
        assert "llm_message" in kinds, kinds
        assert mine[0].payload["mode"] == MODE and mine[0].payload["step_id"] == name

        started = [e.payload["tool"] for e in mine if e.kind == "tool_started"]
        finished = [e.payload["tool"] for e in mine if e.kind == "tool_finished"]
        assert started and started == finished == [c.tool for c in result.tool_calls]
        for e in mine:
            if e.kind == "tool_started":
                assert isinstance(e.payload["args"], dict | str)
                done = next(f for f in mine if f.kind == "tool_finished" and f.seq > e.seq)
                assert done.payload["tool"] == e.payload["tool"] and done.payload["result"]
        answers = [
            e.payload for e in mine if e.kind == "llm_message" and "final_answer" in e.payload
        ]
        assert len(answers) == 1 and answers[0]["final_answer"]
        assert mine[-1].payload["summary"] == result.summary
        assert mine[-1].payload["tool_calls"] == len(result.tool_calls)
        assert mine[0].created_at <= mine[1].created_at <= mine[-1].created_at

    failed = _of(events, "s3")
    assert [e.kind for e in failed] == ["step_started", "step_failed"]
    assert failed[1].payload["error"] == "AgentInputInvalid"
    assert "no_such_mode" in failed[1].payload["message"]
    assert failed[1].payload["retryable"] is False


def _parse(message: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for line in message.split("\n"):
        if line.startswith(":"):
            fields["comment"] = line[1:].strip()
        elif ": " in line:
            name, value = line.split(": ", 1)
            fields[name] = value
    return fields


async def _collect(stream: AsyncIterator[str]) -> list[dict[str, Any]]:
    return [_parse(m) async for m in stream]


def _ids(messages: list[dict[str, Any]]) -> list[int]:
    return [int(m["id"]) for m in messages if "id" in m]


async def test_the_stream_catches_up_from_any_id_exactly_once(ran: Ran) -> None:
    stored = [e.id for e in await ran.store.list_activity_events(ran.wf)]
    everything = await _collect(event_stream(ran.store, ran.wf, 0, stop=lambda: True, batch=4))
    assert everything[0] == {"retry": "2000"} and everything[-1] == {"event": "end", "data": "{}"}
    assert _ids(everything) == stored  # several pages of 4: nothing missed, nothing twice
    first = everything[1]
    data = json.loads(first["data"])
    assert first["event"] == "step_started" == data["kind"] and int(first["id"]) == data["id"]
    assert data["step"] in {"s1", "s2", "s3"} and data["payload"]["agent"] == AGENT

    for mid in (stored[0], stored[len(stored) // 2], stored[-2]):
        resumed = await _collect(event_stream(ran.store, ran.wf, mid, stop=lambda: True))
        assert _ids(resumed) == [i for i in stored if i > mid]
    past_the_end = event_stream(ran.store, ran.wf, stored[-1], stop=lambda: True)
    assert _ids(await _collect(past_the_end)) == []
    # one run of the workflow id (it is started again when a closed run's key is reused)
    only_r1 = event_stream(ran.store, ran.wf, 0, stop=lambda: True, run_id="r1")
    assert _ids(await _collect(only_r1)) == stored
    other_run = event_stream(ran.store, ran.wf, 0, stop=lambda: True, run_id="r9")
    assert _ids(await _collect(other_run)) == []


async def test_the_stream_tails_new_events_until_stopped(ran: Ran) -> None:
    wf = f"{ran.wf}.tail"
    await ran.store.append_activity_events(
        [
            NewActivityEvent(
                workflow_id=wf, run_id="r1", step="a", attempt=1, seq=0, kind="step_started"
            )
        ]
    )
    stop = asyncio.Event()
    got: list[dict[str, Any]] = []

    async def follow() -> None:
        async for message in event_stream(ran.store, wf, 0, poll_s=0.01, heartbeat_s=0, stop=stop):
            got.append(_parse(message))

    task = asyncio.create_task(follow())
    await eventually(lambda: _async(len(_ids(got)) == 1), what="the catch-up")
    for seq in (1, 2):
        await ran.store.append_activity_events(
            [
                NewActivityEvent(
                    workflow_id=wf, run_id="r1", step="a", attempt=1, seq=seq, kind="tool_started"
                )
            ]
        )
    await eventually(lambda: _async(len(_ids(got)) == 3), what="the tail")
    await eventually(lambda: _async(any("comment" in m for m in got)), what="a keepalive")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert got[-1]["event"] == "end"
    stored = [e.id for e in await ran.store.list_activity_events(wf)]
    assert _ids(got) == stored and [json.loads(m["data"])["seq"] for m in got if "id" in m] == [
        0,
        1,
        2,
    ]
    assert all(m["comment"] == "keepalive" for m in got if "comment" in m)


async def _async(value: bool) -> bool:
    return value


async def test_a_store_that_cannot_take_events_never_fails_the_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real store whose database was never migrated: every write fails (no such table).
    broken = await Store.open(StoreSettings(home=tmp_path), migrate=False)
    ids = live_events.StepIds(workflow_id="default.probe.broken", run_id="r1", step="s1", attempt=1)
    try:
        with caplog.at_level(logging.WARNING, logger=live_events.__name__):
            async with live_events.recording(ids, broken, flush_every_s=0.01) as live:
                live.record("tool_started", {"tool": "t"})
                await eventually(
                    lambda: _async(any("not written" in r.message for r in caplog.records)),
                    what="the failed write to be logged",
                )
                live.finished({"summary": "done anyway"})
        assert live.written == 0
    finally:
        await broken.close()

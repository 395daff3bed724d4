"""Steps heartbeat at a beat fitted to their own `heartbeat:` timeout (the shared helper the
crew steps use, which the noop agent uses too), and too short a timeout is refused."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client

from activities.agent_step.heartbeat import MAX_BEAT_S, beat_every_s
from tests.support import ET, events, of_type, progress, start
from workflows.compiler import CompileError, compile_spec
from workflows.models import RunResult


def test_the_beat_is_a_third_of_the_timeout_at_most_the_cap() -> None:
    assert beat_every_s(timedelta(seconds=1)) == pytest.approx(1 / 3)
    assert beat_every_s(timedelta(seconds=3)) == pytest.approx(1.0)
    assert beat_every_s(timedelta(minutes=10)) == MAX_BEAT_S
    assert beat_every_s(None) == MAX_BEAT_S
    assert beat_every_s(timedelta(seconds=30), cap_s=0.2) == pytest.approx(0.2)


async def test_a_step_outlives_its_one_second_heartbeat_timeout(client: Client) -> None:
    # slow.yaml: `long` has `heartbeat: 1s` and sleeps 3 s here, three timeouts' worth;
    # a beat every 2 s (the old fixed beat) times every attempt out.
    h = await start(client, "slow", {"sleep_s": 3})
    result: RunResult = await h.result()
    assert result.statuses == {"quick": "succeeded", "long": "succeeded", "last": "succeeded"}
    assert {s.id: s.attempts for s in (await progress(h)).steps}["long"] == 1
    assert of_type(await events(h), ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT) == []


SPEC: dict[str, Any] = {
    "name": "beats",
    "version": 1,
    "description": "an agent step with a heartbeat timeout",
    "steps": [{"id": "work", "agent": "noop", "mode": "echo", "heartbeat": "1s"}],
}


def test_a_heartbeat_timeout_too_short_to_beat_is_refused() -> None:
    compile_spec(copy.deepcopy(SPEC), "dag_specs/beats.yaml")  # 1 s is the minimum
    raw = copy.deepcopy(SPEC)
    raw["steps"][0]["heartbeat"] = "500ms"
    with pytest.raises(CompileError) as e:
        compile_spec(raw, "dag_specs/beats.yaml")
    assert e.value.problems == [
        "dag_specs/beats.yaml: step work: heartbeat: 0.5s is too short to heartbeat "
        "reliably (the minimum is 1s)"
    ]

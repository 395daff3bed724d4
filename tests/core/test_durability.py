"""Durability with real worker processes: a worker killed with SIGKILL mid-run, and a run
that started on spec v1 finishing on v1 after workers with v2 take over."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import namespace_client
from tests.core.conftest import SPEC_DIRS
from tests.support import ET, events, eventually, of_type, progress, start, wait_until_waiting
from tests.worker_process import WorkerProcess
from workflows.models import ApprovalSignal, RunResult
from workflows.registry import load_registry


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()


async def test_worker_killed_mid_run_loses_no_step(
    temporal_env: WorkflowEnvironment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    client = await namespace_client(temporal_env, "isolated-kill")
    first = WorkerProcess(temporal_env, "isolated-kill", SPEC_DIRS, tmp_path / "w1.log")
    workers.append(first)
    # the slow template's long step sleeps 3 s, beating every third of its 1 s heartbeat timeout
    h = await _start(client, "slow", SPEC_DIRS, {"sleep_s": 3})
    await _kill_under_the_long_step(h, first)
    workers.append(WorkerProcess(temporal_env, "isolated-kill", SPEC_DIRS, tmp_path / "w2.log"))
    result: RunResult = await h.result()
    assert result.statuses == {"quick": "succeeded", "long": "succeeded", "last": "succeeded"}
    p = await progress(h)
    attempts = {s.id: s.attempts for s in p.steps}
    # `quick` finished before the kill: its result came from history, it never ran again;
    # `long` was running on the dead worker: retried once its heartbeat timed out.
    assert attempts == {"quick": 1, "long": 2, "last": 1}
    scheduled = of_type(await events(h), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert len(scheduled) == 3


FRAGILE = """name: fragile
version: 1
description: one attempt per step, so a lost worker would be the step's end
params:
  sleep_s: {type: number, default: 3}
steps:
  - id: long
    agent: noop
    mode: echo
    with: {sleep_s: "${params.sleep_s}"}
    heartbeat: 1s
    retry: {maximum_attempts: 1}
  - id: last
    agent: noop
    mode: echo
    after: [long]
"""


async def test_workers_lost_under_a_step_do_not_spend_its_attempts(
    temporal_env: WorkflowEnvironment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # `long` may be attempted once and its worker is SIGKILLed under it. Temporal counts the
    # heartbeat timeout as that attempt: without re-scheduling, the run would fail here.
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "fragile.yaml").write_text(FRAGILE)
    dirs = [*SPEC_DIRS, specs]
    client = await namespace_client(temporal_env, "isolated-lost")
    first = WorkerProcess(temporal_env, "isolated-lost", dirs, tmp_path / "w1.log")
    workers.append(first)
    h = await _start(client, "fragile", dirs, {})
    await _kill_under_the_long_step(h, first)
    workers.append(WorkerProcess(temporal_env, "isolated-lost", dirs, tmp_path / "w2.log"))
    result: RunResult = await h.result()
    assert result.statuses == {"long": "succeeded", "last": "succeeded"}
    # numbered on across the schedulings: attempt 1 died with its worker, 2 finished
    assert {s.id: s.attempts for s in (await progress(h)).steps} == {"long": 2, "last": 1}
    scheduled = of_type(await events(h), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert len(scheduled) == 3  # `long` twice, `last` once


async def _start(client: Client, name: str, dirs: list[Path], params: dict[str, Any]):  # type: ignore[no-untyped-def]
    from workflows import registry as reg_mod

    saved = reg_mod._registry
    reg_mod.set_registry(load_registry(dirs))
    try:
        return await start(client, name, params)
    finally:
        reg_mod._registry = saved


async def _kill_under_the_long_step(h: WorkflowHandle[Any, Any], worker: WorkerProcess) -> None:
    """SIGKILL `worker` once a step of `h` is running and has heartbeated."""

    async def long_step_heartbeating() -> bool:
        pending = (await h.describe()).raw_description.pending_activities
        return any(a.state == 2 and a.heartbeat_details.payloads for a in pending)

    await eventually(long_step_heartbeating, timeout_s=60, what="the long step to heartbeat")
    worker.kill()


V1 = """name: versioned
version: 1
description: first version
steps:
  - id: one
    agent: noop
    mode: echo
    with: {v: 1}
  - id: review
    approval: {prompt: "ok?"}
    after: [one]
  - id: two
    agent: noop
    mode: echo
    after: [review]
    with: {v: 1}
"""

V2 = """name: versioned
version: 2
description: second version, with other steps
steps:
  - id: alpha
    agent: noop
    mode: echo
    with: {v: 2}
  - id: review
    approval: {prompt: "ok?"}
    after: [alpha]
  - id: beta
    agent: noop
    mode: echo
    after: [review]
    with: {v: 2}
"""


async def test_run_started_on_v1_finishes_on_v1_after_v2_is_deployed(
    temporal_env: WorkflowEnvironment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    v1_dir, v2_dir = tmp_path / "v1", tmp_path / "v2"
    (v1_dir / "versions").mkdir(parents=True)
    (v2_dir / "versions").mkdir(parents=True)
    (v1_dir / "versioned.yaml").write_text(V1)
    (v1_dir / "versions" / "versioned@1.yaml").write_text(V1)
    (v2_dir / "versioned.yaml").write_text(V2)
    (v2_dir / "versions" / "versioned@1.yaml").write_text(V1)
    (v2_dir / "versions" / "versioned@2.yaml").write_text(V2)
    client = await namespace_client(temporal_env, "isolated-versions")

    old = WorkerProcess(temporal_env, "isolated-versions", [v1_dir], tmp_path / "old.log")
    workers.append(old)

    # one run pinned by memo (bizos start), one by patch marker (no memo, like `temporal`)
    from workflows import registry as reg_mod
    from workflows.models import WORKFLOWS_TASK_QUEUE, RunInput

    saved = reg_mod._registry
    reg_mod.set_registry(load_registry([v1_dir]))
    try:
        pinned = await start(client, "versioned")
    finally:
        reg_mod._registry = saved
    marked = await client.start_workflow(
        "Versioned",
        RunInput(),
        id=f"default.versioned.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=RunResult,
    )
    for h in (pinned, marked):
        await wait_until_waiting(h, "review")
    old.stop()

    workers.append(WorkerProcess(temporal_env, "isolated-versions", [v2_dir], tmp_path / "new.log"))
    for h in (pinned, marked):
        await h.signal("approve", ApprovalSignal(step="review"))
        result: RunResult = await h.result()
        assert result.version == 1
        assert set(result.statuses) == {"one", "review", "two"}
        assert result.outputs["two"]["echo"] == {"v": 1}
    fresh = await client.execute_workflow(
        "Versioned",
        RunInput(),
        id=f"default.versioned.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=RunResult,
        start_signal="approve",
        start_signal_args=[ApprovalSignal(step="review")],
    )
    assert fresh.version == 2 and set(fresh.statuses) == {"alpha", "review", "beta"}

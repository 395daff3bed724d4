"""A run carries everything it decides on (docs/versioning.md): runs started, then the
catalog (a cost estimate, a pool, a default timeout) and the spec edited and the workers
restarted on the edited files — the old runs finish as they began and replay without any
spec or catalog file; new runs use the new values."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.catalog import AGENTS_DIR, load_catalog
from store import Store, StoreSettings
from tests.conftest import namespace_client
from tests.support import ET, events, of_type, progress, wait_until_waiting
from tests.worker_process import WorkerProcess
from worker.plugin import BizosPlugin
from workflows import registry as reg_mod
from workflows.engine.workflow import DagWorkflow
from workflows.models import WORKFLOWS_TASK_QUEUE, ApprovalSignal, RunInput, RunResult
from workflows.plans import build_plan
from workflows.registry import SpecRegistry, load_registry

NS = "isolated-plans"

SPEC = """name: planned
version: 1
description: an approval between two priced noop steps, under a $1 budget
budget_usd: 1.0
steps:
  - id: one
    agent: noop
    mode: echo
    with: {v: __V__}
  - id: review
    approval: {prompt: "go on?"}
    after: [one]
  - id: two
    agent: noop
    mode: priced
    after: [review]
    with: {v: __V__}
  - id: three
    agent: market_research
    mode: marketing_research
    after: [review]
    with: {topic: durable plans}
"""


def _write_world(root: Path, *, new: bool) -> tuple[Path, Path]:
    """A spec dir and a catalog dir: the shipped catalog, and for `new` market_research
    moved to the marketing pool, noop's `priced` estimate raised past the budget and given
    a default timeout; the spec edited in place (same version: a run must not care)."""
    specs, agents = root / "specs", root / "agents"
    specs.mkdir(parents=True)
    shutil.copytree(AGENTS_DIR, agents)
    (specs / "planned.yaml").write_text(SPEC.replace("__V__", "2" if new else "1"))
    if new:
        noop = yaml.safe_load((agents / "noop.yaml").read_text())
        noop["modes"]["priced"]["cost_estimate_usd"] = 5.0
        noop["modes"]["priced"]["timeout"] = "7m"
        (agents / "noop.yaml").write_text(yaml.safe_dump(noop))
        research = yaml.safe_load((agents / "market_research.yaml").read_text())
        research["category"] = "marketing"
        (agents / "market_research.yaml").write_text(yaml.safe_dump(research))
    return specs, agents


def _worker(env: WorkflowEnvironment, specs: Path, agents: Path, log: Path) -> WorkerProcess:
    return WorkerProcess(
        env,
        NS,
        [specs],
        log,
        pools="workflows,system,intelligence,marketing",
        extra_env={"BIZOS_AGENTS_DIR": str(agents), "BIZOS_HOME": str(log.parent / "home")},
    )


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()


async def _start(
    client: Client, run_input: RunInput, wtype: str = "Planned"
) -> WorkflowHandle[Any, RunResult]:
    return await client.start_workflow(
        wtype,
        run_input,
        id=f"default.{wtype.lower()}.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=RunResult,
    )


async def _scheduled(handle: WorkflowHandle[Any, Any]) -> dict[str, tuple[str, float]]:
    """Task queue and start-to-close timeout (s) of each agent step, from the history."""
    scheduled = of_type(await events(handle), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    out = {}
    for e in scheduled:
        attrs = e.activity_task_scheduled_event_attributes
        step = e.user_metadata.summary.data.decode().strip('"').split(":")[0]
        timeout = attrs.start_to_close_timeout.ToTimedelta().total_seconds()
        out[step] = (attrs.task_queue.name, timeout)
    return out


async def test_old_runs_finish_as_they_began_and_new_runs_use_the_edits(
    temporal_env: WorkflowEnvironment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    old_specs, old_agents = _write_world(tmp_path / "old", new=False)
    new_specs, new_agents = _write_world(tmp_path / "new", new=True)
    client = await namespace_client(temporal_env, NS)
    workers.append(_worker(temporal_env, old_specs, old_agents, tmp_path / "old" / "w.log"))

    # One run carrying its plan from its starter (as `bizos` does), one started bare (as the
    # plain `temporal` CLI does): its first task records the plan from the worker's files.
    old_registry = load_registry([old_specs], catalog=load_catalog(old_agents))
    plan = build_plan(old_registry.by_name("planned"), old_registry, load_catalog(old_agents))
    carried = await _start(client, RunInput(plan=plan))
    bare = await _start(client, RunInput())
    for h in (carried, bare):
        await wait_until_waiting(h, "review")
    workers[0].stop()

    workers.append(_worker(temporal_env, new_specs, new_agents, tmp_path / "new" / "w.log"))
    for h in (carried, bare):
        await h.signal("approve", ApprovalSignal(step="review"))
        result = await h.result()
        # the old spec's values, the old estimate (no budget wait), the old pool and timeout
        assert result.outputs["two"]["echo"] == {"v": 1}
        assert result.statuses["two"] == "succeeded"
        scheduled = await _scheduled(h)
        assert scheduled["two"] == ("bizos-agents-system", 600.0)
        assert scheduled["three"][0] == "bizos-agents-intelligence"

    fresh = await _start(client, RunInput())
    await wait_until_waiting(fresh, "review")
    await fresh.signal("approve", ApprovalSignal(step="review"))
    # the new estimate ($5) passes the $1 budget: the run asks before step `two`
    p = await wait_until_waiting(fresh, "two")
    assert next(s for s in p.steps if s.id == "two").waiting_for == "budget"
    await fresh.signal("approve", ApprovalSignal(step="two"))
    result = await fresh.result()
    assert result.outputs["two"]["echo"] == {"v": 2}
    scheduled = await _scheduled(fresh)
    assert scheduled["two"] == ("bizos-agents-system", 420.0)
    assert scheduled["three"][0] == "bizos-agents-marketing"
    assert (await progress(fresh)).steps[0].status == "succeeded"

    # Replay with no spec at all in the registry: the histories carry what they need.
    saved = reg_mod._registry
    reg_mod.set_registry(SpecRegistry({}, {}))
    try:
        replayer = Replayer(workflows=[DagWorkflow], plugins=[BizosPlugin()])
        for h in (carried, bare, fresh):
            history = await h.fetch_history()
            replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            assert replayed.replay_failure is None, f"{h.id}: {replayed.replay_failure}"
    finally:
        reg_mod._registry = saved


PINNED = """name: pinned
version: 1
description: a person's go-ahead, then an agent step
steps:
  - id: go
    approval: {prompt: "start?"}
  - id: research
    agent: market_research
    mode: marketing_research
    after: [go]
    with: {topic: pinned configurations}
"""


async def _config_version_sent(handle: WorkflowHandle[Any, Any]) -> int | None:
    """The configuration version the run's agent step was scheduled with (from history)."""
    scheduled = of_type(await events(handle), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    payload = scheduled[-1].activity_task_scheduled_event_attributes.input.payloads[0]
    return json.loads(payload.data)["config_version"]


async def test_configuration_versions_are_pinned_when_the_run_starts(
    temporal_env: WorkflowEnvironment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "pinned.yaml").write_text(PINNED)
    home = tmp_path / "home"
    workers.append(
        WorkerProcess(
            temporal_env,
            NS,
            [specs],
            tmp_path / "w.log",
            pools="workflows,intelligence",
            extra_env={"BIZOS_HOME": str(home)},
        )
    )
    client = await namespace_client(temporal_env, NS)
    before = await _start(client, RunInput(), "Pinned")
    await wait_until_waiting(before, "go")
    # A new version is activated while the run waits, before its agent's first step.
    store = await Store.open(StoreSettings(home=home))
    try:
        version = await store.create_config_version(
            "market_research", {"temperature": 0.7}, note="after the run started"
        )
    finally:
        await store.close()
    after = await _start(client, RunInput(), "Pinned")
    for h in (before, after):
        await wait_until_waiting(h, "go")
        await h.signal("approve", ApprovalSignal(step="go"))
        await h.result()
    assert await _config_version_sent(before) == 0  # catalog defaults, as when it started
    assert await _config_version_sent(after) == version

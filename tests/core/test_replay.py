"""Replaying every committed history (tests/histories/, recorded once by
scripts/record_histories.py and never regenerated) against today's runtime: a change to the
workflow code that would break running workflows fails here. See docs/versioning.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker.plugin import BizosPlugin
from workflows import registry as reg_mod
from workflows import single_agent
from workflows.engine.workflow import DagWorkflow
from workflows.registry import SpecRegistry, load_registry
from workflows.single_agent import SingleAgentWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    text = path.read_text()
    first = json.loads(text)["events"][0]
    wid = first.get("workflowExecutionStartedEventAttributes", {}).get("workflowId") or path.stem
    return WorkflowHistory.from_json(wid, text)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path, registry: SpecRegistry) -> None:
    replayer = Replayer(workflows=[DagWorkflow, SingleAgentWorkflow], plugins=[BizosPlugin()])
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


PLAN_HISTORIES = [p for p in HISTORIES if "~" in p.stem]


@pytest.mark.parametrize("path", PLAN_HISTORIES, ids=[p.stem for p in PLAN_HISTORIES])
async def test_runs_carrying_their_plan_replay_without_spec_or_catalog(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Histories recorded since runs carry their plan replay on a worker that knows no
    template and cannot read the catalog: they depend only on what they started with."""

    def no_catalog() -> None:
        raise AssertionError("replay read the agent catalog")

    monkeypatch.setattr(single_agent, "default_catalog", no_catalog)
    saved = reg_mod._registry
    reg_mod.set_registry(SpecRegistry({}, {}))
    try:
        replayer = Replayer(workflows=[DagWorkflow, SingleAgentWorkflow], plugins=[BizosPlugin()])
        result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    finally:
        reg_mod._registry = saved
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_every_shipped_workflow_type_has_a_history() -> None:
    recorded = {p.stem for p in HISTORIES}
    shipped = load_registry()
    missing = [
        f"{d.workflow_type}@{d.version}~plan"
        for d in shipped.current.values()
        if f"{d.workflow_type}@{d.version}~plan" not in recorded
    ]
    missing += [
        f"AgentStep{tag}" for tag in ("~plan", "~bare-plan") if f"AgentStep{tag}" not in recorded
    ]
    assert not missing, f"record them with scripts/record_histories.py: {missing}"

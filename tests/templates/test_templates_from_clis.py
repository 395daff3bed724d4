"""Every template starts from the real `temporal` CLI (one RunInput shape) and from
`bizos run <name> --auto-approve`, on its example params, and runs to completion."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starters.follow import auto_decision
from tests.conftest import server_address
from tests.templates.conftest import cli_env
from worker.binaries import temporal_cli
from workflows.models import Progress, RunResult
from workflows.registry import DEFAULT_SPEC_DIR, SpecRegistry, load_registry

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(d.name for d in load_registry([DEFAULT_SPEC_DIR]).current.values())


@pytest.fixture
async def client(
    workflow_client: Client, agent_pools: Path, templates_registry: SpecRegistry
) -> Client:
    return workflow_client


def test_there_are_twelve_templates() -> None:
    assert len(TEMPLATES) == 12


async def _decide_until_done(client: Client, wid: str) -> RunResult:
    handle = client.get_workflow_handle(wid, result_type=RunResult)
    decided: set[str] = set()
    while True:
        p: Progress = await handle.query("progress", result_type=Progress)
        for s in p.steps:
            if s.status == "waiting" and s.id not in decided:
                decided.add(s.id)
                # as `--auto-approve` decides: an operator's path, with the digest shown
                await handle.execute_update("decide", auto_decision(s))
        if p.status != "running":
            break
        await asyncio.sleep(0.2)  # polling one run's progress, as a person's terminal does
    return await handle.result()


async def test_every_template_starts_from_the_temporal_cli(
    client: Client, temporal_env: WorkflowEnvironment, templates_registry: SpecRegistry
) -> None:
    async def one(name: str) -> tuple[str, RunResult]:
        dag = templates_registry.by_name(name)
        wid = f"default.{name}.tcli-{uuid.uuid4().hex[:6]}"
        payload = json.dumps({"params": dag.spec.example or {}, "tenant": "default", "budget_usd": None})
        out = await asyncio.to_thread(
            subprocess.run,
            [temporal_cli(), "workflow", "start", "--address", server_address(temporal_env),
             "--type", dag.workflow_type, "--task-queue", "bizos-workflows",
             "--workflow-id", wid, "--input", payload],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return name, await _decide_until_done(client, wid)

    sem = asyncio.Semaphore(4)

    async def bounded(name: str) -> tuple[str, RunResult]:
        async with sem:
            return await one(name)

    for name, result in await asyncio.gather(*(bounded(n) for n in TEMPLATES)):
        assert result.template == name
        assert "failed" not in result.statuses.values(), (name, result.errors)
        assert result.outputs, name


async def test_every_template_runs_from_bizos_run_auto_approve(
    client: Client, temporal_env: WorkflowEnvironment, templates_registry: SpecRegistry
) -> None:
    env = cli_env(temporal_env)

    async def one(name: str) -> tuple[str, list[dict[str, object]]]:
        dag = templates_registry.by_name(name)
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "starters.cli", "run", name, "--auto-approve", "-o", "jsonl",
             "--params", json.dumps(dag.spec.example or {})],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
        )
        assert out.returncode == 0, f"{name}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
        return name, [json.loads(line) for line in out.stdout.splitlines()]

    sem = asyncio.Semaphore(3)

    async def bounded(name: str) -> tuple[str, list[dict[str, object]]]:
        async with sem:
            return await one(name)

    for name, events in await asyncio.gather(*(bounded(n) for n in TEMPLATES)):
        last = events[-1]
        assert last["event"] == "completed", (name, last)
        result = RunResult.model_validate(last["result"])
        assert result.template == name and "failed" not in result.statuses.values()
        waited = {e["step"] for e in events if e.get("event") == "step" and e["status"] == "waiting"}
        decided = set(result.approvals) | set(result.choices)
        assert waited <= decided | {s for s, st in result.statuses.items() if st == "succeeded"}

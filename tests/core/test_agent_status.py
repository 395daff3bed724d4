"""`bizos status` on a single-agent run (`bizos agents run`, workflow type AgentStep): its
agent and mode, status, attempts, and its result or failure — never a traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.contract import AgentStepResult
from tests.conftest import cli_env
from tests.support import eventually
from workflows.models import WORKFLOWS_TASK_QUEUE
from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput

REPO = Path(__file__).resolve().parents[2]


async def _start(client: Client, mode: str, inputs: dict[str, Any]) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        AGENT_WORKFLOW_TYPE,
        AgentRunInput(agent="noop", mode=mode, inputs=inputs),
        id=f"default.agent.noop.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=AgentStepResult,
    )


async def _status(
    client: Client, env: WorkflowEnvironment, wid: str, *fmt: str
) -> subprocess.CompletedProcess[str]:
    # in a thread: this process's event loop hosts the workers the CLI's run needs
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", "status", wid, *fmt],
        capture_output=True,
        text=True,
        env=cli_env(env, TEMPORAL_NAMESPACE=client.namespace),
        cwd=REPO,
        timeout=60,
    )
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert out.returncode == 0, out.stdout + out.stderr
    return out


async def test_status_of_a_completed_agent_run(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    # the first attempt fails (retryable), the second succeeds at $0.30
    h = await _start(client, "priced", {"cost_usd": 0.3, "fail_attempts": 1})
    await h.result()
    info = json.loads((await _status(client, temporal_env, h.id, "-o", "json")).stdout)
    assert (info["status"], info["agent"], info["mode"]) == ("COMPLETED", "noop", "priced")
    assert info["workflow_type"] == "AgentStep" and info["attempts"] == 2
    assert info["result"]["summary"] == "noop priced ok"
    assert info["result"]["cost_usd"] == pytest.approx(0.3)
    assert info["pending_activities"] == [] and info["error"] is None

    text = (await _status(client, temporal_env, h.id)).stdout
    assert f"{h.id}: COMPLETED · agent noop/priced (AgentStep)" in text
    assert "2 attempt(s)" in text and "summary: noop priced ok" in text
    assert "cost $0.3000" in text


async def test_status_of_a_failed_agent_run(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    h = await _start(client, "echo", {"fail": "the input is wrong"})
    with pytest.raises(WorkflowFailureError):
        await h.result()
    info = json.loads((await _status(client, temporal_env, h.id, "-o", "json")).stdout)
    assert (info["status"], info["agent"], info["mode"]) == ("FAILED", "noop", "echo")
    assert info["attempts"] == 1 and info["result"] is None
    assert "the input is wrong" in info["error"]
    assert "failed: the input is wrong" in (await _status(client, temporal_env, h.id)).stdout


async def test_status_of_a_running_agent_run_shows_its_attempt(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    h = await _start(client, "echo", {"sleep_s": 60})

    async def running() -> bool:
        pending = (await h.describe()).raw_description.pending_activities
        return any(a.state == 2 for a in pending)  # STARTED

    try:
        await eventually(running, what="the agent step to start")
        info = json.loads((await _status(client, temporal_env, h.id, "-o", "json")).stdout)
        assert (info["status"], info["agent"], info["mode"]) == ("RUNNING", "noop", "echo")
        assert info["attempts"] == 1 and info["result"] is None and info["error"] is None
        [pending] = info["pending_activities"]
        assert (pending["activity_type"], pending["state"], pending["attempt"]) == (
            "run_agent",
            "STARTED",
            1,
        )
        text = (await _status(client, temporal_env, h.id)).stdout
        assert "RUNNING · agent noop/echo" in text and "running: attempt 1 (STARTED)" in text
    finally:
        await h.terminate("test over")

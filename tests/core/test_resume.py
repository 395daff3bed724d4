"""Resume from the failed step (`bizos resume`): a new run reuses what the failed run
finished — not re-run, not re-billed — for a failure in a foreach item and in a child run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from starters.resume import ResumeError, resume_run
from tests.conftest import cli_env
from tests.support import ET, events, of_type, progress, start
from workflows.models import RunResult


async def _scheduled_steps(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The agent steps (with their item) a run scheduled, from its history."""
    out = []
    for e in of_type(await events(handle), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED):
        out.append(e.user_metadata.summary.data.decode().strip('"').split(":")[0])
    return out


async def _fails(handle: WorkflowHandle[Any, Any]) -> None:
    with pytest.raises(WorkflowFailureError):
        await handle.result()


async def test_resume_after_a_failed_foreach_item(client: Client) -> None:
    old = await start(client, "resumable", {"bad": 2})
    await _fails(old)
    assert await _scheduled_steps(old) == ["prep", "fan[0]", "fan[1]", "fan[2]"]

    new = await resume_run(client, old.id, params={"bad": -1})
    assert new.id == f"{old.id}~r1"
    result: RunResult = await new.result()
    assert set(result.statuses.values()) == {"succeeded"}
    # prep and the two items that finished are reused; only the rest ran
    assert await _scheduled_steps(new) == ["fan[2]", "fan[3]", "fan[4]"]
    p = await progress(new)
    assert p.resumed_from == old.id
    # prep's $0.25 counts once in the run's total; the child's step a added $0.10
    assert result.cost_usd == pytest.approx(0.35)


async def test_resume_after_a_failed_child_run(client: Client) -> None:
    old = await start(client, "resumable", {"child_bad": True})
    await _fails(old)
    old_child = client.get_workflow_handle(f"{old.id}.kid")
    assert await _scheduled_steps(old_child) == ["a", "b"]

    new = await resume_run(client, old.id, params={"child_bad": False})
    result: RunResult = await new.result()
    assert result.statuses["kid"] == "succeeded"
    assert await _scheduled_steps(new) == []  # prep and every fan item reused
    new_child = client.get_workflow_handle(f"{new.id}.kid")
    assert await _scheduled_steps(new_child) == ["b"]  # the child resumed its own run: a reused
    assert (await progress(new_child)).resumed_from == old_child.id
    assert result.cost_usd == pytest.approx(0.35)


async def test_only_failed_or_cancelled_runs_resume(client: Client) -> None:
    done = await start(client, "resumable")
    await done.result()
    with pytest.raises(ResumeError, match="only a failed, cancelled"):
        await resume_run(client, done.id)
    with pytest.raises(ResumeError, match="no run"):
        await resume_run(client, "default.resumable.nope")


async def test_bizos_resume_command(client: Client, temporal_env: WorkflowEnvironment) -> None:
    old = await start(client, "resumable", {"bad": 0})
    await _fails(old)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", "resume", old.id, "-p", '{"bad": -1}', "-o", "json"],
        env=cli_env(temporal_env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["statuses"].values()) == {"succeeded"}

"""What people see and type: Web UI metadata read back from the history, the real
`temporal` CLI starting/signalling/listing runs, and the `bizos` CLI deciding them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import cli_env, server_address
from tests.support import ET, events, of_type, start, wait_until_waiting
from worker.binaries import temporal_cli
from workflows.models import RunResult

REPO = Path(__file__).resolve().parents[2]




async def test_ui_metadata_is_in_the_history(client: Client) -> None:
    h = await start(client, "approval_flow", {"topic": "UI", "channels": ["blog"]})
    await wait_until_waiting(h, "review")
    desc = await h.describe()
    assert await desc.static_summary() == (
        "approval_flow v1: Draft, approve, then publish per channel (test template on the noop agent)"
    )
    details = await desc.static_details()
    assert details is not None and '"topic": "UI"' in details
    meta = await h.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "waiting for approval on `review`" in meta.current_details
    assert f"bizos approve {h.id} review" in meta.current_details
    handlers = {d.name: d.description for d in meta.definition.update_definitions}
    handlers |= {d.name: d.description for d in meta.definition.signal_definitions}
    handlers |= {d.name: d.description for d in meta.definition.query_definitions}
    assert {"decide", "approve", "reject", "choose", "progress"} <= set(handlers)
    assert all(handlers[n] for n in ("decide", "approve", "reject", "choose", "progress"))
    await h.signal("approve", {"step": "review"})
    await h.result()
    conv = client.data_converter.payload_converter
    evs = await events(h)
    summaries = [
        conv.from_payload(e.user_metadata.summary, str)
        for e in of_type(evs, ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    ]
    assert summaries == ["draft: noop/echo", "publish[0]: noop/echo"]
    timers = [
        conv.from_payload(e.user_metadata.summary, str)
        for e in of_type(evs, ET.EVENT_TYPE_TIMER_STARTED)
    ]
    assert timers == ["review: approval times out"]


async def test_temporal_cli_starts_signals_and_lists(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    wid = f"default.hello_approval.cli-{uuid.uuid4().hex[:8]}"
    base = [temporal_cli()]
    addr = ["--address", server_address(temporal_env), "--namespace", client.namespace]

    def cli(*args: str) -> str:
        out = subprocess.run([*base, *args, *addr], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    cli(
        "workflow",
        "start",
        "--type",
        "HelloApproval",
        "--task-queue",
        "bizos-workflows",
        "--workflow-id",
        wid,
        "--input",
        json.dumps({"params": {"topic": "from the CLI"}}),
    )
    h = client.get_workflow_handle(wid, result_type=RunResult)
    await wait_until_waiting(h, "review")

    async def listed() -> bool:
        text = await asyncio.to_thread(
            cli,
            "workflow",
            "list",
            "-q",
            f"BizosPendingApprovals = 'review' AND WorkflowId = '{wid}'",
            "-o",
            "json",
        )
        return wid in text

    from tests.support import eventually

    await eventually(listed, what="the waiting run in `temporal workflow list`")
    cli(
        "workflow",
        "signal",
        "--workflow-id",
        wid,
        "--name",
        "approve",
        "--input",
        json.dumps({"step": "review", "by": "cli-user"}),
    )
    result = await h.result()
    assert result.approvals["review"].by == "cli-user"
    assert [o["echo"]["channel"] for o in result.outputs["publish"]] == ["blog", "newsletter"]
    # the run pinned its spec although the CLI gave no memo
    desc = await h.describe()
    memo = await desc.memo()
    assert memo["bizos_spec"]["name"] == "hello_approval" and memo["bizos_spec"]["version"] == 1


async def test_bizos_cli_run_status_approve(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    env = _bizos_env(client, temporal_env)

    async def bizos(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # in a thread: this process's event loop hosts the workers that answer the CLI
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "starters.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
        )
        if check:
            assert out.returncode == 0, out.stdout + out.stderr
        return out

    key = uuid.uuid4().hex[:8]
    wid = (
        await bizos("start", "approval_flow", "--key", key, "--params", '{"topic": "cli"}')
    ).stdout.strip()
    assert wid == f"default.approval_flow.{key}"
    h = client.get_workflow_handle(wid, result_type=RunResult)
    await wait_until_waiting(h, "review")
    status = json.loads((await bizos("status", wid, "-o", "json")).stdout)
    assert status["progress"]["waiting"] == ["review"]
    refused = await bizos("choose", wid, "review", "x", check=False)
    assert refused.returncode == 1 and "is an approval: approve or reject it" in refused.stderr
    assert "Traceback" not in refused.stderr
    ok = await bizos("approve", wid, "review", "--by", "dana", "--comment", "lgtm")
    assert f"approved review in {wid}" in ok.stdout
    result = await h.result()
    assert result.approvals["review"].by == "dana"
    bad = await bizos("start", "approval_flow", "--params", '{"topic": 5}', check=False)
    assert bad.returncode == 1 and "param `topic`: Input should be a valid string" in bad.stderr


async def test_bizos_run_auto_approve_follows_to_the_end(
    client: Client, temporal_env: WorkflowEnvironment
) -> None:
    env = _bizos_env(client, temporal_env)
    out = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "starters.cli",
            "run",
            "branching",
            "--params",
            '{"depth": "quick"}',
            "--auto-approve",
            "-o",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[-1]["event"] == "completed"
    result = lines[-1]["result"]
    assert result["choices"]["route"]["option"] == "fast"  # first option, chosen by update
    assert "--auto-approve" in result["choices"]["route"]["by"]
    assert {
        "event": "step",
        "step": "route",
        "status": "waiting",
        "summary": "choice",
        "error": None,
    } in lines


def _bizos_env(client: Client, temporal_env: WorkflowEnvironment) -> dict[str, str]:
    """A `bizos` subprocess on this test's namespace, seeing the test templates too."""
    from tests.core.conftest import SPEC_DIRS

    return cli_env(
        temporal_env,
        TEMPORAL_NAMESPACE=client.namespace,
        BIZOS_SPEC_DIRS=os.pathsep.join(str(p) for p in SPEC_DIRS),
    )
